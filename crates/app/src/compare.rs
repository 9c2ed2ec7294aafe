//! `compare`: several packages scored on the same labelled snapshot, each with its own
//! FeatureSpec, and the figures that say whether their difference is real.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline, Tier};
use churnguard_eval::{
    COMPARE_PERCENTS, Compared, Comparison, EvalOptions, FailIfWorse, Paired, agreement, calibration_figures, curves,
    delong, evaluate_at, value_captured,
};
use churnguard_features::{History, Snapshot, customer_values, snapshot, spend};
use churnguard_infer::{ModelPackage, OnnxModel, OnnxRuntime, snapshot_probabilities};
use churnguard_package::TestDesign;

use crate::{AppError, Progress, Stage};

/// What a comparison needs.
pub struct CompareRequest<'a> {
    /// The validated pipeline every package was trained for.
    pub pipeline: &'a Pipeline,
    /// The packages, the first being the baseline.
    pub packages: &'a [PathBuf],
    /// The snapshot's cutoff (default: the baseline's test cutoff).
    pub cutoff: Option<Date>,
    /// ONNX Runtime.
    pub runtime: &'a OnnxRuntime,
    /// ONNX Runtime threads per session (0: its default).
    pub threads: usize,
    /// Margins by which a package may be worse than the baseline.
    pub gates: Option<&'a FailIfWorse>,
}

/// One package scored: what the comparison keeps of it.
struct Scored {
    figures: Compared,
    probabilities: Vec<f64>,
    tiers: Vec<Tier>,
}

/// Scores the same labelled customers with each package and compares them with the first.
pub fn compare(
    req: &CompareRequest<'_>,
    history: &History,
    observe: &mut dyn FnMut(Progress),
) -> Result<Comparison, AppError> {
    let p = req.pipeline;
    if req.packages.len() < 2 {
        return Err(AppError::NeedTwoPackages {
            given: req.packages.len(),
        });
    }
    let packages = req
        .packages
        .iter()
        .map(|path| open(p, path))
        .collect::<Result<Vec<_>, AppError>>()?;
    let cutoff = match req.cutoff {
        Some(c) => c,
        None => packages[0].package.manifest.test_design.cutoff(),
    };
    let unseen = packages
        .iter()
        .zip(req.packages)
        .map(|(package, path)| Unseen::of(package, path, cutoff))
        .collect::<Result<Vec<_>, AppError>>()?;
    observe(Progress::Stage(Stage::Scoring));
    let mut shared: Option<Shared> = None;
    let mut scored = Vec::with_capacity(packages.len());
    observe(Progress::Compared {
        done: 0,
        total: packages.len(),
    });
    for (k, (package, path)) in packages.iter().zip(req.packages).enumerate() {
        let one = score_one(req, history, package, path, cutoff, &unseen, &mut shared)?;
        scored.push(one);
        observe(Progress::Compared {
            done: k + 1,
            total: packages.len(),
        });
    }
    let shared = shared.ok_or_else(|| AppError::NeedTwoPackages { given: 0 })?;
    let paired = scored
        .iter()
        .enumerate()
        .skip(1)
        .map(|(k, s)| paired(k, &shared.labels, &scored[0], s))
        .collect::<Result<Vec<_>, AppError>>()?;
    let models: Vec<Compared> = scored.into_iter().map(|s| s.figures).collect();
    let gates = req.gates.map(|g| g.check(&models)).unwrap_or_default();
    Ok(Comparison {
        pipeline: p.name.clone(),
        cutoff: cutoff.to_string(),
        population: shared.described,
        customers: shared.labels.len() as u64,
        churners: shared.labels.iter().filter(|&&y| y).count() as u64,
        models,
        paired,
        gates,
    })
}

/// Opens a package and checks that it was trained for `p`.
pub(crate) fn open(p: &Pipeline, path: &Path) -> Result<ModelPackage, AppError> {
    let package = ModelPackage::open(path)?;
    package.package.check_pipeline(p)?;
    Ok(package)
}

/// Which customers at the compare cutoff a package never trained on.
enum Unseen {
    /// The cutoff is after every training cutoff: every customer (out of time).
    Everyone,
    /// A customer split: the customers it held out for its test, at every cutoff.
    HeldOut {
        /// The split's seed.
        seed: u64,
        /// The share held out.
        fraction: f64,
        /// The package's version, for the description.
        version: String,
    },
}

impl Unseen {
    /// The customers at `cutoff` that `package` did not train on, or the refusal when it
    /// trained on all of them.
    fn of(package: &ModelPackage, path: &Path, cutoff: Date) -> Result<Unseen, AppError> {
        let m = &package.package.manifest;
        let test = m.test_design.cutoff();
        let out_of_time = matches!(m.test_design, TestDesign::OutOfTime { .. });
        // The training snapshots: every one but an out-of-time test's.
        let trained_at_or_after = m
            .snapshots
            .iter()
            .filter_map(|s| Date::parse_iso(&s.cutoff))
            .filter(|&c| !(out_of_time && c == test))
            .any(|c| c >= cutoff);
        match &m.test_design {
            _ if !trained_at_or_after => Ok(Unseen::Everyone),
            TestDesign::HeldOutCustomers { fraction, .. } => Ok(Unseen::HeldOut {
                seed: m.seed,
                fraction: *fraction,
                version: package.version().to_string(),
            }),
            TestDesign::OutOfTime { .. } => Err(AppError::TrainedOnEveryone {
                package: path.to_path_buf(),
                cutoff,
                test,
            }),
        }
    }

    /// Whether the customer with this key is unseen.
    fn holds(&self, key: u64) -> bool {
        match self {
            Unseen::Everyone => true,
            Unseen::HeldOut { seed, fraction, .. } => churnguard_train::held_out_for_test(key, *seed, *fraction),
        }
    }

    /// The split in words, for a split package.
    fn split(&self) -> Option<String> {
        match self {
            Unseen::Everyone => None,
            Unseen::HeldOut {
                seed,
                fraction,
                version,
            } => Some(format!("{version}: {:.0}% held out, seed {seed}", fraction * 100.0)),
        }
    }
}

/// The rows of `snap` with a known outcome that no package trained on, and the population in
/// words.
fn unseen_known_rows(snap: &Snapshot, unseen: &[Unseen], cutoff: Date) -> Result<(Vec<usize>, String), AppError> {
    let outcomes = snap.labels();
    let labelled: Vec<usize> = (0..outcomes.len()).filter(|&i| outcomes[i].is_some()).collect();
    let mut splits: Vec<String> = Vec::new();
    for split in unseen.iter().filter_map(Unseen::split) {
        if !splits.contains(&split) {
            splits.push(split);
        }
    }
    if splits.is_empty() {
        let described = format!("every customer at {cutoff}, after each package's training cutoffs");
        return Ok((labelled, described));
    }
    let keys = churnguard_train::customer_keys(snap.batch.column(0))?;
    let known: Vec<usize> = labelled
        .iter()
        .copied()
        .filter(|&i| unseen.iter().all(|u| u.holds(keys[i])))
        .collect();
    if known.is_empty() {
        return Err(AppError::NoSharedHeldOut { cutoff, splits });
    }
    let described = format!(
        "the {} of {} customers at {cutoff} held out by every package ({})",
        known.len(),
        labelled.len(),
        splits.join("; ")
    );
    Ok((known, described))
}

/// What every package shares: the customers, their outcomes and their value (of the rows whose
/// outcome is known and that no package trained on).
struct Shared {
    /// Who they are, in words.
    described: String,
    population: Vec<u32>,
    /// Rows of the snapshot whose outcome is known.
    known: Vec<usize>,
    labels: Vec<bool>,
    values: Option<Vec<f64>>,
    past_spend: Vec<f64>,
}

fn score_one(
    req: &CompareRequest<'_>,
    h: &History,
    package: &ModelPackage,
    path: &Path,
    cutoff: Date,
    unseen: &[Unseen],
    shared: &mut Option<Shared>,
) -> Result<Scored, AppError> {
    // Each package's features as it was trained: its windows and complaint kinds, whatever the
    // pipeline file says today; the customers, labels and values follow the pipeline.
    let own = Pipeline {
        features: package.spec().features_config(),
        ..req.pipeline.clone()
    };
    let p = &own;
    let snap = snapshot(p, h, package.spec(), cutoff)?;
    if let Some(reason) = &snap.report.unlabelled_reason {
        return Err(AppError::Unlabelled {
            cutoff,
            reason: reason.clone(),
        });
    }
    let s = match shared {
        Some(s) if s.population != snap.population => {
            return Err(AppError::PopulationDiffers {
                package: path.to_path_buf(),
            });
        }
        Some(s) => s,
        None => {
            let outcomes = snap.labels();
            let (known, described) = unseen_known_rows(&snap, unseen, cutoff)?;
            let labels = known.iter().map(|&i| outcomes[i] == Some(true)).collect();
            let population: Vec<u32> = known.iter().map(|&i| snap.population[i]).collect();
            let (values, value_known) = customer_values(p, h, &population, cutoff)?;
            let past_spend = spend(h, &population, cutoff, churnguard_train::CAPTURE_SPEND_DAYS);
            shared.insert(Shared {
                described,
                population: snap.population.clone(),
                known,
                labels,
                values: value_known.then_some(values),
                past_spend,
            })
        }
    };
    let mut model = OnnxModel::load(req.runtime, package.onnx(), req.threads)?;
    let (all, onnx_seconds) = snapshot_probabilities(p, package, &mut model, &snap, &mut |_, _| ())?;
    drop(snap);
    let probabilities: Vec<f64> = s.known.iter().map(|&i| all[i]).collect();
    let scored_rows = all.len();
    drop(all);
    let values = s.values.as_deref();
    let order = p.scoring.ranking(values.is_some()).order(&probabilities, values);
    let options = EvalOptions {
        strategy: p.evaluation.threshold.clone(),
        bootstrap_samples: 0,
        seed: p.seed,
        calibration_bins: p.evaluation.calibration_bins as usize,
    };
    let mut evaluation = evaluate_at(&s.labels, &probabilities, &options, package.package.manifest.threshold)?;
    let curves = curves(
        &s.labels,
        &probabilities,
        Some(&order),
        p.evaluation.bootstrap_samples as usize,
        p.seed,
    )?;
    // The interval comes from the curves' resamples: one bootstrap pass, not two.
    evaluation.auc_interval = curves.auc_interval;
    let figures = Compared {
        package: path.display().to_string(),
        version: package.version().to_string(),
        features: package.spec().features.len(),
        calibration: calibration_figures(&s.labels, &probabilities)?,
        value_captured: s
            .values
            .as_ref()
            .and_then(|_| value_captured(&s.labels, &order, &s.past_spend, &COMPARE_PERCENTS)),
        curves,
        evaluation,
        rows_per_second: scored_rows as f64 / onnx_seconds.max(1e-9),
        model_bytes: package.onnx().len() as u64,
        trees: package.ensemble.trees.len(),
    };
    let tiers = probabilities.iter().map(|&x| package.tiers().of(x)).collect();
    Ok(Scored {
        figures,
        probabilities,
        tiers,
    })
}

fn paired(k: usize, labels: &[bool], base: &Scored, other: &Scored) -> Result<Paired, AppError> {
    let mut migration = [[0u64; 3]; 3];
    for (a, b) in base.tiers.iter().zip(&other.tiers) {
        migration[a.index()][b.index()] += 1;
    }
    Ok(Paired {
        model: k,
        delong: delong(labels, &base.probabilities, &other.probabilities)?,
        agreement: agreement(&base.probabilities, &other.probabilities, 10.0)?,
        migration,
    })
}
