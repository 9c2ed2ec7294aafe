//! `churnguard serve`: the online service over HTTP.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use churnguard_serve::{Limits, ServeConfig, TOKEN_VAR};

/// Arguments of `churnguard serve`.
#[derive(clap::Args)]
pub struct Args {
    /// The model package: a version folder or `models/<pipeline>/latest` (opened again at each
    /// reload, so a `latest` link follows new versions).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The pipeline config the package was trained with (tiers' actions and rules).
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most customers in one request.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_customers)]
    max_customers: usize,
    /// Largest body of POST /v1/score/batch, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_batch_bytes)]
    max_batch_bytes: usize,
    /// Most customers in one POST /v1/score/batch.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_batch_customers)]
    max_batch_customers: usize,
    /// Most events (and, apart, contacts) of one customer given as a raw history.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_events)]
    max_events: usize,
    /// Requests scored at once; more get 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Bytes of request bodies admitted at once across all requests (default: two of the
    /// largest batch bodies); a request beyond it gets 503 with Retry-After before its body is
    /// read, a body larger than it 413. Memory in use is a small multiple of it.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_bytes_in_flight)]
    max_bytes_in_flight: usize,
    /// Longest a request may take from its arrival (reading, parsing, scoring), in
    /// milliseconds, before it is answered 503.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().timeout.as_millis() as u64)]
    timeout_ms: u64,
    /// Seconds between checks of --model for a new target (0: never; SIGHUP and the admin call
    /// reload anyway).
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    watch_seconds: u64,
    /// ONNX Runtime sessions (0: one per core).
    #[arg(long, default_value_t = 0)]
    sessions: usize,
    /// ONNX Runtime library (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
    /// No access log (one JSON line per request on stderr); the start, reload and stop lines
    /// stay.
    #[arg(long)]
    quiet: bool,
}

/// Serves until SIGTERM or SIGINT.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let runtime = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    let token = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
    let config = ServeConfig {
        listen: args.listen,
        model: args.model.clone(),
        pipeline,
        runtime,
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_customers: args.max_customers,
            max_events: args.max_events,
            max_batch_bytes: args.max_batch_bytes,
            max_batch_customers: args.max_batch_customers,
            max_in_flight: args.max_in_flight,
            max_bytes_in_flight: args.max_bytes_in_flight,
            timeout: Duration::from_millis(args.timeout_ms),
        },
        token,
        sessions: match args.sessions {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        watch: (args.watch_seconds > 0).then(|| Duration::from_secs(args.watch_seconds)),
        access_log: !args.quiet,
    };
    churnguard_serve::run(config, |addr| {
        // The first line of stdout: scripts and tests read the port from it.
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
