"""Test helpers for emberxr users and plugin authors.

- :mod:`emberxr.testing.events`: tiny CRS-tagged synthetic fire events (:func:`synthetic_event`,
  :func:`synthetic_events`);
- :mod:`emberxr.testing.batches`: synthetic batches following the batch contract
  (:func:`make_batch`) and the edits the checks make (:func:`add_tokens`, :func:`pad_history`,
  :func:`select`, :func:`copy_batch`);
- :mod:`emberxr.testing.conformance`: the conformance checks of models and decoders, one function
  per check in one table (:data:`CHECKS`), run by :func:`check_model` / :func:`check_decoder` or
  parametrised in pytest with :func:`conformance_cases`; :mod:`emberxr.testing.subjects` is what
  they run on (a model fed a batch, or a decoder fed ``(context, fine)``);
- :mod:`emberxr.testing.training`: a tiny training run on synthetic events (:func:`tiny_fit`,
  also ``python -m emberxr.testing.training RUN_DIR EPOCHS``);
- :mod:`emberxr.testing.public`: tiny files in the published formats of WildfireSpreadTS
  (:func:`write_wsts_tree`, :func:`write_wsts_hdf5`), Next Day Wildfire Spread
  (:func:`write_ndws_tfrecord`) and datacubes (:func:`write_datacube`).

The namespace is lazy: importing it imports neither torch nor the models.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY: dict[str, str] = {
    # synthetic events
    "synthetic_event": "emberxr.testing.events",
    "synthetic_events": "emberxr.testing.events",
    # synthetic batches
    "make_batch": "emberxr.testing.batches",
    "add_tokens": "emberxr.testing.batches",
    "pad_history": "emberxr.testing.batches",
    "select": "emberxr.testing.batches",
    "copy_batch": "emberxr.testing.batches",
    # conformance
    "CHECKS": "emberxr.testing.conformance",
    "ConformanceCase": "emberxr.testing.conformance",
    "ConformanceCheck": "emberxr.testing.conformance",
    "ConformanceReport": "emberxr.testing.conformance",
    "check_model": "emberxr.testing.conformance",
    "check_decoder": "emberxr.testing.conformance",
    "conformance_cases": "emberxr.testing.conformance",
    # a tiny training run
    "TINY_FIT": "emberxr.testing.training",
    "tiny_fit": "emberxr.testing.training",
    # files in the formats of the public benchmarks
    "write_wsts_tree": "emberxr.testing.public",
    "write_wsts_hdf5": "emberxr.testing.public",
    "write_ndws_tfrecord": "emberxr.testing.public",
    "write_datacube": "emberxr.testing.public",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.testing", _LAZY, globals())
