//! The `[distributed]` section: the workers of a data-parallel training run.

use serde::Serialize;

use crate::raw::RawDistributed;
use crate::{Checker, ConfigError};

/// Seconds a worker waits for the others to join, and the longest silence of a joined one,
/// when the config does not say.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 120;

/// The workers of a distributed training run: LightGBM's own network between them, and
/// churnguard's coordination with rank 0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributedConfig {
    /// Every worker's `host:port` for LightGBM's network, in rank order (rank 0 first).
    pub machines: Vec<String>,
    /// This worker's rank, when the file says (usually `--rank` says, so that every machine can
    /// share one file).
    pub rank: Option<usize>,
    /// Where rank 0 listens for the other workers (default: rank 0's host, the port after its
    /// LightGBM port).
    pub coordinator: String,
    /// Seconds to wait for every worker to join, and the longest silence of a joined one before
    /// the run stops with an error (default 120).
    pub timeout_seconds: u64,
}

impl DistributedConfig {
    /// The port of the worker of `rank` in LightGBM's machine list.
    pub fn port_of(&self, rank: usize) -> Option<u16> {
        self.machines
            .get(rank)
            .and_then(|m| m.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
    }
}

/// `host` and `port` of `host:port`, when it is that.
fn host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port > 0).then_some((host, port))
}

impl Checker<'_> {
    pub(crate) fn distributed(&self, d: RawDistributed) -> Result<DistributedConfig, ConfigError> {
        self.ensure(d.machines.len() >= 2, "distributed.machines", || {
            format!(
                "lists {} worker(s); data-parallel training needs at least 2 (train without [distributed] on one machine)",
                d.machines.len()
            )
        })?;
        for (i, m) in d.machines.iter().enumerate() {
            self.ensure(host_port(m).is_some(), &format!("distributed.machines[{i}]"), || {
                format!("\"{m}\" is not host:port")
            })?;
            self.ensure(
                !d.machines[..i].contains(m),
                &format!("distributed.machines[{i}]"),
                || format!("\"{m}\" is listed twice"),
            )?;
        }
        if let Some(r) = d.rank {
            self.ensure(r >= 0 && (r as usize) < d.machines.len(), "distributed.rank", || {
                format!("must be between 0 and {}, got {r}", d.machines.len() - 1)
            })?;
        }
        let coordinator = match d.coordinator {
            Some(c) => {
                self.ensure(host_port(&c).is_some(), "distributed.coordinator", || {
                    format!("\"{c}\" is not host:port")
                })?;
                c
            }
            None => {
                let (host, port) = host_port(&d.machines[0]).unwrap_or(("127.0.0.1", 0));
                self.ensure(port < u16::MAX, "distributed.machines[0]", || {
                    "its port must leave the next one for the coordinator (or set distributed.coordinator)".into()
                })?;
                format!("{host}:{}", port + 1)
            }
        };
        self.ensure(!d.machines.contains(&coordinator), "distributed.coordinator", || {
            format!("{coordinator} is also a worker's LightGBM port")
        })?;
        let timeout = d.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS as i64);
        self.ensure((1..=86_400).contains(&timeout), "distributed.timeout_seconds", || {
            format!("must be between 1 and 86400, got {timeout}")
        })?;
        Ok(DistributedConfig {
            machines: d.machines,
            rank: d.rank.map(|r| r as usize),
            coordinator,
            timeout_seconds: timeout as u64,
        })
    }
}
