"""The Python reference for `churnguard score`.

Usage:
  score_reference.py session FEATURES.parquet MODEL.onnx MODEL.txt BATCH THREADS RUNS
      ONNX Runtime alone (batches of BATCH rows) and LightGBM's own predict on the same rows and
      threads; prints "onnxruntime_seconds lightgbm_seconds rows" (medians of RUNS)
  score_reference.py pipeline DIR CUTOFF MODEL.onnx OUT.parquet THREADS
      pandas features at CUTOFF + ONNX Runtime scoring + ranked list written as Parquet;
      prints "total_seconds features_seconds scoring_seconds rows"
"""
import sys
import tempfile
import time

import numpy as np


def session(ort_threads, model):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ort_threads
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def score_batches(sess, X, batch):
    out = np.empty(len(X))
    for s in range(0, len(X), batch):
        out[s:s + batch] = sess.run(["probability"], {"features": X[s:s + batch]})[0]
    return out


def features_matrix(table):
    return table.drop(columns=[c for c in ("customer_id", "cutoff", "label") if c in table.columns]).to_numpy(np.float64)


def median_time(f, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bench_session(features, model, model_txt, batch, threads, runs):
    import lightgbm as lgb
    import pyarrow.parquet as pq

    X = features_matrix(pq.read_table(features).to_pandas())
    sess = session(threads, model)
    booster = lgb.Booster(model_file=model_txt)
    t_ort = median_time(lambda: score_batches(sess, X, batch), runs)
    t_lgb = median_time(lambda: booster.predict(X, num_threads=threads), runs)
    print(f"{t_ort:.3f} {t_lgb:.3f} {len(X)}")


def pipeline(d, cutoff, model, out, threads):
    import pandas as pd

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from features_reference import pandas_features

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pandas_features(d, cutoff, f"{tmp}/f.parquet")
        table = pd.read_parquet(f"{tmp}/f.parquet")
    t1 = time.perf_counter()
    sess = session(threads, model)
    p = score_batches(sess, features_matrix(table), 65536)
    t2 = time.perf_counter()
    ranked = pd.DataFrame({"customer_id": table.customer_id, "churn_probability": p})
    ranked = ranked.sort_values("churn_probability", ascending=False, kind="stable")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked.to_parquet(out)
    total = time.perf_counter() - t0
    print(f"{total:.3f} {t1 - t0:.3f} {t2 - t1:.3f} {len(ranked)}")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        bench_session(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    elif sys.argv[1] == "pipeline":
        pipeline(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r} (session, pipeline)")
