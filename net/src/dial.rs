//! Reaching a session's peers over QUIC: the [`Dial`] the binaries give a session.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use veil_protocol::session::{Dial, Dialed, SessionError};

use crate::{connect, resolve, Connection, Identity, KnownHosts, LinkShape, QuicTransport};

/// Dials peers by name (`host:port`), checks each one's key against the pins (pinning it
/// on first contact), and keeps the connections until [`QuicDialer::close`] (or drop).
/// Blocking: use it from a plain thread, with the runtime's `handle`.
pub struct QuicDialer {
    identity: Arc<Identity>,
    pins: Arc<KnownHosts>,
    handle: Handle,
    timeout: Duration,
    shape: Option<LinkShape>,
    conns: Vec<Connection>,
}

impl QuicDialer {
    /// A dialer presenting `identity`, trusting `pins`, waiting `timeout` for each
    /// handshake.
    pub fn new(
        identity: Arc<Identity>,
        pins: Arc<KnownHosts>,
        handle: Handle,
        timeout: Duration,
    ) -> QuicDialer {
        QuicDialer {
            identity,
            pins,
            handle,
            timeout,
            shape: None,
            conns: Vec::new(),
        }
    }

    /// Shapes every link it opens as a slower network, for benchmarks (the peers must
    /// shape their ends too: [`crate::shaper`]).
    pub fn with_shape(mut self, shape: Option<LinkShape>) -> Self {
        self.shape = shape;
        self
    }

    /// Closes every connection and waits (at most a second each) for the closes to reach
    /// the peers, so that none holds a session until its idle timeout.
    pub fn close(mut self) {
        let conns = std::mem::take(&mut self.conns);
        self.handle.block_on(async move {
            for conn in conns {
                conn.close().await;
            }
        });
    }
}

impl Dial for QuicDialer {
    type Transport = QuicTransport;

    fn dial(&mut self, name: &str) -> Result<Dialed<QuicTransport>, SessionError> {
        let addr = resolve(name)?;
        let conn = self
            .handle
            .block_on(connect(
                addr,
                name,
                &self.identity,
                &self.pins,
                self.timeout,
            ))?
            .with_shape(self.shape);
        let transport = QuicTransport::open(&conn, self.handle.clone())?;
        let dialed = Dialed {
            transport,
            key: conn.peer_fingerprint().to_string(),
            newly_pinned: conn.newly_pinned(),
        };
        self.conns.push(conn);
        Ok(dialed)
    }
}

impl Drop for QuicDialer {
    /// Connections not closed with [`QuicDialer::close`] (a failed session) still close,
    /// without waiting.
    fn drop(&mut self) {
        self.conns.iter().for_each(Connection::close_now);
    }
}
