"""`python -m sinecli` runs the same entry point as the console script."""

from sinecli.cli import main

if __name__ == "__main__":
    main()
