"""Writes the serve benchmark's request: one synthetic customer with about 20 events before the
scoring day, as a raw history (events, contacts, attributes under the synth pipeline's columns).

Usage: raw_request.py SYNTH_DIR AS_OF OUT.json
"""
import json
import sys

import pandas as pd

d, as_of, out = sys.argv[1:4]
ev = pd.read_parquet(f"{d}/events.parquet", filters=[("customer_id", "<=", 3000)])
counts = ev[ev.timestamp <= as_of].groupby("customer_id").size()
cid = int((counts - 20).abs().idxmin())
ev = ev[ev.customer_id == cid]
ct = pd.read_parquet(f"{d}/interactions.parquet", filters=[("customer_id", "==", cid)])
cu = pd.read_parquet(f"{d}/customers.parquet", filters=[("customer_id", "==", cid)]).iloc[0].to_dict()


def iso(t):
    return pd.Timestamp(t).isoformat(timespec="milliseconds")


body = {"as_of": as_of, "customers": [{
    "id": cid,
    "events": [{"timestamp": iso(r.timestamp), "amount": float(r.amount), "quantity": int(r.quantity),
                "event_type": r.event_type} for r in ev.itertuples()],
    "interactions": [{"timestamp": iso(r.timestamp), "kind": r.kind,
                      "score": None if pd.isna(r.score) else int(r.score)} for r in ct.itertuples()],
    "attributes": {k: (str(v)[:10] if k == "signup_date" else v) for k, v in cu.items() if k != "customer_id"},
}]}
json.dump(body, open(out, "w"))
print(f"customer {cid}: {len(ev)} events, {len(ct)} contacts")
