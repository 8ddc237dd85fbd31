"""The model zoo: baselines, U-TAE and EmberFormer behind one registry.

Import what you need from the submodules (``emberxr.models.registry``, ``emberxr.models.base``);
this package imports nothing heavy on its own.
"""
