"""ONNX Runtime scoring speed of one LightGBM model in two ONNX shapes: churnguard's export (one
TreeEnsemble node, ai.onnx.ml opset 5, double thresholds, set-membership categorical splits) and
onnxmltools' (TreeEnsembleClassifier, float thresholds, categorical splits as chains of equality
nodes sharing children), with LightGBM's own predict as the baseline. Same rows, same threads.

usage: operator_speed.py FEATURES.parquet MODEL.txt CHURNGUARD.onnx ROWS THREADS RUNS
prints one line per contender: "<name> <median seconds>"
"""
import sys
import warnings

import lightgbm as lgb
import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from score_reference import features_matrix, median_time  # noqa: E402

warnings.filterwarnings("ignore")
ort.set_default_logger_severity(3)

features, model, ours, rows, threads, runs = sys.argv[1:7]
rows, threads, runs = int(rows), int(threads), int(runs)
X = features_matrix(pq.read_table(features).slice(0, rows).to_pandas())
booster = lgb.Booster(model_file=model)


def median(f):
    return median_time(f, runs)


opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
onx = convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                       zipmap=False, target_opset=15)
old = ort.InferenceSession(onx.SerializeToString(), opts, providers=["CPUExecutionProvider"])
new = ort.InferenceSession(ours, opts, providers=["CPUExecutionProvider"])
x_new = X.astype(np.float32) if new.get_inputs()[0].type == "tensor(float)" else X
x32 = X.astype(np.float32)
print(f"lightgbm_predict {median(lambda: booster.predict(X, num_threads=threads)):.4f}")
print(f"onnxmltools_TreeEnsembleClassifier {median(lambda: old.run(None, {'input': x32})):.4f}")
print(f"churnguard_TreeEnsemble_opset5 {median(lambda: new.run(['probability'], {'features': x_new})):.4f}")
