"""Taking what the stack needs out of a verified release archive (.tar.gz or .zip), and nothing else.

Only regular files are written, only under the target directory: a member with an absolute path or a
``..`` component is refused, links and devices are left out.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from otel_kit.cli.stack.common import StackError


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


@contextmanager
def _members(archive: Path) -> Iterator[dict[str, tuple[bool, bool, _Opener]]]:
    """name -> (is a regular file, is a directory, opener) for every member of ``archive``."""
    handle: zipfile.ZipFile | tarfile.TarFile
    try:
        if archive.name.endswith(".zip"):
            handle = zipfile.ZipFile(archive)
            found = {_normal(i.filename): (not i.is_dir(), i.is_dir(), _Opener(handle, i)) for i in handle.infolist()}
        else:
            handle = tarfile.open(archive, "r:gz")
            found = {_normal(m.name): (m.isfile(), m.isdir(), _Opener(handle, m)) for m in handle.getmembers()}
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise StackError(f"{archive.name}: not a readable archive ({exc})") from None
    with handle:
        yield found


class _Opener:
    def __init__(self, archive: zipfile.ZipFile | tarfile.TarFile, member: zipfile.ZipInfo | tarfile.TarInfo) -> None:
        self.archive, self.member = archive, member

    def open(self) -> IO[bytes]:
        if isinstance(self.archive, zipfile.ZipFile) and isinstance(self.member, zipfile.ZipInfo):
            return self.archive.open(self.member)
        assert isinstance(self.archive, tarfile.TarFile) and isinstance(self.member, tarfile.TarInfo)
        handle = self.archive.extractfile(self.member)
        assert handle is not None  # regular files only
        return handle


def _write(opener: _Opener, destination: Path, mode: int) -> None:
    temporary = destination.with_name(destination.name + ".tmp")
    with opener.open() as source, temporary.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    temporary.chmod(mode)
    os.replace(temporary, destination)  # a running binary keeps its old inode


def binaries(archive: Path, members: dict[str, str], bin_dir: Path) -> list[Path]:
    """Each ``members`` entry (path in the archive -> file name) into ``bin_dir``, executable."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with _members(archive) as found:
        for name, target in members.items():
            entry = found.get(name)
            if entry is None or not entry[0]:
                raise StackError(f"{archive.name} has no file {name}: the release's layout changed, or this is not its archive")
            _write(entry[2], bin_dir / target, 0o755)
            written.append(bin_dir / target)
    return written


def tree(archive: Path, target: Path, marker: str = "index.html") -> Path:
    """The folder of ``archive`` that holds its shallowest ``marker``, as ``target`` (replacing it whole)."""
    with _members(archive) as found:
        markers = sorted((n for n, (is_file, _, _) in found.items() if is_file and posixpath.basename(n) == marker), key=lambda n: n.count("/"))
        if not markers:
            raise StackError(f"{archive.name} has no {marker}: not the archive expected")
        prefix = posixpath.dirname(markers[0])
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, (is_file, is_dir, opener) in found.items():
            if prefix and not name.startswith(prefix + "/"):
                continue
            relative = name[len(prefix) + 1:] if prefix else name
            parts = relative.split("/")
            if relative.startswith("/") or ".." in parts or "\\" in relative:
                shutil.rmtree(staging, ignore_errors=True)
                raise StackError(f"{archive.name}: refusing member {name!r}, which points outside the folder it is unpacked into")
            if not relative or not (is_file or is_dir):
                continue  # the folder itself; links and devices: static assets need none
            destination = staging.joinpath(*parts)
            if is_dir:
                destination.mkdir(parents=True, exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                _write(opener, destination, 0o644)
    if target.exists():
        shutil.rmtree(target)
    staging.replace(target)
    return target
