"""Named exceptions raised at the library's edges.

Every error that a user can cause derives from :class:`EmberxrError`, so callers can catch the
family at once. Errors that gather several problems (validation) list all of them, each with a
hint on how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class EmberxrError(Exception):
    """Base class of every error emberxr raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found in user input: what is wrong and how to fix it."""

    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what} -> fix: {self.fix}"


class _ProblemList(EmberxrError):
    """An error that reports every problem found, not just the first."""

    headline = "invalid input"

    def __init__(self, problems: Iterable[Problem | str], subject: str | None = None):
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem(str(p), "see the message") for p in problems
        ]
        self.subject = subject
        head = self.headline + (f" ({subject})" if subject else "")
        lines = [f"{head}: {len(self.problems)} problem(s)"]
        lines += [f"  {i}. {p}" for i, p in enumerate(self.problems, 1)]
        super().__init__("\n".join(lines))


class EventValidationError(_ProblemList, ValueError):
    """A FireEvent does not follow the data model (see ``docs/data-model.md``)."""

    headline = "FireEvent is not valid"


class ReaderError(EmberxrError, ValueError):
    """A source could not be read into a FireEvent (wrong layout, corrupt or mismatched file)."""


class NoReaderError(ReaderError):
    """No registered reader recognises a path."""


class CorruptRecordError(ReaderError):
    """A record file (TFRecord) is damaged: a checksum that does not match, or a record cut short."""


class CorruptStoreError(_ProblemList, ReaderError):
    """An event store is damaged: unreadable metadata, or chunks written by emberxr are gone."""

    headline = "damaged event store"


class CatalogError(EmberxrError, ValueError):
    """A dataset catalog is missing, malformed, or points at data that is not there."""


class UnknownNameError(EmberxrError, KeyError):
    """A registry lookup (model, decoder, reader) failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PluginError(EmberxrError):
    """A plugin cannot be used (its import failed, or it provides the wrong kind of object), or an
    object passed as a model, decoder or reader is not one."""


class ConfigError(_ProblemList, ValueError):
    """A configuration has unknown keys or values of the wrong type."""

    headline = "invalid configuration"


class CacheMismatchError(EmberxrError, ValueError):
    """A patch cache was built with settings that differ from the ones requested."""


class CheckpointError(EmberxrError, ValueError):
    """A checkpoint is unreadable or does not fit the data it is used with."""


class WeightsError(EmberxrError, ValueError):
    """Pretrained weights could not be loaded (no network, wrong file, shape mismatch)."""


class SimulatorNotAvailableError(EmberxrError, ImportError):
    """The fire simulator (pyretechnics) is not installed in any environment emberxr can use."""


class SweepError(EmberxrError, RuntimeError):
    """A hyper-parameter sweep cannot go on (trials keep failing, a worker process died)."""


class WriteError(EmberxrError, ValueError):
    """Data could not be written (missing georeferencing, unsupported shape, bad group name)."""


class NotGeoreferencedError(WriteError):
    """A georeferenced output (GeoTIFF, forecast file) was asked of an event that has no CRS.

    Events read from Next Day Wildfire Spread tiles or from WildfireSpreadTS HDF5 files carry no
    georeferencing (their ``crs_status`` attribute says so); their forecasts are arrays on a
    local grid, never files a GIS would place on a map.
    """


class WindFileError(_ProblemList, ValueError):
    """A what-if wind file (``--wind FILE.csv``) cannot drive a forecast: missing or non-numeric
    columns, bad or non-increasing time stamps, or times that do not cover the forecast horizon.
    Every problem is listed (see :mod:`emberxr.products.wind` for the format)."""

    headline = "wind file is not usable"


class ThresholdNotSetError(EmberxrError, ValueError):
    """A binary decision was asked of a model whose probability threshold was never chosen.

    Checkpoints written during training (``best.pt``, ``last.pt``) hold no threshold: it is chosen
    on validation data at the end of :func:`emberxr.fit` and stored in ``model.pt``. Probabilities
    need no threshold; binary masks, arrival times, multi-step forecasts and the evaluation table do.

    Parameters
    ----------
    needed
        What asked for the threshold, e.g. ``"a binary forecast (fire_mask)"``.
    source
        The model or file lacking it.
    """

    def __init__(self, needed: str, source: str = "this model"):
        self.needed = needed
        super().__init__(
            f"{needed} needs a probability threshold, but {source} has none: it was saved during "
            "training, before fit chose one on validation data. Fix: choose it with "
            "fitted.choose_threshold(data, split='val') (then fitted.save('model.pt')), or from the "
            "shell `emberxr evaluate CKPT DATA --choose-threshold val --save model.pt`; or use the "
            "run's final model.pt, which holds the threshold fit chose. Probabilities "
            "(fitted.predict with horizon=1) need no threshold."
        )


class ExportError(EmberxrError, ValueError):
    """A model could not be exported, an exported file is not one emberxr wrote, or the exported
    model disagrees with the eager one (the parity check)."""
