//! `veil-client`: submits private inference queries to a veil server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use veil_client::{
    spend, ClientError, Kept, KeptBatch, Options, PhaseCost, QueryReport, Session, Spent,
};
use veil_net::{state_dir, Identity, KnownHosts, DEFAULT_CONNECT_TIMEOUT};

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Runs one private query on an input file and prints the prediction. A query made
    /// ahead of time with `precompute` for this server, model and backend is spent first
    /// (online phase only).
    Infer(InferArgs),
    /// Runs the offline phase of Q queries now; each party keeps its share on disk (the
    /// client in the state folder, $VEIL_HOME or ~/.veil, under precomputed/) until
    /// `infer` spends it. A piece is removed before it is used, so none is ever used twice.
    Precompute(PrecomputeArgs),
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
    /// The input: a .npy file of float32 or float64 with the model's input shape (or any
    /// shape with as many elements, C order).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    peer: PeerArgs,
}

#[derive(clap::Args, Debug)]
struct PrecomputeArgs {
    /// How many queries to make ahead of time.
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u32).range(1..))]
    queries: u32,
    #[command(flatten)]
    peer: PeerArgs,
}

/// Whom to ask, for what.
#[derive(clap::Args, Debug)]
struct PeerArgs {
    /// The server, as host:port.
    #[arg(long, value_name = "ADDR")]
    server: String,
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
    /// True if the query was made ahead of time (`precompute`): its offline costs are
    /// those measured then, and setup is zero.
    precomputed: bool,
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

/// `precompute --json`: what was made, and what it cost.
#[derive(Serialize)]
struct PrecomputeJson<'a> {
    model: &'a str,
    backend: &'static str,
    dealer: bool,
    queries: u32,
    setup: PhaseCost,
    /// The offline phases of all the queries made: bytes and ms summed, rounds per query.
    offline: PhaseCost,
    /// Queries now waiting for this server, model and backend (these and earlier ones).
    waiting: usize,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Infer(args) => infer(&args),
        Command::Precompute(args) => precompute(&args),
    };
    match result {
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

/// The client's keys, pins and runtime, and the options for `args`.
struct Context {
    dir: PathBuf,
    identity: Identity,
    pins: KnownHosts,
    runtime: tokio::runtime::Runtime,
    opts: Options,
}

impl Context {
    fn new(args: &PeerArgs) -> Result<Context, CliError> {
        let dir = state_dir();
        let identity = Identity::load_or_create(&dir, "client").map_err(ClientError::from)?;
        let pins = KnownHosts::open(&dir).map_err(ClientError::from)?;
        let runtime =
            tokio::runtime::Runtime::new().map_err(|e| CliError::Runtime(e.to_string()))?;
        let opts = Options {
            server: args.server.clone(),
            model: args.model.clone(),
            backend: args.backend.into(),
            dealer: args.dealer.clone(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            shape: None,
        };
        Ok(Context {
            dir,
            identity,
            pins,
            runtime,
            opts,
        })
    }

    /// Opens a session (setup included), telling the user once about a dealer trusted on
    /// first contact.
    fn open(&self) -> Result<Session, ClientError> {
        let session = Session::open(
            &self.opts,
            &self.identity,
            &self.pins,
            self.runtime.handle(),
        )?;
        if let Some(notice) = session.dealer_notice() {
            eprintln!("veil-client: {notice}");
        }
        Ok(session)
    }
}

fn infer(args: &InferArgs) -> Result<(), CliError> {
    // Read the input before touching the network: a bad file fails fast.
    let input = veil_model::read_npy(&args.input).map_err(ClientError::from)?;
    let cx = Context::new(&args.peer)?;
    let kept = Kept::open(&cx.dir);
    let found = kept.find(&cx.opts.server, cx.opts.model.as_deref(), cx.opts.backend)?;
    let answered = match found {
        Some(batch) => spend_kept(&cx, &batch, &input.data)?,
        None => None,
    };
    let (plan, output, report, dealer, precomputed) = match answered {
        Some((plan, output, report, dealer)) => (plan, output, report, dealer, true),
        None => {
            let mut session = cx.open()?;
            let bar = progress_bar(&mut session);
            let dealer = session.has_dealer();
            // Close the session on every path, so that no peer waits for its idle timeout.
            let answered = query(&mut session, &input.data);
            bar.finish_and_clear();
            session.close();
            let (plan, output, report) = answered?;
            (plan, output, report, dealer, false)
        }
    };
    let logits = veil_model::decode_output(&plan, &output);
    let label = argmax(&logits);
    if args.peer.json {
        let json = InferJson {
            model: &plan.model,
            backend: plan.backend.name(),
            dealer,
            precomputed,
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
        print_text(&plan.model, label, &logits, &report, precomputed);
    }
    Ok(())
}

/// A query answered from a kept batch: the plan, output, costs and whether a dealer made
/// the material.
type Answered = (veil_protocol::plan::Plan, Vec<u64>, QueryReport, bool);

/// Spends a query made ahead of time; `None` (after telling the user why) if the piece
/// could not be used, so that a fresh query runs instead.
fn spend_kept(
    cx: &Context,
    batch: &KeptBatch,
    input: &[f32],
) -> Result<Option<Answered>, CliError> {
    // A bad input is refused before a piece is taken.
    let encoded = veil_model::encode_input(batch.plan(), input).map_err(ClientError::from)?;
    let handle = cx.runtime.handle();
    match spend(&cx.opts, &cx.identity, &cx.pins, handle, batch, &encoded)? {
        Spent::Answered(output, report) => Ok(Some((
            batch.plan().clone(),
            output,
            *report,
            batch.has_dealer(),
        ))),
        Spent::Unusable(why) => {
            eprintln!(
                "veil-client: a precomputed query could not be used ({why}); running a fresh query"
            );
            Ok(None)
        }
    }
}

fn precompute(args: &PrecomputeArgs) -> Result<(), CliError> {
    let cx = Context::new(&args.peer)?;
    let kept = Kept::open(&cx.dir);
    let mut session = cx.open()?;
    let batch = kept.create(&cx.opts.server, &session)?;
    let bar = count_bar(args.queries as u64);
    let (mut setup, mut offline) = (PhaseCost::default(), PhaseCost::default());
    let stashed = session.stash(&batch, 0, args.queries, &mut |_, report| {
        if setup == PhaseCost::default() {
            setup = report.setup;
        }
        offline.bytes += report.offline.bytes;
        offline.rounds = offline.rounds.max(report.offline.rounds);
        offline.ms += report.offline.ms;
        bar.inc(1);
    });
    bar.finish_and_clear();
    let plan = session.plan().clone();
    let dealer = session.has_dealer();
    session.close();
    stashed?;
    let waiting = kept.waiting(&cx.opts.server, &plan.model, plan.backend)?;
    if args.peer.json {
        let json = PrecomputeJson {
            model: &plan.model,
            backend: plan.backend.name(),
            dealer,
            queries: args.queries,
            setup,
            offline,
            waiting,
        };
        println!(
            "{}",
            serde_json::to_string(&json).map_err(|e| CliError::Runtime(e.to_string()))?
        );
    } else {
        let per_query = offline.ms / f64::from(args.queries);
        println!(
            "made {} queries of {} ({}, {}) ahead of time with {}: setup {} bytes, offline {} \
             bytes in {:.2} s ({per_query:.1} ms per query)",
            args.queries,
            plan.model,
            plan.backend.name(),
            if dealer { "dealer" } else { "dealer-free" },
            cx.opts.server,
            setup.bytes,
            offline.bytes,
            offline.ms / 1e3,
        );
        println!(
            "{waiting} now waiting in {}; `veil-client infer` spends them first",
            kept.root().display()
        );
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

/// A bar on stderr counting queries; hidden when stderr is not a terminal.
fn count_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template("precomputing {bar:30} {pos}/{len} queries, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
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

fn print_text(model: &str, label: usize, logits: &[f64], r: &QueryReport, precomputed: bool) {
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
    if precomputed {
        println!("(made ahead of time with `precompute`: offline as measured then)");
    }
}
