//! The dealer's QUIC front end: each party's connection is served on a blocking thread by
//! the dealer's side of the session ([`veil_protocol::session::dealer`]), against one
//! table of sessions that all connections share.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::sync::Arc;

use tokio::runtime::Handle;
use veil_net::{serve_blocking, Connection, Listener, NetError, QuicTransport};
use veil_protocol::prg::Prg;
use veil_protocol::session::dealer::{self, Dealt};
use veil_protocol::session::SessionError;

pub use veil_protocol::session::dealer::{Refusal, Sessions, MAX_AHEAD};

/// Accepts parties until the listener closes, each on a blocking thread; a failing
/// connection is logged and dropped, the others go on.
pub async fn serve(listener: Listener, sessions: Arc<Sessions>) -> Result<(), NetError> {
    serve_blocking(listener, sessions, "party connection", serve_connection).await
}

/// Serves one party's connection to its end, with randomness seeded from the OS.
/// Blocking: call from a plain thread or `spawn_blocking`.
pub fn serve_connection(
    conn: &Connection,
    handle: Handle,
    sessions: &Sessions,
) -> Result<Dealt, SessionError> {
    let transport = QuicTransport::accept(conn, handle)?;
    dealer::serve(transport, sessions, &mut Prg::from_os())
}
