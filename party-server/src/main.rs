//! `veil-server`: hosts models and serves private inference queries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use veil_model::Card;
use veil_net::cli::{exit, init_logging, print_id, read_allow, reload_on_hangup, runtime};
use veil_net::{
    resolve, state_dir, Identity, KnownHosts, Listener, Store, DEFAULT_CONNECT_TIMEOUT,
};
use veil_protocol::material::{LinearPrep, OtKind};
use veil_protocol::session::access::AllowList;
use veil_protocol::session::server::{Dealing, Hosting};
use veil_protocol::session::SessionError;
use veil_server::{serve, HostedModel, Precomputed, ServerConfig};

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hosts neural-network models for private inference: clients learn predictions, the
/// server learns nothing about their inputs, and the weights never leave this machine.
#[derive(Parser, Debug)]
#[command(
    name = "veil-server",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints this server's key fingerprint (hex, one line), as clients pin it and a
    /// dealer's --allow file lists it; creates the key in the state folder ($VEIL_HOME,
    /// else ~/.veil) if there is none.
    Id,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Address to listen on (UDP, QUIC).
    #[arg(long, default_value = "127.0.0.1:7401")]
    listen: SocketAddr,
    /// A model to host: an ONNX file (named after its file stem) or NAME=FILE. Repeat to
    /// host several.
    #[arg(long = "model", value_name = "FILE|NAME=FILE", required = true)]
    models: Vec<String>,
    /// The dealer that prepares one-time correlated randomness (host:port). Clients are
    /// told about it and must trust it not to collude with this server. Without it the
    /// server runs dealer-free: it makes that randomness with each client (no third party;
    /// more bytes and time per query).
    #[arg(long, value_name = "ADDR")]
    dealer: Option<String>,
    /// Without a dealer, how the linear layers' material is made with each client: he
    /// (homomorphic encryption under the client's key: a few MB per query) or ot (oblivious
    /// transfer: about 260 bytes per weight, for models whose weights exceed he's bound).
    #[arg(
        long,
        value_name = "he|ot",
        default_value = "he",
        conflicts_with = "dealer"
    )]
    linear: LinearPrep,
    /// Without a dealer, how the oblivious transfers are made with each client: silent
    /// (silent OT from LPN: a fraction of a bit per OT after setup) or iknp (IKNP OT
    /// extension: 16 bytes per OT, for comparison).
    #[arg(
        long,
        value_name = "silent|iknp",
        default_value = "silent",
        conflicts_with = "dealer"
    )]
    ot: OtKind,
    /// How many precomputed queries (`veil-client precompute`) one client may have waiting
    /// here at once; they are kept in the state folder ($VEIL_HOME, else ~/.veil) under
    /// `precomputed/`. 0 keeps none.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_precomputed: usize,
    /// Answer every query with the label alone: each model ends in a secure argmax, so no
    /// client ever sees logits (what slows down model extraction by repeated queries).
    /// Without it, each client chooses (`veil-client infer --label-only`).
    #[arg(long)]
    label_only: bool,
    /// Only the client keys listed in FILE may connect: one per line, `FINGERPRINT [MODEL
    /// ...]` (as `veil-client id` prints it, then the models that key may query; none:
    /// every model); `#` starts a comment. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Id) = cli.command {
        return exit("veil-server", print_id("server"));
    }
    let args = cli.args;
    init_logging("veil_server=info,veil_net=info");
    exit(
        "veil-server",
        configure(&args).and_then(|c| run(args.listen, args.allow.as_deref(), c)),
    )
}

/// The models and the dealer, checked before anything listens: a bad file or address is
/// a usage error.
fn configure(args: &Args) -> Result<Hosting<Store>, SessionError> {
    if let Some(dealer) = &args.dealer {
        resolve(dealer)?;
    }
    let models = args
        .models
        .iter()
        .map(|m| load(m))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(name) = duplicate_name(&models) {
        return Err(SessionError::usage(format!(
            "two models are named {name:?}; name them with NAME=FILE"
        )));
    }
    let allow = match &args.allow {
        Some(path) => Some(Arc::new(AllowList::new(read_allow(path, true)?))),
        None => None,
    };
    let dir = state_dir();
    let hosting = Hosting {
        models,
        dealing: match &args.dealer {
            Some(dealer) => Dealing::Dealer(dealer.clone()),
            None => Dealing::TwoParty(args.linear, args.ot),
        },
        precomputed: (args.max_precomputed > 0).then(|| Precomputed {
            store: Store::new(dir.join("precomputed")),
            max_per_client: args.max_precomputed,
        }),
        label_only: args.label_only,
        allow,
    };
    hosting.check()?;
    Ok(hosting)
}

fn run(
    listen: SocketAddr,
    allow_file: Option<&Path>,
    hosting: Hosting<Store>,
) -> Result<(), SessionError> {
    runtime()?.block_on(async {
        let dir = state_dir();
        let identity = Identity::load_or_create(&dir, "server")?;
        let pins = KnownHosts::open(&dir)?;
        let listener = Listener::bind(listen, &identity)?;
        let addr = listener.local_addr()?;
        for m in &hosting.models {
            eprintln!(
                "veil-server: hosting {} ({} layers, input {:?}, f = {}, k = {}; {})",
                m.name,
                m.plan.layers.len(),
                m.plan.input_shape,
                m.plan.fixed.f,
                m.plan.fixed.k,
                describe_card(m.card.as_ref()),
            );
        }
        let dealing = match &hosting.dealing {
            Dealing::Dealer(d) => format!("dealer {d}"),
            Dealing::TwoParty(linear, ot) => format!(
                "dealer-free (two-party preprocessing, linear layers by {linear}, {} OT)",
                ot.name()
            ),
        };
        let answers = match hosting.label_only {
            true => ", answering with the label alone",
            false => "",
        };
        eprintln!(
            "veil-server listening on {addr} (key {}), {dealing}{answers}",
            identity.fingerprint()
        );
        if let (Some(path), Some(list)) = (allow_file, &hosting.allow) {
            eprintln!(
                "veil-server: only the {} keys of {} may connect (reloaded on SIGHUP)",
                list.current().len(),
                path.display()
            );
            let reload = reload_on_hangup("veil-server", path.to_path_buf(), true, list.clone());
            tokio::spawn(reload);
        }
        let config = Arc::new(ServerConfig {
            hosting,
            identity: Arc::new(identity),
            pins: Arc::new(pins),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            dealer_shape: None,
        });
        tokio::select! {
            r = serve(listener, config) => Ok(r?),
            _ = tokio::signal::ctrl_c() => {
                eprintln!("veil-server: stopping");
                Ok(())
            }
        }
    })
}

/// Loads `FILE` or `NAME=FILE`, with its card `<stem>.card.json` if there is one.
fn load(spec: &str) -> Result<HostedModel, SessionError> {
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) if !n.is_empty() => (Some(n.to_string()), PathBuf::from(p)),
        _ => (None, PathBuf::from(spec)),
    };
    let loaded = veil_model::load(&path).map_err(|e| {
        SessionError::usage(format!("cannot load the model {}: {e}", path.display()))
    })?;
    // A bad card is bad input, named by its file and field.
    let card = veil_model::read_card_beside(&path, &loaded.plan).map_err(SessionError::usage)?;
    let name = name.unwrap_or(loaded.name);
    let mut plan = loaded.plan;
    plan.model = name.clone();
    Ok(HostedModel {
        name,
        plan,
        weights: loaded.weights,
        card,
    })
}

/// What a model's card declares, for the start-up message.
fn describe_card(card: Option<&Card>) -> String {
    let Some(card) = card else {
        return "no card: .npy inputs only".into();
    };
    let image = card
        .image
        .as_ref()
        .map(|i| format!("images {}x{} {}", i.width, i.height, i.channels.name()));
    let classes = card
        .classes
        .as_ref()
        .map(|c| format!("{} class names", c.len()));
    let declared: Vec<String> = image.into_iter().chain(classes).collect();
    format!("card: {}", declared.join(", "))
}

fn duplicate_name(models: &[HostedModel]) -> Option<&str> {
    models.iter().enumerate().find_map(|(i, m)| {
        models[..i]
            .iter()
            .any(|o| o.name == m.name)
            .then_some(m.name.as_str())
    })
}
