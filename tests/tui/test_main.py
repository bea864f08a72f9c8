"""The ``wg-tui`` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wg_core import DEFAULT_URL, MemoryBackend, NamespaceNotFoundError
from wg_tui.main import build_parser, main


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WG_URL", raising=False)
    monkeypatch.delenv("WG_NAMESPACE", raising=False)
    args = build_parser().parse_args([])
    assert args.url == DEFAULT_URL
    assert args.namespace == "wg"
    assert args.read_only is False
    assert args.refresh == 2.0


def test_environment_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WG_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("WG_NAMESPACE", "shop")
    args = build_parser().parse_args([])
    assert (args.url, args.namespace) == ("redis://127.0.0.1:6379/0", "shop")
    args = build_parser().parse_args(
        ["-u", "memory:", "-n", "other", "--read-only", "--refresh", "0.5"]
    )
    assert (args.url, args.namespace, args.read_only, args.refresh) == (
        "memory:",
        "other",
        True,
        0.5,
    )


def test_refresh_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--refresh", "0"])
    assert "more than 0" in capsys.readouterr().err


def test_bad_url_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "ftp://user:secret@host/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wg-tui: ")
    assert "secret" not in err


def test_bad_namespace_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "memory:", "--namespace", "Bad-Name"]) == 2
    assert "wg-tui: " in capsys.readouterr().err


def test_console_script_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wg_tui", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--url", "--namespace", "--read-only", "--refresh"):
        assert option in result.stdout


class _NoSuchNamespace(MemoryBackend):
    """A store where the namespace was never created (a memory store always exists)."""

    opened_with: list[bool] = []

    async def open(self, *, create: bool = True) -> None:
        self.opened_with.append(create)
        if not create:
            raise NamespaceNotFoundError(f"no namespace {self.namespace!r} here")


def test_a_missing_namespace_is_exit_4_and_nothing_is_created(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _never_run_the_app(monkeypatch)
    _NoSuchNamespace.opened_with = []
    monkeypatch.setattr(
        "wg_tui.main.backend_from_url", lambda url, namespace: _NoSuchNamespace(namespace)
    )
    assert main(["--url", "memory:", "--namespace", "shop"]) == 4
    assert _NoSuchNamespace.opened_with == [False]  # opened as a reader only
    err = capsys.readouterr().err
    assert err.startswith("wg-tui: ")
    assert "'shop'" in err
    assert "does not exist" in err


def _never_run_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    # Should the check let a missing namespace through, fail at once rather than run
    # the dashboard in the test's terminal.
    def run(self: object) -> None:
        raise AssertionError("the dashboard started")

    monkeypatch.setattr("wg_tui.app.WgApp.run", run)


def test_a_mistyped_sqlite_file_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _never_run_the_app(monkeypatch)
    typo = tmp_path / "typo.db"
    assert main(["--url", f"sqlite:{typo}"]) == 4
    assert not typo.exists()
    assert list(tmp_path.iterdir()) == []  # no -wal or -shm either
    assert "does not exist" in capsys.readouterr().err


def test_an_outdated_layout_is_exit_6_naming_wg_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.backends import fresh_namespace
    from tests.cli.test_upgrade import write_v1_namespace

    url, namespace = f"sqlite:{tmp_path / 'old.db'}", fresh_namespace()
    write_v1_namespace(tmp_path, url, namespace)
    assert main(["-u", url, "-n", namespace]) == 6
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("wg-tui: ")
    assert "run wg upgrade" in line
