"""Noticing that the config file changed, however it was changed (SPEC §6).

Editors and config tools rarely write a file in place: they write a new file
and rename it over the old one (vim, sed -i, Ansible), bind mounts swap what
the path shows, and Kubernetes config maps repoint a symlink. So the watcher
asks for the path every time: `os.stat` follows symlinks to whatever the path
names now, and a different device, inode, mtime or size means "look again".
Looking again means hashing the content: a file touched or rewritten with the
same bytes is no change. Cheap enough to do every second for a config file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_Signature = tuple[int, int, int, int]  # device, inode, mtime_ns, size


class ConfigFileWatcher:
    """Remembers one config file's last seen state; `changed()` says whether
    its content differs now."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._signature = _signature(self.path)
        self._digest = _digest(self.path)

    def changed(self) -> bool:
        """True once per change of content. A missing file is no change: it is
        probably being replaced, and the next look will find the new one."""
        signature = _signature(self.path)
        if signature is None or signature == self._signature:
            return False
        self._signature = signature
        digest = _digest(self.path)
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        return True


def _signature(path: Path) -> _Signature | None:
    try:
        stat = os.stat(path)  # follows symlinks: what the path names now
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None
