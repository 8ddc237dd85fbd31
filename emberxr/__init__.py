"""emberxr: next-step wildfire spread prediction from multi-temporal rasters.

The top-level namespace is lazy (PEP 562): ``import emberxr`` is cheap and never imports torch,
a plugin, or the simulator until a name that needs it is used.

Data flow (one direction): readers → FireEvent (xr.Dataset) → samples → tiles/patch tokens →
model (registry) → fit/evaluate/predict → georeferenced DataArray → GeoTIFF/zarr.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

__version__ = "0.1.0"

# public name -> "module:attribute" (attribute None = the module itself)
_LAZY: dict[str, str] = {
    # data model and I/O
    "validate": "emberxr.validate:validate",
    "make_event": "emberxr.schema:make_event",
    "open_event": "emberxr.readers:open_event",
    "open_events": "emberxr.io.events:open_events",
    "save_events": "emberxr.io.events:save_events",
    "open_catalog": "emberxr.catalog:open_catalog",
    "list_catalogs": "emberxr.catalog:list_catalogs",
    "io": "emberxr.io:",
    "normalize": "emberxr.normalize:",
    "simulate": "emberxr.simulate:",
    "schema": "emberxr.schema:",
    "errors": "emberxr.errors:",
    "testing": "emberxr.testing:",
    # registry of readers, models and decoders (built-ins and plugins)
    "registry": "emberxr.registry:",
    "list_models": "emberxr.registry:list_models",
    "list_decoders": "emberxr.registry:list_decoders",
    "list_readers": "emberxr.registry:list_readers",
    "create_model": "emberxr.registry:create_model",
    "create_decoder": "emberxr.registry:create_decoder",
    "register_model": "emberxr.registry:register_model",
    "register_decoder": "emberxr.registry:register_decoder",
    "register_reader": "emberxr.registry:register_reader",
    "broken_plugins": "emberxr.registry:broken_plugins",
    # one API
    "fit": "emberxr.api:fit",
    "load": "emberxr.api:load",
    "Fitted": "emberxr.api:Fitted",
    # errors users catch
    "EmberxrError": "emberxr.errors:EmberxrError",
    "EventValidationError": "emberxr.errors:EventValidationError",
    "ReaderError": "emberxr.errors:ReaderError",
    "UnknownNameError": "emberxr.errors:UnknownNameError",
    "ConfigError": "emberxr.errors:ConfigError",
    "CheckpointError": "emberxr.errors:CheckpointError",
    "PluginError": "emberxr.errors:PluginError",
    "ThresholdNotSetError": "emberxr.errors:ThresholdNotSetError",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr", _LAZY, globals())
