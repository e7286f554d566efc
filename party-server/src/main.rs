//! `veil-server`: hosts models and serves private inference queries.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use veil_net::{
    resolve, state_dir, Identity, KnownHosts, Listener, Store, DEFAULT_CONNECT_TIMEOUT,
};
use veil_server::{serve, DealerLink, HostedModel, Precomputed, ServerConfig};

/// mimalloc reuses freed pages; glibc unmapped and re-faulted large label buffers.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hosts neural-network models for private inference: clients learn predictions, the
/// server learns nothing about their inputs, and the weights never leave this machine.
#[derive(Parser, Debug)]
#[command(name = "veil-server", version, about, long_about = None)]
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
    /// server runs dealer-free: it makes that randomness with each client by oblivious
    /// transfer (no third party; more bytes and time per query).
    #[arg(long, value_name = "ADDR")]
    dealer: Option<String>,
    /// How many precomputed queries (`veil-client precompute`) one client may have waiting
    /// here at once; they are kept in the state folder ($VEIL_HOME, else ~/.veil) under
    /// `precomputed/`. 0 keeps none.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_precomputed: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "veil_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let dealer = match args
        .dealer
        .clone()
        .map(|name| resolve(&name).map(|addr| (addr, name)))
    {
        None => None,
        Some(Ok((addr, name))) => Some(DealerLink {
            addr,
            name,
            shape: None,
        }),
        Some(Err(e)) => {
            eprintln!("veil-server: {e}");
            return ExitCode::from(2);
        }
    };
    let models = match args
        .models
        .iter()
        .map(|m| load(m))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("veil-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(name) = duplicate_name(&models) {
        eprintln!("veil-server: two models are named {name:?}; name them with NAME=FILE");
        return ExitCode::from(2);
    }
    match run(args.listen, models, dealer, args.max_precomputed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("veil-server: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(
    listen: SocketAddr,
    models: Vec<HostedModel>,
    dealer: Option<DealerLink>,
    max_precomputed: usize,
) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let dir = state_dir();
        let identity = Identity::load_or_create(&dir, "server").map_err(|e| e.to_string())?;
        let pins = KnownHosts::open(&dir).map_err(|e| e.to_string())?;
        let listener = Listener::bind(listen, &identity).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        for m in &models {
            eprintln!(
                "veil-server: hosting {} ({} layers, input {:?}, f = {}, k = {})",
                m.name,
                m.plan.layers.len(),
                m.plan.input_shape,
                m.plan.fixed.f,
                m.plan.fixed.k
            );
        }
        let dealing = match &dealer {
            Some(d) => format!("dealer {}", d.name),
            None => "dealer-free (two-party preprocessing)".into(),
        };
        eprintln!(
            "veil-server listening on {addr} (key {}), {dealing}",
            identity.fingerprint()
        );
        let config = Arc::new(ServerConfig {
            models,
            dealer,
            identity,
            pins,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            precomputed: (max_precomputed > 0).then(|| Precomputed {
                store: Store::new(dir.join("precomputed")),
                max_per_client: max_precomputed,
            }),
        });
        tokio::select! {
            r = serve(listener, config) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => {
                eprintln!("veil-server: stopping");
                Ok(())
            }
        }
    })
}

/// Loads `FILE` or `NAME=FILE`.
fn load(spec: &str) -> Result<HostedModel, String> {
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) if !n.is_empty() => (Some(n.to_string()), PathBuf::from(p)),
        _ => (None, PathBuf::from(spec)),
    };
    let loaded = veil_model::load(&path)
        .map_err(|e| format!("cannot load the model {}: {e}", path.display()))?;
    let name = name.unwrap_or(loaded.name);
    let mut plan = loaded.plan;
    plan.model = name.clone();
    Ok(HostedModel {
        name,
        plan,
        weights: loaded.weights,
    })
}

fn duplicate_name(models: &[HostedModel]) -> Option<&str> {
    models.iter().enumerate().find_map(|(i, m)| {
        models[..i]
            .iter()
            .any(|o| o.name == m.name)
            .then_some(m.name.as_str())
    })
}
