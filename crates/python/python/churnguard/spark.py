"""churnguard on Spark: a pipeline's tables as Spark DataFrames, split into shares of whole
customers (grouped by a hash of the customer id), each share's features or partition list
computed by a Python task through Arrow (``applyInArrow``), the lists merged on the driver into
the one list (row for row what scoring every customer at once gives).

Needs PySpark 4 (grouped and cogrouped ``applyInArrow``); the tasks import ``churnguard``, so it
must be installed where the executors run, and they read the pipeline file and the package from
the paths the driver gives.
"""

from __future__ import annotations

from . import _core
from ._shares import SHARE, features_share, given_tables, score_share

_LIST_SCHEMA = "share string, list binary, win_back binary"
# The role column and the separator of role and column names in the one grouped frame.
_ROLE = "_churnguard_role"
_SEP = "__"


def by_customer(frame, customer_id: str, shares: int):
    """The frame with the share of each row's customer (``xxhash64`` of the id as text, modulo
    ``shares``) in a column: every row of a customer in one share, in every table."""
    from pyspark.sql import functions as F

    share = F.pmod(F.xxhash64(F.col(customer_id).cast("string")), F.lit(shares))
    return frame.withColumn(SHARE, share)


def _grouped(pipeline, tables: dict, shares: int | None):
    """The frames given, as one frame grouped by share: each table's rows tagged with its role,
    its columns named ``<role>__<column>`` (null in the other tables' rows), so one group holds
    a share's rows of every table (Spark cogroups only two frames)."""
    from functools import reduce

    from pyspark.sql import functions as F

    given = given_tables(pipeline, tables)
    first = next(iter(given.values()))
    count = shares or first.sparkSession.sparkContext.defaultParallelism
    ids = pipeline.customer_ids
    columns = [(role, field.name, field.dataType) for role, frame in given.items() for field in frame.schema.fields]
    tagged = []
    for role, frame in given.items():
        keyed = by_customer(frame, ids[role], count)
        picked = [F.lit(role).alias(_ROLE), F.col(SHARE)]
        for owner, name, kind in columns:
            value = F.col(f"`{name}`") if owner == role else F.lit(None).cast(kind)
            picked.append(value.alias(f"{owner}{_SEP}{name}"))
        tagged.append(keyed.select(*picked))
    return reduce(lambda a, b: a.unionByName(b), tagged).groupBy(SHARE)


def _tables_of(rows, roles) -> dict:
    """A group's rows split back into the tables they came from, with their own column names (a
    table may have no row in a share: a customer without contacts)."""
    import pyarrow.compute as pc

    out = {}
    for role in roles:
        mine = rows.filter(pc.equal(rows.column(_ROLE), role))
        names = [n for n in rows.column_names if n.startswith(f"{role}{_SEP}")]
        out[role] = mine.select(names).rename_columns([n[len(role) + len(_SEP) :] for n in names])
    return out


def _apply(grouped, roles, task, schema):
    """Runs ``task(tables_by_role, share)`` on each share's rows."""
    return grouped.applyInArrow(lambda rows: task(_tables_of(rows, roles), rows.column(SHARE)[0].as_py()), schema)


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

    tables = {"events": events, "customers": customers, "interactions": interactions}
    grouped = _grouped(pipeline, tables, shares)
    package_path, pipeline_path, roles = str(package.path), str(pipeline.path), list(pipeline.customer_ids)

    def task(tables, share):
        part = score_share(package_path, pipeline_path, as_of, str(share), tables)
        return pa.table({"share": [str(share)], "list": [part[0]], "win_back": [part[1]]})

    rows = _apply(grouped, roles, task, _LIST_SCHEMA).collect()
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

    tables = {"events": events, "customers": customers, "interactions": interactions}
    grouped = _grouped(pipeline, tables, shares)
    pipeline_path, cutoffs, roles = str(pipeline.path), list(cutoffs), list(pipeline.customer_ids)
    schema = _features_schema(pipeline, cutoffs, {role: tables[role] for role in roles})

    def task(tables, _share):
        return features_share(pipeline_path, cutoffs, tables).cast(schema)

    return _apply(grouped, roles, task, from_arrow_schema(schema))


def _features_schema(pipeline, cutoffs, tables):
    """The feature table's Arrow schema: features of a few customers, computed on the driver."""
    from pyspark.sql import functions as F

    ids = pipeline.customer_ids
    role, first = next(iter(tables.items()))
    some = [r[0] for r in first.select(ids[role]).distinct().limit(20).collect()]
    sample = {role: frame.where(F.col(ids[role]).isin(some)).toArrow() for role, frame in tables.items()}
    return features_share(str(pipeline.path), cutoffs, sample).schema
