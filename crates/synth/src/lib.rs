//! Realistic synthetic customer data for scale tests and benchmarks.
//!
//! Each customer has a purchase rate drawn from a gamma distribution (heterogeneous customers),
//! buys at Poisson times from signup until a random "death" (exponential lifetime) after which
//! they buy no more, spends log-normal amounts, and has attributes (region, channel, plan) that
//! shift their rate, lifetime and spend. Support contacts grow, and turn into complaints with
//! worse scores, as death approaches. Subscribers (plans other than basic) leave a `cancel` event
//! when they die inside the observed period.
//!
//! Every customer draws from its own random stream (seed, customer id), so the output is the same
//! for a seed whatever the thread count, and chunks of customers are written as they are made, so
//! memory stays bounded.

mod rng;
mod write;

use churnguard_config::{Date, MS_PER_DAY};
use rayon::prelude::*;

pub use rng::Rng;
pub use write::{Summary, SynthError, generate};

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Number of customers (ids 1..=customers).
    pub customers: u64,
    /// Seed of every random draw.
    pub seed: u64,
    /// First day of the observed period.
    pub start: Date,
    /// Last day of the observed period (inclusive).
    pub end: Date,
    /// Customers generated and written together (bounds memory).
    pub chunk: usize,
    /// Multiplies every customer's purchase rate (1: the defaults), to make a shifted
    /// population for drift checks.
    pub purchase_rate_scale: f64,
}

impl SynthConfig {
    /// The defaults: 2022-01-01 to 2024-12-31, signups over the first two years.
    pub fn new(customers: u64, seed: u64) -> Self {
        SynthConfig {
            customers,
            seed,
            start: Date::from_ymd(2022, 1, 1).unwrap_or(Date::from_days(18_993)),
            end: Date::from_ymd(2024, 12, 31).unwrap_or(Date::from_days(20_088)),
            chunk: 50_000,
            purchase_rate_scale: 1.0,
        }
    }
}

/// Regions, their shares and purchase-rate multipliers.
pub const REGIONS: [(&str, f64, f64); 4] = [
    ("north", 0.30, 1.00),
    ("south", 0.25, 0.85),
    ("east", 0.25, 1.15),
    ("west", 0.20, 1.00),
];
/// Channels, their shares, purchase-rate and lifetime multipliers.
pub const CHANNELS: [(&str, f64, f64, f64); 3] = [
    ("web", 0.50, 1.10, 0.90),
    ("store", 0.35, 1.00, 1.20),
    ("partner", 0.15, 0.80, 0.80),
];
/// Plans, their shares, purchase-rate and lifetime multipliers, and log-spend shift.
pub const PLANS: [(&str, f64, f64, f64, f64); 3] = [
    ("basic", 0.55, 0.80, 0.80, 0.0),
    ("plus", 0.30, 1.10, 1.20, 0.3),
    ("premium", 0.15, 1.50, 1.60, 0.7),
];

/// Mean lifetime before the attribute multipliers, in days.
const MEAN_LIFETIME_DAYS: f64 = 420.0;
/// Gamma shape of purchase rates: small means very unequal customers.
const RATE_SHAPE: f64 = 1.2;
/// Gamma scale of purchase rates, per day (mean rate is shape × scale).
const RATE_SCALE: f64 = 0.038;
/// Signups spread over this many days from the start.
const SIGNUP_SPREAD_DAYS: f64 = 730.0;
/// Support contacts per day far from death.
const BASE_CONTACT_RATE: f64 = 0.004;
/// Extra contacts per day just before death, fading over `NEAR_DEATH_DAYS`.
const NEAR_DEATH_CONTACT_RATE: f64 = 0.05;
const NEAR_DEATH_DAYS: f64 = 45.0;

/// One purchase or cancellation.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// UTC milliseconds.
    pub at_ms: i64,
    /// Money spent (0 for a cancellation).
    pub amount: f64,
    /// Items bought.
    pub quantity: i32,
    /// `purchase` or `cancel`.
    pub kind: &'static str,
}

/// One support contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    /// UTC milliseconds.
    pub at_ms: i64,
    /// `ticket` or `complaint`.
    pub kind: &'static str,
    /// Satisfaction, 1 (worst) to 5.
    pub score: i32,
}

/// One generated customer, with the hidden truth (death) that the data only hints at.
#[derive(Clone, Debug)]
pub struct Customer {
    /// 1-based id.
    pub id: i64,
    /// Index into [`REGIONS`].
    pub region: usize,
    /// Index into [`CHANNELS`].
    pub channel: usize,
    /// Index into [`PLANS`].
    pub plan: usize,
    /// Signup day.
    pub signup: Date,
    /// When the customer stops buying (may be after the end of the period), UTC milliseconds.
    pub death_ms: i64,
    /// Purchases (and a cancellation), in time order.
    pub events: Vec<Event>,
    /// Support contacts, in time order.
    pub contacts: Vec<Contact>,
}

/// Generates customer `id` (pure: the same arguments always give the same customer).
pub fn customer(cfg: &SynthConfig, id: i64) -> Customer {
    let mut r = Rng::new(cfg.seed, id as u64);
    let region = r.pick(&REGIONS.map(|x| x.1));
    let channel = r.pick(&CHANNELS.map(|x| x.1));
    let plan = r.pick(&PLANS.map(|x| x.1));
    let rate = r.gamma(RATE_SHAPE, RATE_SCALE)
        * REGIONS[region].2
        * CHANNELS[channel].2
        * PLANS[plan].2
        * cfg.purchase_rate_scale;
    let lifetime_days = r.exponential(MEAN_LIFETIME_DAYS * CHANNELS[channel].3 * PLANS[plan].3);
    let spend_mu = 30f64.ln() + PLANS[plan].4 + 0.3 * r.normal();

    let start_ms = cfg.start.start_ms();
    let end_ms = cfg.end.start_ms() + MS_PER_DAY; // exclusive
    let day = MS_PER_DAY as f64;
    let signup_ms = start_ms + (r.uniform() * SIGNUP_SPREAD_DAYS * day) as i64;
    let death_ms = signup_ms + (lifetime_days * day) as i64;
    let stop_ms = death_ms.min(end_ms);

    let mut events = Vec::new();
    let mut t = signup_ms;
    while t < stop_ms {
        events.push(Event {
            at_ms: t,
            amount: (r.log_normal(spend_mu, 0.5) * 100.0).round() / 100.0,
            quantity: 1 + r.poisson(0.8) as i32,
            kind: "purchase",
        });
        t += (r.exponential(1.0 / rate.max(1e-6)) * day).max(1000.0) as i64;
    }
    if plan > 0 && death_ms < end_ms {
        events.push(Event {
            at_ms: death_ms,
            amount: 0.0,
            quantity: 0,
            kind: "cancel",
        });
    }

    // Contacts by thinning: candidates at the peak rate, kept with probability rate(t) / peak.
    let peak = BASE_CONTACT_RATE + NEAR_DEATH_CONTACT_RATE;
    let mut contacts = Vec::new();
    let mut t = signup_ms as f64;
    loop {
        t += r.exponential(1.0 / peak) * day;
        if t >= stop_ms as f64 {
            break;
        }
        let near = (-((death_ms as f64 - t) / day) / NEAR_DEATH_DAYS).exp();
        if r.uniform() * peak > BASE_CONTACT_RATE + NEAR_DEATH_CONTACT_RATE * near {
            continue;
        }
        let kind = if r.uniform() < 0.2 + 0.6 * near {
            "complaint"
        } else {
            "ticket"
        };
        let score = (4.3 - 3.0 * near + 0.8 * r.normal()).round().clamp(1.0, 5.0) as i32;
        contacts.push(Contact {
            at_ms: t as i64,
            kind,
            score,
        });
    }
    Customer {
        id,
        region,
        channel,
        plan,
        signup: Date::of_ms(signup_ms),
        death_ms,
        events,
        contacts,
    }
}

/// Customers `first..first + n`, generated in parallel (the result does not depend on threads).
pub fn customers(cfg: &SynthConfig, first: i64, n: usize) -> Vec<Customer> {
    (first..first + n as i64)
        .into_par_iter()
        .map(|id| customer(cfg, id))
        .collect()
}
