"""The Python reference for the early-warning model on CDNOW: pandas features and LightGBM on
the customers still with us, with pipelines/cdnow.toml's protocol, for `make bench`'s cdnow section.

Protocol (as churnguard's pipeline): monthly training cutoffs 1997-07-01 .. 1997-12-28, out-of-time
test at 1998-04-01; a customer is still with us at a cutoff when they bought in the 90 days
before it, and churns when they make no purchase in the 90 days after. 20% of customers are held
out of every training cutoff for early stopping. The same LightGBM parameters as the pipeline's.

Usage: cdnow_reference.py EVENTS.parquet
Prints one line: "auc <test AUC> captured <top 10%> <top 30%> by_probability <top 10%> by_value <top 10%>",
where captured is the share of the past-year spend of the test's churners held by the top of the
list ranked by probability x past-year spend.
"""
import sys

import numpy as np
import pandas as pd

from features_reference import pandas_events

HORIZON = pd.Timedelta(days=90)
TRAIN_CUTOFFS = [pd.Timestamp("1997-07-01") + pd.Timedelta(days=30 * i) for i in range(7)]
TEST_CUTOFF = pd.Timestamp("1998-04-01")
PARAMS = dict(
    objective="binary", learning_rate=0.03, num_leaves=15, min_data_in_leaf=50,
    feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
    deterministic=True, force_row_wise=True, verbosity=-1, seed=42, num_threads=2,
    metric="binary_logloss",
)


def snapshot(ev, cutoff):
    """Features, label and past-year spend of the customers still with us at `cutoff`."""
    f = pandas_events(ev, cutoff)
    f = f[f.recency_days <= HORIZON.days]
    later = ev[(ev.timestamp >= cutoff) & (ev.timestamp < cutoff + HORIZON)].customer_id.unique()
    f["label"] = (~f.index.isin(later)).astype(int)
    past = ev[(ev.timestamp < cutoff) & (ev.timestamp >= cutoff - pd.Timedelta(days=365))]
    f["spend"] = past.groupby("customer_id").amount.sum().reindex(f.index, fill_value=0.0)
    return f


def captured(order, labels, spend, share):
    churned = spend * labels
    top = order[: int(round(len(order) * share))]
    return churned[top].sum() / churned.sum()


def main(path):
    import lightgbm as lgb

    ev = pd.read_parquet(path).rename(
        columns={"date": "timestamp", "dollar_value": "amount", "number_of_cds": "quantity"})
    ev = ev[["customer_id", "timestamp", "amount", "quantity"]]
    train = pd.concat([snapshot(ev, c) for c in TRAIN_CUTOFFS])
    test = snapshot(ev, TEST_CUTOFF)
    features = [c for c in test.columns if c not in ("label", "spend")]
    rng = np.random.default_rng(42)
    ids = train.index.unique().to_numpy()
    held = set(rng.choice(ids, size=len(ids) // 5, replace=False).tolist())
    is_valid = train.index.isin(held)
    fit, valid = train[~is_valid], train[is_valid]
    data = lgb.Dataset(fit[features], fit.label)
    booster = lgb.train(PARAMS, data, num_boost_round=2000,
                        valid_sets=[lgb.Dataset(valid[features], valid.label, reference=data)],
                        callbacks=[lgb.early_stopping(100, verbose=False)])
    p = booster.predict(test[features], num_iteration=booster.best_iteration)
    from sklearn.metrics import roc_auc_score

    labels, spend = test.label.to_numpy(), test.spend.to_numpy()
    auc = roc_auc_score(labels, p)
    by_risk = np.argsort(-(p * spend), kind="stable")
    by_p = np.argsort(-p, kind="stable")
    by_value = np.argsort(-spend, kind="stable")
    print(f"auc {auc:.4f} captured {captured(by_risk, labels, spend, 0.1):.4f} "
          f"{captured(by_risk, labels, spend, 0.3):.4f} by_probability {captured(by_p, labels, spend, 0.1):.4f} "
          f"by_value {captured(by_value, labels, spend, 0.1):.4f} rows {len(fit)} {len(valid)} {len(test)}")


if __name__ == "__main__":
    main(sys.argv[1])
