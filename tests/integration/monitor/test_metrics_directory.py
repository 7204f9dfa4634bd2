"""The private directory `serve` gives prometheus-client's per-process files (issue 12)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from scim_bridge.bootstrap import MULTIPROC_ENV, metrics_directory
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings


def test_a_temporary_private_directory_is_made_set_and_removed() -> None:
    environ: dict[str, str] = {}
    with metrics_directory(Settings(), environ) as path:
        assert path is not None and path.is_dir()
        assert environ[MULTIPROC_ENV] == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        (path / "counter_42.db").write_bytes(b"x")
    assert not path.exists()
    assert MULTIPROC_ENV not in environ


def test_a_configured_directory_is_emptied_of_old_counts_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "histogram_7.db").write_bytes(b"last run")
    (folder / "README").write_text("not ours", encoding="utf-8")
    environ: dict[str, str] = {}
    with metrics_directory(Settings(metrics_dir=str(folder)), environ) as path:
        assert path == folder
        assert not (folder / "histogram_7.db").exists()
    assert (folder / "README").exists()


def test_no_directory_when_metrics_are_off() -> None:
    environ: dict[str, str] = {}
    with metrics_directory(Settings(metrics_enabled=False), environ) as path:
        assert path is None and environ == {}


def test_an_unusable_directory_is_a_one_line_error_naming_the_setting(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("", encoding="utf-8")
    unusable = metrics_directory(Settings(metrics_dir=str(taken / "sub")), {})
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_METRICS_DIR"):
        unusable.__enter__()
