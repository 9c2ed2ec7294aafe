"""Export benchmark reference: train a 500-tree, 255-leaf LightGBM model on churnguard features,
convert it with onnxmltools, and measure conversion time, ONNX Runtime load time and the largest
probability difference from LightGBM on the same rows (float32 input, as onnxmltools emits).

usage: export_reference.py FEATURES.parquet MODEL_OUT.txt ROWS
prints: "<convert s> <load s> <max abs diff> <rows>"
   or:  export_reference.py --compare FEATURES.parquet MODEL.txt MODEL.onnx ROWS
prints: "<max abs diff> <rows>" of churnguard's export against LightGBM on the same rows
"""
import sys
import time
import warnings

import lightgbm as lgb
import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

warnings.filterwarnings("ignore")
ort.set_default_logger_severity(3)


def load_rows(features, rows):
    table = pq.read_table(features).slice(0, rows).to_pandas()
    return table.drop(columns=["customer_id", "cutoff", "label"]).to_numpy(dtype=np.float64), table["label"].to_numpy()


if sys.argv[1] == "--compare":
    features, model, onnx_file, rows = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    X, _ = load_rows(features, rows)
    booster = lgb.Booster(model_file=model)
    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    x_in = X.astype(np.float32) if sess.get_inputs()[0].type == "tensor(float)" else X
    want = booster.predict(x_in.astype(np.float64))
    got = sess.run(["probability"], {"features": x_in})[0]
    print(f"{np.max(np.abs(got - want)):.3e} {len(X)}")
    sys.exit(0)

features, model_out, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
X, y = load_rows(features, rows)
params = {"objective": "binary", "num_leaves": 255, "min_data_in_leaf": 20, "learning_rate": 0.05,
          "num_threads": 2, "verbose": -1, "seed": 1, "deterministic": True, "force_row_wise": True}
booster = lgb.train(params, lgb.Dataset(X, y), 500)
booster.save_model(model_out)
x32 = X.astype(np.float32)
want = booster.predict(x32.astype(np.float64))

t = time.perf_counter()
onx = convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                       zipmap=False, target_opset=15)
convert = time.perf_counter() - t
data = onx.SerializeToString()
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
t = time.perf_counter()
sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
load = time.perf_counter() - t
got = sess.run(None, {"input": x32})[1][:, 1]
print(f"{convert:.3f} {load:.3f} {np.max(np.abs(got - want)):.3e} {len(X)}")
