"""Largest difference between two feature tables over their common columns (aligned by customer)."""
import sys

import numpy as np
import pandas as pd

a = pd.read_parquet(sys.argv[1]).set_index("customer_id").sort_index()
b = pd.read_parquet(sys.argv[2]).set_index("customer_id").sort_index()
if len(a) != len(b) or not a.index.equals(b.index):
    print(f"customers differ: {len(a)} vs {len(b)}")
    sys.exit(1)
cols = [c for c in a.columns if c in b.columns and c != "cutoff"]
worst, where = 0.0, ""
for c in cols:
    x, y = a[c].astype(float).to_numpy(), b[c].astype(float).to_numpy()
    nan_mismatch = np.isnan(x) != np.isnan(y)
    if nan_mismatch.any():
        print(f"{c}: missing in one table only for {nan_mismatch.sum()} customers")
        sys.exit(1)
    d = np.nanmax(np.abs(x - y) / np.maximum(1.0, np.abs(y))) if len(x) else 0.0
    if d > worst:
        worst, where = d, c
print(f"{len(cols)} columns, {len(a)} customers, max relative difference {worst:.2e} ({where or 'none'})")
sys.exit(0 if worst < 1e-9 else 1)
