"""``ChurnClassifier``: churnguard's LightGBM classifier for teams that build their own features,
with scikit-learn's manners (``clone``, ``Pipeline``, ``GridSearchCV``, pickling) and the exact
ONNX export of the command line."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _core

# The seeds LightGBM takes are 32-bit.
_SEEDS = 2**31 - 1


class ChurnClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (LightGBM, binary log loss) on a numeric feature matrix.

    Missing values (NaN) are allowed. The fitted state is LightGBM's model text
    (``booster_``), so a pickled classifier predicts the same probabilities, and
    ``export_onnx`` writes the model as exact ONNX, checked through ONNX Runtime.

    Parameters
    ----------
    n_estimators : boosting rounds.
    learning_rate : shrinkage per round.
    num_leaves : leaves per tree.
    min_child_samples : fewest rows in a leaf.
    random_state : seed (an int, a ``RandomState``, or None for 0).
    n_jobs : threads LightGBM trains on (None: 1; -1 or 0: every core).
    calibration : None, or ``"platt"``: the trees are fitted on all rows but a held-out
        share, and Platt's map (a logistic regression on the trees' log-odds) on that share,
        so the probabilities match observed rates; it is kept in ``calibration_`` and inside
        the exported graph.
    calibration_share : the share of each class held out for the calibration.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        random_state=None,
        n_jobs: int | None = 1,
        calibration: str | None = None,
        calibration_share: float = 0.2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.calibration = calibration
        self.calibration_share = calibration_share

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    def _seed(self) -> int:
        if self.random_state is None:
            return 0
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state) % _SEEDS
        return int(check_random_state(self.random_state).randint(_SEEDS))

    def _threads(self) -> int:
        if self.n_jobs is None:
            return 1
        return max(int(self.n_jobs), 0)

    def fit(self, X, y):
        """Fits the trees on ``X`` (rows by features) and the two classes of ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", order="C")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"ChurnClassifier needs two classes in y; it has one class: {self.classes_[0]!r}")
        if len(self.classes_) > 2:
            raise ValueError("Only binary classification is supported. The type of the target is multiclass.")
        positive = (y == self.classes_[1]).astype(np.float32)
        held_out = self._held_out(positive)
        fit_x, fit_y = (X, positive) if not held_out.any() else (np.ascontiguousarray(X[~held_out]), positive[~held_out])
        self.booster_ = _core.fit_classifier(
            fit_x,
            X.shape[1],
            fit_y,
            int(self.n_estimators),
            float(self.learning_rate),
            int(self.num_leaves),
            int(self.min_child_samples),
            self._seed(),
            self._threads(),
        )
        self.calibration_ = None
        if held_out.any():
            self.calibration_ = _core.fit_calibration(
                self.booster_, np.ascontiguousarray(X[held_out]), X.shape[1], positive[held_out]
            )
        return self

    def _held_out(self, positive):
        """The rows kept for the calibration: ``calibration_share`` of each class, drawn with the
        seed (none without a calibration)."""
        if self.calibration is None:
            return np.zeros(len(positive), dtype=bool)
        if self.calibration != "platt":
            raise ValueError(f"calibration {self.calibration!r}: None or 'platt'")
        share = float(self.calibration_share)
        if not 0.0 < share < 1.0:
            raise ValueError(f"calibration_share {share}: a share between 0 and 1")
        rng = np.random.default_rng(self._seed())
        held_out = np.zeros(len(positive), dtype=bool)
        for label in (0.0, 1.0):
            rows = np.flatnonzero(positive == label)
            keep = int(round(share * len(rows)))
            if keep < 1 or keep >= len(rows):
                raise ValueError(
                    f"calibration_share {share} of {len(rows)} rows of one class leaves no rows "
                    "to fit or to calibrate on; give more rows or another share"
                )
            held_out[rng.choice(rows, size=keep, replace=False)] = True
        return held_out

    def predict_proba(self, X):
        """Each row's probability of each class (columns in ``classes_`` order)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan", order="C")
        p = _core.classifier_probabilities(self.booster_, X, X.shape[1], self.calibration_)
        p = np.asarray(p, dtype=np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """The likelier class of each row."""
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(int)]

    def export_onnx(self, path, input_type: str = "f32") -> float:
        """Writes the fitted trees as exact ONNX (``input_type`` ``f32`` or ``f64``), checked
        through ONNX Runtime first; returns the largest difference the check found. The output
        is the positive class's probability, calibrated inside the graph as ``predict_proba``."""
        check_is_fitted(self)
        return _core.export_onnx(self.booster_, str(path), input_type, self.calibration_)
