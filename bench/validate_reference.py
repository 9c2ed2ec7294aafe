"""The Python reference for `churnguard validate`: the same report on an events table.

Computes rows, distinct customers, nulls per column, zero and negative amounts, the date
range and rows after as_of, with pandas or polars, and prints the median wall time of the
read-plus-report over several runs (import time excluded, which favours Python).
"""
import statistics
import sys
import time


def pandas_report(path, as_of):
    import pandas as pd

    df = pd.read_parquet(path)
    return {
        "rows": len(df),
        "customers": int(df["customer_id"].nunique()),
        "nulls": {c: int(n) for c, n in df.isna().sum().items()},
        "zero": int((df["dollar_value"] == 0).sum()),
        "negative": int((df["dollar_value"] < 0).sum()),
        "first": str(df["date"].min().date()),
        "last": str(df["date"].max().date()),
        "future": int((df["date"] >= pd.Timestamp(as_of) + pd.Timedelta(days=1)).sum()),
    }


def polars_report(path, as_of):
    import datetime

    import polars as pl

    df = pl.read_parquet(path)
    cutoff = datetime.datetime.fromisoformat(as_of) + datetime.timedelta(days=1)
    return {
        "rows": df.height,
        "customers": df["customer_id"].n_unique(),
        "nulls": dict(zip(df.columns, df.null_count().row(0))),
        "zero": int((df["dollar_value"] == 0).sum()),
        "negative": int((df["dollar_value"] < 0).sum()),
        "first": str(df["date"].min().date()),
        "last": str(df["date"].max().date()),
        "future": int((df["date"] >= cutoff).sum()),
    }


def main(engine, path, as_of, runs):
    fn = {"pandas": pandas_report, "polars": polars_report}[engine]
    fn(path, as_of)  # warm-up: imports and file cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        report = fn(path, as_of)
        times.append(time.perf_counter() - t)
    print(f"{statistics.median(times):.4f} {report['rows']} {report['customers']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
