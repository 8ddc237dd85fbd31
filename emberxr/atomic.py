"""Atomic writes: write to a temporary sibling, then rename into place.

An interrupted write never leaves a half-written file or directory under the final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-{os.getpid()}-"  # the pid lets cleaners tell live writers from dead ones
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def _default_file_mode(final: Path) -> int:
    """Mode a plainly created file would get: the old file's, else 0o666 less the umask.

    ``mkstemp`` creates private (0600) files; a forecast GeoTIFF must be readable like any other.
    """
    with contextlib.suppress(FileNotFoundError):
        return final.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    Parameters
    ----------
    path
        Final destination (file, or directory when ``is_dir``).
    is_dir
        The writer produces a directory (for example a zarr store).

    Notes
    -----
    On any exception (including ``KeyboardInterrupt``) the temporary is removed and ``path`` is left
    untouched. For directories the old target is moved aside before the rename and deleted after,
    so readers see either the old or the new complete store.
    """
    final = Path(path)
    tmp = _tmp_sibling(final, is_dir)
    if is_dir:
        # mkdtemp made an empty directory; writers such as zarr want to create it themselves
        tmp.rmdir()
    try:
        yield tmp
        if is_dir:
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                _remove(old)
                os.replace(final, old)
                os.replace(tmp, final)
                _remove(old)
            else:
                os.replace(tmp, final)
        else:
            os.chmod(tmp, _default_file_mode(final))
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
