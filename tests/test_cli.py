"""Generic command-line behaviour: help, version, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from facefix import __version__
from facefix.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for command in ("restore", "inpaint", "train", "eval", "models", "bench"):
        assert command in result.output


def test_subcommand_help_and_usage_errors_are_not_reported_as_failures():
    for command in ("restore", "inpaint", "train", "eval", "models", "bench"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "error:" not in result.output, command
    usage = runner.invoke(app, ["restore", "--no-such-option"])
    assert usage.exit_code == 2 and "No such option" in usage.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"facefix {__version__}"


def test_python_dash_m_and_one_line_error_without_traceback():
    result = subprocess.run([sys.executable, "-m", "facefix", "models", "path", "no.such"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no.such" in lines[0]
    assert "Traceback" not in result.stderr
