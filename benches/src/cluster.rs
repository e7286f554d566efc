//! The dealer and the server, started in this process on loopback over real QUIC.
//!
//! Both run on one Tokio runtime with ephemeral identities; every pin lives in memory, so
//! nothing touches `~/.veil`. With a [`LinkShape`], every link (client↔server,
//! server↔dealer, client↔dealer) is shaped at both ends as a slower network
//! ([`veil_net::shaper`]).
//! The server pins the dealer's key under its address
//! `127.0.0.1:PORT` before it first connects, and [`Cluster::client_pins`] gives a client
//! both keys, so each connection accepts exactly one key.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;
use veil_dealer::Sessions;
use veil_net::{
    Fingerprint, Identity, KnownHosts, LinkShape, Listener, NetError, DEFAULT_CONNECT_TIMEOUT,
};
use veil_protocol::material::Preprocessing;
use veil_protocol::session::client::Options;
use veil_protocol::session::server::{Dealing, Hosting};
use veil_server::{HostedModel, ServerConfig};

use crate::error::BenchError;

/// Where the in-process servers listen: loopback, a free port each.
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// How long [`Cluster::shutdown`] waits for open sessions to end.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer the cluster runs: its address and the key it presents.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The fingerprint of its key.
    pub fingerprint: Fingerprint,
}

impl Peer {
    /// The name clients dial and pin it under: `127.0.0.1:PORT`.
    pub fn name(&self) -> String {
        self.addr.to_string()
    }
}

/// A running dealer and server. Drop it or call [`Cluster::shutdown`] to stop both.
pub struct Cluster {
    runtime: Runtime,
    /// The dealer, or `None` when the server runs dealer-free.
    dealer: Option<Peer>,
    server: Peer,
    sessions: Arc<Sessions>,
    tasks: Vec<JoinHandle<Result<(), NetError>>>,
    shape: Option<LinkShape>,
}

impl Cluster {
    /// Starts a server hosting `models` and, if `material` says so, a dealer, each on its
    /// own loopback port, with every link shaped as `shape` (or not shaped). Without a
    /// dealer the server and its clients make the material themselves, as `material` says.
    pub fn start(
        models: Vec<HostedModel>,
        shape: Option<LinkShape>,
        material: Preprocessing,
    ) -> Result<Cluster, BenchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("veil-bench-io")
            .build()
            .map_err(BenchError::Runtime)?;
        let sessions = Arc::new(Sessions::new());
        let (dealer, server, tasks) = spawn_peers(&runtime, models, &sessions, shape, material)?;
        tracing::debug!(dealer = ?dealer.map(|d| d.addr), server = %server.addr, "cluster started");
        Ok(Cluster {
            runtime,
            dealer,
            server,
            sessions,
            tasks,
            shape,
        })
    }

    /// The runtime's handle, for a client's dialer.
    pub fn handle(&self) -> Handle {
        self.runtime.handle().clone()
    }

    /// The dealer, if one runs.
    pub fn dealer(&self) -> Option<Peer> {
        self.dealer
    }

    /// The server.
    pub fn server(&self) -> Peer {
        self.server
    }

    /// A client's options: this server, the model `model` (or its only one), and this
    /// dealer named explicitly, as a client that chooses its dealer would.
    pub fn client_options(&self, model: Option<String>) -> Options {
        Options {
            server: self.server.name(),
            model,
            backend: veil_protocol::plan::Backend::Gmw,
            dealer: self.dealer.map(|d| d.name()),
            label_only: false,
        }
    }

    /// How every link is shaped (`None`: unshaped).
    pub fn shape(&self) -> Option<LinkShape> {
        self.shape
    }

    /// In-memory pins holding the server's and the dealer's keys.
    pub fn client_pins(&self) -> Result<KnownHosts, NetError> {
        let peers: Vec<Peer> = std::iter::once(self.server).chain(self.dealer).collect();
        pinned(&peers)
    }

    /// Sessions open at the dealer (each client session of the server holds one).
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Waits (at most [`DRAIN_TIMEOUT`]) for the dealer's sessions to end, then stops
    /// accepting, closes the listeners and stops the runtime. Returns true if every
    /// session had ended.
    pub fn shutdown(self) -> bool {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !self.sessions.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let drained = self.sessions.is_empty();
        let Cluster { runtime, tasks, .. } = self;
        for task in &tasks {
            task.abort();
        }
        // Aborted accept loops drop their listeners, which stops the endpoints.
        runtime.block_on(async {
            for task in tasks {
                let _ = task.await;
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        tracing::debug!(drained, "cluster stopped");
        drained
    }
}

type Tasks = Vec<JoinHandle<Result<(), NetError>>>;

/// Binds both listeners and spawns their accept loops on `runtime`.
fn spawn_peers(
    runtime: &Runtime,
    models: Vec<HostedModel>,
    sessions: &Arc<Sessions>,
    shape: Option<LinkShape>,
    material: Preprocessing,
) -> Result<(Option<Peer>, Peer, Tasks), BenchError> {
    // Listeners must be made inside the runtime.
    let _entered = runtime.enter();
    let mut tasks = Vec::new();
    let (dealer, dealing) = match material {
        Preprocessing::Dealer => {
            let (listener, (dealer, _)) = listen("dealer", shape)?;
            tasks.push(runtime.spawn(veil_dealer::serve(listener, sessions.clone())));
            (Some(dealer), Dealing::Dealer(dealer.name()))
        }
        Preprocessing::TwoParty(linear, ot) => (None, Dealing::TwoParty(linear, ot)),
    };
    let (server_listener, (server, server_identity)) = listen("server", shape)?;
    let server_pins = pinned(&dealer.into_iter().collect::<Vec<_>>())?;
    let hosting = Hosting {
        models,
        dealing,
        precomputed: None,
        label_only: false,
        allow: None,
    };
    hosting.check()?;
    let config = Arc::new(ServerConfig {
        hosting,
        identity: Arc::new(server_identity),
        pins: Arc::new(server_pins),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        dealer_shape: shape,
    });
    tasks.push(runtime.spawn(veil_server::serve(server_listener, config)));
    Ok((dealer, server, tasks))
}

/// A fresh identity for `role`, listening on a free loopback port, shaping what it
/// accepts as `shape`.
fn listen(role: &str, shape: Option<LinkShape>) -> Result<(Listener, (Peer, Identity)), NetError> {
    let identity = Identity::ephemeral(role)?;
    let mut listener = Listener::bind(LOOPBACK, &identity)?;
    if let Some(shape) = shape {
        listener = listener.with_shape(shape);
    }
    let peer = Peer {
        addr: listener.local_addr()?,
        fingerprint: identity.fingerprint(),
    };
    Ok((listener, (peer, identity)))
}

/// In-memory pins holding exactly the keys of `peers`, under their names.
fn pinned(peers: &[Peer]) -> Result<KnownHosts, NetError> {
    let pins = KnownHosts::in_memory();
    for peer in peers {
        let _status = pins.pin(&peer.name(), peer.fingerprint)?;
    }
    Ok(pins)
}
