//! The dealer's QUIC front end: each party's connection is served on a blocking thread by
//! the dealer's side of the session ([`veil_protocol::session::dealer`]), against one
//! table of sessions that all connections share, and the allow list if there is one.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::sync::Arc;

use tokio::runtime::Handle;
use veil_net::{serve_blocking, Connection, Listener, NetError, QuicTransport};
use veil_protocol::prg::Prg;
use veil_protocol::session::access::AllowList;
use veil_protocol::session::dealer::{self, Dealt};
use veil_protocol::session::SessionError;

pub use veil_protocol::session::dealer::{Refusal, Sessions, MAX_AHEAD};

/// What every connection shares: the table of sessions and who may connect.
struct Dealer {
    sessions: Arc<Sessions>,
    allow: Option<Arc<AllowList>>,
}

/// Accepts parties until the listener closes, each on a blocking thread; a failing
/// connection is logged and dropped, the others go on.
pub async fn serve(listener: Listener, sessions: Arc<Sessions>) -> Result<(), NetError> {
    serve_with(listener, sessions, None).await
}

/// [`serve`], letting only the keys of `allow` connect (`None`: every key), as the list is
/// when each connection comes.
pub async fn serve_with(
    listener: Listener,
    sessions: Arc<Sessions>,
    allow: Option<Arc<AllowList>>,
) -> Result<(), NetError> {
    let dealer = Arc::new(Dealer { sessions, allow });
    serve_blocking(listener, dealer, "party connection", |conn, handle, d| {
        serve_connection_as(conn, handle, &d.sessions, d.allow.as_deref())
    })
    .await
}

/// Serves one party's connection to its end, with randomness seeded from the OS.
/// Blocking: call from a plain thread or `spawn_blocking`.
pub fn serve_connection(
    conn: &Connection,
    handle: Handle,
    sessions: &Sessions,
) -> Result<Dealt, SessionError> {
    serve_connection_as(conn, handle, sessions, None)
}

/// [`serve_connection`] under the allow list `allow`, taken once for the connection.
pub fn serve_connection_as(
    conn: &Connection,
    handle: Handle,
    sessions: &Sessions,
    allow: Option<&AllowList>,
) -> Result<Dealt, SessionError> {
    let transport = QuicTransport::accept(conn, handle)?;
    let access = allow.map(AllowList::current);
    let peer = conn.peer_fingerprint().to_string();
    dealer::serve_as(
        transport,
        &peer,
        access.as_deref(),
        sessions,
        &mut Prg::from_os(),
    )
}
