"""The wake-up socket and the translator lock: a private directory, no secret in a name, no
leftovers after shutdown."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from worker_threads import threads_joined

from scim_bridge.bootstrap import BackgroundWorker
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings
from scim_bridge.sync.runtime_files import ensure_private_dir, lock_path
from scim_bridge.sync.service import try_singleton_lock
from scim_bridge.sync.wakeup import LocalListener, Wakeup, notify_local, socket_path
from scim_bridge.sync.worker import Worker

PG = "postgresql://bridge:{password}@db.internal:5432/{database}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_without_a_runtime_dir_the_files_live_beside_the_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'scim.db'}")
    assert Path(socket_path(settings)).parent == tmp_path / "data" / ".scim-bridge"
    assert lock_path(settings).parent == tmp_path / "data" / ".scim-bridge"


def test_for_postgresql_they_live_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=PG.format(password="pw", database="scim"))
    assert Path(socket_path(settings)).parent == tmp_path / ".scim-bridge"


def test_a_configured_runtime_dir_is_used(tmp_path: Path) -> None:
    settings = Settings(runtime_dir=str(tmp_path / "xdg" / "scim-bridge"))
    assert Path(socket_path(settings)).parent == tmp_path / "xdg" / "scim-bridge"


def test_names_carry_no_trace_of_the_database_password(tmp_path: Path) -> None:
    def named(password: str, database: str = "scim") -> Settings:
        url = PG.format(password=password, database=database)
        return Settings(database_url=url, runtime_dir=str(tmp_path))

    url = PG.format(password="hunter2", database="scim")
    path = socket_path(named("hunter2"))
    assert "hunter2" not in path
    # The old name was an unsalted hash of the whole URL, password included: guessable.
    assert hashlib.sha256(url.encode()).hexdigest()[:16] not in path
    assert socket_path(named("other-password")) == path  # the same database, the same socket
    assert socket_path(named("hunter2", database="other")) != path


def test_listener_makes_a_private_directory_wakes_and_removes_its_socket(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'scim.db'}")
    path = socket_path(settings)
    wakeup = Wakeup()
    listener = LocalListener(path, wakeup)
    try:
        assert mode(Path(path).parent) == 0o700
        assert stat.S_ISSOCK(Path(path).lstat().st_mode)
        notify_local(path)
        assert wakeup.wait(timeout=10)
    finally:
        listener.close()
    assert not Path(path).exists()


def test_singleton_lock_is_private_exclusive_and_removed_on_release(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'scim.db'}")
    lock = try_singleton_lock(settings)
    assert lock is not None
    try:
        path = lock_path(settings)
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
        assert path.read_text().strip() == str(os.getpid())
        assert try_singleton_lock(settings) is None  # held: another process must not run
    finally:
        lock.release()
    assert not lock_path(settings).exists()
    again = try_singleton_lock(settings)
    assert again is not None
    again.release()


def test_a_runtime_dir_others_can_enter_is_refused_with_the_fix(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    settings = Settings(runtime_dir=str(shared))
    with pytest.raises(ConfigError, match=f"chmod 700 {shared}"):
        try_singleton_lock(settings)
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_RUNTIME_DIR"):
        LocalListener(socket_path(settings), Wakeup())
    assert list(shared.iterdir()) == []


def test_a_runtime_dir_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="owned by another user"):
        ensure_private_dir(theirs, uid=os.getuid() + 1)


def test_a_symlinked_runtime_dir_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        ensure_private_dir(tmp_path / "link")


def test_a_socket_path_too_long_for_unix_sockets_names_the_setting(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    settings = Settings(runtime_dir=str(deep))
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_RUNTIME_DIR"):
        LocalListener(socket_path(settings), Wakeup())


def test_background_worker_removes_socket_and_lock_when_stopped(
    settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    settings = settings.replace(runtime_dir=str(tmp_path / "run"))
    lock = try_singleton_lock(settings)
    assert lock is not None
    with threads_joined():  # the loop's scheduler jobs too, before the database is disposed
        background = BackgroundWorker(settings, worker, lock=lock)
        assert Path(socket_path(settings)).exists() and lock_path(settings).exists()
        background.stop()
    assert sorted((tmp_path / "run").iterdir()) == []


def test_a_process_that_exits_leaves_no_runtime_files(tmp_path: Path, database: Database) -> None:
    # A process running the translator that ends with sys.exit(): atexit cleans up.
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from scim_bridge.directory.db import Database
        from scim_bridge.settings import Settings
        from scim_bridge.sync.runtime_files import lock_path
        from scim_bridge.bootstrap import BackgroundWorker, build_worker
        from scim_bridge.sync.service import try_singleton_lock
        from scim_bridge.sync.wakeup import socket_path

        settings = Settings(
            database_url={database.url!r},
            runtime_dir={str(tmp_path / "run")!r},
            dingtalk_base_url="http://127.0.0.1:9",
            dingtalk_app_key="k",
            dingtalk_app_secret="s",
        )
        lock = try_singleton_lock(settings)
        background = BackgroundWorker(
            settings, build_worker(settings, Database(settings.database_url)), lock=lock
        )
        print(Path(socket_path(settings)).exists(), lock_path(settings).exists())
        sys.exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert sorted((tmp_path / "run").iterdir()) == []
