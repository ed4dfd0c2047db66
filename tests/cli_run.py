"""One way for the CLI tests to run a ``gradcheck-xor`` command in-process."""

from __future__ import annotations

import pytest

from gradcheck_xor.cli import main


def run_command(command: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``gradcheck-xor COMMAND ARGV...``: its exit code, stdout and stderr."""
    code = main([command, *argv])
    out, err = capsys.readouterr()
    return code, out, err
