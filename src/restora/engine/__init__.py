"""Tiled inference engine; :func:`restore` is Restora's public entry point."""

from restora.engine.noise import estimate_sigma
from restora.engine.restore import RestoreResult, get_method, restore, run_restore

__all__ = ["RestoreResult", "estimate_sigma", "get_method", "restore", "run_restore"]
