"""Generic command-line behaviour: help, version, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from facefix import __version__
from facefix.cli import app
from facefix.errors import FacefixError

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
    for command in (["restore"], ["inpaint"], ["models", "download"], ["train", "export"]):
        text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        usage_line = next(line for line in text.splitlines() if "Usage:" in line)
        assert "{" not in usage_line and ("..." in usage_line or "RUN" in usage_line), usage_line
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


_HELP_IMPORTS_NOTHING_HEAVY = """
import sys
from typer.testing import CliRunner
from facefix.cli import app
from facefix.errors import FacefixError

runner = CliRunner()
for args in (["--help"], ["--version"], ["models", "list", "--help"], ["restore", "--help"], ["inpaint", "--help"],
             ["eval", "--help"], ["train", "--help"], ["train", "export", "--help"], ["bench", "--help"],
             ["models", "--help"]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    heavy = [name for name in ("torch", "cv2", "facefix.backends.base", "facefix.pipeline") if name in sys.modules]
    assert not heavy, (args, heavy)
print("ok")
"""


def test_help_and_version_import_no_torch_cv2_or_backends():
    # a fresh interpreter: this test process has imported torch long ago
    result = subprocess.run([sys.executable, "-c", _HELP_IMPORTS_NOTHING_HEAVY], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_models_list_imports_no_torch():
    code = ("import sys; from typer.testing import CliRunner; from facefix.cli import app; "
            "r = CliRunner().invoke(app, ['models', 'list']); assert r.exit_code == 0, r.output; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr[-2000:]


def _warn_then_fail(checkpoint_id):
    import warnings

    warnings.warn("a library's deprecation note", UserWarning, stacklevel=1)
    raise FacefixError("pip install 'facefix[offline]' to use it")


def test_library_warnings_show_only_with_debug_given_anywhere(monkeypatch):
    monkeypatch.setattr("facefix.commands.models.get_checkpoint", _warn_then_fail)
    plain = runner.invoke(app, ["models", "path", "x"])
    assert plain.exit_code == 1 and "deprecation note" not in plain.output
    assert "error: pip install 'facefix[offline]' to use it" in plain.output  # not eaten as rich markup
    debug = runner.invoke(app, ["models", "path", "x", "--debug"])  # after the subcommand and its argument
    assert debug.exit_code == 1 and "UserWarning: a library's deprecation note" in debug.output
    assert "Traceback" in debug.output


def test_quiet_anywhere_keeps_errors_and_drops_status(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEFIX_DEBUG", raising=False)
    quiet = runner.invoke(app, ["models", "remove", "fusion.gfpgan-v1.4", "--yes", "--quiet"])
    assert quiet.exit_code == 0 and quiet.output.strip() == ""
    loud = runner.invoke(app, ["models", "remove", "fusion.gfpgan-v1.4", "--yes"])
    assert "nothing to remove" in loud.output
    error = runner.invoke(app, ["-q", "models", "path", "no.such"])
    assert error.exit_code == 1 and "error: " in error.output
