//! What a customer is worth over the label's horizon: the value a churner takes with them.

use churnguard_config::{Date, MS_PER_DAY, Pipeline};
use rayon::prelude::*;

use crate::{Attribute, FeatureError, History};

/// Each customer's expected value over the horizon (`scoring.horizon_days`): spend per day over
/// the look-back times the horizon, from events; else a customers-table attribute; else 0 (and
/// `false`: no spend data).
pub fn customer_values(
    p: &Pipeline,
    h: &History,
    population: &[u32],
    cutoff: Date,
) -> Result<(Vec<f64>, bool), FeatureError> {
    let s = &p.scoring;
    if let Some(name) = &s.value_attribute {
        let Some((_, Attribute::Numeric(v))) = h.attributes.iter().find(|(a, _)| a == name) else {
            return Err(FeatureError::ValueAttribute(name.clone()));
        };
        let per_day = f64::from(s.horizon_days) / f64::from(s.value_attribute_days);
        let values = population
            .iter()
            .map(|&c| v.get(c as usize).copied().filter(|x| x.is_finite()).unwrap_or(0.0) * per_day)
            .collect();
        return Ok((values, true));
    }
    if h.events.is_none() || !h.event_columns.0 {
        return Ok((vec![0.0; population.len()], false));
    }
    let scale = f64::from(s.horizon_days) / f64::from(s.lookback_days);
    let spent = spend(h, population, cutoff, s.lookback_days);
    Ok((spent.into_iter().map(|x| x * scale).collect(), true))
}

/// Each customer's spend in the `days` before the cutoff (0 without event amounts).
pub fn spend(h: &History, population: &[u32], cutoff: Date, days: u32) -> Vec<f64> {
    let Some(e) = h.events.as_ref().filter(|_| h.event_columns.0) else {
        return vec![0.0; population.len()];
    };
    let end = cutoff.start_ms();
    let from = end - i64::from(days) * MS_PER_DAY;
    population
        .par_iter()
        .map(|&c| {
            let (before, _) = e.split(c, end);
            before
                .filter(|&k| e.ts[k] >= from)
                .map(|k| e.value[k])
                .filter(|v| v.is_finite())
                .sum()
        })
        .collect()
}
