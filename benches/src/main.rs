//! `veil-bench`: runs veil's parties in one process and reports accuracy, time, rounds
//! and bytes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use veil_bench::accuracy::AccuracyReport;
use veil_bench::compare::compare;
use veil_bench::demo::{self, DemoOptions, DemoReport};
use veil_bench::interrupt::{watch_ctrl_c, INTERRUPTED_EXIT};
use veil_bench::network::Network;
use veil_bench::paths::{models_dir, resolve_model};
use veil_bench::report::{accuracy_text, compare_text, demo_text, image_list, run_text, to_json};
use veil_bench::run::{self, RunOptions, RunReport};
use veil_bench::svg::layers_chart;
use veil_bench::BenchError;
use veil_protocol::material::{LinearPrep, OtKind, Preprocessing};
use veil_protocol::plan::Backend;

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Runs one model under one backend for Q queries in one session, optionally on a
    /// shaped network, and reports time, bytes per link and rounds per phase and per
    /// layer, with the AND gates, triples and OTs consumed.
    Run(RunArgs),
    /// Like demo, for any MNIST model and either backend: accuracy of the secure, the
    /// fixed-point and the float model; exits 1 if a secure output is not bit-exact.
    Accuracy(AccuracyArgs),
    /// Runs each standard network shipped in this build under both backends on the
    /// published LAN setting and prints the results beside the published figures.
    Compare(CompareArgs),
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
    #[command(flatten)]
    model: ModelArgs,
    /// The backend of the non-linear layers.
    #[arg(long, value_enum, default_value = "gmw")]
    backend: BackendArg,
}

/// Which model, and where the shipped files are.
#[derive(clap::Args, Debug)]
struct ModelArgs {
    /// The model: an ONNX file, or a standard name (secureml-mlp, chameleon-cnn,
    /// minionn-mnist, minionn-cifar10).
    #[arg(long, value_name = "FILE|NAME")]
    model: Option<String>,
    /// The folder of shipped models and test images (default: $VEIL_MODELS, else the
    /// repository's models/).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The backend of the non-linear layers.
    #[arg(long, value_enum)]
    backend: BackendArg,
    /// Queries in the session (MNIST models query the shipped test images in order;
    /// other models random inputs in their calibrated range).
    #[arg(long, value_name = "Q", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    queries: u32,
    /// Shape every link: lan (625 MB/s, 0.2 ms round trip), wan (40 MB/s, 60 ms), or
    /// MBPS,RTT_MS (bandwidth in MB/s, round trip in ms, e.g. 100,10). Default: loopback,
    /// unshaped. A shaped run first runs the queries unshaped, to estimate the time.
    #[arg(
        long,
        value_name = "lan|wan|MBPS,RTT_MS",
        default_value = "loopback",
        hide_default_value = true
    )]
    net: Network,
    #[command(flatten)]
    material: MaterialArgs,
    /// Ask for the label alone: the model ends in a secure argmax and the client never
    /// sees the logits (its bytes and rounds show in an `argmax` layer).
    #[arg(long)]
    label_only: bool,
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write an SVG chart of the per-layer bytes and rounds to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct AccuracyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The backend of the non-linear layers.
    #[arg(long, value_enum, default_value = "gmw")]
    backend: BackendArg,
    /// How many test images to query (the first N of the shipped 1,000).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    n: u32,
    #[command(flatten)]
    material: MaterialArgs,
    /// Ask for the label alone: the model ends in a secure argmax and the client never
    /// sees the logits (its bytes and rounds show in an `argmax` layer).
    #[arg(long)]
    label_only: bool,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write an SVG chart of the per-layer bytes and rounds of the first network,
    /// both backends side by side, to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// The folder of shipped models (default: $VEIL_MODELS, else the repository's
    /// models/).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

/// Where the material comes from.
#[derive(clap::Args, Debug)]
struct MaterialArgs {
    /// Preprocess without a dealer: the client and the server make the material with each
    /// other (two-party; more bytes and time per query).
    #[arg(long)]
    no_dealer: bool,
    /// Without a dealer, how the linear layers' material is made: he (homomorphic
    /// encryption) or ot (oblivious transfer).
    #[arg(
        long,
        value_name = "he|ot",
        default_value = "he",
        requires = "no_dealer"
    )]
    linear: LinearPrep,
    /// Without a dealer, how the oblivious transfers are made: silent (silent OT from LPN)
    /// or iknp (IKNP OT extension, 16 bytes per OT).
    #[arg(
        long,
        value_name = "silent|iknp",
        default_value = "silent",
        requires = "no_dealer"
    )]
    ot: OtKind,
}

impl MaterialArgs {
    fn preprocessing(&self) -> Preprocessing {
        match self.no_dealer {
            true => Preprocessing::TwoParty(self.linear, self.ot),
            false => Preprocessing::Dealer,
        }
    }
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
    let result = match Cli::parse().command {
        Command::Demo(args) => demo_command(&args),
        Command::Run(args) => run_command(&args),
        Command::Accuracy(args) => accuracy_command(&args),
        Command::Compare(args) => compare_command(&args),
    };
    match result {
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

/// The demo's options for `args` and `backend`, `n` images, material from `material`,
/// answers of the label alone or not.
fn demo_options(
    args: &ModelArgs,
    backend: BackendArg,
    n: u32,
    (material, label_only): (Preprocessing, bool),
) -> Result<DemoOptions, BenchError> {
    let dir = models_dir(args.models.as_deref());
    Ok(DemoOptions {
        model: resolve_model(args.model.as_deref(), &dir)?,
        models_dir: dir,
        n: n as usize,
        backend: backend.into(),
        material,
        label_only,
    })
}

/// Runs the demo with a progress bar and Ctrl-C watch; the report and the stop flag.
fn run_demo(opts: &DemoOptions, json: bool) -> Result<(DemoReport, bool), BenchError> {
    let stop = watch_ctrl_c();
    let progress = progress_bar(json);
    let report = demo::run(opts, &stop, &progress);
    progress.finish_and_clear();
    Ok((report?, stop.load(Ordering::SeqCst)))
}

fn demo_command(args: &DemoArgs) -> Result<ExitCode, BenchError> {
    let material = (Preprocessing::Dealer, false);
    let opts = demo_options(&args.model, args.backend, args.n, material)?;
    let (report, stopped) = run_demo(&opts, args.json)?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", demo_text(&report));
    }
    Ok(verdict(&report, stopped))
}

fn accuracy_command(args: &AccuracyArgs) -> Result<ExitCode, BenchError> {
    let opts = demo_options(
        &args.model,
        args.backend,
        args.n,
        (args.material.preprocessing(), args.label_only),
    )?;
    let (demo, stopped) = run_demo(&opts, args.json)?;
    let report = AccuracyReport::from(&demo);
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", accuracy_text(&report));
    }
    Ok(verdict(&demo, stopped))
}

fn run_command(args: &RunArgs) -> Result<ExitCode, BenchError> {
    let dir = models_dir(args.model.models.as_deref());
    let opts = RunOptions {
        model: resolve_model(args.model.model.as_deref(), &dir)?,
        models_dir: dir,
        backend: args.backend.into(),
        queries: args.queries as usize,
        net: args.net.clone(),
        estimate: true,
        material: args.material.preprocessing(),
        label_only: args.label_only,
    };
    let stop = watch_ctrl_c();
    let progress = progress_bar(args.json);
    let report = run::run(&opts, &stop, &progress);
    progress.finish_and_clear();
    let report = report?;
    if let Some(path) = &args.svg {
        write_svg(path, std::slice::from_ref(&report))?;
    }
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", run_text(&report));
    }
    Ok(finished(
        report.interrupted || stop.load(Ordering::SeqCst),
        report.queries,
        report.requested,
    ))
}

fn compare_command(args: &CompareArgs) -> Result<ExitCode, BenchError> {
    let dir = models_dir(args.models.as_deref());
    let stop = watch_ctrl_c();
    let progress = progress_bar(args.json);
    let comparison = compare(&dir, &stop, &progress);
    progress.finish_and_clear();
    let comparison = comparison?;
    if let Some(path) = &args.svg {
        let first = comparison.runs.first().map(|r| r.model.clone());
        let runs: Vec<RunReport> = comparison
            .runs
            .iter()
            .filter(|r| Some(&r.model) == first.as_ref())
            .cloned()
            .collect();
        write_svg(path, &runs)?;
    }
    if args.json {
        print_json(&comparison)?;
    } else {
        print!("{}", compare_text(&comparison));
    }
    if comparison.interrupted {
        eprintln!("veil-bench: interrupted; the figures cover the queries that ran");
        return Ok(ExitCode::from(INTERRUPTED_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json<T: Serialize>(value: &T) -> Result<(), BenchError> {
    let json = to_json(value).map_err(|_| BenchError::Internal("cannot write JSON"))?;
    println!("{json}");
    Ok(())
}

fn write_svg(path: &Path, runs: &[RunReport]) -> Result<(), BenchError> {
    std::fs::write(path, layers_chart(runs))
        .map_err(|e| BenchError::Usage(format!("cannot write the SVG to {}: {e}", path.display())))
}

/// 1 if a secure output differs from the reference, 130 after Ctrl-C, else 0.
fn verdict(report: &DemoReport, stopped: bool) -> ExitCode {
    if report.differ > 0 {
        eprintln!(
            "veil-bench: {} secure outputs differ from the fixed-point reference (images {})",
            report.differ,
            image_list(&report.differ_images)
        );
        return ExitCode::from(1);
    }
    finished(
        report.interrupted || stopped,
        report.queries,
        report.requested,
    )
}

/// 130 after Ctrl-C, saying how far the run got (what it measured is printed), else 0.
fn finished(interrupted: bool, queries: usize, requested: usize) -> ExitCode {
    if interrupted {
        eprintln!("veil-bench: interrupted after {queries} of {requested} queries");
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
