"""Writes the bodies of the batch-endpoint benchmark from the synthetic data set:
feature vectors as JSON lines and as an Arrow IPC stream (from a `churnguard features` table),
and raw histories as JSON lines.

Usage: batch_bodies.py FEATURES.parquet SYNTH_DIR PACKAGE_DIR ROWS HISTORIES OUT_DIR
"""
import json
import math
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

features_file, d, package, rows, histories, out = sys.argv[1:7]
rows, histories = int(rows), int(histories)
spec = json.load(open(f"{package}/manifest.json"))["feature_spec"]["features"]
names = [f["name"] for f in spec]
table = pd.read_parquet(features_file).head(rows)
# Categories travel as their text, as a caller holds them.
for f in spec:
    if f["kind"]["type"] == "categorical":
        values = f["kind"]["values"]
        table[f["name"]] = table[f["name"]].map(lambda c: None if pd.isna(c) else values[int(c)])
with open(f"{out}/features.ndjson", "w") as w:
    for r in table.itertuples(index=False):
        row = r._asdict()
        feats = {n: (None if isinstance(row[n], float) and math.isnan(row[n]) else row[n]) for n in names}
        w.write(json.dumps({"id": int(row["customer_id"]), "features": feats}) + "\n")
arrow = pa.Table.from_pandas(table[["customer_id"] + names].rename(columns={"customer_id": "id"}), preserve_index=False)
with ipc.new_stream(f"{out}/features.arrows", arrow.schema) as w:
    w.write_table(arrow)

ev = pd.read_parquet(f"{d}/events.parquet", filters=[("customer_id", "<=", histories)])
ct = pd.read_parquet(f"{d}/interactions.parquet", filters=[("customer_id", "<=", histories)])
cu = pd.read_parquet(f"{d}/customers.parquet", filters=[("customer_id", "<=", histories)])


def iso(t):
    return pd.Timestamp(t).isoformat(timespec="milliseconds")


evs = {k: g for k, g in ev.groupby("customer_id")}
cts = {k: g for k, g in ct.groupby("customer_id")}
with open(f"{out}/histories.ndjson", "w") as w:
    for c in cu.itertuples(index=False):
        e, x = evs.get(c.customer_id), cts.get(c.customer_id)
        w.write(json.dumps({
            "id": int(c.customer_id),
            "events": [] if e is None else [{"timestamp": iso(r.timestamp), "amount": float(r.amount),
                                             "quantity": int(r.quantity), "event_type": r.event_type} for r in e.itertuples()],
            "interactions": [] if x is None else [{"timestamp": iso(r.timestamp), "kind": r.kind,
                                                   "score": None if pd.isna(r.score) else int(r.score)} for r in x.itertuples()],
            "attributes": {"signup_date": str(c.signup_date)[:10], "region": c.region, "channel": c.channel, "plan": c.plan},
        }) + "\n")
print(f"{len(table)} feature rows, {len(cu)} histories")
