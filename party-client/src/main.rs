//! `veil-client`: submits private inference queries to a veil server.

mod inputs;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use veil_client::{models_json, to_json, Answered, Client, Input, Made, Settings};
use veil_net::cli::{exit, print_id};
use veil_protocol::material::Preprocessing;
use veil_protocol::session::{PhaseCost, QueryReport, SessionError};
use veil_protocol::wire::ModelInfo;

use inputs::{Given, Item};

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
    /// Lists what a server hosts: each model's name, input shape, outputs, backends, how
    /// its material is made, and its card (image preprocessing, class names) if it has one.
    Models(ModelsArgs),
    /// Prints this client's key fingerprint (hex, one line), as a server's or a dealer's
    /// --allow file lists it; creates the key in the state folder ($VEIL_HOME, else
    /// ~/.veil) if there is none.
    Id,
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
    /// shape with as many elements, C order), or a .png, .jpg or .jpeg image, prepared as
    /// the model's card on the server says (resized, converted to grey if need be).
    /// Several inputs are answered in one session (setup paid once), one answer each: a
    /// folder (its input files), a quoted glob pattern ('inputs/*.png'), or a .npy whose
    /// leading axis holds several inputs.
    #[arg(long, value_name = "FILE|DIR|GLOB")]
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

#[derive(clap::Args, Debug)]
struct ModelsArgs {
    /// The server, as host:port.
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
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

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Infer(args) => infer(&args),
        Command::Precompute(args) => precompute(&args),
        Command::Models(args) => models(&args),
        Command::Id => print_id("client"),
    };
    exit("veil-client", result)
}

impl PeerArgs {
    /// A client for these arguments, telling the user its notices on stderr.
    fn client(&self) -> Result<Client, SessionError> {
        let settings = Settings {
            server: self.server.clone(),
            model: self.model.clone(),
            backend: self.backend.into(),
            dealer: self.dealer.clone(),
        };
        Client::new(
            settings,
            Box::new(|notice| eprintln!("veil-client: {notice}")),
        )
    }
}

fn infer(args: &InferArgs) -> Result<(), SessionError> {
    let mut client;
    let label_only = args.peer.label_only;
    let result = match inputs::expand(&args.input)? {
        Given::One(path) => {
            // Read the input before touching the network: a bad file fails fast.
            let input = Input::read(&path)?;
            client = args.peer.client()?;
            let mut items = items_of(&mut client, label_only, &path, input)?;
            match items.pop() {
                Some(Item { input: Ok(one), .. }) if items.is_empty() => {
                    infer_one(args, &mut client, &one)
                }
                last => {
                    items.extend(last);
                    answer_each(args, &mut client, items)
                }
            }
        }
        Given::Many(files) => {
            client = args.peer.client()?;
            let mut items = Vec::new();
            for path in &files {
                match Input::read(path) {
                    Ok(input) => items.extend(items_of(&mut client, label_only, path, input)?),
                    Err(e) => items.push(Item {
                        name: path.display().to_string(),
                        input: Err(e.to_string()),
                    }),
                }
            }
            answer_each(args, &mut client, items)
        }
    };
    client.close();
    result
}

/// The inputs `input` read from `path` holds: itself, or the rows of a batch (whether it
/// is one depends on the model's input length, asked of the server only then).
fn items_of(
    client: &mut Client,
    label_only: bool,
    path: &Path,
    input: Input,
) -> Result<Vec<Item>, SessionError> {
    let name = path.display().to_string();
    if !inputs::may_be_batch(&input) {
        return Ok(inputs::rows(&name, input, usize::MAX));
    }
    let len = client.plan(label_only)?.input_len();
    Ok(inputs::rows(&name, input, len))
}

/// One query, printed as CONTRACT.md's single answer.
fn infer_one(args: &InferArgs, client: &mut Client, input: &Input) -> Result<(), SessionError> {
    let bar = progress_bar(client);
    let answered = client.infer_input(input, args.peer.label_only);
    bar.finish_and_clear();
    let answered = answered?;
    if args.peer.json {
        println!("{}", to_json(&answered.json())?);
    } else {
        print_text(&answered);
    }
    Ok(())
}

/// One query per input in one session (setup paid once), each answer printed as it comes:
/// with `--json` one object per input naming it, `{"input", "error"}` for one that failed;
/// the others go on. A failure if any input failed.
fn answer_each(
    args: &InferArgs,
    client: &mut Client,
    items: Vec<Item>,
) -> Result<(), SessionError> {
    let total = items.len();
    let bar = count_bar("querying", total as u64);
    let mut answered = Vec::new();
    for item in items {
        let outcome = item.input.and_then(|input| {
            client
                .infer_input(&input, args.peer.label_only)
                .map_err(|e| e.to_string())
        });
        let line = match (&outcome, args.peer.json) {
            (Ok(a), true) => to_json(&a.json().for_input(&item.name))?,
            (Ok(a), false) => format!("{}: {}", item.name, label_words(a)),
            (Err(why), true) => to_json(&serde_json::json!({"input": item.name, "error": why}))?,
            (Err(why), false) => format!("{}: failed: {why}", item.name),
        };
        bar.suspend(|| println!("{line}"));
        bar.inc(1);
        answered.extend(outcome.ok().map(|a| a.report));
    }
    bar.finish_and_clear();
    if !args.peer.json {
        print_summary(&answered, total);
    }
    match total - answered.len() {
        0 => Ok(()),
        failed => Err(SessionError::local(format!(
            "{failed} of {total} inputs failed; the output says why for each"
        ))),
    }
}

/// The costs of several answers: setup once, offline and online per query (medians).
fn print_summary(reports: &[QueryReport], total: usize) {
    let median = |pick: fn(&QueryReport) -> PhaseCost| {
        let mut v: Vec<PhaseCost> = reports.iter().map(pick).collect();
        v.sort_by(|a, b| a.ms.total_cmp(&b.ms));
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let setup = reports.iter().map(|r| r.setup.bytes).sum::<u64>();
    println!(
        "{} of {total} inputs answered in one session; setup {setup} bytes",
        reports.len()
    );
    for (name, c) in [
        ("offline", median(|r| r.offline)),
        ("online", median(|r| r.online)),
    ] {
        println!(
            "{name:>8}: {:>10} bytes {:>4} rounds {:>9.2} ms (median per query)",
            c.bytes, c.rounds, c.ms
        );
    }
}

/// `label 7`, or `label 7 (seven)` where the model's card names its classes.
fn label_words(answered: &Answered) -> String {
    match &answered.class {
        Some(class) => format!("label {} ({class})", answered.label),
        None => format!("label {}", answered.label),
    }
}

fn precompute(args: &PrecomputeArgs) -> Result<(), SessionError> {
    let mut client = args.peer.client()?;
    let bar = count_bar("precomputing", u64::from(args.queries));
    let made = client.precompute(args.queries, args.peer.label_only, &mut |_| bar.inc(1));
    bar.finish_and_clear();
    client.close();
    let made = made?;
    if args.peer.json {
        println!("{}", to_json(&made.json())?);
    } else {
        let Made {
            plan,
            material,
            queries,
            setup,
            offline,
            waiting,
        } = &made;
        let per_query = offline.ms / f64::from(*queries);
        println!(
            "made {queries} queries of {} ({}, {}) ahead of time with {}: setup {} bytes, \
             offline {} bytes in {:.2} s ({per_query:.1} ms per query)",
            plan.model,
            plan.backend.name(),
            material_words(*material),
            client.settings().server,
            setup.bytes,
            offline.bytes,
            offline.ms / 1e3,
        );
        println!(
            "{waiting} now waiting in {}; `veil-client infer` spends them first",
            client.kept_root().display()
        );
    }
    Ok(())
}

fn models(args: &ModelsArgs) -> Result<(), SessionError> {
    let settings = Settings {
        server: args.server.clone(),
        model: None,
        backend: veil_protocol::plan::Backend::Gmw,
        dealer: None,
    };
    let mut client = Client::new(settings, Box::new(|_| {}))?;
    let models = client.models()?;
    if args.json {
        println!("{}", to_json(&models_json(&args.server, &models))?);
        return Ok(());
    }
    println!("{} hosts {} model(s):", args.server, models.len());
    for m in &models {
        println!("{}", describe_model(m));
    }
    Ok(())
}

/// One line of `models`: the model, its answers, its material, its card.
fn describe_model(m: &ModelInfo) -> String {
    let backends: Vec<&str> = m.backends.iter().map(|b| b.name()).collect();
    let answers = match m.label_only {
        true => "the label alone",
        false => "logits and label",
    };
    let mut line = format!(
        "{}: input {:?}, {} outputs, answers {answers}, backends {}, material: {}",
        m.name,
        m.input_shape,
        m.outputs,
        backends.join(" "),
        material_words(m.source)
    );
    let card = m.card.as_ref();
    match card.and_then(|c| c.image.as_ref()) {
        Some(i) => {
            line += &format!(
                "; images {}x{} {} (p / {} - mean {:?}) / std {:?}, {}",
                i.width,
                i.height,
                i.channels.name(),
                i.scale,
                i.mean,
                i.std,
                i.layout.name()
            )
        }
        None => line += "; .npy inputs only",
    }
    if let Some(classes) = card.and_then(|c| c.classes.as_ref()) {
        let shown: Vec<&str> = classes.iter().take(10).map(String::as_str).collect();
        let more = match classes.len() > shown.len() {
            true => format!(", ... ({} in all)", classes.len()),
            false => String::new(),
        };
        line += &format!("; classes {}{more}", shown.join(", "));
    }
    line
}

/// Where material comes from, in words: `dealer`, or `dealer-free, linear layers by he,
/// silent OT`.
fn material_words(source: Preprocessing) -> String {
    match source {
        Preprocessing::Dealer => "dealer".to_string(),
        Preprocessing::TwoParty(linear, ot) => {
            format!("dealer-free, linear layers by {linear}, {ot} OT")
        }
    }
}

/// A bar on stderr for the dealer-free preprocessing, weighed by bytes; hidden when
/// stderr is not a terminal, and drawn only once the session reports progress (never
/// when a dealer serves the material).
fn progress_bar(client: &mut Client) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden()).with_style(
        ProgressStyle::with_template("preprocessing {bar:30} {binary_bytes}/{binary_total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    client.set_progress(Box::new(move |done, total| {
        if shown.is_hidden() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
        }
        shown.set_length(total);
        shown.set_position(done);
    }));
    bar
}

/// A bar on stderr counting queries, `doing` them; hidden when stderr is not a terminal.
fn count_bar(doing: &str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = format!("{doing} {{bar:30}} {{pos}}/{{len}} queries, {{eta}} left");
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn print_text(answered: &Answered) {
    let Answered {
        plan,
        logits,
        report: r,
        precomputed,
        ..
    } = answered;
    println!("model {}: {}", plan.model, label_words(answered));
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
    if *precomputed {
        println!("(made ahead of time with `precompute`: offline as measured then)");
    }
}
