"""The core install is a device's: a command that needs an extra says which one to install."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from veil import cli

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
#: import name -> distribution name, where they differ
_DIST = {
    "sklearn": "scikit-learn",
    "dp_accounting": "dp-accounting",
    "heu": "sf-heu",
    "private_set_intersection": "openmined-psi",
}


def test_every_optional_package_is_in_the_extra_the_message_names():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for module, extra in cli.EXTRA_OF.items():
        names = " ".join(extras[extra])
        assert _DIST.get(module, module) in names, f"{module} is not in veil[{extra}]"


def test_a_missing_extra_is_a_clear_error(monkeypatch, capsys):
    def needs_torch() -> None:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(cli, "app", needs_torch)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    assert "pip install 'veil[fl]'" in " ".join(capsys.readouterr().err.split())


def test_another_missing_module_is_not_hidden(monkeypatch):
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'nowhere'", name="nowhere")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(ModuleNotFoundError):
        cli.main()


#: runs the command line as a core install would: every extra's package fails to import
_CORE_ONLY = """
import sys
from veil.cli import EXTRA_OF

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in set(EXTRA_OF) | {"scipy"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["veil", *sys.argv[1:]]
from veil.cli import main
main()
"""


@pytest.mark.parametrize("argv", [["--help"], ["seal", "--help"], ["helper", "serve", "--help"]])
def test_the_command_line_starts_without_the_extras(argv, tmp_path):
    proc = _core_only(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage:" in proc.stdout


def test_a_command_that_needs_an_extra_names_it(tmp_path):
    proc = _core_only(["demo", "finance", "--out", str(tmp_path / "run")], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install 'veil[fl]'" in " ".join(proc.stderr.split())


def _core_only(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PYPROJECT.parent / "src")}
    return subprocess.run(
        [sys.executable, "-c", _CORE_ONLY, *argv],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
    )  # fmt: skip
