"""The command line: click commands that wire the app together and map errors to exit codes."""

from gate.cli.main import main

__all__ = ["main"]
