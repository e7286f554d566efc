//! The dealer's QUIC front end: one blocking handler per party connection.

use std::sync::Arc;

use tokio::runtime::Handle;
use veil_net::{serve_blocking, Connection, Listener, NetError, QuicTransport};
use veil_protocol::channel::{Channel, ChannelError, Phase, Scope};
use veil_protocol::share::Role;
use veil_protocol::wire::{FromDealer, SessionId, ToDealer};
use veil_protocol::ProtocolError;

use crate::sessions::Sessions;

/// Why serving one party's connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The connection could not carry a channel.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The party broke off or sent something malformed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl From<ChannelError> for ServeError {
    fn from(e: ChannelError) -> Self {
        ServeError::Protocol(e.into())
    }
}

impl From<veil_protocol::codec::DecodeError> for ServeError {
    fn from(e: veil_protocol::codec::DecodeError) -> Self {
        ServeError::Protocol(e.into())
    }
}

/// Accepts parties until the listener closes, each on a blocking thread; a failing
/// connection is logged and dropped, the others go on.
pub async fn serve(listener: Listener, sessions: Arc<Sessions>) -> Result<(), NetError> {
    serve_blocking(listener, sessions, "party connection", serve_connection).await
}

/// Serves one party's connection: open or join a session, then fetches until it hangs up.
/// Blocking: call from a plain thread or `spawn_blocking`.
pub fn serve_connection(
    conn: &Connection,
    handle: Handle,
    sessions: &Sessions,
) -> Result<(), ServeError> {
    let transport = QuicTransport::accept(conn, handle)?;
    let mut ch = Channel::new(transport);
    let Some((id, role)) = start(&mut ch, sessions)? else {
        return Ok(());
    };
    tracing::info!(session = ?id, ?role, peer = %conn.peer_fingerprint(), "party bound");
    let served = fetch_loop(&mut ch, sessions, id, role);
    if role == Role::Server {
        // The server's end of the session: forget U and every unserved piece.
        sessions.close(id);
    }
    served
}

/// Reads the first message: the server opens a session, the client joins one.
fn start(
    ch: &mut Channel<QuicTransport>,
    sessions: &Sessions,
) -> Result<Option<(SessionId, Role)>, ServeError> {
    match ToDealer::decode(&ch.recv()?)? {
        ToDealer::Open { plan } => {
            let (id, seed) = sessions.open(plan);
            ch.send(&FromDealer::Opened { session: id }.encode())?;
            ch.enter(Scope::phase(Phase::Setup));
            ch.send(&seed.0)?;
            Ok(Some((id, Role::Server)))
        }
        ToDealer::Join { session, plan_hash } => match sessions.join(session, plan_hash) {
            Ok(()) => {
                ch.send(&FromDealer::Joined.encode())?;
                Ok(Some((session, Role::Client)))
            }
            Err(refusal) => {
                refuse(ch, refusal.0)?;
                Ok(None)
            }
        },
        ToDealer::Fetch => {
            refuse(ch, "open or join a session before fetching material".into())?;
            Ok(None)
        }
    }
}

fn fetch_loop(
    ch: &mut Channel<QuicTransport>,
    sessions: &Sessions,
    id: SessionId,
    role: Role,
) -> Result<(), ServeError> {
    loop {
        ch.enter(Scope::phase(Phase::Offline));
        let msg = match ch.recv() {
            Ok(m) => m,
            Err(ChannelError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match ToDealer::decode(&msg)? {
            ToDealer::Fetch => match sessions.fetch(id, role) {
                Ok(material) => ch.send(&FromDealer::Material(material.encode()).encode())?,
                Err(refusal) => return refuse(ch, refusal.0),
            },
            _ => return refuse(ch, "a session is already bound to this connection".into()),
        }
    }
}

fn refuse(ch: &mut Channel<QuicTransport>, reason: String) -> Result<(), ServeError> {
    tracing::info!("refused: {reason}");
    ch.send(&FromDealer::Refused { reason }.encode())?;
    // Let the refusal reach the party before the connection goes.
    let _ = ch.finish();
    Ok(())
}
