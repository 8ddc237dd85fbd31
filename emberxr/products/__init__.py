"""Forecast products analysts act on, built on :func:`emberxr.forecast.forecast`.

One module per product:

- :mod:`emberxr.products.ensemble`: ensembles (``members=N``): burn probability (share of
  members burned), ensemble mean arrival time and its spread, optionally with perturbed wind;
- :mod:`emberxr.products.wind`: the future wind of a forecast (the event's own, held, or a
  what-if wind file), wind-spread parsing and perturbation;
- :mod:`emberxr.products.calibration`: expected calibration error, reliability diagrams,
  temperature / isotonic calibration fitted on validation and applied in predict;
- :mod:`emberxr.products.perimeters`: forecast perimeters per step and probability level and
  arrival-time isochrones as vectors (GeoPackage / GeoJSON);
- :mod:`emberxr.products.scoring`: perimeter scores (Sørensen / Jaccard, mean boundary distance);
- :mod:`emberxr.products.qgis`: QGIS style sidecars (``.qml``) for the forecast rasters;
- :mod:`emberxr.products.quicklook`: a quick-look PNG (hillshade, perimeters, wind arrows).

Options reach these modules through :meth:`emberxr.Fitted.forecast` / :meth:`emberxr.Fitted.predict`
(``members=``, ``future_wind=`` ...) and :meth:`emberxr.Fitted.evaluate` (``calibration=``,
``perimeters=``); ``emberxr predict`` and ``emberxr evaluate`` expose them as flags. The namespace is
lazy: importing it imports neither torch nor GDAL bindings.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY: dict[str, str] = {
    "ensemble_forecast": "emberxr.products.ensemble",
    "future_wind": "emberxr.products.wind",
    "read_wind_file": "emberxr.products.wind",
    "calibrate": "emberxr.products.calibration",
    "fit_calibration": "emberxr.products.calibration",
    "with_calibration": "emberxr.products.calibration",
    "reliability_bins": "emberxr.products.calibration",
    "expected_calibration_error": "emberxr.products.calibration",
    "write_perimeters": "emberxr.products.perimeters",
    "perimeter_scores": "emberxr.products.scoring",
    "write_style": "emberxr.products.qgis",
    "quicklook": "emberxr.products.quicklook",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.products", _LAZY, globals())
