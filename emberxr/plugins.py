"""Entry-point registries shared by readers, models and decoders.

Modelled on xarray's backend plugins and timm's registry: built-ins and third-party packages
declare entry points in a group (``emberxr.readers``, ``emberxr.models``, ``emberxr.decoders``);
the group is read lazily on first use, an entry is imported only when it is asked for, and a
broken or duplicate plugin emits a :class:`PluginWarning` instead of breaking ``import emberxr``.
Code can also register an object directly with :meth:`Registry.register` (a decorator).
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import UnknownNameError


class PluginWarning(UserWarning):
    """A plugin could not be loaded or clashes with another one; it was skipped."""


@dataclass
class _Entry:
    name: str
    source: str  # distribution name, or "<registered>"
    target: str  # "module:attr" or repr of the object
    ep: EntryPoint | None = None
    obj: Any = None
    broken: bool = False


@dataclass
class Registry:
    """A lazily populated name → object registry backed by an entry-point group.

    Parameters
    ----------
    group
        Entry-point group name, e.g. ``"emberxr.models"``.
    kind
        Human word used in messages ("model", "decoder", "reader").
    """

    group: str
    kind: str
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _scanned: bool = False

    # -- discovery ---------------------------------------------------------------------------
    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        try:
            eps = entry_points(group=self.group)
        except Exception as exc:  # pragma: no cover - broken metadata on the machine
            warnings.warn(f"could not read entry points {self.group!r}: {exc}", PluginWarning, stacklevel=3)
            return

        # built-ins first, so a third-party duplicate never shadows (or breaks) an emberxr name
        def order(e: EntryPoint) -> tuple[bool, str, str]:
            dist = e.dist.name if e.dist is not None else ""
            return (dist != "emberxr", dist, e.name)

        for ep in sorted(eps, key=order):
            dist = ep.dist.name if ep.dist is not None else "<unknown>"
            if ep.name in self._entries:
                prev = self._entries[ep.name]
                if prev.target == ep.value:
                    continue  # same target seen twice (e.g. editable + site install)
                warnings.warn(
                    f"duplicate {self.kind} {ep.name!r}: {ep.value} from {dist} clashes with "
                    f"{prev.target} from {prev.source}; keeping the first",
                    PluginWarning,
                    stacklevel=3,
                )
                continue
            self._entries[ep.name] = _Entry(ep.name, dist, ep.value, ep=ep)

    def register(self, name: str | None = None, *, source: str = "<registered>") -> Callable[[Any], Any]:
        """Decorator registering an object under ``name`` (default: its lower-cased name)."""

        def deco(obj: Any) -> Any:
            key = name or getattr(obj, "name", None) or obj.__name__.lower()
            self._entries[key] = _Entry(key, source, repr(obj), obj=obj)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove a name (tests and interactive sessions)."""
        self._scan()
        self._entries.pop(name, None)

    # -- lookup --------------------------------------------------------------------------------
    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names of the loadable entries, optionally filtered by a glob ``pattern``."""
        self._scan()
        out = [n for n, e in self._entries.items() if not e.broken]
        if pattern:
            out = [n for n in out if fnmatch.fnmatch(n, pattern)]
        return sorted(out)

    def sources(self) -> dict[str, str]:
        """Map each name to where it comes from (distribution name and target)."""
        self._scan()
        return {n: f"{e.source} ({e.target})" for n, e in sorted(self._entries.items()) if not e.broken}

    def _load(self, entry: _Entry) -> Any:
        if entry.obj is None and not entry.broken:
            try:
                entry.obj = entry.ep.load()  # type: ignore[union-attr]
            except Exception as exc:
                entry.broken = True
                warnings.warn(
                    f"{self.kind} plugin {entry.name!r} ({entry.target} from {entry.source}) failed to "
                    f"load and was skipped: {type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=4,
                )
        return entry.obj

    def get(self, name_or_obj: Any) -> Any:
        """Return the registered object for a name; a non-string is returned unchanged.

        Raises
        ------
        UnknownNameError
            The name is not registered (or its plugin is broken); the message lists close matches.
        """
        if not isinstance(name_or_obj, str):
            return name_or_obj
        self._scan()
        entry = self._entries.get(name_or_obj)
        obj = self._load(entry) if entry is not None else None
        if obj is None:
            known = self.names()
            close = difflib.get_close_matches(name_or_obj, known, n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name_or_obj!r}.{hint} Available: {', '.join(known) or '(none)'}"
            )
        return obj

    def load_all(self) -> dict[str, Any]:
        """Import every entry (broken ones warn and are dropped)."""
        self._scan()
        out = {}
        for name, entry in list(self._entries.items()):
            obj = self._load(entry)
            if obj is not None:
                out[name] = obj
        return out

    def refresh(self) -> None:
        """Forget what was scanned (after installing a plugin in a running process)."""
        registered = {n: e for n, e in self._entries.items() if e.ep is None}
        self._entries = dict(registered)
        self._scanned = False


readers = Registry("emberxr.readers", "reader")
models = Registry("emberxr.models", "model")
decoders = Registry("emberxr.decoders", "decoder")
