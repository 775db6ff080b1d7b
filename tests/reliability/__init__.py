"""Reliability and security suite (issue 6): bad input, interrupts, atomic outputs, no pickle."""
