"""Setup packages: the ``.tgz`` an app's ``configPackage.packageURL`` points at.

A plugin or a test assembles one from named files; the same files always give
the same bytes (no timestamps, fixed owners), so a package can be rebuilt and
compared, and its digest used as a cache key.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping


def build_setup_package(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """Return a deterministic gzip'd tar of ``files``: path in the archive -> (content, mode).

    Paths are taken as given (``startscript`` for KubeDirector's new layout,
    ``appconfig/startscript`` for the old one) and written in sorted order.
    """
    buffer = io.BytesIO()
    # The gzip header carries a timestamp: pin it, or the bytes depend on the clock.
    with (
        gzip.GzipFile(filename="", fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
