"""Entry-point registries shared by readers, models and decoders.

Modelled on xarray's backend plugins and timm's registry: built-ins and third-party packages
declare entry points in a group (``emberxr.readers``, ``emberxr.models``, ``emberxr.decoders``);
the group is read lazily on first use. Code can also register an object directly with
:meth:`Registry.register` (a decorator). Users go through the facade :mod:`emberxr.registry`.

What a plugin provides is type-checked when it is loaded: a model must be a subclass of
:class:`emberxr.models.base.FireModel`, a decoder of :class:`emberxr.decoders.base.FireDecoder`,
a reader a class or instance with callable ``open`` and ``guess_can_open``. A plugin that fails to
import or provides the wrong kind of object is *broken*: it emits one :class:`PluginWarning`, is
left out of :meth:`Registry.names`, is listed with its reason by :meth:`Registry.broken`, and asking
for it raises :class:`emberxr.errors.PluginError` saying why. A broken plugin never breaks
``import emberxr``.

Listing names imports (and so checks) third-party plugins; emberxr's own entries are imported
only when used, so listing the built-ins never imports torch.
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import PluginError, UnknownNameError

__all__ = ["BrokenPlugin", "PluginWarning", "Registry", "decoders", "models", "readers"]

#: the distribution whose entry points are the built-ins
BUILTIN_DIST = "emberxr"
#: ``source`` of objects registered in the running process with :meth:`Registry.register`
REGISTERED = "<registered>"


class PluginWarning(UserWarning):
    """A plugin could not be loaded, clashes with another one, or replaced a registered name."""


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that cannot be used, and why.

    Attributes
    ----------
    kind
        ``"model"``, ``"decoder"`` or ``"reader"``.
    name
        The entry-point name.
    dist
        The distribution (package) that declares it.
    target
        The entry point's ``module:attribute``.
    reason
        What went wrong (the import error, or what the object is instead of what it should be).
    """

    kind: str
    name: str
    dist: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} plugin {self.name!r} from dist {self.dist!r} ({self.target}) is broken: {self.reason}"


@dataclass
class _Entry:
    name: str
    source: str  # distribution name, or REGISTERED
    target: str  # "module:attr"
    ep: EntryPoint | None = None
    obj: Any = None
    problem: str | None = None  # why the entry is broken (None: fine or not loaded yet)


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


def _target_of(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass
class Registry:
    """A lazily populated name → object registry backed by an entry-point group.

    Parameters
    ----------
    group
        Entry-point group name, e.g. ``"emberxr.models"``.
    kind
        Human word used in messages ("model", "decoder", "reader").
    expected
        What an entry must provide, in words (used in messages).
    accepts
        Returns True when an object is of the right kind (imports what it needs lazily).
    """

    group: str
    kind: str
    expected: str = "an object"
    accepts: Callable[[Any], bool] = lambda obj: True
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
            return (dist != BUILTIN_DIST, dist, e.name)

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

    def _wrong_type(self, obj: Any) -> str | None:
        """Why ``obj`` cannot be an entry of this registry (None when it can)."""
        try:
            ok = self.accepts(obj)
        except Exception as exc:  # the check itself failed (e.g. a base class could not import)
            return f"could not check it: {type(exc).__name__}: {exc}"
        return None if ok else f"it is {_describe(obj)}, not {self.expected}"

    def _load(self, entry: _Entry) -> Any:
        """Import an entry once and type-check it; a failure marks it broken and warns once."""
        if entry.obj is not None or entry.problem is not None:
            return entry.obj
        try:
            obj = entry.ep.load()  # type: ignore[union-attr]
        except Exception as exc:
            entry.problem = f"import failed: {type(exc).__name__}: {exc}"
        else:
            entry.problem = self._wrong_type(obj)
            if entry.problem is None:
                entry.obj = obj
        if entry.problem is not None:
            warnings.warn(
                f"{self._broken(entry)}; it was skipped (see `emberxr models`)", PluginWarning, stacklevel=4
            )
        return entry.obj

    def _check_plugins(self) -> None:
        """Load every third-party entry, so the broken ones are known (built-ins stay lazy)."""
        self._scan()
        for entry in list(self._entries.values()):
            if entry.ep is not None and entry.source != BUILTIN_DIST:
                self._load(entry)

    def _broken(self, entry: _Entry) -> BrokenPlugin:
        return BrokenPlugin(self.kind, entry.name, entry.source, entry.target, entry.problem or "")

    # -- registration ------------------------------------------------------------------------
    def register(self, name: str | None = None, *, source: str = REGISTERED) -> Callable[[Any], Any]:
        """Decorator registering an object under ``name`` (default: its ``name`` attribute, else
        its lower-cased class name).

        Raises
        ------
        PluginError
            The object is not of this registry's kind.

        Warns
        -----
        PluginWarning
            ``name`` was taken by another object, which this one replaces.
        """

        def deco(obj: Any) -> Any:
            key = name or getattr(obj, "name", None) or getattr(obj, "__name__", type(obj).__name__).lower()
            wrong = self._wrong_type(obj)
            if wrong is not None:
                raise PluginError(
                    f"cannot register {_describe(obj)} as {self.kind} {key!r}: {wrong}. "
                    f"Fix: register {self.expected}"
                )
            self._scan()
            prev = self._entries.get(key)
            if prev is not None and prev.obj is not obj:
                warnings.warn(
                    f"{self.kind} {key!r} registered again: {_target_of(obj)} now replaces "
                    f"{prev.target} from {prev.source}",
                    PluginWarning,
                    stacklevel=2,
                )
            self._entries[key] = _Entry(key, source, _target_of(obj), obj=obj)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove a name (tests and interactive sessions)."""
        self._scan()
        self._entries.pop(name, None)

    # -- lookup --------------------------------------------------------------------------------
    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names that :meth:`get` can return, optionally filtered by a glob ``pattern``.

        Broken plugins are left out (see :meth:`broken`).
        """
        self._check_plugins()
        out = [n for n, e in self._entries.items() if e.problem is None]
        if pattern:
            out = [n for n in out if fnmatch.fnmatch(n, pattern)]
        return sorted(out)

    def sources(self) -> dict[str, str]:
        """Map each usable name to where it comes from: ``"<distribution> (<module:attr>)"``."""
        self._check_plugins()
        return {n: f"{e.source} ({e.target})" for n, e in sorted(self._entries.items()) if e.problem is None}

    def broken(self) -> list[BrokenPlugin]:
        """The plugins that failed to import or provide the wrong kind of object, by name."""
        self._check_plugins()
        return [self._broken(e) for _, e in sorted(self._entries.items()) if e.problem is not None]

    def name_of(self, obj: Any) -> str | None:
        """The name under which ``obj`` is registered (None when it is not)."""
        self._scan()
        for name, entry in self._entries.items():
            if entry.obj is obj:
                return name
        # not loaded yet: try the entry pointing at its definition, then the entry of its own name
        target, own = _target_of(obj), getattr(obj, "name", None)
        for name, entry in list(self._entries.items()):
            if entry.obj is None and (entry.target == target or name == own) and self._load(entry) is obj:
                return name
        return None

    def get(self, name_or_obj: Any) -> Any:
        """Return the registered object for a name; an object of the right kind is returned unchanged.

        Raises
        ------
        UnknownNameError
            The name is not registered; the message lists close matches.
        PluginError
            The name belongs to a broken plugin, or the object given is of the wrong kind; the
            message says why and how to fix it.
        """
        if not isinstance(name_or_obj, str):
            wrong = self._wrong_type(name_or_obj)
            if wrong is not None:
                raise PluginError(
                    f"{_describe(name_or_obj)} cannot be used as a {self.kind}: {wrong}. "
                    f"Fix: pass a {self.kind} name from emberxr.list_{self.kind}s() or {self.expected}"
                )
            return name_or_obj
        self._scan()
        entry = self._entries.get(name_or_obj)
        if entry is None:
            known = self.names()
            close = difflib.get_close_matches(name_or_obj, known, n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name_or_obj!r}.{hint} Available: {', '.join(known) or '(none)'}"
            )
        obj = self._load(entry)
        if entry.problem is not None:
            raise PluginError(
                f"{self.kind} plugin {entry.name!r} from dist {entry.source!r} is broken: {entry.problem}. "
                f"Fix: reinstall or upgrade {entry.source!r} (it must provide {self.expected} at "
                f"{entry.target}), or uninstall it"
            )
        return obj

    def load_all(self) -> dict[str, Any]:
        """Import every entry, built-ins included (broken ones warn and are left out)."""
        self._scan()
        out = {}
        for name, entry in list(self._entries.items()):
            obj = self._load(entry)
            if entry.problem is None:
                out[name] = obj
        return out

    def refresh(self) -> None:
        """Forget what was scanned (after installing a plugin in a running process)."""
        registered = {n: e for n, e in self._entries.items() if e.ep is None}
        self._entries = dict(registered)
        self._scanned = False


def _is_model(obj: Any) -> bool:
    from emberxr.models.base import FireModel

    return isinstance(obj, type) and issubclass(obj, FireModel)


def _is_decoder(obj: Any) -> bool:
    from emberxr.decoders.base import FireDecoder

    return isinstance(obj, type) and issubclass(obj, FireDecoder)


def _is_reader(obj: Any) -> bool:
    # duck-typed, like xarray's backends: a class or an instance with both methods
    return callable(getattr(obj, "open", None)) and callable(getattr(obj, "guess_can_open", None))


readers = Registry(
    "emberxr.readers",
    "reader",
    "a reader (a class or instance with callable open(path, **kwargs) and guess_can_open(path))",
    _is_reader,
)
models = Registry("emberxr.models", "model", "a subclass of emberxr.models.base.FireModel", _is_model)
decoders = Registry(
    "emberxr.decoders", "decoder", "a subclass of emberxr.decoders.base.FireDecoder", _is_decoder
)
