"""What an engine's task does with its share of the customers (whole customers: every row of each,
in every table), the same for Spark and Dask: their feature rows, or their partition list, which
the driver merges into the one list. Tasks run in other processes (or machines): they get the
paths of the pipeline file and the package, never the objects."""

from __future__ import annotations

import functools
import os

from . import _core

#: The column an engine adds to split the customers into shares (and drops before churnguard
#: reads the rows).
SHARE = "_churnguard_share"


def given_tables(pipeline: _core.Pipeline, tables: dict) -> dict:
    """The engine frames given for each table role, checked against the pipeline's tables."""
    given = {role: frame for role, frame in tables.items() if frame is not None}
    wanted = pipeline.customer_ids
    if set(given) != set(wanted):
        raise _core.ConfigError(
            f"{pipeline.path}: the pipeline reads the tables {sorted(wanted)}, "
            f"the engine was given {sorted(given)}: give one frame per table"
        )
    if not os.path.isfile(pipeline.path):
        raise _core.ConfigError(
            f"{pipeline.path}: an engine's tasks read the pipeline from its file, and there is none "
            "(a pipeline made with from_dict): write it to a file and load it from there"
        )
    return given


@functools.lru_cache(maxsize=4)
def _package(path: str) -> _core.Package:
    # One ONNX Runtime thread per task: the engine runs as many tasks as it has cores.
    return _core.Package.open(path, threads=1)


def _without_share(table):
    names = [n for n in table.column_names if n != SHARE]
    return table.select(names)


def _arrow(frame):
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if type(frame).__module__.startswith("pandas"):
        # The index of a shuffled frame is not a column.
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.table(frame)


def share_tables(tables: dict) -> dict | None:
    """The share's tables as Arrow without the share column, or None when it holds no customer."""
    arrow = {role: _without_share(_arrow(frame)) for role, frame in tables.items()}
    if all(t.num_rows == 0 for t in arrow.values()):
        return None
    return arrow


def score_share(package_path: str, pipeline_path: str, as_of: str | None, label: str, tables: dict):
    """A share's partition list as `(list, win_back)` bytes, or None for a share with no customer."""
    arrow = share_tables(tables)
    if arrow is None:
        return None
    pipeline = _core.Pipeline.load(pipeline_path, **arrow)
    return _package(package_path).partition_list(pipeline, as_of=as_of, label=label)


def features_share(pipeline_path: str, cutoffs: list[str], tables: dict):
    """A share's feature rows as a pyarrow Table, or None for a share with no customer."""
    import pyarrow as pa

    arrow = share_tables(tables)
    if arrow is None:
        return None
    pipeline = _core.Pipeline.load(pipeline_path, **arrow)
    return pa.table(_core.features(pipeline, cutoffs=cutoffs))
