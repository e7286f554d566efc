//! `veil-server`'s QUIC front end: each client connection is served on a blocking thread
//! by the server's side of the session ([`veil_protocol::session::server`]), which dials
//! the dealer through the server's pins and keeps precomputed queries in the state folder.
//!
//! The server learns nothing about a client's input; the client learns the output only.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use veil_net::{
    serve_blocking, Connection, Identity, KnownHosts, LinkShape, Listener, NetError, QuicDialer,
    QuicTransport, Store,
};
use veil_protocol::prg::Prg;
use veil_protocol::session::server::{self, Hosting, Served};
use veil_protocol::session::SessionError;

pub use veil_protocol::session::server::{HostedModel, Precomputed};

/// Everything a server needs to serve clients.
pub struct ServerConfig {
    /// The models, the dealer's name (or none: dealer-free) and the precomputed store.
    pub hosting: Hosting<Store>,
    /// The server's identity (its key, which clients pin).
    pub identity: Arc<Identity>,
    /// The server's pins (for the dealer's key).
    pub pins: Arc<KnownHosts>,
    /// How long to wait for the dealer to answer a connection.
    pub connect_timeout: Duration,
    /// Shapes the link to the dealer as a slower network, for benchmarks; the dealer must
    /// shape its end too (`veil_net::shaper`). `None` in normal use.
    pub dealer_shape: Option<LinkShape>,
}

/// Accepts clients until the listener closes; each session runs on a blocking thread and
/// a failing one never stops the others.
pub async fn serve(listener: Listener, config: Arc<ServerConfig>) -> Result<(), NetError> {
    serve_blocking(listener, config, "client session", serve_client).await
}

/// Serves one client connection to its end, with randomness seeded from the OS.
/// Blocking: call from a plain thread or `spawn_blocking`.
pub fn serve_client(
    conn: &Connection,
    handle: Handle,
    config: &ServerConfig,
) -> Result<Served, SessionError> {
    let transport = QuicTransport::accept(conn, handle.clone())?;
    let (identity, pins) = (config.identity.clone(), config.pins.clone());
    let mut dialer = QuicDialer::new(identity, pins, handle, config.connect_timeout)
        .with_shape(config.dealer_shape);
    // Kept queries belong to the client's key: no other client can spend or see them.
    let client = conn.peer_fingerprint().to_string();
    server::serve(
        transport,
        &client,
        &config.hosting,
        &mut dialer,
        &mut Prg::from_os(),
    )
}
