//! The fuzz targets: each opens what it needs once, names its seed inputs, and runs one input
//! through the code a user's file or request reaches.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline};

/// The targets, by name.
pub const NAMES: [&str; 5] = ["model", "config", "csv", "parquet", "request"];

/// One thing to fuzz.
pub trait Target {
    /// The inputs mutations start from.
    fn seeds(&self) -> Vec<Vec<u8>>;
    /// Feeds one input through; any panic is a finding.
    fn run(&mut self, input: &[u8]);
}

/// Opens target `name`, with the repository at `root`.
pub fn open(name: &str, root: &Path) -> Result<Box<dyn Target>, String> {
    Ok(match name {
        "model" => Box::new(Files::of(root, "fuzz/corpus/model", "txt", ModelText)?),
        "config" => Box::new(Files::of(
            root,
            "pipelines",
            "toml",
            Config(root.join("pipelines/fuzz.toml")),
        )?),
        "csv" => Box::new(Files::of(root, "fuzz/corpus/csv", "csv", Table::csv()?)?),
        "parquet" => Box::new(Files::of(root, "fuzz/corpus/parquet", "parquet", Table::parquet()?)?),
        "request" => Box::new(Files::of(root, "fuzz/corpus/request", "json", Request::open(root)?)?),
        other => return Err(format!("no target {other}")),
    })
}

/// A target whose seeds are the files of one folder with one extension.
struct Files<T> {
    seeds: Vec<Vec<u8>>,
    inner: T,
}

impl<T> Files<T> {
    fn of(root: &Path, folder: &str, ext: &str, inner: T) -> Result<Files<T>, String> {
        let dir = root.join(folder);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        paths.sort();
        let seeds: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
        if seeds.is_empty() {
            return Err(format!("no .{ext} seed in {}", dir.display()));
        }
        Ok(Files { seeds, inner })
    }
}

/// What a target does with one input.
trait Run {
    fn run(&mut self, input: &[u8]);
}

impl<T: Run> Target for Files<T> {
    fn seeds(&self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn run(&mut self, input: &[u8]) {
        self.inner.run(input);
    }
}

/// LightGBM model text: parsed, then scored, explained and exported like an accepted model.
struct ModelText;

impl Run for ModelText {
    fn run(&mut self, input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        let Ok(e) = churnguard_model::Ensemble::parse(&text) else {
            return;
        };
        for v in [0.0, f64::NAN, 1e308, -1.0] {
            let row = vec![v; e.num_features()];
            let _ = e.predict(&row);
            let _ = e.contributions(&row);
        }
        let options = churnguard_model::ExportOptions {
            input: churnguard_model::InputType::F64,
            metadata: Vec::new(),
            calibration: None,
        };
        let _ = churnguard_model::export(&e, &text, &options);
    }
}

/// A pipeline config's text, validated as if read from the path given.
struct Config(PathBuf);

impl Run for Config {
    fn run(&mut self, input: &[u8]) {
        let _ = churnguard_config::parse(&String::from_utf8_lossy(input), &self.0);
    }
}

/// A table file: validated, loaded into histories and snapshotted as a pipeline reads it.
struct Table {
    dir: tempfile::TempDir,
    file: &'static str,
    pipeline: Pipeline,
    cutoff: Date,
}

impl Table {
    fn with(file: &'static str, config: &str, cutoff: &str) -> Result<Table, String> {
        let dir = tempfile::tempdir().map_err(|e| churnguard_config::with_causes(&e))?;
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, config).map_err(|e| churnguard_config::with_causes(&e))?;
        let pipeline = churnguard_config::load(&path).map_err(|e| churnguard_config::with_causes(&e))?;
        let cutoff = Date::parse_iso(cutoff).ok_or("a cutoff")?;
        Ok(Table {
            dir,
            file,
            pipeline,
            cutoff,
        })
    }

    /// The Telco CSV's shape: a customers table with a label column.
    fn csv() -> Result<Table, String> {
        Table::with(
            "t.csv",
            "[pipeline]\nname = \"fuzz\"\n[data]\nas_of = 2024-01-31\n[data.customers]\npath = \"t.csv\"\ncustomer_id = \"customerID\"\nnumeric = [\"TotalCharges\"]\n[label]\nkind = \"column\"\ncolumn = \"Churn\"\npositive = \"Yes\"\n",
            "2024-02-01",
        )
    }

    /// The CDNOW sample's shape: an events table with an inactivity label.
    fn parquet() -> Result<Table, String> {
        Table::with(
            "e.parquet",
            "[pipeline]\nname = \"fuzz\"\n[data.events]\npath = \"e.parquet\"\ncustomer_id = \"customer_id\"\ntimestamp = \"date\"\namount = \"dollar_value\"\nquantity = \"number_of_cds\"\n[label]\nkind = \"inactivity\"\nhorizon_days = 90\n",
            "1998-01-01",
        )
    }
}

impl Run for Table {
    fn run(&mut self, input: &[u8]) {
        if std::fs::write(self.dir.path().join(self.file), input).is_err() {
            return;
        }
        let p = &self.pipeline;
        let _ = churnguard_ingest::validate(p, None, &mut |_| {});
        let Ok(h) = churnguard_features::load(p, None) else {
            return;
        };
        let spec = churnguard_features::spec_for(p, &h);
        let _ = churnguard_features::snapshot(p, &h, &spec, self.cutoff);
        let _ = churnguard_features::outcomes(p, &h, self.cutoff);
    }
}

/// The body of `POST /v1/score`, scored by a CDNOW package as the service does.
struct Request {
    _models: tempfile::TempDir,
    pipeline: Pipeline,
    served: churnguard_serve::Served,
}

/// The request body's shape (the service's own type is private to its route).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    as_of: Option<String>,
    customers: Vec<churnguard_serve::CustomerIn>,
}

impl Request {
    fn open(root: &Path) -> Result<Request, String> {
        let path = root.join("pipelines/cdnow.toml");
        let pipeline = churnguard_config::load(&path).map_err(|e| churnguard_config::with_causes(&e))?;
        let text = std::fs::read_to_string(&path).map_err(|e| churnguard_config::with_causes(&e))?;
        let runtime = churnguard_infer::OnnxRuntime::load(None).map_err(|e| churnguard_config::with_causes(&e))?;
        let models = tempfile::tempdir().map_err(|e| churnguard_config::with_causes(&e))?;
        let request = churnguard_app::TrainRequest {
            pipeline: &pipeline,
            config_text: &text,
            models_dir: models.path(),
            runtime,
            latest: churnguard_package::Latest::Move,
        };
        let trained =
            churnguard_app::train_package(&request, &mut |_| {}).map_err(|e| churnguard_config::with_causes(&e))?;
        let served = churnguard_serve::Served::load(&trained.written.dir, &pipeline, runtime, 1)
            .map_err(|e| churnguard_config::with_causes(&e))?;
        Ok(Request {
            _models: models,
            pipeline,
            served,
        })
    }
}

impl Run for Request {
    fn run(&mut self, input: &[u8]) {
        let Ok(body) = serde_json::from_slice::<Body>(input) else {
            return;
        };
        let as_of = match body.as_of.as_deref().map(|s| Date::parse_iso(s.trim())) {
            Some(Some(d)) if churnguard_config::DATE_YEARS.contains(&d.ymd().0) => d,
            Some(_) => return,
            None => Date::parse_iso("1998-07-01").unwrap_or(Date::from_days(10_408)),
        };
        let _ = self.served.score(&self.pipeline, body.customers, as_of, 10_000);
    }
}
