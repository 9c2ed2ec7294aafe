//! Data-parallel training across machines: each worker reads its share of the customer
//! partitions and builds its snapshots; LightGBM trains over its own socket network, its bins
//! agreed across workers; rank 0 holds every worker's validation and test customers, decides
//! when boosting stops, evaluates on the whole test and writes the one package.
//!
//! The order of the exchanges (every worker takes each step in turn):
//! 1. join (rank 0 waits for every rank, which must run the same job);
//! 2. the feature spec: rank 0 unites the workers' category dictionaries and sends the result;
//! 3. the held-out sides: every worker sends its validation and test rows to rank 0;
//! 4. boosting: after each round rank 0 says whether to stop, then which round to keep;
//! 5. the model: every worker sends the SHA-256 of its model text, which must be rank 0's;
//! 6. the outcome: rank 0 sends the version it wrote (or its error).

use std::time::Duration;

use churnguard_cluster::{Cluster, ClusterError, Membership, OnLost};
use churnguard_config::{DistributedConfig, Pipeline, with_causes};
use churnguard_features::{FeatureSpec, load_with_progress, spec_for};
use churnguard_package::DataSummary;
use churnguard_train::lightgbm::Network;
use churnguard_train::{
    Agreement, ByteReader, Fit, FitSetup, Fitter, Prepared, RoundObserver, Rows, TrainError, final_params, finish,
    fit_with, prepare,
};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, setting_error};
use crate::train::{check_writable, export_and_package};
use crate::{AppError, Progress, Stage, TrainRequest};

/// A distributed training job as one worker runs it.
pub struct DistributedRequest<'a> {
    /// The pipeline, the models folder and ONNX Runtime (used by rank 0).
    pub train: TrainRequest<'a>,
    /// This worker's rank.
    pub rank: usize,
    /// Called, from another thread, when a peer is lost: it must end the process (this worker
    /// may be blocked in LightGBM's network, which does not return).
    pub on_lost: OnLost,
}

/// How a worker's part of the job ended.
pub enum DistributedOutcome {
    /// Rank 0: the package it wrote.
    Packaged(Box<crate::Trained>),
    /// Another rank: its model is rank 0's, which rank 0 packaged as this version.
    Worker {
        /// The version rank 0 wrote.
        version: String,
        /// SHA-256 of the model text, the same on every worker.
        model_sha256: String,
        /// Rounds kept.
        rounds: usize,
        /// Customers' rows this worker trained on.
        train_rows: usize,
    },
}

/// How long a failed worker waits to hear whether a peer left, before reporting its own error.
const LOSS_PATIENCE: Duration = Duration::from_secs(2);

/// Rank 0's last word to the workers.
#[derive(Serialize, Deserialize)]
enum Outcome {
    Packaged { version: String },
}

/// The partitions of `keys` a rank reads: every `size`-th, from its rank.
pub fn share_of(keys: &[String], rank: usize, size: usize) -> Vec<String> {
    keys.iter()
        .enumerate()
        .filter(|(i, _)| i % size.max(1) == rank)
        .map(|(_, k)| k.clone())
        .collect()
}

/// The job every worker must run: the pipeline and what decides its model.
fn job_of(p: &Pipeline) -> String {
    let decisive = serde_json::json!({
        "name": p.name,
        "seed": p.seed,
        "label": p.label.as_ref().map(ToString::to_string),
        "snapshots": p.snapshots,
        "features": p.features,
        "model": p.model,
        "split": p.split,
        "machines": p.distributed.as_ref().map(|d| &d.machines),
    });
    let bytes = serde_json::to_vec(&decisive).unwrap_or_default();
    let digest = churnguard_model::sha256_hex(&bytes);
    format!("{} ({})", p.name, &digest[..12])
}

/// Runs this worker's part of a distributed training job; see the module's description.
pub fn train_distributed(
    req: &DistributedRequest<'_>,
    observe: &mut dyn FnMut(Progress),
) -> Result<DistributedOutcome, AppError> {
    let p = req.train.pipeline;
    let d = p
        .distributed
        .as_ref()
        .ok_or_else(|| AppError::NotDistributed { file: p.file.clone() })?;
    let size = d.machines.len();
    let rank = req.rank;
    if rank >= size {
        return Err(AppError::BadRank { rank, size });
    }
    if p.label.is_none() {
        return Err(AppError::NoLabel { file: p.file.clone() });
    }
    if p.data.as_of.is_none() {
        return Err(AppError::PartitionedNoDate { file: p.file.clone() });
    }
    let keys = crate::partition_keys(p)?.ok_or_else(|| AppError::NoSuchPartition {
        file: p.file.clone(),
        why: "distributed training reads partitioned tables (part=K/ folders, written by churnguard partition)".into(),
    })?;
    let mine = share_of(&keys, rank, size);
    // A worker without rows would leave the others waiting on LightGBM's network.
    if mine.is_empty() {
        return Err(AppError::NoSuchPartition {
            file: p.file.clone(),
            why: format!(
                "rank {rank} has no partition to train on: the tables have {} partitions for {size} workers; partition into at least {size}",
                keys.len()
            ),
        });
    }
    let signing = if rank == 0 {
        check_writable(req.train.models_dir)?;
        churnguard_package::SigningKey::from_env()?
    } else {
        None
    };
    let membership = Membership {
        rank,
        size,
        coordinator: d.coordinator.clone(),
        timeout: Duration::from_secs(d.timeout_seconds),
        job: job_of(p),
    };
    let cluster = Cluster::join(&membership, req.on_lost.clone())?;
    let result = run(req, d, &cluster, &mine, signing.as_ref(), observe);
    // A failure because a peer left (LightGBM's socket read, say) is reported as that loss.
    let result = result.map_err(|e| match cluster.lost_within(LOSS_PATIENCE) {
        Some(lost) => AppError::Cluster(lost),
        None => e,
    });
    match &result {
        Ok(_) => cluster.close(),
        Err(e) => cluster.fail(&with_causes(e)),
    }
    result
}

fn run(
    req: &DistributedRequest<'_>,
    d: &DistributedConfig,
    cluster: &Cluster,
    mine: &[String],
    signing: Option<&churnguard_package::SigningKey>,
    observe: &mut dyn FnMut(Progress),
) -> Result<DistributedOutcome, AppError> {
    let p = req.train.pipeline;
    observe(Progress::Stage(Stage::Load));
    let mut clock = Clock::start(observe);
    let local = churnguard_ingest::partition_pipeline(p, mine);
    let history = load_with_progress(&local, None, &mut |r| (clock.observe)(Progress::Read(r)))?;
    let spec = agreed_spec(cluster, spec_for(p, &history))?;
    if cluster.rank() == 0 {
        crate::check_actions(p, &spec)?;
    }
    clock.enter(Stage::Features);
    let prepared = prepare(p, &history, spec, &mut |e| clock.event(e)).map_err(|e| setting_error(p, e))?;
    let held_out = encode_held_out(&prepared)?;
    let gathered = cluster.gather_bytes(held_out)?;
    let Some(gathered) = gathered else {
        return worker(p, d, cluster, prepared, &mut clock);
    };
    let joined = join_held_out(prepared, &gathered[1..])?;
    let inputs = churnguard_train::input_files(p)?;
    let mut fitter = DistributedFit { cluster, d };
    let training = finish(p, joined, &mut fitter, &mut |e| clock.event(e)).map_err(|e| setting_error(p, e))?;
    let (parity, written) = export_and_package(&req.train, &training, &inputs, signing, &mut clock)?;
    cluster.broadcast(Some(Outcome::Packaged {
        version: written.version.clone(),
    }))?;
    let times = clock.finish();
    Ok(DistributedOutcome::Packaged(Box::new(crate::Trained {
        history: Some(history),
        training,
        parity,
        written,
        times,
    })))
}

/// Every worker's spec united on rank 0 (category dictionaries joined) and sent to all.
fn agreed_spec(cluster: &Cluster, mine: FeatureSpec) -> Result<FeatureSpec, AppError> {
    let agreed = match cluster.gather(mine)? {
        Some(all) => {
            let mut united = all[0].clone();
            for (rank, s) in all.iter().enumerate().skip(1) {
                united = united.union(s).map_err(|d| AppError::WorkersDisagree {
                    rank,
                    what: format!("its features: {}", d.join("; ")),
                })?;
            }
            Some(united)
        }
        None => None,
    };
    Ok(cluster.broadcast(agreed)?)
}

/// A worker's part after the held-out sides are sent: boosting on its training rows as rank 0
/// decides, then the model's hash, then rank 0's outcome.
fn worker(
    p: &Pipeline,
    d: &DistributedConfig,
    cluster: &Cluster,
    prepared: Prepared,
    clock: &mut Clock<'_>,
) -> Result<DistributedOutcome, AppError> {
    let names = prepared.spec.names();
    let categorical = categorical_of(&prepared.spec);
    let params = final_params(p, names.len()).map_err(|e| setting_error(p, e))?;
    let threads = churnguard_train::settle_threads(p.model.num_threads)?;
    clock.event(churnguard_train::Event::Threads(&threads));
    clock.enter(Stage::Training);
    let fitted = {
        let extra = network_params(d);
        let _network = join_network(d, cluster.rank())?;
        let setup = FitSetup {
            params: &params,
            extra: &extra,
            model: &p.model,
            names: &names,
            categorical: &categorical,
        };
        let mut observer = |round: usize, of: usize, _: Option<f64>| (clock.observe)(Progress::Round { round, of });
        fit_with(&setup, &prepared.train, None, &mut observer, &mut Follow(cluster))?
    };
    let sha = churnguard_model::sha256_hex(fitted.model_text.as_bytes());
    cluster.gather(sha.clone())?;
    let Outcome::Packaged { version } = cluster.broadcast(None)?;
    Ok(DistributedOutcome::Worker {
        version,
        model_sha256: sha,
        rounds: fitted.best_round,
        train_rows: prepared.train.rows,
    })
}

fn categorical_of(spec: &FeatureSpec) -> Vec<usize> {
    spec.features
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.kind, churnguard_features::FeatureKind::Categorical { .. }))
        .map(|(i, _)| i)
        .collect()
}

/// LightGBM's data-parallel settings: each worker holds its own rows (pre-partitioned).
fn network_params(d: &DistributedConfig) -> Vec<(&'static str, String)> {
    vec![
        ("tree_learner", "data".to_string()),
        ("num_machines", d.machines.len().to_string()),
        ("pre_partition", "true".to_string()),
    ]
}

fn join_network(d: &DistributedConfig, rank: usize) -> Result<Network, AppError> {
    let port = d.port_of(rank).ok_or(AppError::BadRank {
        rank,
        size: d.machines.len(),
    })?;
    Ok(Network::join(&d.machines, port, d.timeout_seconds.div_ceil(60) as u32).map_err(TrainError::from)?)
}

/// The fit on rank 0: joins LightGBM's network, boosts on its own training rows with every
/// worker's validation rows, tells the workers when to stop, and checks their models are its.
struct DistributedFit<'a> {
    cluster: &'a Cluster,
    d: &'a DistributedConfig,
}

impl Fitter for DistributedFit<'_> {
    fn fit(
        &mut self,
        setup: &FitSetup<'_>,
        train: &Rows,
        valid: Option<&Rows>,
        observer: &mut dyn RoundObserver,
    ) -> Result<Fit, TrainError> {
        let extra = network_params(self.d);
        let fitted = {
            let _network = join_network(self.d, 0).map_err(|e| TrainError::Internal(with_causes(&e)))?;
            let setup = FitSetup {
                extra: &extra,
                ..*setup
            };
            fit_with(&setup, train, valid, observer, &mut Follow(self.cluster))?
        };
        let sha = churnguard_model::sha256_hex(fitted.model_text.as_bytes());
        let all = self
            .cluster
            .gather(sha.clone())
            .map_err(cluster_to_train)?
            .unwrap_or_default();
        if let Some((rank, other)) = all.iter().enumerate().find(|(_, s)| **s != sha) {
            return Err(TrainError::Internal(format!(
                "rank {rank} ended with another model (SHA-256 {other}, rank 0's {sha}): no package is written"
            )));
        }
        Ok(fitted)
    }
}

fn cluster_to_train(e: ClusterError) -> TrainError {
    TrainError::Internal(e.to_string())
}

/// Boosting's decisions taken by rank 0 and followed by the others.
struct Follow<'a>(&'a Cluster);

impl Agreement for Follow<'_> {
    fn stop(&mut self, decided: Option<bool>) -> Result<bool, TrainError> {
        self.0.broadcast(decided).map_err(cluster_to_train)
    }

    fn kept(&mut self, decided: Option<usize>, _rounds: usize) -> Result<usize, TrainError> {
        self.0.broadcast(decided).map_err(cluster_to_train)
    }
}

/// What a worker sends rank 0 of its prepared run: everything but its training rows.
#[derive(Serialize, Deserialize)]
struct HeldOutHeader {
    train_counts: (usize, usize),
    snapshots: Vec<churnguard_features::SnapshotReport>,
    data: DataSummary,
    test_values: Option<Vec<f64>>,
    test_spend: Option<Vec<f64>>,
}

fn encode_held_out(p: &Prepared) -> Result<Vec<u8>, AppError> {
    let header = HeldOutHeader {
        train_counts: p.train_counts,
        snapshots: p.snapshots.clone(),
        data: p.data.clone(),
        test_values: p.test_values.clone(),
        test_spend: p.test_spend.clone(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| AppError::WorkersDisagree {
        rank: 0,
        what: format!("its held-out customers cannot be encoded: {e}"),
    })?;
    let mut out = Vec::new();
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    p.validation.encode_into(&mut out);
    p.test.encode_into(&mut out);
    Ok(out)
}

/// Rank 0's prepared run with every worker's held-out sides joined to its own (its training
/// rows stay its own: the others train on theirs, and only their counts come here).
fn join_held_out(mine: Prepared, others: &[Vec<u8>]) -> Result<Prepared, AppError> {
    let cols = mine.train.cols;
    let mut parts = vec![mine];
    for (k, bytes) in others.iter().enumerate() {
        let rank = k + 1;
        let damaged = |e: churnguard_train::RowsDecodeError| AppError::WorkersDisagree {
            rank,
            what: format!("its held-out customers cannot be read: {e}"),
        };
        let mut r = ByteReader::new(bytes);
        let len = usize::try_from(r.u64().map_err(damaged)?).unwrap_or(usize::MAX);
        let header: HeldOutHeader =
            serde_json::from_slice(r.take(len).map_err(damaged)?).map_err(|e| AppError::WorkersDisagree {
                rank,
                what: format!("its held-out customers cannot be read: {e}"),
            })?;
        let (validation, test) = (r.rows().map_err(damaged)?, r.rows().map_err(damaged)?);
        parts.push(Prepared {
            spec: parts[0].spec.clone(),
            train: Rows {
                cols,
                ..Rows::default()
            },
            train_counts: header.train_counts,
            validation,
            test,
            pool: None,
            test_design: parts[0].test_design.clone(),
            snapshots: header.snapshots,
            test_values: header.test_values,
            test_spend: header.test_spend,
            data: header.data,
        });
    }
    let mut joined = Prepared::join(parts).ok_or(AppError::WorkersDisagree {
        rank: 0,
        what: "its held-out customers (none arrived)".into(),
    })?;
    // The pool serves tuning only, which does not run distributed.
    joined.pool = None;
    Ok(joined)
}
