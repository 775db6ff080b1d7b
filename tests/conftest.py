"""Shared fixtures: tiny datasets and a CliRunner, so the suite stays fast on 2 cores."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
