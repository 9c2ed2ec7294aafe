"""churnguard on Dask: a pipeline's tables as Dask DataFrames, split into shares of whole
customers, each share's features or partition list computed in a task of the cluster, the lists
merged on the client into the one list (row for row what scoring every customer at once gives).

Needs ``dask[dataframe]`` (and ``distributed`` for a cluster); the tasks import ``churnguard``,
so it must be installed where the workers run, and they read the pipeline file and the package
from the paths the client gives.
"""

from __future__ import annotations

from . import _core
from ._shares import SHARE, features_share, given_tables, score_share


def by_customer(frame, customer_id: str, shares: int):
    """The frame's rows split into ``shares`` partitions by customer: every row of a customer in
    one partition, the same partition in every table split with the same count."""
    import pandas as pd

    def share_of(part):
        ids = part[customer_id].astype(str)
        return (pd.util.hash_pandas_object(ids, index=False) % shares).astype("int64")

    keyed = frame.assign(**{SHARE: frame.map_partitions(share_of, meta=(SHARE, "int64"))})
    return keyed.shuffle(on=SHARE, npartitions=shares)


def _split(pipeline, tables: dict, shares: int | None) -> tuple[int, dict]:
    given = given_tables(pipeline, tables)
    count = shares or max(frame.npartitions for frame in given.values())
    ids = pipeline.customer_ids
    # Each share as a list of delayed partitions per role: task i gets partition i of each.
    return count, {role: by_customer(frame, ids[role], count).to_delayed() for role, frame in given.items()}


def score(
    package: _core.Package,
    pipeline: _core.Pipeline,
    as_of: str | None = None,
    *,
    events=None,
    customers=None,
    interactions=None,
    shares: int | None = None,
) -> _core.RiskList:
    """Scores the customers of the Dask DataFrames given for the pipeline's tables at ``as_of``
    (``YYYY-MM-DD``; default ``data.as_of``): ``shares`` tasks (default: the most partitions of
    the frames), each scoring its customers, merged here into the one ``RiskList``."""
    import dask

    count, split = _split(pipeline, {"events": events, "customers": customers, "interactions": interactions}, shares)
    tasks = [
        dask.delayed(score_share)(
            str(package.path),
            str(pipeline.path),
            as_of,
            str(i),
            {role: parts[i] for role, parts in split.items()},
        )
        for i in range(count)
    ]
    parts = [p for p in dask.compute(*tasks) if p is not None]
    return package.merge(pipeline, parts)


def features(
    pipeline: _core.Pipeline,
    cutoffs: list[str],
    *,
    events=None,
    customers=None,
    interactions=None,
    shares: int | None = None,
):
    """The feature rows of the customers at each cutoff, as a Dask DataFrame (one partition per
    share of customers; rows in share order, each share's by cutoff then customer)."""
    import dask
    import dask.dataframe as dd

    tables = {"events": events, "customers": customers, "interactions": interactions}
    count, split = _split(pipeline, tables, shares)
    meta = _features_meta(pipeline, cutoffs, tables)
    tasks = [
        dask.delayed(_features_frame)(
            str(pipeline.path), list(cutoffs), {role: parts[i] for role, parts in split.items()}, meta
        )
        for i in range(count)
    ]
    return dd.from_delayed(tasks, meta=meta, verify_meta=False)


def _features_meta(pipeline, cutoffs, tables):
    """The feature table's columns, empty: features of the first partition's rows, computed here."""
    sample = {role: frame.partitions[0].compute() for role, frame in tables.items() if frame is not None}
    return features_share(str(pipeline.path), list(cutoffs), sample).to_pandas().iloc[:0]


def _features_frame(pipeline_path: str, cutoffs: list[str], tables: dict, meta):
    table = features_share(pipeline_path, cutoffs, tables)
    return meta if table is None else table.to_pandas()
