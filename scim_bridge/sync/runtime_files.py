"""The runtime directory of one database's translator: its wake-up socket and its lock.

The directory is private (0700, ours, not a symbolic link): anyone who can enter it could
replace the socket or take the lock. It is ``settings.runtime_dir`` ($XDG_RUNTIME_DIR/scim-bridge
when load_settings saw that variable), else ``.scim-bridge`` beside the SQLite file, else (for
PostgreSQL) under the working directory. File names come from the database's identity without
its password, so nothing secret can be guessed back from them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from scim_bridge.directory.db import normalise_url, sqlite_path
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings

#: The same private directory as the emulator record of `make run` (bootstrap.PRIVATE_DIR).
RUN_DIR_NAME = ".scim-bridge"
PRIVATE_DIR_MODE = 0o700
LOCK_FILE_MODE = 0o600
_FIX = "or set SCIM_BRIDGE_RUNTIME_DIR to a private directory of your own"


def runtime_dir(settings: Settings) -> Path:
    """Return the directory of this database's runtime files (not created here)."""
    if settings.runtime_dir:
        return Path(settings.runtime_dir)
    sqlite_file = sqlite_path(settings.database_url)
    base = Path(sqlite_file).resolve().parent if sqlite_file else Path.cwd()
    return base / RUN_DIR_NAME


def instance_name(database_url: str) -> str:
    """Return a name for one database's runtime files that no secret went into."""
    sqlite_file = sqlite_path(database_url)
    if sqlite_file is not None:
        identity = f"sqlite:{Path(sqlite_file).resolve()}"
    else:
        # Who, where and which database; never the password (nor the query, which may hold one).
        url = make_url(normalise_url(database_url))
        identity = (
            f"{url.get_backend_name()}://{url.username or ''}@{url.host or ''}:"
            f"{url.port or ''}/{url.database or ''}"
        )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def lock_path(settings: Settings) -> Path:
    """Return the translator lock file of this database on this host."""
    return runtime_dir(settings) / f"{instance_name(settings.database_url)}.lock"


def ensure_private_dir(path: Path, *, uid: int | None = None) -> Path:
    """Create ``path`` 0700, or check that an existing one is ours and closed to others."""
    owner = os.geteuid() if uid is None else uid
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR_MODE)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise ConfigError(f"the runtime directory {path} is a symbolic link; remove it, {_FIX}")
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"the runtime directory {path} is not a directory; remove it, {_FIX}")
    if info.st_uid != owner:
        raise ConfigError(
            f"the runtime directory {path} is owned by another user (uid {info.st_uid}); "
            f"remove it, {_FIX}"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigError(
            f"the runtime directory {path} can be entered by other users; "
            f"fix it with: chmod 700 {path} ({_FIX})"
        )
    return path


class SingletonLock:
    """This host's translator lock for one database, held until released."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> SingletonLock | None:
        """Take the lock at ``path``; None when another process holds it."""
        ensure_private_dir(path.parent)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, LOCK_FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return None
            # The holder before us removes the file as it lets go: if the file we locked is
            # no longer the one at the path, a newcomer could lock that one too. Start over.
            if _same_file(fd, path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Remove the lock file, then let go of the lock (idempotent)."""
        if self._fd is None:
            return
        if _same_file(self._fd, self.path):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
