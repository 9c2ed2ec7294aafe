//! Per-customer aggregates of the rows before a cutoff, in one pass over each customer's rows.

use churnguard_config::MS_PER_DAY;

use crate::Series;

/// Per-customer aggregates of the rows before the cutoff.
#[derive(Default)]
pub(crate) struct Agg {
    pub(crate) n: usize,
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) amount_n: usize,
    pub(crate) amount_sum: f64,
    pub(crate) amount_max: f64,
    pub(crate) amount_m2: f64,
    pub(crate) amount_mean: f64,
    pub(crate) quantity_sum: f64,
    pub(crate) gap_n: usize,
    pub(crate) gap_mean: f64,
    pub(crate) gap_m2: f64,
    pub(crate) gap_max: f64,
    pub(crate) last_gap: f64,
    pub(crate) window_n: [u32; 8],
    pub(crate) window_amount: [f64; 8],
    pub(crate) window_days: [u32; 8],
    pub(crate) previous_n: [u32; 8],
}

pub(crate) fn days(ms: i64) -> f64 {
    ms as f64 / MS_PER_DAY as f64
}

pub(crate) fn event_agg(s: &Series, rows: std::ops::Range<usize>, cutoff: i64, windows: &[i64]) -> Agg {
    let mut a = Agg {
        amount_max: f64::NAN,
        gap_max: f64::NAN,
        last_gap: f64::NAN,
        ..Agg::default()
    };
    let mut last_day = [i64::MIN; 8];
    let mut previous_ts: Option<i64> = None;
    for r in rows {
        let t = s.ts[r];
        if a.n == 0 {
            a.first = t;
        }
        a.n += 1;
        a.last = t;
        let v = s.value[r];
        if !v.is_nan() {
            // Welford: stable mean and variance in one pass.
            a.amount_n += 1;
            a.amount_sum += v;
            let d = v - a.amount_mean;
            a.amount_mean += d / a.amount_n as f64;
            a.amount_m2 += d * (v - a.amount_mean);
            a.amount_max = if a.amount_max.is_nan() { v } else { a.amount_max.max(v) };
        }
        if !s.extra[r].is_nan() {
            a.quantity_sum += s.extra[r];
        }
        if let Some(p) = previous_ts {
            let g = days(t - p);
            a.gap_n += 1;
            let d = g - a.gap_mean;
            a.gap_mean += d / a.gap_n as f64;
            a.gap_m2 += d * (g - a.gap_mean);
            a.gap_max = if a.gap_max.is_nan() { g } else { a.gap_max.max(g) };
            a.last_gap = g;
        }
        previous_ts = Some(t);
        let age = cutoff - t;
        let day = t.div_euclid(MS_PER_DAY);
        for (i, &w) in windows.iter().enumerate() {
            if age <= w {
                a.window_n[i] += 1;
                if !v.is_nan() {
                    a.window_amount[i] += v;
                }
                if day != last_day[i] {
                    a.window_days[i] += 1;
                    last_day[i] = day;
                }
            } else if age <= 2 * w {
                a.previous_n[i] += 1;
            }
        }
    }
    a
}

/// Per-customer aggregates of support contacts before the cutoff.
#[derive(Default)]
pub(crate) struct ContactAgg {
    pub(crate) n: u32,
    pub(crate) window_n: [u32; 8],
    pub(crate) window_complaints: [u32; 8],
    pub(crate) score_n: u32,
    pub(crate) score_sum: f64,
    pub(crate) last_complaint: Option<i64>,
}

pub(crate) fn contact_agg(
    s: &Series,
    rows: std::ops::Range<usize>,
    cutoff: i64,
    windows: &[i64],
    complaint: &[bool],
) -> ContactAgg {
    let mut a = ContactAgg::default();
    for r in rows {
        let t = s.ts[r];
        if t >= cutoff {
            break;
        }
        a.n += 1;
        let is_complaint = complaint.get(s.kind[r] as usize).copied().unwrap_or(false);
        if is_complaint {
            a.last_complaint = Some(t);
        }
        if !s.value[r].is_nan() {
            a.score_n += 1;
            a.score_sum += s.value[r];
        }
        for (i, &w) in windows.iter().enumerate() {
            if cutoff - t <= w {
                a.window_n[i] += 1;
                a.window_complaints[i] += u32::from(is_complaint);
            }
        }
    }
    a
}
