"""`make help` lists the documented targets; `make` alone still means `make install`."""

import subprocess
from pathlib import Path

from .. import servers


def make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=servers.ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_help_lists_the_documented_targets() -> None:
    lines = {line.split()[1]: line for line in make("help").splitlines() if line.strip()}
    assert {"install", "run", "test", "test-fast", "help"} <= set(lines)
    assert "foreground" in lines["run"] and "whole suite" in lines["test"]
    # Only targets: the venv stamp file ($(VENV)/.installed) is no command for a person.
    assert all(not target.startswith(("$", ".")) for target in lines)


def test_install_stays_the_default_goal(tmp_path: Path) -> None:
    # A venv that does not exist yet: a dry run of plain `make` shows install's recipe.
    planned = make("-n", f"VENV={tmp_path / 'venv'}")
    assert "bash scripts/install.sh" in planned
    assert "grep" not in planned  # not the help recipe
