//! `veil-bench`: runs veil's parties in one process and reports accuracy, time, rounds
//! and bytes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use veil_bench::demo::{self, DemoOptions, DemoReport};
use veil_bench::interrupt::{watch_ctrl_c, INTERRUPTED_EXIT};
use veil_bench::paths::{models_dir, resolve_model};
use veil_bench::report::{demo_text, image_list, to_json};
use veil_bench::BenchError;
use veil_protocol::plan::Backend;

/// Benchmarks private inference: dealer, server and client on loopback, real QUIC.
#[derive(Parser, Debug)]
#[command(name = "veil-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Queries each shipped MNIST test image once, in one session, and reports accuracy
    /// (secure, fixed-point, float), bit-exactness, and costs per phase and per layer.
    Demo(DemoArgs),
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// How many test images to query (the first N of the shipped 1,000).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    n: u32,
    /// The model: an ONNX file, or a standard name (secureml-mlp).
    #[arg(long, value_name = "FILE|NAME")]
    model: Option<String>,
    /// The folder of shipped models and test images (default: $VEIL_MODELS, else the
    /// repository's models/).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// The backend of the non-linear layers.
    #[arg(long, value_enum, default_value = "gmw")]
    backend: BackendArg,
}

/// The backend of the non-linear layers.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum BackendArg {
    /// GMW with the dealer's AND triples.
    Gmw,
    /// Garbled circuits: the server garbles, the client evaluates.
    Gc,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Gmw => Backend::Gmw,
            BackendArg::Gc => Backend::Gc,
        }
    }
}

fn main() -> ExitCode {
    init_logging();
    let Command::Demo(args) = Cli::parse().command;
    match demo_command(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("veil-bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs from the libraries go to stderr, quiet unless `RUST_LOG` asks for more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn demo_command(args: &DemoArgs) -> Result<ExitCode, BenchError> {
    let dir = models_dir(args.models.as_deref());
    let opts = DemoOptions {
        model: resolve_model(args.model.as_deref(), &dir)?,
        models_dir: dir,
        n: args.n as usize,
        backend: args.backend.into(),
    };
    let stop = watch_ctrl_c();
    let progress = progress_bar(args.json);
    let report = demo::run(&opts, &stop, &progress);
    progress.finish_and_clear();
    let report = report?;
    if args.json {
        let json = to_json(&report).map_err(|_| BenchError::Internal("cannot write JSON"))?;
        println!("{json}");
    } else {
        print!("{}", demo_text(&report));
    }
    Ok(verdict(&report, &stop))
}

/// 1 if a secure output differs from the reference, 130 after Ctrl-C, else 0.
fn verdict(report: &DemoReport, stop: &AtomicBool) -> ExitCode {
    if report.differ > 0 {
        eprintln!(
            "veil-bench: {} secure outputs differ from the fixed-point reference (images {})",
            report.differ,
            image_list(&report.differ_images)
        );
        return ExitCode::from(1);
    }
    if report.interrupted || stop.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "veil-bench: interrupted after {} of {} queries",
            report.queries, report.requested
        );
        return ExitCode::from(INTERRUPTED_EXIT);
    }
    ExitCode::SUCCESS
}

/// A progress bar on stderr, hidden for JSON or when stderr is not a terminal.
fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} queries {pos}/{len} [{bar:40}] {elapsed} elapsed, eta {eta}",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
