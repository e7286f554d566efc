//! `veil-client`: submits private inference queries to a veil server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use veil_client::{ClientError, Options, PhaseCost, QueryReport, Session};
use veil_net::{state_dir, Identity, KnownHosts, DEFAULT_CONNECT_TIMEOUT};

/// Private inference: the server learns nothing about your input, you learn the
/// prediction and nothing else about the model's weights.
#[derive(Parser, Debug)]
#[command(name = "veil-client", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one private query on an input file and prints the prediction.
    Infer(InferArgs),
}

/// The non-linear backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// GMW with AND triples (the dealer's, or made with the server by OT when it runs
    /// dealer-free): few online bytes, a few rounds per ReLU layer.
    Gmw,
    /// Garbled circuits (the server garbles): one online round per ReLU layer, no
    /// preprocessing material for the non-linear layers.
    Gc,
}

impl From<Backend> for veil_protocol::plan::Backend {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Gmw => veil_protocol::plan::Backend::Gmw,
            Backend::Gc => veil_protocol::plan::Backend::Gc,
        }
    }
}

#[derive(clap::Args, Debug)]
struct InferArgs {
    /// The server, as host:port.
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// The input: a .npy file of float32 or float64 with the model's input shape (or any
    /// shape with as many elements, C order).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// The model to query, when the server hosts several.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// The non-linear backend.
    #[arg(long, value_enum, default_value = "gmw")]
    backend: Backend,
    /// The dealer you trust, as host:port. Default: the one the server announces (pinned
    /// on first contact). A server started without a dealer runs dealer-free: the client
    /// then makes the material with it by oblivious transfer, and refuses --dealer.
    #[arg(long, value_name = "ADDR")]
    dealer: Option<String>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// The JSON of CONTRACT.md, plus the per-layer costs.
#[derive(Serialize)]
struct InferJson<'a> {
    model: &'a str,
    backend: &'static str,
    dealer: bool,
    label: usize,
    logits: Vec<f64>,
    setup: PhaseCost,
    offline: PhaseCost,
    online: PhaseCost,
    layers: &'a [veil_client::LayerCost],
    /// QUIC's own count of the bytes on the wire (both ways, framing and TLS included),
    /// apart from the protocol bytes above.
    #[serde(skip_serializing_if = "Option::is_none")]
    wire_bytes: Option<u64>,
}

fn main() -> ExitCode {
    let Command::Infer(args) = Cli::parse().command;
    match infer(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("veil-client: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Errors of the command line: the client's, or the process's own.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Client(e) => e.exit_code(),
            CliError::Runtime(_) => 1,
        }
    }
}

fn infer(args: &InferArgs) -> Result<(), CliError> {
    // Read the input before touching the network: a bad file fails fast.
    let input = veil_model::read_npy(&args.input).map_err(ClientError::from)?;
    let dir = state_dir();
    let identity = Identity::load_or_create(&dir, "client").map_err(ClientError::from)?;
    let pins = KnownHosts::open(&dir).map_err(ClientError::from)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| CliError::Runtime(e.to_string()))?;
    let opts = Options {
        server: args.server.clone(),
        model: args.model.clone(),
        backend: args.backend.into(),
        dealer: args.dealer.clone(),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        shape: None,
    };
    let mut session = Session::open(&opts, &identity, &pins, runtime.handle())?;
    if let Some(notice) = session.dealer_notice() {
        eprintln!("veil-client: {notice}");
    }
    let bar = progress_bar(&mut session);
    let session_dealer = session.has_dealer();
    // Close the session on every path, so that no peer waits for its idle timeout.
    let answered = query(&mut session, &input.data);
    bar.finish_and_clear();
    session.close();
    let (plan, output, report) = answered?;
    let logits = veil_model::decode_output(&plan, &output);
    let label = argmax(&logits);
    if args.json {
        let json = InferJson {
            model: &plan.model,
            backend: plan.backend.name(),
            dealer: session_dealer,
            label,
            logits,
            setup: report.setup,
            offline: report.offline,
            online: report.online,
            layers: &report.layers,
            wire_bytes: report.wire_bytes,
        };
        println!(
            "{}",
            serde_json::to_string(&json).map_err(|e| CliError::Runtime(e.to_string()))?
        );
    } else {
        print_text(&plan.model, label, &logits, &report);
    }
    Ok(())
}

/// Checks and encodes the input against the session's plan, and runs one query.
fn query(
    session: &mut Session,
    input: &[f32],
) -> Result<(veil_protocol::plan::Plan, Vec<u64>, QueryReport), ClientError> {
    let plan = session.plan().clone();
    let encoded = veil_model::encode_input(&plan, input)?;
    let (output, report) = session.query(&encoded)?;
    Ok((plan, output, report))
}

/// A bar on stderr for the dealer-free preprocessing, weighed by bytes; hidden when
/// stderr is not a terminal (or a dealer serves the material).
fn progress_bar(session: &mut Session) -> ProgressBar {
    if !std::io::stderr().is_terminal() || session.has_dealer() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("preprocessing {bar:30} {binary_bytes}/{binary_total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    session.set_progress(Box::new(move |done, total| {
        shown.set_length(total);
        shown.set_position(done);
    }));
    bar
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

fn print_text(model: &str, label: usize, logits: &[f64], r: &QueryReport) {
    println!("model {model}: label {label}");
    let shown: Vec<String> = logits.iter().map(|x| format!("{x:.4}")).collect();
    println!("logits [{}]", shown.join(", "));
    for (name, c) in [
        ("setup", r.setup),
        ("offline", r.offline),
        ("online", r.online),
    ] {
        println!(
            "{name:>8}: {:>10} bytes {:>4} rounds {:>9.2} ms",
            c.bytes, c.rounds, c.ms
        );
    }
}
