"""``ChurnClassifier`` with scikit-learn's manners: its estimator checks, clone and grid search,
pickling, and an ONNX export equal to its own probabilities."""

import pickle

import numpy as np
import onnxruntime
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from churnguard import ChurnClassifier, ConfigError


def data(n=600, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(size=x.shape) < 0.05] = np.nan
    y = np.where(np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(scale=0.7, size=n) > 0, "churned", "stayed")
    return x, y


def test_scikit_learns_estimator_checks_pass():
    failed = [r for r in check_estimator(ChurnClassifier(n_estimators=20, min_child_samples=2), on_fail=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:300]) for r in failed]


def test_fit_predict_clone_grid_search_and_pickle():
    x, y = data()
    model = ChurnClassifier(n_estimators=30, random_state=7).fit(x, y)
    assert list(model.classes_) == ["churned", "stayed"] and model.n_features_in_ == 5
    p = model.predict_proba(x)
    assert p.shape == (600, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert (model.predict(x) == y).mean() > 0.8
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_proba(x), p)
    assert np.array_equal(clone(model).fit(x, y).predict_proba(x), p)
    search = GridSearchCV(ChurnClassifier(n_estimators=20), {"num_leaves": [3, 7]}, cv=3, scoring="roc_auc").fit(x, y)
    assert search.best_params_["num_leaves"] in (3, 7)
    assert np.array_equal(ChurnClassifier(n_estimators=30, random_state=7, n_jobs=-1).fit(x, y).predict_proba(x), p)
    piped = make_pipeline(StandardScaler(), ChurnClassifier(n_estimators=20)).fit(x, y)
    assert piped.predict_proba(x).shape == (600, 2)


def test_the_onnx_export_gives_the_classifiers_probabilities(tmp_path):
    x, y = data()
    model = ChurnClassifier(n_estimators=40).fit(x, y)
    path = tmp_path / "model.onnx"
    assert model.export_onnx(path, input_type="f64") < 1e-9
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    probabilities = np.asarray(outputs[-1])
    positive = probabilities[:, -1] if probabilities.ndim == 2 else probabilities
    assert np.max(np.abs(positive - model.predict_proba(x)[:, 1])) < 1e-12
    with pytest.raises(ConfigError, match="f32 or f64"):
        model.export_onnx(tmp_path / "other.onnx", input_type="f16")


def test_bad_inputs_are_clear_errors():
    x, y = data()
    with pytest.raises(ValueError, match="Only binary classification"):
        ChurnClassifier().fit(x, np.arange(600) % 3)
    with pytest.raises(ValueError, match="one class"):
        ChurnClassifier().fit(x, np.zeros(600))
    model = ChurnClassifier(n_estimators=5).fit(x, y)
    with pytest.raises(ValueError, match="features"):
        model.predict_proba(x[:, :3])


def log_loss(p, y):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_platt_calibration_fixes_an_overconfident_model_and_is_inside_the_export(tmp_path):
    x, y = data(n=4000, seed=5)
    test_x, test_y = data(n=4000, seed=6)
    settings = dict(n_estimators=300, learning_rate=0.3, min_child_samples=2, random_state=1)
    raw = ChurnClassifier(**settings).fit(x, y)
    calibrated = ChurnClassifier(**settings, calibration="platt").fit(x, y)
    assert raw.calibration_ is None
    a, b = calibrated.calibration_
    assert a < 1.0, "an overconfident model's log-odds are shrunk"
    stayed = (test_y == "stayed").astype(float)
    raw_loss = log_loss(raw.predict_proba(test_x)[:, 1], stayed)
    calibrated_loss = log_loss(calibrated.predict_proba(test_x)[:, 1], stayed)
    assert calibrated_loss < raw_loss - 0.02, (calibrated_loss, raw_loss)
    again = pickle.loads(pickle.dumps(calibrated))
    assert np.array_equal(again.predict_proba(test_x), calibrated.predict_proba(test_x))

    path = tmp_path / "calibrated.onnx"
    assert calibrated.export_onnx(path, input_type="f64") < 1e-9
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities = np.asarray(session.run(None, {session.get_inputs()[0].name: test_x})[-1])
    positive = probabilities[:, -1] if probabilities.ndim == 2 else probabilities
    assert np.max(np.abs(positive - calibrated.predict_proba(test_x)[:, 1])) < 1e-9
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["calibration"] == "platt, inside this graph"


def test_bad_calibration_settings_are_clear_errors():
    x, y = data()
    with pytest.raises(ValueError, match="None or 'platt'"):
        ChurnClassifier(calibration="isotonic").fit(x, y)
    with pytest.raises(ValueError, match="a share between 0 and 1"):
        ChurnClassifier(calibration="platt", calibration_share=1.5).fit(x, y)
    few = np.array(["churned"] * 598 + ["stayed"] * 2)
    with pytest.raises(ValueError, match="leaves no rows"):
        ChurnClassifier(calibration="platt", calibration_share=0.1).fit(x, few)
