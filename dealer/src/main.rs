//! `veil-dealer`: serves one-time correlated randomness to veil servers and clients.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use veil_dealer::{serve, Sessions};
use veil_net::cli::{exit, init_logging, runtime};
use veil_net::{state_dir, Identity, Listener};
use veil_protocol::session::SessionError;

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The dealer of veil: it turns a model's public plan into one-time correlated randomness
/// for a server and a client, and never sees inputs, weights or outputs. Run it on a
/// machine that neither party controls: a dealer that colludes with the server learns
/// the client's input.
#[derive(Parser, Debug)]
#[command(name = "veil-dealer", version, about, long_about = None)]
struct Args {
    /// Address to listen on (UDP, QUIC).
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging("veil_dealer=info,veil_net=info");
    exit("veil-dealer", run(args))
}

fn run(args: Args) -> Result<(), SessionError> {
    runtime()?.block_on(async {
        let identity = Identity::load_or_create(&state_dir(), "dealer")?;
        let listener = Listener::bind(args.listen, &identity)?;
        eprintln!(
            "veil-dealer listening on {} (key {})",
            listener.local_addr()?,
            identity.fingerprint()
        );
        let sessions = Arc::new(Sessions::new());
        tokio::select! {
            r = serve(listener, sessions) => Ok(r?),
            _ = tokio::signal::ctrl_c() => {
                eprintln!("veil-dealer: stopping");
                Ok(())
            }
        }
    })
}
