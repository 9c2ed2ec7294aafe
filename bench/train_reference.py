"""The Python reference for `churnguard train`: pandas features at a training and a test cutoff,
LightGBM with the same parameters and threads, early-stopping rounds fixed, AUC on the test.

Usage:
  train_reference.py pipeline DIR TRAIN_CUTOFF TEST_CUTOFF ROUNDS THREADS
      read + features (pandas) + train + predict; prints "total features train rows auc"
  train_reference.py fit FEATURES.parquet ROUNDS THREADS
      LightGBM alone on a churnguard feature table (80/20 customer split, validation scored each
      round as churnguard does); prints "train_seconds rows"

Parameters are churnguard's for the bench pipeline (bench/run.sh writes both from one list).
"""
import sys
import tempfile
import time

PARAMS = dict(
    objective="binary",
    learning_rate=0.1,
    num_leaves=31,
    min_data_in_leaf=20,
    max_bin=255,
    deterministic=True,
    force_row_wise=True,
    verbosity=-1,
    seed=42,
    metric="binary_logloss",
)


def split_fit(X, y, customers, rounds, threads):
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(42)
    ids = np.unique(customers)
    valid_ids = set(rng.choice(ids, size=len(ids) // 5, replace=False).tolist())
    is_valid = np.fromiter((c in valid_ids for c in customers), bool, len(customers))
    params = dict(PARAMS, num_threads=threads)
    t = time.perf_counter()
    train = lgb.Dataset(X[~is_valid], y[~is_valid], params=params, free_raw_data=True)
    valid = lgb.Dataset(X[is_valid], y[is_valid], reference=train)
    booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid])
    return booster, time.perf_counter() - t, int((~is_valid).sum())


def features_of(table):
    cols = [c for c in table.columns if c not in ("customer_id", "cutoff", "label")]
    return table[cols].to_numpy(dtype="float64"), cols


def pipeline(d, train_cutoff, test_cutoff, rounds, threads):
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from features_reference import pandas_features

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pandas_features(d, train_cutoff, f"{tmp}/train.parquet")
        pandas_features(d, test_cutoff, f"{tmp}/test.parquet")
        train = pd.read_parquet(f"{tmp}/train.parquet")
        test = pd.read_parquet(f"{tmp}/test.parquet")
    t1 = time.perf_counter()
    X, _ = features_of(train)
    booster, train_s, rows = split_fit(X, train.label.to_numpy(), train.customer_id.to_numpy(), rounds, threads)
    Xt, _ = features_of(test)
    auc = roc_auc_score(test.label.to_numpy(), booster.predict(Xt))
    total = time.perf_counter() - t0
    print(f"{total:.3f} {t1 - t0:.3f} {train_s:.3f} {rows} {auc:.4f}")


def fit(path, rounds, threads):
    import pandas as pd

    table = pd.read_parquet(path)
    table = table[table.label.notna()]
    X, _ = features_of(table)
    _, train_s, rows = split_fit(X, table.label.to_numpy().astype("float64"), table.customer_id.to_numpy(), rounds, threads)
    print(f"{train_s:.3f} {rows}")


if __name__ == "__main__":
    if sys.argv[1] == "pipeline":
        pipeline(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r} (pipeline, fit)")
