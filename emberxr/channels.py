"""Names of input channels, known while modules are built.

A model is built from channel *counts* (``in_static``, ``in_dynamic``); which band each channel
holds is known to the caller that read the data. Weight files written by ``emberxr pretrain`` record
the name of every input channel of the encoder they hold, so they can be loaded into a model whose
data has other bands (another fuel-model vocabulary, say): channels are matched by name, not by
position (:func:`emberxr.decoders.weights.load_pretrained`).

The names travel through a context variable, set by whoever knows them around the build:

- :func:`emberxr.fit` names the data's feature channels (``static``, ``dynamic``, from the
  normalisation statistics) around ``create_model``;
- a model names the ``fine`` features it hands its decoder (EmberFormer, around
  ``create_decoder``).

Without names (a model built directly with ``create_model``) nothing changes: weight files must
then have exactly the model's channels. This module imports nothing of emberxr (models, decoders
and the API layer all use it).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence

__all__ = ["channel_names", "known_channel_names"]

_NAMES: contextvars.ContextVar[tuple[tuple[str, tuple[str, ...]], ...]] = contextvars.ContextVar(
    "emberxr_channel_names", default=()
)


@contextlib.contextmanager
def channel_names(**groups: Sequence[str] | None) -> Iterator[None]:
    """Name input channels for the modules built inside the block.

    Parameters
    ----------
    **groups
        Channel group → names in channel order: ``static`` and ``dynamic`` (the data's feature
        channels, e.g. ``"elevation"``, ``"fuel_model=102"``), ``fine`` (a decoder's full-resolution
        features). A None value leaves the group unnamed; groups named by an enclosing block stay
        named unless given again.

    Examples
    --------
    >>> with channel_names(static=["elevation", "slope"]):
    ...     known_channel_names()["static"]
    ['elevation', 'slope']
    """
    merged = dict(_NAMES.get())
    for group, names in groups.items():
        if names is None:
            merged.pop(group, None)
        else:
            merged[group] = tuple(str(n) for n in names)
    token = _NAMES.set(tuple(merged.items()))
    try:
        yield
    finally:
        _NAMES.reset(token)


def known_channel_names() -> dict[str, list[str]]:
    """The channel groups named by the enclosing :func:`channel_names` blocks (empty outside)."""
    return {group: list(names) for group, names in _NAMES.get()}
