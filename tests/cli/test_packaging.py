"""What a new user installs: the README's install lines give a working ``wg`` and
``wg-tui``, and the bare install says which ``pip install`` to run instead of a
traceback. Tested from a wheel built from this checkout, in fresh virtual environments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _sh(
    *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_make_demo_installs_only_what_the_demo_needs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    demo = _sh("make", "-n", "-C", ROOT, "demo", f"VENV={venv}")
    assert demo.returncode == 0, demo.stderr
    assert "'.[cli,tui]'" in demo.stdout
    assert "[test]" not in demo.stdout
    test = _sh("make", "-n", "-C", ROOT, "test", f"VENV={venv}")
    assert "'.[test]'" in test.stdout


def _online() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _online():
        # pip builds in an isolated environment with the setuptools pyproject.toml asks for.
        pytest.skip("the package index (pypi.org) is unreachable: cannot build the wheel")
    out = tmp_path_factory.mktemp("wheel")
    built = _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("wg-*.whl")
    return path


def _venv(path: Path) -> Path:
    made = _sh(sys.executable, "-m", "venv", path)
    assert made.returncode == 0, made.stderr
    return path / "bin"


@pytest.mark.slow
def test_the_bare_install_names_the_extra_to_install(wheel: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "bare")
    done = _sh(bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    assert done.returncode == 0, done.stderr
    cli = _sh(bin_dir / "wg", "--help")
    assert cli.returncode == 1
    assert "Traceback" not in cli.stderr
    assert "pip install 'wg[cli]'" in cli.stderr
    tui = _sh(bin_dir / "wg-tui", cwd=tmp_path)
    assert tui.returncode == 1
    assert "Traceback" not in tui.stderr
    assert "pip install 'wg[tui]'" in tui.stderr
    # The library itself needs nothing.
    core = _sh(bin_dir / "python", "-c", "import wg_core; print(wg_core.__version__)")
    assert core.returncode == 0, core.stderr


@pytest.mark.slow
def test_the_readme_install_line_gives_wg_demo_and_wg_tui(wheel: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "tools")
    # README: pip install 'wg[cli,tui]' (here: the same extras of the freshly built wheel).
    done = _sh(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "-q",
        f"wg[cli,tui] @ {wheel.as_uri()}",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _sh(bin_dir / "wg", "--help").returncode == 0
    demo = _sh(bin_dir / "wg", "demo", "--seed", "1", "--json", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert '"dead": 5' in demo.stdout
    assert (tmp_path / "wg.db").exists()
    assert _sh(bin_dir / "wg-tui", "--help").returncode == 0
    app = _sh(bin_dir / "python", "-c", "from wg_tui.app import WgApp")
    assert app.returncode == 0, app.stderr
