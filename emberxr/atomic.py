"""Atomic writes: write to a temporary sibling, then rename into place.

An interrupted write never leaves a half-written file or directory under the final name. A
writer killed outright (SIGKILL, power loss) cannot remove its temporary
(``.<name>.tmp-<pid>-<random>``); the next atomic write to the same name removes such stale
temporaries once the process that made them is gone (:func:`remove_stale_temporaries`), and
keeps those of a writer still running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: ``.<name>.tmp-<pid>-...`` (temporary) or ``.<name>.old-<pid>`` (old directory moved aside)
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)(?:-|$)")


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a permission error means it does)."""
    if pid <= 0:
        return True  # not a real writer's id: leave its file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete temporaries left in ``folder`` by atomic writers that died.

    Parameters
    ----------
    folder
        Where the final files live.
    name
        Only the temporaries of this final name (``None``: of every name in ``folder``).

    Returns
    -------
    list of pathlib.Path
        What was removed. Temporaries of this process or of a process still running (for
        example a parallel writer of the same name) are kept.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_RE.match(p.name)
        if m is None or (name is not None and m.group("name") != name):
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        _remove(p)
        removed.append(p)
    return removed


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
    Stale temporaries of ``path`` left by killed writers are removed first
    (:func:`remove_stale_temporaries`). On any exception (including ``KeyboardInterrupt``) the temporary is removed and ``path`` is left
    untouched. For directories the old target is moved aside before the rename and deleted after,
    so readers see either the old or the new complete store.
    """
    final = Path(path)
    remove_stale_temporaries(final.parent, final.name)
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
