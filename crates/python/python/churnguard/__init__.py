"""churnguard: which customers are about to leave, why, and what each is worth.

The jobs of the ``churnguard`` command line, for Python: load a pipeline, validate its tables,
train a package, open one and score a list. Lists are Arrow tables (the PyCapsule interface):
``pyarrow.table(lst)``, ``polars.DataFrame(lst)`` or ``lst.to_pandas()`` read them without a copy.

Errors are exceptions of one class per kind (``ConfigError``, ``DataError``, ``PackageError``,
all ``ChurnguardError``), with the command line's messages.
"""

from __future__ import annotations

import glob
import importlib.util
import os


def _onnx_runtime_library() -> str | None:
    """The ONNX Runtime library of the ``onnxruntime`` package, found without importing it."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(folder, "capi", "libonnxruntime.so*")))
        if found:
            return found[-1]
    return None


# One ONNX Runtime for the process: the onnxruntime package's, unless the caller set another.
if "ORT_DYLIB_PATH" not in os.environ:
    _library = _onnx_runtime_library()
    if _library is not None:
        os.environ["ORT_DYLIB_PATH"] = _library

from ._core import (  # noqa: E402  (the library path must be set first)
    ChurnguardError,
    ConfigError,
    DataError,
    FeatureTable,
    Package,
    PackageError,
    Pipeline,
    RiskList,
    __version__,
    features,
    train,
    validate,
)


__all__ = [
    "ChurnguardError",
    "ConfigError",
    "DataError",
    "FeatureTable",
    "Package",
    "PackageError",
    "Pipeline",
    "RiskList",
    "__version__",
    "features",
    "train",
    "validate",
]
