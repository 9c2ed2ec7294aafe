"""Tables in and out: features as Arrow, and a pipeline's tables given as pyarrow, polars or
pandas frames in place of its files, giving the same features and the same list."""

import pyarrow as pa
import pyarrow.parquet as pq
import polars as pl
import pytest

import churnguard
from conftest import AS_OF, ROOT, assert_close_tables, cli, stage_pipeline

EVENTS = ROOT / "data" / "cdnow" / "cdnow_sample.parquet"


def test_features_in_python_are_the_clis(pipeline_path, tmp_path):
    table = churnguard.features(churnguard.Pipeline.load(str(pipeline_path)), cutoffs=["1998-01-01", "1998-03-01"])
    out = tmp_path / "features.parquet"
    run = cli("features", str(pipeline_path), "--cutoff", "1998-01-01", "--cutoff", "1998-03-01", "--out", str(out))
    assert run.returncode == 0, run.stderr
    theirs = pq.read_table(out)
    ours = pa.table(table)
    assert ours.column_names == theirs.column_names == table.columns
    assert ours.equals(theirs.cast(ours.schema))
    assert [s["cutoff"] for s in table.snapshots] == ["1998-01-01", "1998-03-01"]
    assert sum(s["customers"] for s in table.snapshots) == len(table) == theirs.num_rows


@pytest.mark.parametrize("kind", ["pyarrow", "polars", "pandas"])
def test_frames_in_place_of_files_give_the_same_list(trained, pipeline_path, kind):
    package, _ = trained
    events = pq.read_table(EVENTS)
    frame = {"pyarrow": events, "polars": pl.from_arrow(events), "pandas": events.to_pandas()}[kind]
    from_files = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    from_frame = package.score(churnguard.Pipeline.load(str(pipeline_path), events=frame), as_of=AS_OF)
    assert pa.table(from_frame).equals(pa.table(from_files))
    features = churnguard.features(churnguard.Pipeline.load(str(pipeline_path), events=frame), cutoffs=["1998-01-01"])
    expected = churnguard.features(churnguard.Pipeline.load(str(pipeline_path)), cutoffs=["1998-01-01"])
    assert pa.table(features).equals(pa.table(expected))


def test_a_package_trains_from_a_frame_to_the_same_model(trained, pipeline_path, tmp_path):
    package, _ = trained
    frame = pl.read_parquet(EVENTS)
    again = churnguard.train(churnguard.Pipeline.load(str(pipeline_path), events=frame), models=str(tmp_path))
    for name in ("model.txt", "model.onnx"):
        assert (again.path / name).read_bytes() == (package.path / name).read_bytes(), name
    # The package says what it was trained on: the rows given, not the file the config names.
    import json

    inputs = json.loads((again.path / "manifest.json").read_text())["inputs"]
    from_files = json.loads((package.path / "manifest.json").read_text())["inputs"]
    assert [(i["role"], i["path"]) for i in inputs] == [("events", "(rows given in memory)")]
    assert inputs[0]["sha256"] != from_files[0]["sha256"] and len(inputs[0]["sha256"]) == 64


def test_bad_tables_are_clear_errors(pipeline_path):
    with pytest.raises(churnguard.DataError, match="list is not a table"):
        churnguard.Pipeline.load(str(pipeline_path), events=[1, 2, 3])
    with pytest.raises(churnguard.ConfigError, match="no \\[data.customers\\]"):
        churnguard.Pipeline.load(str(pipeline_path), events=pq.read_table(EVENTS), customers=pq.read_table(EVENTS))
    renamed = pq.read_table(EVENTS).rename_columns(["who" if c == "customer_id" else c for c in pq.read_table(EVENTS).column_names])
    p = churnguard.Pipeline.load(str(pipeline_path), events=renamed)
    with pytest.raises(churnguard.DataError, match="customer_id"):
        churnguard.features(p, cutoffs=["1998-01-01"])
    reader = pa.RecordBatchReader.from_batches(pq.read_table(EVENTS).schema, pq.read_table(EVENTS).to_batches())
    reader.read_all()
    with pytest.raises(churnguard.DataError, match="the events table given in memory: it has no rows"):
        churnguard.Pipeline.load(str(pipeline_path), events=reader)
    with pytest.raises(churnguard.ConfigError, match="not a date"):
        churnguard.features(churnguard.Pipeline.load(str(pipeline_path)), cutoffs=["01/01/1998"])


def test_a_hive_partitioned_folder_as_dask_and_spark_write_it_gives_the_same_list(trained, pipeline_path, tmp_path):
    import pyarrow.dataset as ds

    package, _ = trained
    folder = tmp_path / "events"
    # pyarrow's Hive flavour, which Dask's `to_parquet(partition_on=...)` writes through and
    # Spark's `partitionBy` matches: the purchase date lives only in the folder names
    # (`date=1997-01-01%2000%3A00%3A00.000/`), one folder per day.
    ds.write_dataset(pq.read_table(EVENTS), folder, format="parquet", partitioning=["date"], partitioning_flavor="hive")
    (folder / "_SUCCESS").write_text("")
    assert not any("date" in f.name for f in pq.read_schema(next(folder.rglob("*.parquet"))))
    hive = stage_pipeline(tmp_path, pipeline_path.read_text().replace(str(EVENTS), str(folder)))
    from_file = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    from_folder = package.score(churnguard.Pipeline.load(str(hive)), as_of=AS_OF)
    assert len(from_folder) == len(from_file) > 0
    assert pa.table(from_folder).equals(pa.table(from_file))


def test_a_pandas_index_is_not_a_column_and_an_empty_frame_is_an_empty_table(trained, pipeline_path):
    package, _ = trained
    events = pq.read_table(EVENTS).to_pandas()
    shuffled = events.sample(frac=1.0, random_state=3)  # an index that is not a plain range
    assert "__index_level_0__" in pa.table(shuffled).column_names
    expected = churnguard.features(churnguard.Pipeline.load(str(pipeline_path), events=events), cutoffs=["1998-01-01"])
    features = churnguard.features(churnguard.Pipeline.load(str(pipeline_path), events=shuffled), cutoffs=["1998-01-01"])
    # The same rows in another order: sums over a customer's rows may differ in their last digits.
    assert_close_tables(features, expected)
    # An empty frame is a table without rows (one share of an engine may have no contacts).
    empty = churnguard.Pipeline.load(str(pipeline_path), events=pq.read_table(EVENTS).slice(0, 0))
    assert empty.name == churnguard.Pipeline.load(str(pipeline_path)).name
