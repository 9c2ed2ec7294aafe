"""The Python reference for `churnguard serve`: the way teams serve a tree model today, FastAPI
(under uvicorn) + pandas features + onnxruntime, on the same package and the same request body
as the churnguard service (one customer's raw history: events, contacts, attributes).

Usage: serve_reference.py PACKAGE_DIR PORT
Answers POST /v1/score with each customer's calibrated probability and tier (no reasons: SHAP
per request would cost the reference far more than its features). Prints "listening" when ready.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
import onnxruntime as ort
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from features_reference import pandas_frame

package = sys.argv[1]
manifest = json.load(open(os.path.join(package, "manifest.json")))
features = [f["name"] for f in manifest["feature_spec"]["features"]]
dictionaries = {
    f["name"].removeprefix("attr_"): f["kind"]["values"]
    for f in manifest["feature_spec"]["features"]
    if f["kind"]["type"] == "categorical"
}
high, medium = manifest["tiers"]["high"], manifest["tiers"]["medium"]
ort.set_default_logger_severity(3)
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
session = ort.InferenceSession(os.path.join(package, "model.onnx"), opts, providers=["CPUExecutionProvider"])
app = FastAPI()


@app.post("/v1/score")
async def score(request: Request):
    body = await request.json()
    cutoff = pd.Timestamp(body["as_of"]) + pd.Timedelta(days=1)
    ev, ct, cu = [], [], []
    for k, c in enumerate(body["customers"]):
        ev += [{"customer_id": k, **e} for e in c.get("events", [])]
        ct += [{"customer_id": k, **x} for x in c.get("interactions", [])]
        cu.append({"customer_id": k, **c.get("attributes", {})})
    ev = pd.DataFrame(ev, columns=["customer_id", "timestamp", "amount", "quantity", "event_type"])
    ct = pd.DataFrame(ct, columns=["customer_id", "timestamp", "kind", "score"])
    ev["timestamp"] = pd.to_datetime(ev.timestamp)
    ct["timestamp"] = pd.to_datetime(ct.timestamp)
    cu = pd.DataFrame(cu)
    f = pandas_frame(ev, ct, cu, cutoff, dictionaries)
    X = f[features].to_numpy(np.float64)
    p = session.run(["probability"], {"features": X})[0]
    answers = []
    for k, c in enumerate(body["customers"]):
        prob = float(p[f.index.get_loc(k)])
        tier = "high" if prob >= high else "medium" if prob >= medium else "low"
        answers.append({"id": c.get("id"), "churn_probability": prob, "tier": tier})
    return JSONResponse({"customers": answers})


if __name__ == "__main__":
    print("listening", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
