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

from . import _core  # noqa: E402  (the library path must be set first)
from ._core import (  # noqa: E402
    ChurnguardError,
    ConfigError,
    DataError,
    FeatureTable,
    Package,
    PackageError,
    Pipeline,
    RiskList,
    Table,
    __version__,
    features,
    train,
)
from ._figures import Figures  # noqa: E402


def validate(pipeline: Pipeline) -> Figures:
    """Reads every table of a pipeline and reports what it found (the command line's
    ``validate --json``); ``usable`` says whether training and scoring can read them."""
    return Figures(_core.validate(pipeline))


def compare(pipeline: Pipeline, packages, cutoff: str | None = None, progress: bool = False) -> Figures:
    """Scores the same labelled customers at ``cutoff`` (default: the baseline's test cutoff)
    with each package, the first being the baseline: the command line's ``compare --json``."""
    return Figures(_core.compare(pipeline, [str(p) for p in packages], cutoff, progress))


def monitor(pipeline: Pipeline, package, as_of: str | None = None, progress: bool = False) -> Figures:
    """Input drift of ``package`` at ``as_of`` against its references, and its matured kept
    lists judged: the command line's ``monitor --json``."""
    return Figures(_core.monitor(pipeline, str(package), as_of, progress))



def __getattr__(name: str):
    # scikit-learn is optional: the estimator loads it only when asked for.
    if name == "ChurnClassifier":
        from .sklearn import ChurnClassifier

        return ChurnClassifier
    raise AttributeError(f"module 'churnguard' has no attribute {name!r}")


__all__ = [
    "ChurnClassifier",
    "ChurnguardError",
    "ConfigError",
    "DataError",
    "FeatureTable",
    "Figures",
    "Package",
    "PackageError",
    "Pipeline",
    "RiskList",
    "Table",
    "__version__",
    "compare",
    "features",
    "monitor",
    "train",
    "validate",
]
