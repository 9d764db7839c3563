"""The import contracts of pyproject.toml (customers -> accounts -> tenancy -> core, config on
top): they hold, and a planted upward import in a copy of the code base breaks them."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "tenancy", "accounts", "customers")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(  # noqa: S603 - our own virtualenv's tool on our own files
        [str(command), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_code_base(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_them(tmp_path):
    root = copy_of_the_code_base(tmp_path)
    scopes = root / "accounts/scopes.py"
    # Lazily, inside a function, as the old cycle between tenancy and customers was.
    scopes.write_text(
        scopes.read_text() + "\n\ndef planted():\n    from customers.models import Customer\n"
    )
    result = lint_imports(root)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout
    assert "accounts.scopes -> customers.models" in result.stdout
