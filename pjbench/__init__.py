"""pjbench: physical-reasoning benchmarks for video models.

The top-level package only re-exports the Python API; the work lives in the
sub-packages (``pjbench.benchmarks``, ``pjbench.encoders``, ``pjbench.intphys2``, ...).
Imports are lazy so that ``import pjbench`` stays cheap (no torch until needed).
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "evaluate": "pjbench.benchmarks.api:evaluate",
    "validate": "pjbench.benchmarks.api:validate",
    "synth": "pjbench.benchmarks.api:synth",
    "report": "pjbench.benchmarks.api:report",
    "demo": "pjbench.benchmarks.api:demo",
    "list_models": "pjbench.benchmarks.api:list_models",
    "list_tasks": "pjbench.benchmarks.api:list_tasks",
    "load_results": "pjbench.benchmarks.results:load_results",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        module, attr = _API[name].split(":")
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'pjbench' has no attribute {name!r}")
