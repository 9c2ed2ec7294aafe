//! Where a job's time goes: its stages reported as they begin, and timed.

use std::time::{Duration, Instant};

use churnguard_config::Pipeline;
use churnguard_train::{Event, Phase, TrainError};

use crate::{AppError, Progress, Stage};

/// Where a job spent its time.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Reading the tables.
    pub load: Duration,
    /// Snapshots.
    pub features: Duration,
    /// Tuning trials.
    pub tuning: Duration,
    /// The final model.
    pub training: Duration,
    /// Figures, tiers, importance.
    pub evaluation: Duration,
    /// ONNX export and parity.
    pub export: Duration,
    /// Writing the package.
    pub package: Duration,
}

impl StageTimes {
    fn add(&mut self, stage: Stage, took: Duration) {
        match stage {
            Stage::Load => self.load += took,
            Stage::Features => self.features += took,
            Stage::Tuning => self.tuning += took,
            Stage::Training => self.training += took,
            Stage::Evaluation | Stage::Scoring => self.evaluation += took,
            Stage::Export => self.export += took,
            Stage::Package => self.package += took,
        }
    }
}

/// Reports stages and times them.
pub(crate) struct Clock<'a> {
    pub(crate) observe: &'a mut dyn FnMut(Progress),
    stage: Stage,
    since: Instant,
    times: StageTimes,
}

impl<'a> Clock<'a> {
    /// A clock in the load stage from now.
    pub(crate) fn start(observe: &'a mut dyn FnMut(Progress)) -> Self {
        Clock {
            observe,
            stage: Stage::Load,
            since: Instant::now(),
            times: StageTimes::default(),
        }
    }

    pub(crate) fn enter(&mut self, stage: Stage) {
        self.times.add(self.stage, self.since.elapsed());
        self.stage = stage;
        self.since = Instant::now();
        (self.observe)(Progress::Stage(stage));
    }

    pub(crate) fn finish(mut self) -> StageTimes {
        self.times.add(self.stage, self.since.elapsed());
        self.times
    }
}

impl Clock<'_> {
    /// A training event as a stage or progress.
    pub(crate) fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Snapshot { report, done, total } => (self.observe)(Progress::Snapshot {
                cutoff: report.cutoff.clone(),
                done,
                total,
            }),
            Event::Phase(phase) => self.enter(match phase {
                Phase::Tuning => Stage::Tuning,
                Phase::Training => Stage::Training,
                Phase::Evaluation => Stage::Evaluation,
            }),
            Event::Trial { trial, of } => (self.observe)(Progress::Trial {
                number: trial.number,
                of,
            }),
            Event::Round { round, of, .. } => (self.observe)(Progress::Round { round, of }),
            Event::Threads(threads) => {
                if let Some(note) = threads.note() {
                    (self.observe)(Progress::Note(note));
                }
            }
        }
    }
}

/// Training's refusal of a setting of the pipeline file is a usage error naming the file.
pub(crate) fn setting_error(p: &Pipeline, e: TrainError) -> AppError {
    match e {
        e @ (TrainError::Parameter { .. } | TrainError::NoAsOf | TrainError::NoSnapshots) => AppError::Setting {
            file: p.file.clone(),
            source: Box::new(e),
        },
        other => other.into(),
    }
}
