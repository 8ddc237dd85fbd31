"""The model zoo: baselines, U-TAE and EmberFormer behind one registry.

Build models by name through :mod:`emberxr.registry`; the contract is in
:mod:`emberxr.models.base`. This package imports nothing heavy on its own.
"""
