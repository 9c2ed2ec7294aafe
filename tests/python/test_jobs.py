"""The jobs from Python on CDNOW's sample: the same packages and lists as the command line."""

import csv
import math

import pyarrow as pa
import polars as pl
import pytest

import churnguard
from conftest import AS_OF, FIXTURE, cli, stage_pipeline


def cli_list(package, pipeline_path, out):
    """The list the command line scores with `package`, as CSV rows."""
    run = cli("score", "--model", str(package), "--pipeline", str(pipeline_path), "--as-of", AS_OF, "--out", str(out))
    assert run.returncode == 0, run.stderr
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def same_rows(table: pa.Table, rows: list[dict]):
    """Every row and column of an Arrow list equal to the CLI's CSV list (floats to 1e-12)."""
    assert table.num_rows == len(rows)
    assert table.column_names == list(rows[0].keys())
    columns = table.to_pydict()
    for name, values in columns.items():
        for k, (ours, theirs) in enumerate(zip(values, (r[name] for r in rows))):
            if isinstance(ours, float):
                assert math.isclose(ours, float(theirs), rel_tol=1e-12, abs_tol=1e-12), (name, k, ours, theirs)
            elif isinstance(ours, bool):
                assert str(ours).lower() == theirs, (name, k)
            else:
                assert ("" if ours is None else str(ours)) == theirs, (name, k, ours, theirs)


def test_validate_reports_the_tables(pipeline_path):
    report = churnguard.validate(churnguard.Pipeline.load(str(pipeline_path)))
    assert report.usable is True
    events = report.tables[0]
    assert events.role == "events" and events.report.rows_kept > 0
    assert report.to_dict()["tables"][0]["report"]["rows_kept"] == events.report.rows_kept
    with pytest.raises(AttributeError, match="no figure 'usabel'"):
        report.usabel
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(report)) == report == copy.deepcopy(report)
    report.to_dict()["usable"] = False
    assert report.usable is True
    with pytest.raises(churnguard.ConfigError, match="validate reads the pipeline's files"):
        churnguard.validate(churnguard.Pipeline.load(str(pipeline_path), events=pa.table({"customer_id": [1]})))


def test_compare_and_monitor_give_the_clis_figures(trained, stored_package, pipeline_path, tmp_path):
    import json

    package, _ = trained
    pipeline = churnguard.Pipeline.load(str(pipeline_path))
    comparison = churnguard.compare(pipeline, [stored_package, package.path])
    out = tmp_path / "compare.json"
    run = cli("compare", "--pipeline", str(pipeline_path), str(stored_package), str(package.path), "--json", str(out))
    assert run.returncode == 0, run.stderr
    theirs = json.loads(out.read_text())
    ours = comparison.to_dict()
    assert [m["evaluation"]["auc"] for m in ours["models"]] == [m["evaluation"]["auc"] for m in theirs["models"]]
    assert comparison.models[1].evaluation.auc == theirs["models"][1]["evaluation"]["auc"]
    assert ours["paired"][0]["delong"] == theirs["paired"][0]["delong"]
    assert comparison.customers == theirs["customers"] > 0
    monitoring = churnguard.monitor(pipeline, package.path, as_of=AS_OF)
    out = tmp_path / "monitor.json"
    run = cli("monitor", "--pipeline", str(pipeline_path), "--model", str(package.path), "--as-of", AS_OF, "--json", str(out))
    assert run.returncode in (0, 4, 5), run.stderr
    theirs = json.loads(out.read_text())
    assert monitoring.to_dict().keys() == theirs.keys()
    assert monitoring.to_dict()["features"] == theirs["features"]


def test_a_package_trained_in_python_is_the_clis(trained, pipeline_path, tmp_path):
    package, models = trained
    assert package.version == "v1" and package.pipeline == "fixture_format2"
    assert 0.5 < package.test_auc < 1.0 and 0.5 < package.validation_auc < 1.0
    assert "recency_days" in package.features
    # The command line trains the same pipeline to the same model, byte for byte.
    run = cli("train", str(pipeline_path), "--models", str(tmp_path))
    assert run.returncode == 0, run.stderr
    ours = models / "fixture_format2" / "v1"
    theirs = tmp_path / "fixture_format2" / "v1"
    for name in ("model.txt", "model.onnx"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_the_list_scored_in_python_is_the_clis(trained, pipeline_path, tmp_path):
    package, _ = trained
    lst = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    assert lst.as_of == AS_OF and len(lst) > 100
    rows = cli_list(package.path, pipeline_path, tmp_path / "list.csv")
    same_rows(pa.table(lst), rows)
    assert lst.columns == list(rows[0].keys())
    levels = lst.levels
    assert sum(v["customers"] for v in levels.values()) == len(lst)
    assert math.isclose(lst.expected_churners, sum(float(r["churn_probability"]) for r in rows), rel_tol=1e-9)


def test_a_package_trained_by_the_cli_scores_to_its_stored_list(stored_package, pipeline_path):
    package = churnguard.Package.open(str(stored_package))
    lst = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    with open(FIXTURE / "list.csv", newline="") as f:
        same_rows(pa.table(lst), list(csv.DictReader(f)))


def test_pyarrow_polars_and_pandas_read_the_same_list(trained, pipeline_path):
    package, _ = trained
    lst = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    arrow = lst.to_pyarrow()
    polars = pl.DataFrame(lst)
    pandas = lst.to_pandas()
    assert arrow.equals(pa.table(lst))
    assert polars.equals(lst.to_polars())
    assert polars.height == arrow.num_rows == len(pandas) == len(lst)
    assert polars["customer_id"].to_list() == arrow.column("customer_id").to_pylist() == pandas["customer_id"].tolist()
    assert polars["churn_probability"].to_list() == pandas["churn_probability"].tolist()
    # The stream can be read again: each read is a new stream over the same batches.
    assert pa.table(lst).equals(arrow)


def test_lightgbm_and_churnguard_train_in_one_process(tmp_path, pipeline_path):
    import lightgbm
    import numpy as np

    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 4))
    y = (x[:, 0] + rng.normal(size=500) > 0).astype(int)
    model = lightgbm.train({"objective": "binary", "verbose": -1, "num_threads": 2}, lightgbm.Dataset(x, y), 20)
    before = model.predict(x)
    package = churnguard.train(churnguard.Pipeline.load(str(pipeline_path)), models=str(tmp_path))
    again = lightgbm.train({"objective": "binary", "verbose": -1, "num_threads": 2}, lightgbm.Dataset(x, y), 20)
    assert package.test_auc > 0.5
    assert np.array_equal(before, again.predict(x))


def test_errors_are_exceptions_of_their_kind_with_the_clis_message(trained, tmp_path, pipeline_path):
    package, _ = trained
    missing = tmp_path / "missing.toml"
    with pytest.raises(churnguard.ConfigError) as e:
        churnguard.Pipeline.load(str(missing))
    assert str(e.value) in cli("validate", str(missing)).stderr

    typo = stage_pipeline(tmp_path, (FIXTURE / "pipeline.toml").read_text().replace("num_leaves", "num_leafs"))
    with pytest.raises(churnguard.ConfigError, match="num_leafs"):
        churnguard.Pipeline.load(str(typo))

    (tmp_path / "wrong").mkdir()
    wrong_column = stage_pipeline(
        tmp_path / "wrong", (FIXTURE / "pipeline.toml").read_text().replace('amount = "dollar_value"', 'amount = "dollars"')
    )
    with pytest.raises(churnguard.DataError) as e:
        package.score(churnguard.Pipeline.load(str(wrong_column)), as_of=AS_OF)
    assert "dollars" in str(e.value)
    run = cli("score", "--model", str(package.path), "--pipeline", str(wrong_column), "--as-of", AS_OF, "--out", str(tmp_path / "l.csv"))
    assert str(e.value) in run.stderr

    (tmp_path / "other").mkdir()
    other = stage_pipeline(
        tmp_path / "other", (FIXTURE / "pipeline.toml").read_text().replace('name = "fixture_format2"', 'name = "another"')
    )
    with pytest.raises(churnguard.PackageError, match="another"):
        package.score(churnguard.Pipeline.load(str(other)), as_of=AS_OF)

    with pytest.raises(churnguard.ConfigError, match="not a date"):
        package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of="July")

    with pytest.raises(churnguard.PackageError):
        churnguard.Package.open(str(tmp_path / "no-package"))
    assert issubclass(churnguard.DataError, churnguard.ChurnguardError)


def test_a_pipeline_from_a_dict_is_the_files(trained, pipeline_path):
    import tomllib

    package, _ = trained
    config = tomllib.loads(pipeline_path.read_text())
    from_dict = churnguard.Pipeline.from_dict(config, path=str(pipeline_path))
    assert from_dict.name == "fixture_format2"
    ours = package.score(from_dict, as_of=AS_OF)
    theirs = package.score(churnguard.Pipeline.load(str(pipeline_path)), as_of=AS_OF)
    assert pa.table(ours).equals(pa.table(theirs))
    config["model"]["num_leafs"] = 7
    with pytest.raises(churnguard.ConfigError, match="num_leafs"):
        churnguard.Pipeline.from_dict(config, path=str(pipeline_path))
    with pytest.raises(churnguard.ConfigError, match="pipeline keys are strings"):
        churnguard.Pipeline.from_dict({"pipeline": {1: "x"}})
    import numpy as np

    config["model"].pop("num_leafs")
    config["model"]["num_leaves"] = np.int64(7)
    config["model"]["learning_rate"] = np.float64(0.1)
    config["pipeline"]["description"] = "churn 😀 \"quoted\"\n"
    assert churnguard.Pipeline.from_dict(config, path=str(pipeline_path)).name == "fixture_format2"
