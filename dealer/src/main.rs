//! `veil-dealer`: serves one-time correlated randomness to veil servers and clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use veil_dealer::{serve_with, Sessions};
use veil_net::cli::{exit, init_logging, print_id, read_allow, reload_on_hangup, runtime};
use veil_net::{state_dir, Identity, Listener};
use veil_protocol::session::access::AllowList;
use veil_protocol::session::SessionError;

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The dealer of veil: it turns a model's public plan into one-time correlated randomness
/// for a server and a client, and never sees inputs, weights or outputs. Run it on a
/// machine that neither party controls: a dealer that colludes with the server learns
/// the client's input.
#[derive(Parser, Debug)]
#[command(
    name = "veil-dealer",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints this dealer's key fingerprint (hex, one line), as servers and clients pin
    /// it; creates the key in the state folder ($VEIL_HOME, else ~/.veil) if there is none.
    Id,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Address to listen on (UDP, QUIC).
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
    /// Only the server and client keys listed in FILE may connect: one fingerprint per
    /// line (as `veil-server id` and `veil-client id` print them, no model names); `#`
    /// starts a comment. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Id) = cli.command {
        return exit("veil-dealer", print_id("dealer"));
    }
    init_logging("veil_dealer=info,veil_net=info");
    exit("veil-dealer", run(cli.args))
}

fn run(args: Args) -> Result<(), SessionError> {
    let allow = match &args.allow {
        Some(path) => Some(Arc::new(AllowList::new(read_allow(path, false)?))),
        None => None,
    };
    runtime()?.block_on(async {
        let identity = Identity::load_or_create(&state_dir(), "dealer")?;
        let listener = Listener::bind(args.listen, &identity)?;
        eprintln!(
            "veil-dealer listening on {} (key {})",
            listener.local_addr()?,
            identity.fingerprint()
        );
        if let (Some(path), Some(list)) = (args.allow, &allow) {
            eprintln!(
                "veil-dealer: only the {} keys of {} may connect (reloaded on SIGHUP)",
                list.current().len(),
                path.display()
            );
            tokio::spawn(reload_on_hangup("veil-dealer", path, false, list.clone()));
        }
        let sessions = Arc::new(Sessions::new());
        tokio::select! {
            r = serve_with(listener, sessions, allow) => Ok(r?),
            _ = tokio::signal::ctrl_c() => {
                eprintln!("veil-dealer: stopping");
                Ok(())
            }
        }
    })
}
