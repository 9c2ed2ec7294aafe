"""churnguard on Spark: a pipeline's tables as Spark DataFrames, split into shares of whole
customers (grouped by a hash of the customer id), each share's features or partition list
computed by a Python task through Arrow (``applyInArrow``), the lists merged on the driver into
the one list (row for row what scoring every customer at once gives).

Needs PySpark 4 (grouped and cogrouped ``applyInArrow``); the tasks import ``churnguard``, so it
must be installed where the executors run, and they read the pipeline file and the package from
the paths the driver gives. A pipeline of one or two tables is supported (Spark cogroups two).
"""

from __future__ import annotations

from . import _core
from ._shares import SHARE, features_share, given_tables, score_share

_LIST_SCHEMA = "share string, list binary, win_back binary"


def by_customer(frame, customer_id: str, shares: int):
    """The frame with the share of each row's customer (``xxhash64`` of the id as text, modulo
    ``shares``) in a column: every row of a customer in one share, in every table."""
    from pyspark.sql import functions as F

    share = F.pmod(F.xxhash64(F.col(customer_id).cast("string")), F.lit(shares))
    return frame.withColumn(SHARE, share)


def _grouped(pipeline, tables: dict, shares: int | None):
    """The frames given, keyed by share and grouped (one group, or two cogrouped), with their roles."""
    given = given_tables(pipeline, tables)
    if len(given) > 2:
        raise _core.ConfigError(
            f"{pipeline.path}: Spark cogroups at most two tables; this pipeline reads {sorted(given)}"
        )
    first = next(iter(given.values()))
    count = shares or first.sparkSession.sparkContext.defaultParallelism
    ids = pipeline.customer_ids
    roles = list(given)
    groups = [by_customer(given[role], ids[role], count).groupBy(SHARE) for role in roles]
    return roles, groups


def _apply(roles, groups, task, schema):
    """Runs ``task(tables_by_role)`` on each share, one or two tables cogrouped."""
    if len(groups) == 1:
        return groups[0].applyInArrow(lambda table: task({roles[0]: table}), schema)
    return groups[0].cogroup(groups[1]).applyInArrow(lambda a, b: task({roles[0]: a, roles[1]: b}), schema)


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
    """Scores the customers of the Spark DataFrames given for the pipeline's tables at ``as_of``
    (``YYYY-MM-DD``; default ``data.as_of``): ``shares`` groups of customers (default: Spark's
    default parallelism), each scored in a task, merged here into the one ``RiskList``."""
    import pyarrow as pa

    roles, groups = _grouped(pipeline, {"events": events, "customers": customers, "interactions": interactions}, shares)
    package_path, pipeline_path = str(package.path), str(pipeline.path)

    def task(tables):
        share = next(iter(tables.values())).column(SHARE)[0].as_py() if any(t.num_rows for t in tables.values()) else -1
        part = score_share(package_path, pipeline_path, as_of, str(share), tables)
        if part is None:
            return pa.table({"share": pa.array([], pa.string()), "list": pa.array([], pa.binary()), "win_back": pa.array([], pa.binary())})
        return pa.table({"share": [str(share)], "list": [part[0]], "win_back": [part[1]]})

    rows = _apply(roles, groups, task, _LIST_SCHEMA).collect()
    return package.merge(pipeline, [(bytes(r["list"]), bytes(r["win_back"])) for r in rows])


def features(
    pipeline: _core.Pipeline,
    cutoffs: list[str],
    *,
    events=None,
    customers=None,
    interactions=None,
    shares: int | None = None,
):
    """The feature rows of the customers at each cutoff, as a Spark DataFrame computed share by
    share (its columns are those churnguard's features have; the first share's rows give their
    types)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    roles, groups = _grouped(pipeline, {"events": events, "customers": customers, "interactions": interactions}, shares)
    pipeline_path, cutoffs = str(pipeline.path), list(cutoffs)
    schema = _features_schema(pipeline, cutoffs, roles, {"events": events, "customers": customers, "interactions": interactions})

    def task(tables):
        return features_share(pipeline_path, cutoffs, tables).cast(schema)

    return _apply(roles, groups, task, from_arrow_schema(schema))


def _features_schema(pipeline, cutoffs, roles, tables):
    """The feature table's Arrow schema: features of a few customers, computed on the driver."""
    from pyspark.sql import functions as F

    ids = pipeline.customer_ids
    first = tables[roles[0]]
    some = [r[0] for r in first.select(ids[roles[0]]).distinct().limit(20).collect()]
    sample = {role: tables[role].where(F.col(ids[role]).isin(some)).toArrow() for role in roles}
    return features_share(str(pipeline.path), cutoffs, sample).schema
