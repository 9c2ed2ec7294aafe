"""Spark (local mode, two task slots) and Dask (a LocalCluster of two worker processes): shares of
whole customers scored in the engines' tasks and merged on the driver give one machine's list, row
for row, and their feature rows are one machine's. Skipped unless `scripts/setup.sh --engines`
installed the engines (CI does)."""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import churnguard
from conftest import AS_OF, ROOT, assert_close_tables, cli

EVENTS = ROOT / "data" / "cdnow" / "cdnow_sample.parquet"
CUTOFFS = ["1998-01-01", "1998-03-01"]
ROLES = ("events", "customers", "interactions")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A pipeline of all three tables (synthetic, 3,000 customers) and a package trained on it."""
    folder = tmp_path_factory.mktemp("synth")
    made = cli("synth", "--customers", "3000", "--out", str(folder))
    assert made.returncode == 0, made.stderr
    config = folder / "pipeline.toml"
    config.write_text(config.read_text() + "\n[snapshots]\ntrain_cutoffs = [2024-06-01]\ntest_cutoff = 2024-09-01\n")
    pipeline = churnguard.Pipeline.load(str(config))
    package = churnguard.train(pipeline, models=str(folder / "models"))
    return folder, pipeline, package


def three_tables(spark_or_dask, folder):
    """The synthetic tables as the engine's frames."""
    return {role: spark_or_dask(str(folder / f"{role}.parquet")) for role in ROLES}


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("churnguard-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def one_machine(pipeline_path):
    pipeline = churnguard.Pipeline.load(str(pipeline_path))
    return pipeline, pa.table(churnguard.features(pipeline, cutoffs=CUTOFFS))


def same_rows(ours: pa.Table, expected: pa.Table):
    """Equal tables, to 1e-12, whatever the order of the shares' rows (sorted on the first two
    columns: customer and cutoff)."""
    keys = [(expected.column_names[0], "ascending"), (expected.column_names[1], "ascending")]
    assert_close_tables(ours.cast(expected.schema).sort_by(keys), expected.sort_by(keys))


def test_dask_shares_give_one_machines_list_and_feature_rows(dask_client, trained, pipeline_path):
    import dask.dataframe as dd

    import churnguard.dask

    package, _ = trained
    pipeline, features = one_machine(pipeline_path)
    events = dd.from_pandas(pq.read_table(EVENTS).to_pandas(), npartitions=3)
    merged = churnguard.dask.score(package, pipeline, as_of=AS_OF, events=events, shares=4)
    assert pa.table(merged).equals(pa.table(package.score(pipeline, as_of=AS_OF)))
    assert merged.levels == package.score(pipeline, as_of=AS_OF).levels
    shared = churnguard.dask.features(pipeline, CUTOFFS, events=events, shares=4)
    assert shared.npartitions == 4
    same_rows(pa.Table.from_pandas(shared.compute(), preserve_index=False), features)


def test_spark_shares_give_one_machines_list_and_feature_rows(spark, trained, pipeline_path):
    import churnguard.spark

    package, _ = trained
    pipeline, features = one_machine(pipeline_path)
    events = spark.read.parquet(str(EVENTS))
    merged = churnguard.spark.score(package, pipeline, as_of=AS_OF, events=events, shares=4)
    assert pa.table(merged).equals(pa.table(package.score(pipeline, as_of=AS_OF)))
    shared = churnguard.spark.features(pipeline, CUTOFFS, events=events, shares=4)
    same_rows(shared.toArrow(), features)


def test_dask_and_spark_score_a_pipeline_of_three_tables_as_one_machine(dask_client, spark, synthetic):
    import dask.dataframe as dd

    import churnguard.dask
    import churnguard.spark

    folder, pipeline, package = synthetic
    one = pa.table(package.score(pipeline, as_of="2024-12-31"))
    assert one.num_rows > 500
    on_dask = churnguard.dask.score(package, pipeline, as_of="2024-12-31", shares=3, **three_tables(dd.read_parquet, folder))
    assert pa.table(on_dask).equals(one)
    on_spark = churnguard.spark.score(package, pipeline, as_of="2024-12-31", shares=3, **three_tables(spark.read.parquet, folder))
    assert pa.table(on_spark).equals(one)


def test_engines_refuse_tables_the_pipeline_does_not_read_and_pipelines_without_a_file(trained, pipeline_path, tmp_path):
    from churnguard._shares import given_tables

    pipeline = churnguard.Pipeline.load(str(pipeline_path))
    with pytest.raises(churnguard.ConfigError, match=r"reads the tables \['events'\].*given \['customers', 'events'\]"):
        given_tables(pipeline, {"events": object(), "customers": object()})
    with pytest.raises(churnguard.ConfigError, match=r"reads the tables \['events'\].*given \[\]"):
        given_tables(pipeline, {"events": None})
    config = {"pipeline": {"name": "x"}, "data": {"events": {"path": str(EVENTS), "customer_id": "customer_id", "timestamp": "date"}}}
    unsaved = churnguard.Pipeline.from_dict(config, path=str(tmp_path / "nowhere.toml"))
    with pytest.raises(churnguard.ConfigError, match="write it to a file"):
        given_tables(unsaved, {"events": object()})
