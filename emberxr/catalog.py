"""Dataset catalogs: a YAML file naming an event collection and its train/val/test splits.

A catalog looks like::

    name: sim-small
    description: ...
    reader: zarr                        # any registered reader (emberxr.readers.list_readers())
    path: ../_data/sim-small.zarr       # relative to the YAML file; ~ and ${VARS} are expanded
    reader_options: {...}               # optional keyword arguments for the reader's ``open``
    splits: {train: [ids...], val: [...], test: [...]}
    # or, for collections generated on demand, a deterministic split by event-id hash:
    # split_fractions: {train: 0.7, val: 0.15, test: 0.15}
    # or, for readers that group their events (years, files), a split by group:
    # split_groups: {train: [2018, 2019], val: [2020], test: [2021]}
    download: how to get the data and which variable to point at it (shown when it is missing)
    bands: [elevation, slope, ...]
    seed: 20261129
    simulator: {name: pyretechnics, version: 2026.8.10, license: EPL-2.0}
    generator: {n_events: 240, size: 128, steps: 12, ...}
    generate: emberxr simulate --catalog catalogs/sim-small.yaml   # how to (re)build the data

:func:`open_catalog` finds a catalog by name (the built-in catalogs shipped inside the package,
``emberxr/catalogs/<name>.yaml``, then every directory in ``EMBERXR_CATALOG_PATH``) or by path,
and returns a :class:`Catalog`: a mapping split name → lazily opened :class:`xarray.DataTree`
holding only that split's events.

``reader: zarr`` points at an event collection written by :func:`emberxr.save_events`. Any other
registered reader points at a root folder: the events are the entries below it that the reader
recognises (or what the reader's optional ``list_events(root)`` returns), opened with
:func:`emberxr.open_event`. ``split_groups`` needs the reader's optional
``event_groups(root, **reader_options) -> {event_id: group}`` (e.g. the fire year of
WildfireSpreadTS, the file split of NDWS). Collections generated on demand live under
``${EMBERXR_DATA_DIR}`` (default: ``data`` in the working directory); public datasets are
pointed at with an environment variable in ``path`` (``${WSTS_ROOT}``), and the ``download`` text
says where to get them.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import xarray as xr

from emberxr.errors import CatalogError

#: the catalogs shipped with the package (package data; also reachable as ``catalogs/`` in a checkout)
BUILTIN_CATALOGS = Path(__file__).resolve().parent / "catalogs"
CATALOG_PATH_ENV = "EMBERXR_CATALOG_PATH"
DATA_DIR_ENV = "EMBERXR_DATA_DIR"
REQUIRED_KEYS = ("name", "reader", "path")


def data_dir() -> Path:
    """Where collections generated on demand go: ``$EMBERXR_DATA_DIR``, default ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").expanduser().resolve()


def _expand(text: str) -> str:
    """Expand ``~`` and ``$VARS`` in a catalog path (``EMBERXR_DATA_DIR`` always has a value)."""
    env = dict(os.environ)
    env.setdefault(DATA_DIR_ENV, str(data_dir()))

    def sub(m: re.Match[str]) -> str:
        return env.get(m.group(1) or m.group(2), m.group(0))

    return os.path.expanduser(re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, text))


def resolve_data_path(catalog_file: Path, spec: Mapping[str, Any]) -> Path:
    """The data location of a catalog: its ``path`` with ``~``/``$VARS`` expanded, relative to the YAML file."""
    return (Path(catalog_file).parent / _expand(str(spec["path"]))).resolve()


def catalog_dirs() -> list[Path]:
    """Directories searched for ``<name>.yaml``: the built-in catalogs first, then
    ``EMBERXR_CATALOG_PATH`` (``os.pathsep``-separated)."""
    dirs = [BUILTIN_CATALOGS]
    for d in os.environ.get(CATALOG_PATH_ENV, "").split(os.pathsep):
        if d.strip():
            dirs.append(Path(d.strip()).expanduser())
    return dirs


def list_catalogs() -> list[str]:
    """Names of the catalogs found in :func:`catalog_dirs`."""
    names = set()
    for d in catalog_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def find_catalog(name_or_path: str | os.PathLike) -> Path:
    """Resolve a catalog name or path to its YAML file.

    Raises
    ------
    CatalogError
        Nothing found; the message lists the catalogs that exist.
    """
    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.suffix in (".yaml", ".yml") or os.sep in text or p.exists():
        if p.is_file():
            return p.resolve()
        if p.is_dir():
            raise CatalogError(
                f"{text!r} is a folder, not a catalog YAML file nor an event store (no zarr.json). "
                "Fix: pass a catalog name or .yaml file, a store written by emberxr.save_events, or "
                "open an event folder with emberxr.open_event (see emberxr.readers.list_readers())."
            )
        raise CatalogError(
            f"catalog file {text!r} does not exist. Fix: check the path, or pass a catalog name "
            f"({', '.join(list_catalogs()) or 'none found'})."
        )
    for d in catalog_dirs():
        for ext in (".yaml", ".yml"):
            cand = d / f"{text}{ext}"
            if cand.is_file():
                return cand.resolve()
    searched = ", ".join(str(d) for d in catalog_dirs())
    raise CatalogError(
        f"no catalog named {text!r} (searched {searched}). Available: {', '.join(list_catalogs()) or 'none'}. "
        f"Fix: use one of those names, pass a path to a .yaml file, or add its directory to {CATALOG_PATH_ENV}."
    )


def load_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(
            f"catalog {path} is not readable YAML: {exc}. Fix: correct the file's syntax."
        ) from exc
    if not isinstance(spec, dict):
        raise CatalogError(
            f"catalog {path} must be a YAML mapping (name, reader, path, splits ...), got {type(spec).__name__}"
        )
    problems = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in spec]
    if "reader" in spec:
        from emberxr import plugins

        readers = plugins.readers.names()
        if spec["reader"] not in readers:
            close = difflib.get_close_matches(str(spec["reader"]), readers, n=2, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            problems.append(
                f"reader {spec['reader']!r} is not a registered reader ({hint}registered: {', '.join(readers)})"
            )
    if "reader_options" in spec and not isinstance(spec["reader_options"], dict):
        problems.append("'reader_options' must be a mapping of keyword arguments for the reader")
    splits, fractions = spec.get("splits"), spec.get("split_fractions")
    groups = spec.get("split_groups")
    if splits is None and fractions is None and groups is None:
        problems.append(
            "needs 'splits' (split -> list of event ids), 'split_fractions' (split -> share) or "
            "'split_groups' (split -> groups of the reader, e.g. years)"
        )
    if groups is not None and splits is None:
        if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
            problems.append("'split_groups' must map each split name to a list of groups (e.g. years)")
        else:
            owner: dict[str, str] = {}
            for split, gs in groups.items():
                for g in gs:
                    if str(g) in owner and owner[str(g)] != split:
                        problems.append(f"group {g!r} is in both {owner[str(g)]!r} and {split!r}")
                    owner[str(g)] = split
    if splits is not None:
        if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
            problems.append("'splits' must map each split name to a list of event ids")
        else:
            seen: dict[str, str] = {}
            for split, ids in splits.items():
                for eid in ids:
                    if str(eid) in seen and seen[str(eid)] != split:
                        problems.append(f"event {eid!r} is in both {seen[str(eid)]!r} and {split!r}")
                    seen[str(eid)] = split
    if fractions is not None and splits is None and groups is None:
        if not isinstance(fractions, dict) or not all(
            isinstance(v, (int, float)) for v in fractions.values()
        ):
            problems.append("'split_fractions' must map split names to numbers")
        elif abs(sum(fractions.values()) - 1.0) > 1e-6:
            problems.append(f"'split_fractions' must sum to 1 (they sum to {sum(fractions.values()):g})")
    if problems:
        lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        raise CatalogError(
            f"catalog {path} is malformed: {len(problems)} problem(s)\n{lines}\nFix: edit the YAML file."
        )
    return spec


def hash_split(event_id: str, fractions: Mapping[str, float], seed: int = 0) -> str:
    """Deterministic split of one event id by hashing (stable as a collection grows)."""
    digest = hashlib.sha256(f"{seed}:{event_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    names = list(fractions)
    for name in names:
        acc += float(fractions[name])
        if u < acc:
            return name
    return names[-1]


class Catalog(Mapping[str, xr.DataTree]):
    """A dataset catalog: split name → lazily opened DataTree of that split's events.

    Attributes
    ----------
    name
        The catalog's name.
    path
        The YAML file.
    data_path
        The event collection it points at.
    spec
        The parsed YAML.
    """

    def __init__(self, path: Path, spec: dict[str, Any]):
        self.path = path
        self.spec = spec
        self.name = str(spec["name"])
        self.data_path = resolve_data_path(path, spec)
        self.reader = str(spec["reader"])
        self.reader_options: dict[str, Any] = dict(spec.get("reader_options") or {})
        self._trees: dict[str, xr.DataTree] = {}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in self._split_ids.items())
        return f"<Catalog {self.name!r} ({sizes}) at {self.data_path}>"

    def _list_ids(self) -> list[str]:
        """Event ids present under :attr:`data_path` (a zarr collection, or a reader's root folder)."""
        if self.reader == "zarr":
            from emberxr.io.events import list_event_ids

            return list(list_event_ids(self.data_path))
        from emberxr import plugins

        obj = plugins.readers.get(self.reader)
        obj = obj() if isinstance(obj, type) else obj
        lister = getattr(obj, "list_events", None)
        if callable(lister):
            return [str(e) for e in lister(self.data_path, **self.reader_options)]
        root = self.data_path
        if obj.guess_can_open(root):
            return [root.name]
        return sorted(c.name for c in root.iterdir() if not c.name.startswith(".") and obj.guess_can_open(c))

    def open_event(self, event_id: str) -> xr.Dataset:
        """Open one event of the catalog lazily (with the catalog's reader and reader options)."""
        if self.reader == "zarr":
            from emberxr.io.events import open_event_store

            return open_event_store(self.data_path, group=event_id)
        from emberxr import plugins
        from emberxr.readers import open_event

        obj = plugins.readers.get(self.reader)
        obj = obj() if isinstance(obj, type) else obj
        opener = getattr(obj, "open_catalog_event", None)
        if callable(opener):  # readers whose events are not one path each (e.g. tiles in a file)
            ev = opener(self.data_path, event_id, **self.reader_options)
        else:
            target = self.data_path if self.data_path.name == event_id else self.data_path / event_id
            ev = open_event(target, reader=self.reader, **self.reader_options)
        ev.attrs.setdefault("event_id", event_id)
        return ev

    def _reader(self) -> Any:
        from emberxr import plugins

        obj = plugins.readers.get(self.reader)
        return obj() if isinstance(obj, type) else obj

    def _group_splits(self) -> dict[str, list[str]]:
        """Splits by the reader's event groups (``split_groups``): split -> ids, in reader order."""
        grouper = getattr(self._reader(), "event_groups", None)
        if not callable(grouper):
            raise CatalogError(
                f"catalog {self.path} splits by 'split_groups', but reader {self.reader!r} does not "
                "group its events (it has no event_groups hook). Fix: list the event ids under 'splits'."
            )
        groups = {str(e): str(g) for e, g in grouper(self.data_path, **self.reader_options).items()}
        wanted = {str(k): {str(g) for g in v} for k, v in self.spec["split_groups"].items()}
        present = set(groups.values())
        missing = sorted({g for gs in wanted.values() for g in gs} - present)
        if missing:
            raise CatalogError(
                f"catalog {self.path} names group(s) {', '.join(missing)} that {self.data_path} does not "
                f"hold (it has {', '.join(sorted(present)) or 'none'}). Fix: {self._generate_hint()}"
            )
        return {k: [e for e, g in groups.items() if g in gs] for k, gs in wanted.items()}

    @cached_property
    def _split_ids(self) -> dict[str, list[str]]:
        if self.spec.get("splits") is None and self.spec.get("split_groups") is not None:
            return self._group_splits()
        present = set(self._list_ids())
        splits = self.spec.get("splits")
        if splits is None:
            fractions = self.spec["split_fractions"]
            out: dict[str, list[str]] = {k: [] for k in fractions}
            for eid in sorted(present):
                out[hash_split(eid, fractions, int(self.spec.get("seed", 0)))].append(eid)
            return out
        out = {str(k): [str(e) for e in v] for k, v in splits.items()}
        missing = sorted(e for ids in out.values() for e in ids if e not in present)
        if missing:
            raise CatalogError(
                f"catalog {self.path} lists {len(missing)} event(s) not in {self.data_path} "
                f"(e.g. {', '.join(missing[:5])}). Fix: {self._generate_hint()}"
            )
        return out

    def _unset_vars(self) -> list[str]:
        """Environment variables in ``path`` that have no value (``EMBERXR_DATA_DIR`` always has one)."""
        names = [a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", str(self.spec.get("path", "")))]
        return [n for n in names if n != DATA_DIR_ENV and not os.environ.get(n)]

    def _generate_hint(self) -> str:
        download = " ".join(str(self.spec.get("download") or "").split())
        if download:
            unset = self._unset_vars()
            return download + (f" (e.g. export {unset[0]}=/path/to/the/folder)" if unset else "")
        cmd = self.spec.get("generate")
        if cmd:
            return f"run `{cmd}` (needs the simulator: `make sim-venv`)"
        return "restore the data directory the catalog's 'path' points at"

    def check_data(self) -> None:
        """Raise :class:`CatalogError` unless the event collection exists and holds every listed id."""
        from emberxr.errors import ReaderError

        if not self.data_path.exists():
            unset = self._unset_vars()
            where = (
                f"has the path {self.spec['path']!r}, but {' and '.join(unset)} is not set"
                if unset
                else f"points at {self.data_path}, which does not exist"
            )
            raise CatalogError(f"catalog {self.name!r} {where}. Fix: {self._generate_hint()}")
        try:
            self._split_ids  # noqa: B018  (lists the store and checks the ids)
        except ReaderError as exc:
            raise CatalogError(
                f"catalog {self.name!r}: {self.data_path} is not a readable event collection ({exc}). "
                f"Fix: {self._generate_hint()}"
            ) from exc

    # -- Mapping -----------------------------------------------------------------------------
    def __getitem__(self, split: str) -> xr.DataTree:
        if split not in self._split_ids:
            raise KeyError(
                f"catalog {self.name!r} has no split {split!r}; splits: {', '.join(self._split_ids)}"
            )
        if split not in self._trees:
            from emberxr.progress import progress

            ids = progress(self._split_ids[split], f"open {self.name} {split}", unit="event", delay=2.0)
            self._trees[split] = xr.DataTree.from_dict({eid: self.open_event(eid) for eid in ids})
        return self._trees[split]

    def __iter__(self) -> Iterator[str]:
        return iter(self._split_ids)

    def __len__(self) -> int:
        return len(self._split_ids)

    # -- conveniences ------------------------------------------------------------------------
    def event_ids(self, split: str) -> list[str]:
        """Event ids of a split, in catalog order."""
        if split not in self._split_ids:
            raise KeyError(
                f"catalog {self.name!r} has no split {split!r}; splits: {', '.join(self._split_ids)}"
            )
        return list(self._split_ids[split])

    def events(self, split: str) -> Sequence[xr.Dataset]:
        """The split's events (lazy Datasets), each opened when read and not kept
        (:class:`~emberxr.data.sources.EventSequence`): a split of many thousands of events costs
        only its ids."""
        from emberxr.data.sources import EventSequence

        return EventSequence(self.open_event, self.event_ids(split), f"{self.name} {split}")

    @property
    def bands(self) -> list[str]:
        """Static band names the catalog declares."""
        return [str(b) for b in self.spec.get("bands", [])]


def open_catalog(name_or_path: str | os.PathLike) -> Catalog:
    """Open a dataset catalog by name (``"sim-small"``) or by path to its YAML file.

    Returns
    -------
    Catalog
        Mapping split → lazy :class:`xarray.DataTree`; also ``.events(split)``,
        ``.event_ids(split)``, ``.spec``, ``.name``, ``.path``.

    Raises
    ------
    CatalogError
        The catalog is missing or malformed, or its data is absent (the message says how to
        generate it).

    Examples
    --------
    >>> cat = emberxr.open_catalog("sim-small")  # doctest: +SKIP
    >>> train = cat["train"]                       # xr.DataTree, one child per event
    """
    path = find_catalog(name_or_path)
    cat = Catalog(path, load_spec(path))
    cat.check_data()
    return cat
