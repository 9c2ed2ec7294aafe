"""The Python reference for `churnguard features`: the same point-in-time features with pandas
or polars, from the Parquet files `churnguard synth` writes.

Usage: features_reference.py ENGINE DIR CUTOFF OUT.parquet
Writes the feature table and prints the wall time of read + compute + write. Run it under
`/usr/bin/time -v` for peak memory. Definitions follow the README ("churnguard features").
"""
import sys
import time

WINDOWS = [30, 90, 180]
HORIZON = 90
DAY_MS = 86_400_000


def pandas_features(d, cutoff, out):
    import pandas as pd

    C = pd.Timestamp(cutoff)
    ev = pd.read_parquet(f"{d}/events.parquet")
    after = ev[(ev.timestamp >= C) & (ev.timestamp < C + pd.Timedelta(days=HORIZON))]
    f = pandas_frame(ev, pd.read_parquet(f"{d}/interactions.parquet"), pd.read_parquet(f"{d}/customers.parquet"), C)
    f["label"] = (~f.index.isin(after.customer_id.unique())).astype("int8")
    f.reset_index().to_parquet(out)
    return len(f)


def pandas_events(ev, C):
    """The event features at cutoff C, one row per customer with an event before C."""
    import pandas as pd

    ev = ev[ev.timestamp < C].sort_values(["customer_id", "timestamp"], kind="stable")
    ev["age"] = (C - ev.timestamp).dt.total_seconds() / 86400
    ev["day"] = ev.timestamp.dt.floor("D")
    g = ev.groupby("customer_id", sort=True)
    f = pd.DataFrame({
        "recency_days": g.age.min(),
        "tenure_days": g.age.max(),
        "frequency": g.size().astype(float),
        "monetary_total": g.amount.sum(),
        "amount_mean": g.amount.mean(),
        "amount_max": g.amount.max(),
        "amount_std": g.amount.std(ddof=0),
        "quantity_total": g.quantity.sum().astype(float),
    })
    for w in WINDOWS:
        inw = ev.age <= w
        prev = (ev.age > w) & (ev.age <= 2 * w)
        f[f"events_{w}d"] = inw.groupby(ev.customer_id).sum().astype(float)
        f[f"amount_{w}d"] = ev.amount.where(inw, 0.0).groupby(ev.customer_id).sum()
        f[f"active_days_{w}d"] = ev.day.where(inw).groupby(ev.customer_id).nunique().astype(float)
        f[f"trend_{w}d"] = (f[f"events_{w}d"] + 1) / (prev.groupby(ev.customer_id).sum() + 1)
    ev["gap"] = g.timestamp.diff().dt.total_seconds() / 86400
    gg = ev.groupby("customer_id", sort=True).gap
    f["gap_mean_days"] = gg.mean()
    f["gap_std_days"] = gg.std(ddof=0)
    f["gap_max_days"] = gg.max()
    f["last_gap_days"] = gg.last()
    f["recency_over_gap"] = (f.recency_days / f.gap_mean_days).where(f.gap_mean_days > 0)
    return f


def pandas_frame(ev, ct, cu, C, dictionaries=None):
    """The features at cutoff C of the customers in these events, contacts and customer rows
    (one row per customer with an event before C). Category codes follow `dictionaries`
    (column -> values, as a model's FeatureSpec holds them), else the sorted values seen."""
    import pandas as pd

    f = pandas_events(ev, C)

    ct = ct[ct.timestamp < C].copy()
    ct["age"] = (C - ct.timestamp).dt.total_seconds() / 86400
    ct["complaint"] = ct.kind == "complaint"
    cg = ct.groupby("customer_id")
    f["contacts_total"] = cg.size().reindex(f.index, fill_value=0).astype(float)
    for w in WINDOWS:
        inw = ct.age <= w
        f[f"contacts_{w}d"] = inw.groupby(ct.customer_id).sum().reindex(f.index, fill_value=0).astype(float)
        f[f"complaints_{w}d"] = (inw & ct.complaint).groupby(ct.customer_id).sum().reindex(f.index, fill_value=0).astype(float)
    f["score_mean"] = cg.score.mean().reindex(f.index)
    f["days_since_complaint"] = ct[ct.complaint].groupby("customer_id").age.min().reindex(f.index)

    cu = cu.set_index("customer_id").reindex(f.index)
    f["attr_signup_date_days"] = (C - pd.to_datetime(cu.signup_date)).dt.total_seconds() / 86400
    for col in ["region", "channel", "plan"]:
        cats = (dictionaries or {}).get(col) or sorted(cu[col].dropna().unique())
        f[f"attr_{col}"] = cu[col].map({c: float(i) for i, c in enumerate(cats)})
    return f


def polars_features(d, cutoff, out):
    import datetime

    import polars as pl

    C = datetime.datetime.fromisoformat(cutoff)
    age = (pl.lit(C) - pl.col("timestamp")).dt.total_milliseconds() / DAY_MS
    ev_all = pl.scan_parquet(f"{d}/events.parquet")
    ev = ev_all.filter(pl.col("timestamp") < C).sort(["customer_id", "timestamp"], maintain_order=True)
    ev = ev.with_columns(age=age, day=pl.col("timestamp").dt.truncate("1d"),
                         gap=pl.col("timestamp").diff().over("customer_id").dt.total_milliseconds() / DAY_MS)
    aggs = [
        pl.col("age").min().alias("recency_days"),
        pl.col("age").max().alias("tenure_days"),
        pl.len().cast(pl.Float64).alias("frequency"),
        pl.col("amount").sum().alias("monetary_total"),
        pl.col("amount").mean().alias("amount_mean"),
        pl.col("amount").max().alias("amount_max"),
        pl.col("amount").std(ddof=0).alias("amount_std"),
        pl.col("quantity").sum().cast(pl.Float64).alias("quantity_total"),
    ]
    for w in WINDOWS:
        inw = pl.col("age") <= w
        prev = (pl.col("age") > w) & (pl.col("age") <= 2 * w)
        aggs += [
            inw.sum().cast(pl.Float64).alias(f"events_{w}d"),
            pl.col("amount").filter(inw).sum().alias(f"amount_{w}d"),
            pl.col("day").filter(inw).n_unique().cast(pl.Float64).alias(f"active_days_{w}d"),
            ((inw.sum() + 1) / (prev.sum() + 1)).alias(f"trend_{w}d"),
        ]
    aggs += [
        pl.col("gap").mean().alias("gap_mean_days"),
        # One gap has a standard deviation of 0, as in pandas and churnguard (polars says null).
        pl.when(pl.col("gap").count() > 0).then(pl.col("gap").std(ddof=0).fill_null(0.0)).alias("gap_std_days"),
        pl.col("gap").max().alias("gap_max_days"),
        pl.col("gap").last().alias("last_gap_days"),
    ]
    f = ev.group_by("customer_id").agg(aggs).with_columns(
        recency_over_gap=pl.when(pl.col("gap_mean_days") > 0).then(pl.col("recency_days") / pl.col("gap_mean_days"))
    )
    ct = pl.scan_parquet(f"{d}/interactions.parquet").filter(pl.col("timestamp") < C).with_columns(age=age)
    comp = pl.col("kind") == "complaint"
    caggs = [pl.len().cast(pl.Float64).alias("contacts_total")]
    for w in WINDOWS:
        caggs += [(pl.col("age") <= w).sum().cast(pl.Float64).alias(f"contacts_{w}d"),
                  ((pl.col("age") <= w) & comp).sum().cast(pl.Float64).alias(f"complaints_{w}d")]
    caggs += [pl.col("score").mean().alias("score_mean"), pl.col("age").filter(comp).min().alias("days_since_complaint")]
    cf = ct.group_by("customer_id").agg(caggs)
    cu = pl.scan_parquet(f"{d}/customers.parquet")
    after = ev_all.filter((pl.col("timestamp") >= C) & (pl.col("timestamp") < C + datetime.timedelta(days=HORIZON)))
    active = after.select("customer_id").unique().with_columns(active=pl.lit(True))
    counts = ["contacts_total"] + [f"{k}_{w}d" for w in WINDOWS for k in ("contacts", "complaints")]
    f = (f.join(cf, on="customer_id", how="left").with_columns([pl.col(c).fill_null(0.0) for c in counts])
         .join(cu, on="customer_id", how="left").join(active, on="customer_id", how="left"))
    f = f.with_columns(
        attr_signup_date_days=(pl.lit(C) - pl.col("signup_date").cast(pl.Datetime("ms"))).dt.total_milliseconds() / DAY_MS,
        label=pl.col("active").is_null().cast(pl.Int8),
    ).collect()
    for col in ["region", "channel", "plan"]:
        cats = sorted(f[col].drop_nulls().unique().to_list())
        f = f.with_columns(pl.col(col).replace_strict(cats, list(map(float, range(len(cats)))), default=None).alias(f"attr_{col}"))
    f = f.drop(["signup_date", "region", "channel", "plan", "active"]).sort("customer_id")
    f.write_parquet(out)
    return f.height


def main(engine, d, cutoff, out):
    fn = {"pandas": pandas_features, "polars": polars_features}[engine]
    t = time.perf_counter()
    rows = fn(d, cutoff, out)
    print(f"{time.perf_counter() - t:.3f} {rows}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
