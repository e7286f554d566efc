//! `veil-client`: submits private inference queries to a veil server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use veil_net::cli::{exit, runtime};
use veil_net::{state_dir, Identity, KnownHosts, QuicDialer, Store, DEFAULT_CONNECT_TIMEOUT};
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::Plan;
use veil_protocol::prg::Prg;
use veil_protocol::session::client::{self, AnswerKind, Kept, KeptQueries, Open, Options, Spent};
use veil_protocol::session::{LayerCost, PhaseCost, QueryReport, SessionError};
use veil_protocol::wire::BatchId;

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
    /// then makes the material with it (by homomorphic encryption and oblivious transfer),
    /// and refuses --dealer.
    #[arg(long, value_name = "ADDR")]
    dealer: Option<String>,
    /// Learn the label alone: the network's last step picks the winning class securely,
    /// so the logits never reach you (nor the server). Queries made ahead with
    /// `precompute --label-only` are spent by `infer --label-only`.
    #[arg(long)]
    label_only: bool,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// The JSON of CONTRACT.md, plus the per-layer costs.
#[derive(Serialize)]
struct InferJson<'a> {
    model: &'a str,
    backend: &'static str,
    /// `"dealer"`, and without a dealer `"linear"` and `"ot"`.
    #[serde(flatten)]
    material: Preprocessing,
    /// True if the query was made ahead of time (`precompute`): its offline costs are
    /// those measured then, and setup is zero.
    precomputed: bool,
    label: usize,
    /// Absent when the answer is the label alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    logits: Option<Vec<f64>>,
    setup: PhaseCost,
    offline: PhaseCost,
    online: PhaseCost,
    layers: &'a [LayerCost],
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
    #[serde(flatten)]
    material: Preprocessing,
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
    exit("veil-client", result)
}

/// The client's keys, pins and runtime, and the options for `args`.
struct Context {
    identity: Arc<Identity>,
    pins: Arc<KnownHosts>,
    runtime: tokio::runtime::Runtime,
    opts: Options,
    kept: Kept<Store>,
    /// Where the kept queries live.
    kept_root: PathBuf,
}

impl Context {
    fn new(args: &PeerArgs) -> Result<Context, SessionError> {
        let dir = state_dir();
        let kept_root = dir.join("precomputed");
        Ok(Context {
            identity: Arc::new(Identity::load_or_create(&dir, "client")?),
            pins: Arc::new(KnownHosts::open(&dir)?),
            runtime: runtime()?,
            opts: Options {
                server: args.server.clone(),
                model: args.model.clone(),
                backend: args.backend.into(),
                dealer: args.dealer.clone(),
                label_only: args.label_only,
            },
            kept: Kept::new(Store::new(&kept_root)),
            kept_root,
        })
    }

    /// A dialer for one session's connections.
    fn dialer(&self) -> QuicDialer {
        let (identity, pins) = (self.identity.clone(), self.pins.clone());
        let handle = self.runtime.handle().clone();
        QuicDialer::new(identity, pins, handle, DEFAULT_CONNECT_TIMEOUT)
    }
}

/// Opens a session (setup included) with `dialer`, telling the user once about a dealer
/// trusted on first contact.
fn open(
    dialer: &mut QuicDialer,
    opts: &Options,
    rng: &mut Prg,
) -> Result<Open<veil_net::QuicTransport>, SessionError> {
    let (session, notice) = client::open(dialer, opts, rng)?;
    if let Some(notice) = notice {
        eprintln!("veil-client: {notice}");
    }
    Ok(session)
}

/// One answered query: the plan it ran, its output, its costs, whether a dealer made the
/// material, whether it was made ahead of time.
struct Answered {
    plan: Plan,
    output: Vec<u64>,
    report: QueryReport,
    material: Preprocessing,
    precomputed: bool,
}

fn infer(args: &InferArgs) -> Result<(), SessionError> {
    // Read the input before touching the network: a bad file fails fast.
    let input = veil_model::read_npy(&args.input).map_err(SessionError::usage)?;
    let cx = Context::new(&args.peer)?;
    let found = cx
        .kept
        .find(&cx.opts.server, cx.opts.model.as_deref(), cx.opts.answer())?;
    let spent = match found {
        Some(batch) => spend_kept(&cx, &batch, &input.data)?,
        None => None,
    };
    let answered = match spent {
        Some(answered) => answered,
        // Every random choice of the session, seeded from the OS here at the top.
        None => fresh_query(&cx, &input.data, &mut Prg::from_os())?,
    };
    let (label, logits) = answer(&cx.opts, &answered)?;
    let report = &answered.report;
    if args.peer.json {
        let json = InferJson {
            model: &answered.plan.model,
            backend: answered.plan.backend.name(),
            material: answered.material,
            precomputed: answered.precomputed,
            label,
            logits,
            setup: report.setup,
            offline: report.offline,
            online: report.online,
            layers: &report.layers,
            wire_bytes: report.wire_bytes,
        };
        println!("{}", to_json(&json)?);
    } else {
        print_text(
            &answered.plan.model,
            label,
            logits.as_deref(),
            report,
            answered.precomputed,
        );
    }
    Ok(())
}

/// The label and, unless the answer is the label alone, the logits; says once on stderr
/// when the server answered with the label alone though the user did not ask for it.
fn answer(opts: &Options, answered: &Answered) -> Result<(usize, Option<Vec<f64>>), SessionError> {
    if !answered.plan.label_only() {
        let logits = veil_model::decode_output(&answered.plan, &answered.output);
        return Ok((argmax(&logits), Some(logits)));
    }
    if !opts.label_only {
        eprintln!(
            "veil-client: this server answers with the label alone (it runs with --label-only)"
        );
    }
    match answered.output.as_slice() {
        [label] => Ok((*label as usize, None)),
        _ => Err(SessionError::local("a label-only answer holds one value")),
    }
}

/// Opens a session, runs one query on `input`; the connections close on every path, so
/// that no peer waits for its idle timeout.
fn fresh_query(cx: &Context, input: &[f32], rng: &mut Prg) -> Result<Answered, SessionError> {
    let mut dialer = cx.dialer();
    let answered = query_once(&mut dialer, cx, input, rng);
    dialer.close();
    answered
}

/// Opens a session with `dialer`, checks and encodes `input` against its plan, queries, and
/// says goodbye.
fn query_once(
    dialer: &mut QuicDialer,
    cx: &Context,
    input: &[f32],
    rng: &mut Prg,
) -> Result<Answered, SessionError> {
    let mut session = open(dialer, &cx.opts, rng)?;
    let plan = session.plan().clone();
    let material = session.source();
    let encoded = veil_model::encode_input(&plan, input).map_err(SessionError::usage)?;
    let bar = progress_bar(&mut session);
    let answered = session.query(&encoded, rng);
    bar.finish_and_clear();
    let (session, answer) = answered?;
    session.close();
    Ok(Answered {
        plan,
        output: answer.output,
        report: answer.report,
        material,
        precomputed: false,
    })
}

/// Spends a query made ahead of time; `None` (after telling the user why) if the piece
/// could not be used, so that a fresh query runs instead.
fn spend_kept(
    cx: &Context,
    batch: &KeptQueries<veil_net::Batch>,
    input: &[f32],
) -> Result<Option<Answered>, SessionError> {
    // A bad input is refused before a piece is taken.
    let encoded = veil_model::encode_input(batch.plan(), input).map_err(SessionError::usage)?;
    let mut dialer = cx.dialer();
    let spent = client::spend(&mut dialer, &cx.opts, batch, &encoded);
    dialer.close();
    match spent? {
        Spent::Answered(output, report) => Ok(Some(Answered {
            plan: batch.plan().clone(),
            output,
            report: *report,
            material: batch.source(),
            precomputed: true,
        })),
        Spent::Unusable(why) => {
            eprintln!(
                "veil-client: a precomputed query could not be used ({why}); running a fresh query"
            );
            Ok(None)
        }
    }
}

fn precompute(args: &PrecomputeArgs) -> Result<(), SessionError> {
    let cx = Context::new(&args.peer)?;
    let mut dialer = cx.dialer();
    let made = make_ahead(&mut dialer, &cx, args.queries);
    dialer.close();
    let Made {
        plan,
        material,
        setup,
        offline,
    } = made?;
    let waiting = cx
        .kept
        .waiting(&cx.opts.server, &plan.model, AnswerKind::of(&plan))?;
    if args.peer.json {
        let json = PrecomputeJson {
            model: &plan.model,
            backend: plan.backend.name(),
            material,
            queries: args.queries,
            setup,
            offline,
            waiting,
        };
        println!("{}", to_json(&json)?);
    } else {
        let per_query = offline.ms / f64::from(args.queries);
        println!(
            "made {} queries of {} ({}, {}) ahead of time with {}: setup {} bytes, offline {} \
             bytes in {:.2} s ({per_query:.1} ms per query)",
            args.queries,
            plan.model,
            plan.backend.name(),
            match material {
                Preprocessing::Dealer => "dealer".to_string(),
                Preprocessing::TwoParty(linear, ot) =>
                    format!("dealer-free, linear layers by {linear}, {ot} OT"),
            },
            cx.opts.server,
            setup.bytes,
            offline.bytes,
            offline.ms / 1e3,
        );
        println!(
            "{waiting} now waiting in {}; `veil-client infer` spends them first",
            cx.kept_root.display()
        );
    }
    Ok(())
}

/// What `precompute` made: for which plan, with or without a dealer, at what cost (the
/// offline phases' bytes and time summed, rounds per query).
struct Made {
    plan: Plan,
    material: Preprocessing,
    setup: PhaseCost,
    offline: PhaseCost,
}

/// Opens a session with `dialer`, makes `queries` queries ahead of time in a new batch,
/// and says goodbye.
fn make_ahead(dialer: &mut QuicDialer, cx: &Context, queries: u32) -> Result<Made, SessionError> {
    // Every random choice of the session, seeded from the OS here at the top.
    let mut rng = Prg::from_os();
    let session = open(dialer, &cx.opts, &mut rng)?;
    let batch = cx
        .kept
        .create(&cx.opts.server, &session, BatchId::from_rng(&mut rng))?;
    let (plan, material) = (session.plan().clone(), session.source());
    let bar = count_bar(u64::from(queries));
    let (mut setup, mut offline) = (PhaseCost::default(), PhaseCost::default());
    let stashed = session.stash(&batch, (0, queries), &mut rng, &mut |_, report| {
        if setup == PhaseCost::default() {
            setup = report.setup;
        }
        offline.bytes += report.offline.bytes;
        offline.rounds = offline.rounds.max(report.offline.rounds);
        offline.ms += report.offline.ms;
        bar.inc(1);
    });
    bar.finish_and_clear();
    stashed?.close();
    Ok(Made {
        plan,
        material,
        setup,
        offline,
    })
}

fn to_json(value: &impl Serialize) -> Result<String, SessionError> {
    serde_json::to_string(value).map_err(SessionError::local)
}

/// A bar on stderr for the dealer-free preprocessing, weighed by bytes; hidden when
/// stderr is not a terminal (or a dealer serves the material).
fn progress_bar(session: &mut Open<veil_net::QuicTransport>) -> ProgressBar {
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

fn print_text(
    model: &str,
    label: usize,
    logits: Option<&[f64]>,
    r: &QueryReport,
    precomputed: bool,
) {
    println!("model {model}: label {label}");
    match logits {
        Some(logits) => {
            let shown: Vec<String> = logits.iter().map(|x| format!("{x:.4}")).collect();
            println!("logits [{}]", shown.join(", "));
        }
        None => println!("(the label alone: the logits stayed secret)"),
    }
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
