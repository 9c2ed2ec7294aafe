"""Value looking forward (issue 34 item 5): can another value estimate, or value-aware training,
raise the share of the churners' spend that the top of the CDNOW risk list holds?

The list ranks the customers still with us by value at risk = calibrated churn probability x value.
The training summary scores it as the share of the spend lost to churners (their spend over the 365
days before the test cutoff) held by the top 10/20/30% of the list, on the out-of-time test
(cutoff 1998-04-01, 3,817 customers). This script measures that share, with a bootstrap interval
over customers, for the baseline and for alternatives:
  (a) p x past-365-day spend (the baseline, as churnguard ranks);
  (b) p x a LightGBM regression of next-90-day spend, on every training row and on the stayers only;
  (c) p x BG/NBD + Gamma-Gamma expected 90-day spend (likelihoods written here with scipy);
  (d) p from a spend-weighted LightGBM classifier (raw, log1p, 99th-percentile clip), x past spend;
  (e) cheap extras: seed-bagged p, a Platt map that also sees spend, p^k x spend with k chosen on
      validation, p from a model given BG/NBD's P(alive) and expectations as features, and a direct
      regression of churned spend (label x past spend);
and two reference rows, spend alone and the oracle (label x spend), which bound what ranking can do.
"delta" is the paired bootstrap difference against (a) at the top 10% (the same resamples).

Usage: python bench/value_models.py --features FILE --events data/cdnow/cdnow_master.parquet
  FILE is `churnguard features pipelines/cdnow.toml --out FILE` (7 training snapshots + the test's).
Needs numpy, scipy, pandas, pyarrow, lightgbm, scikit-learn. Deterministic: fixed seeds, 1 thread.
"""
import argparse
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1
from sklearn.metrics import roc_auc_score

TEST_CUTOFF = pd.Timestamp("1998-04-01")
HORIZON = 90
LOOKBACK = 365
TOPS = (10, 20, 30)
SEED = 42
BOOTSTRAP = 1000
# pipelines/cdnow.toml's [model]; one thread so that a build running beside this is not slowed.
PARAMS = dict(
    learning_rate=0.03, num_leaves=15, min_data_in_leaf=50, feature_fraction=0.8,
    bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, deterministic=True,
    force_row_wise=True, verbosity=-1, seed=SEED, num_threads=1,
)


# ---------------------------------------------------------------- data

def load(features_path, events_path):
    f = pd.read_parquet(features_path)
    idcol = next(c for c in f.columns if "customer" in c.lower() or c.lower() == "id")
    f = f.rename(columns={idcol: "customer_id"})
    f["cutoff"] = pd.to_datetime(f["cutoff"])
    ev = pd.read_parquet(events_path)[["customer_id", "date", "dollar_value"]]
    ev["date"] = pd.to_datetime(ev["date"])
    # Past-year spend is the list's value and the metric's weight; next-90-day spend is the
    # regression target of (b). Both per (customer, cutoff) row of the feature table.
    parts = []
    for c in sorted(f.cutoff.unique()):
        past = ev[(ev.date < c) & (ev.date >= c - pd.Timedelta(days=LOOKBACK))]
        nxt = ev[(ev.date >= c) & (ev.date < c + pd.Timedelta(days=HORIZON))]
        rows = f[f.cutoff == c][["customer_id"]].copy()
        rows["cutoff"] = c
        rows["spend"] = rows.customer_id.map(past.groupby("customer_id").dollar_value.sum()).fillna(0.0)
        rows["next_spend"] = rows.customer_id.map(nxt.groupby("customer_id").dollar_value.sum()).fillna(0.0)
        parts.append(rows)
    f = f.merge(pd.concat(parts), on=["customer_id", "cutoff"], how="left", validate="1:1")
    return f, ev


# ---------------------------------------------------------------- metric

def order_of(score):
    # churnguard's order: highest first, ties by row (rows are sorted by customer id).
    return np.lexsort((np.arange(len(score)), -np.asarray(score)))


def top_count(n, k):
    return min(max(int(np.ceil(n * k / 100.0)), 1), n)


def captured(order, y, s, k):
    lost = y * s
    return lost[order[: top_count(len(order), k)]].sum() / lost.sum()


class Bootstrap:
    """Resamples of the test customers (counts per row), shared by every variant so that their
    differences are paired; the list's order stays fixed, as in churnguard's eval crate."""

    def __init__(self, n, samples=BOOTSTRAP, seed=SEED):
        rng = np.random.default_rng(seed)
        self.counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(samples)])

    def shares(self, order, y, s, k):
        c = self.counts[:, order]
        lost = (y * s)[order]
        before = np.cumsum(c, axis=1) - c
        take = np.clip(np.minimum(c, top_count(len(order), k) - before), 0, None)
        return (take * lost).sum(1) / (c * lost).sum(1)


# ---------------------------------------------------------------- models

def train_lgb(objective, fit, valid, features, target, weight=None, extra=None):
    params = dict(PARAMS, objective=objective, **(extra or {}))
    wf = None if weight is None else weight[0]
    wv = None if weight is None else weight[1]
    d = lgb.Dataset(fit[features], fit[target], weight=wf, free_raw_data=False)
    v = lgb.Dataset(valid[features], valid[target], weight=wv, reference=d)
    return lgb.train(params, d, num_boost_round=2000, valid_sets=[v],
                     callbacks=[lgb.early_stopping(100, verbose=False)])


def platt(raw_valid, y_valid):
    """Platt's map on the log-odds, fitted unweighted on the validation customers (as churnguard)."""
    def nll(ab):
        z = ab[0] * raw_valid + ab[1]
        return np.sum(np.logaddexp(0, z) - y_valid * z)
    a, b = minimize(nll, [1.0, 0.0], method="BFGS").x
    return lambda raw: expit(a * raw + b)


def classifier(fit, valid, test, features, weights=None, seed=SEED):
    m = train_lgb("binary", fit, valid, features, "label", weights, {"seed": seed})
    cal = platt(m.predict(valid[features], raw_score=True), valid.label.to_numpy())
    raw_v = m.predict(valid[features], raw_score=True)
    raw_t = m.predict(test[features], raw_score=True)
    return cal(raw_v), cal(raw_t), raw_v, raw_t, m.best_iteration


def normalised(w):
    return w / w.mean()


# ---------------------------------------------------------------- BG/NBD + Gamma-Gamma

def rfm(ev, cutoff):
    """Per customer with a purchase before the cutoff: repeat purchase days x, recency tx and
    age T (weeks, from the first purchase day), mean spend of the repeat purchase days."""
    d = ev[ev.date < cutoff].groupby(["customer_id", "date"]).dollar_value.sum().reset_index()
    g = d.groupby("customer_id")
    first, last, n = g.date.min(), g.date.max(), g.size()
    total, first_spend = g.dollar_value.sum(), g.dollar_value.first()
    x = (n - 1).astype(float)
    out = pd.DataFrame({
        "x": x,
        "tx": (last - first).dt.days / 7.0,
        "T": (cutoff - first).dt.days / 7.0,
        "m": ((total - first_spend) / x.where(x > 0)).fillna(0.0),
    })
    return out


def bgnbd_fit(x, tx, T):
    xm = np.maximum(x, 1)

    def nll(lp):
        r, alpha, a, b = np.exp(lp)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        a3 = np.where(x > 0, betaln(a + 1, b + xm - 1) - betaln(a, b) - (r + x) * np.log(alpha + tx), -np.inf)
        return -np.sum(a1 + np.logaddexp(a2, a3))
    res = minimize(nll, np.log([0.5, 5.0, 1.5, 2.0]), method="Nelder-Mead",
                   options=dict(maxiter=20000, xatol=1e-8, fatol=1e-8))
    return np.exp(res.x)


def bgnbd_expected(t, params, x, tx, T):
    """E[purchases in (T, T+t] | x, tx, T] (Fader, Hardie & Lee 2005, eq. 10); needs a > 1."""
    r, alpha, a, b = params
    num = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t)))
    den = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return num / den


def bgnbd_alive(params, x, tx, T):
    r, alpha, a, b = params
    return 1 / (1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0))


def gamma_gamma_fit(x, m):
    def nll(lp):
        p, q, g = np.exp(lp)
        px = p * x
        return -np.sum(gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
                       + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + x * m))
    res = minimize(nll, np.log([2.0, 3.0, 20.0]), method="Nelder-Mead",
                   options=dict(maxiter=20000, xatol=1e-8, fatol=1e-8))
    return np.exp(res.x)


def gamma_gamma_mean(params, x, m):
    p, q, g = params
    return np.where(x > 0, p * (g + x * m) / (p * x + q - 1), p * g / (q - 1))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", required=True)
    ap.add_argument("--events", required=True)
    args = ap.parse_args()
    t0 = time.time()

    f, ev = load(args.features, args.events)
    features = [c for c in f.columns if c not in ("customer_id", "cutoff", "label", "spend", "next_spend")]
    train = f[f.cutoff < TEST_CUTOFF].copy()
    test = f[f.cutoff == TEST_CUTOFF].reset_index(drop=True)
    # The pipeline holds out 20% of the customers of every training snapshot for early stopping
    # and Platt; churnguard draws them with its own RNG, so the rows (and p) differ a little.
    rng = np.random.default_rng(SEED)
    ids = np.sort(train.customer_id.unique())
    held = rng.choice(ids, size=len(ids) // 5, replace=False)
    is_valid = train.customer_id.isin(held).to_numpy()
    fit, valid = train[~is_valid].reset_index(drop=True), train[is_valid].reset_index(drop=True)
    y, s = test.label.to_numpy().astype(float), test.spend.to_numpy()
    print(f"rows: train {len(fit):,}, validation {len(valid):,} (churn {train.label.mean():.3f}), "
          f"test {len(test):,} at {TEST_CUTOFF.date()} (churn {y.mean():.3f}); {len(features)} features")

    boot = Bootstrap(len(test))
    base_order = None
    rows = []

    def report(name, score, p=None, note=""):
        nonlocal base_order
        o = order_of(score)
        if base_order is None:
            base_order = o
        auc = roc_auc_score(y, p) if p is not None else float("nan")
        top = {k: captured(o, y, s, k) for k in TOPS}
        lo, hi = np.percentile(boot.shares(o, y, s, 10), [2.5, 97.5])
        d = boot.shares(o, y, s, 10) - boot.shares(base_order, y, s, 10)
        dlo, dhi = np.percentile(d, [2.5, 97.5])
        auc_s = f"{auc:.3f}" if p is not None else "  -  "
        line = (f"{name:<44} AUC {auc_s}  top10 {top[10]:6.1%} [{lo:6.1%}, {hi:6.1%}]  "
                f"top20 {top[20]:6.1%}  top30 {top[30]:6.1%}  delta10 {top[10] - captured(base_order, y, s, 10):+6.1%} "
                f"[{dlo:+6.1%}, {dhi:+6.1%}]{('  ' + note) if note else ''}")
        print(line, flush=True)
        rows.append(line)

    # (a) the baseline: calibrated p x past-year spend (the 90/365 scale does not change the order).
    pv, pt, raw_v, raw_t, it = classifier(fit, valid, test, features)
    o = order_of(pt * s)
    own = (pt * s)[o[: top_count(len(o), 10)]].sum() / (pt * s).sum()
    # If p were exactly right, p x spend would be the order that maximises the expected share,
    # and this is the share it expects at the top 10%: the ceiling of any value estimate with this p.
    report("(a) p x past-365d spend", pt * s, pt, f"{it} trees; top10 expected by its own p {own:.1%}")

    # (b) a forward-looking value: next-90-day spend. Every churner spends 0 in the horizon, so a
    # model of it mostly learns (1 - p) x spend-if-staying; the stayers-only model learns the latter.
    for objective, extra in (("regression", {}), ("tweedie", {"tweedie_variance_power": 1.5})):
        m = train_lgb(objective, fit, valid, features, "next_spend", extra=extra)
        v = np.maximum(m.predict(test[features], num_iteration=m.best_iteration), 0.0)
        report(f"(b) p x E[next 90d spend] {objective}", pt * v, pt, f"{m.best_iteration} trees")
    stay_f, stay_v = fit[fit.label == 0], valid[valid.label == 0]
    for objective, extra in (("regression", {}), ("tweedie", {"tweedie_variance_power": 1.5})):
        m = train_lgb(objective, stay_f, stay_v, features, "next_spend", extra=extra)
        v = np.maximum(m.predict(test[features], num_iteration=m.best_iteration), 0.0)
        report(f"(b) p x E[next 90d spend | stay] {objective}", pt * v, pt, f"{m.best_iteration} trees")

    # (c) BG/NBD + Gamma-Gamma on every customer's history before the test cutoff.
    h = rfm(ev, TEST_CUTOFF)
    bg = bgnbd_fit(h.x.to_numpy(), h.tx.to_numpy(), h["T"].to_numpy())
    rep = h[(h.x > 0) & (h.m > 0)]
    gg = gamma_gamma_fit(rep.x.to_numpy(), rep.m.to_numpy())
    ht = h.reindex(test.customer_id)
    n90 = bgnbd_expected(HORIZON / 7.0, bg, ht.x.to_numpy(), ht.tx.to_numpy(), ht["T"].to_numpy())
    clv = n90 * gamma_gamma_mean(gg, ht.x.to_numpy(), ht.m.to_numpy())
    report("(c) p x BG/NBD+GG E[90d spend]", pt * clv, pt,
           "r,alpha,a,b " + ",".join(f"{x:.3g}" for x in bg) + "; p,q,gamma " + ",".join(f"{x:.3g}" for x in gg))

    # (d) the classifier weighted by past spend, so its splits care about the valuable customers;
    # Platt stays unweighted so that p keeps meaning a churn probability.
    clip = np.percentile(fit.spend, 99)
    for label, w in (("raw", lambda d: d.spend.to_numpy()),
                     ("log1p", lambda d: np.log1p(d.spend.to_numpy())),
                     ("clip99", lambda d: np.minimum(d.spend.to_numpy(), clip))):
        wf, wv = normalised(w(fit) + 1e-9), normalised(w(valid) + 1e-9)
        _, pw, _, _, it = classifier(fit, valid, test, features, (wf, wv))
        report(f"(d) p[weight {label}] x past spend", pw * s, pw, f"{it} trees")

    # (e1) five seeds averaged on the log-odds: less variance in p at no cost in meaning.
    raws_v, raws_t = [raw_v], [raw_t]
    for sd in (1, 2, 3, 4):
        _, _, rv, rt, _ = classifier(fit, valid, test, features, seed=sd)
        raws_v.append(rv)
        raws_t.append(rt)
    cal = platt(np.mean(raws_v, 0), valid.label.to_numpy())
    pb = cal(np.mean(raws_t, 0))
    report("(e1) p[5 seeds] x past spend", pb * s, pb)

    # (e2) a Platt map that also sees log spend: fixes p where the model is off for big spenders.
    zv = np.column_stack([raw_v, np.log1p(valid.spend.to_numpy()), np.ones(len(valid))])
    zt = np.column_stack([raw_t, np.log1p(s), np.ones(len(test))])
    yv = valid.label.to_numpy()
    coef = minimize(lambda c: np.sum(np.logaddexp(0, zv @ c) - yv * (zv @ c)), [1.0, 0.0, 0.0], method="BFGS").x
    pe = expit(zt @ coef)
    report("(e2) p[Platt + log spend] x past spend", pe * s, pe, "coef " + ",".join(f"{c:.3f}" for c in coef))

    # (e3) p^k x spend, k chosen on the validation customers (mean top-10% share over snapshots).
    def valid_share(k):
        out = []
        for _, g in valid.assign(p=pv).groupby("cutoff"):
            out.append(captured(order_of(g.p.to_numpy() ** k * g.spend.to_numpy()),
                                g.label.to_numpy().astype(float), g.spend.to_numpy(), 10))
        return np.mean(out)
    ks = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0]
    vs = [valid_share(k) for k in ks]
    k = ks[int(np.argmax(vs))]
    report(f"(e3) p^k x past spend, k={k} (validation)", pt ** k * s, pt,
           "validation top10 " + " ".join(f"k{kk}:{v:.3f}" for kk, v in zip(ks, vs)))

    # (e4) BG/NBD's view as features (fitted at each cutoff on the history before it, so no look
    # ahead): P(alive), expected purchases and spend in the horizon; smooth functions of recency,
    # frequency and age that the trees would otherwise have to piece together from splits.
    extra = []
    for c in sorted(f.cutoff.unique()):
        hc = rfm(ev, c)
        pc = bgnbd_fit(hc.x.to_numpy(), hc.tx.to_numpy(), hc["T"].to_numpy())
        rc = hc[(hc.x > 0) & (hc.m > 0)]
        gc = gamma_gamma_fit(rc.x.to_numpy(), rc.m.to_numpy())
        xs, txs, Ts, ms = (hc[k].to_numpy() for k in ("x", "tx", "T", "m"))
        n = bgnbd_expected(HORIZON / 7.0, pc, xs, txs, Ts)
        extra.append(pd.DataFrame({"customer_id": hc.index, "cutoff": c, "bg_alive": bgnbd_alive(pc, xs, txs, Ts),
                                   "bg_n90": n, "bg_spend90": n * gamma_gamma_mean(gc, xs, ms)}))
    extra = pd.concat(extra)
    fx, vx, tx_ = (d.merge(extra, on=["customer_id", "cutoff"], how="left") for d in (fit, valid, test))
    feats = features + ["bg_alive", "bg_n90", "bg_spend90"]
    _, px, _, _, it = classifier(fx, vx, tx_, feats)
    report("(e4) p[+BG/NBD features] x past spend", px * s, px, f"{it} trees")

    # (e5) regress the metric's own quantity, churned spend = label x past spend.
    fit2, valid2 = (d.assign(lost=d.label * d.spend) for d in (fit, valid))
    m = train_lgb("tweedie", fit2, valid2, features, "lost", extra={"tweedie_variance_power": 1.5})
    report("(e5) E[label x past spend] tweedie", m.predict(test[features], num_iteration=m.best_iteration),
           None, f"{m.best_iteration} trees")

    # Bounds: spend alone (p ignored) and the oracle that knows who churns.
    report("(ref) past spend alone", s, None)
    report("(ref) oracle label x past spend", y * s, None)
    print(f"time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
