//! `veil-client`: submits private inference queries to a veil server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use veil_client::{to_json, Answered, Client, Made, Settings};
use veil_net::cli::exit;
use veil_protocol::material::Preprocessing;
use veil_protocol::session::SessionError;

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

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Infer(args) => infer(&args),
        Command::Precompute(args) => precompute(&args),
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
    // Read the input before touching the network: a bad file fails fast.
    let input = veil_model::read_npy(&args.input).map_err(SessionError::usage)?;
    let mut client = args.peer.client()?;
    let bar = progress_bar(&mut client);
    let answered = client.infer(&input.data, args.peer.label_only);
    bar.finish_and_clear();
    client.close();
    let answered = answered?;
    if args.peer.json {
        println!("{}", to_json(&answered.json())?);
    } else {
        print_text(&answered);
    }
    Ok(())
}

fn precompute(args: &PrecomputeArgs) -> Result<(), SessionError> {
    let mut client = args.peer.client()?;
    let bar = count_bar(u64::from(args.queries));
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
            match material {
                Preprocessing::Dealer => "dealer".to_string(),
                Preprocessing::TwoParty(linear, ot) =>
                    format!("dealer-free, linear layers by {linear}, {ot} OT"),
            },
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

fn print_text(answered: &Answered) {
    let Answered {
        plan,
        label,
        logits,
        report: r,
        precomputed,
        ..
    } = answered;
    println!("model {}: label {label}", plan.model);
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
