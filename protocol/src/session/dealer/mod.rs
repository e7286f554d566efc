//! The dealer's side: one party's connection at a time, against the table of sessions
//! ([`Sessions`]) that all connections share.
//!
//! The dealer turns a public plan into one-time correlated randomness for a server and a
//! client. It learns the plan (layer kinds and shapes) and nothing else: no inputs,
//! weights or outputs. It must not collude with either party; the client chooses or pins
//! it. A session has a random 128-bit id; the server opens it with the plan
//! ([`ExpectOpenOrJoin`]: it gets the session's mask seed in setup), the client joins with
//! the plan's hash; each role is bound to the connection (and so the pinned key) that
//! claimed it ([`Bound`]), every piece of material is served once, to one role, then
//! forgotten, and the session's mask seed is forgotten when the server's connection ends.

mod table;

pub use table::{Refusal, Sessions, MAX_AHEAD};

use rand_core::{CryptoRng, RngCore};

use super::access::{Access, NOT_ALLOWED};
use super::{recv_first, recv_or_end, Party, SessionError};
use crate::channel::{Channel, Phase, Scope, Transport};
use crate::share::Role;
use crate::wire::{FromDealer, SessionId, ToDealer};

/// How one party's connection ended without a fault.
#[derive(Debug, Default)]
pub struct Dealt {
    /// The session and role the connection was bound to, if it got that far.
    pub bound: Option<(SessionId, Role)>,
    /// Pieces of material served.
    pub pieces: usize,
    /// Why the party was refused, if it was.
    pub refused: Option<String>,
}

/// Serves one party's connection to its end: open or join a session, then fetches until
/// the party hangs up. The server's hang-up closes its session.
pub fn serve<T: Transport>(
    transport: T,
    sessions: &Sessions,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Dealt, SessionError> {
    serve_as(transport, "", None, sessions, rng)
}

/// [`serve`] for the party whose key fingerprint is `peer`, under the allow list `allow`
/// (`None`: every key may connect). A key not listed is refused whatever it asks, told
/// only that it is not allowed.
pub fn serve_as<T: Transport>(
    transport: T,
    peer: &str,
    allow: Option<&Access>,
    sessions: &Sessions,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Dealt, SessionError> {
    let admitted = allow.is_none_or(|a| a.admits(peer));
    match ExpectOpenOrJoin::new(transport).read_as(sessions, admitted, rng)? {
        Ok(bound) => bound.serve(sessions),
        Err(refused) => Ok(refused),
    }
}

/// A party's new connection: its first message opens or joins a session.
pub struct ExpectOpenOrJoin<T: Transport> {
    ch: Channel<T>,
}

impl<T: Transport> ExpectOpenOrJoin<T> {
    /// A party's new connection.
    pub fn new(transport: T) -> Self {
        ExpectOpenOrJoin {
            ch: Channel::new(transport),
        }
    }

    /// Reads the first message: the server opens a session (and gets its mask seed, drawn
    /// from `rng`), the client joins one. `Err` holds how a refused connection ended.
    pub fn read(
        self,
        sessions: &Sessions,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Result<Bound<T>, Dealt>, SessionError> {
        self.read_as(sessions, true, rng)
    }

    /// [`ExpectOpenOrJoin::read`] for a party whose key is `admitted` by the dealer's allow
    /// list, or not: then it is refused as not allowed, whatever it asked, and no session
    /// is opened or joined.
    pub fn read_as(
        mut self,
        sessions: &Sessions,
        admitted: bool,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Result<Bound<T>, Dealt>, SessionError> {
        let first = ToDealer::decode(&recv_first(&mut self.ch)?)?;
        if !admitted {
            return refuse(&mut self.ch, NOT_ALLOWED.into()).map(Err);
        }
        let (session, role) = match first {
            ToDealer::Open { plan } => {
                let (id, seed) = sessions.open(&plan, rng);
                self.ch.send(&FromDealer::Opened { session: id }.encode())?;
                self.ch.enter(Scope::phase(Phase::Setup));
                self.ch.send(&seed.0)?;
                (id, Role::Server)
            }
            ToDealer::Join { session, plan_hash } => match sessions.join(session, plan_hash) {
                Ok(()) => {
                    self.ch.send(&FromDealer::Joined.encode())?;
                    (session, Role::Client)
                }
                Err(refusal) => return refuse(&mut self.ch, refusal.0).map(Err),
            },
            ToDealer::Fetch => {
                let reason = "open or join a session before fetching material".to_string();
                refuse(&mut self.ch, reason)?;
                return Err(SessionError::out_of_turn(Party::Peer));
            }
        };
        Ok(Ok(Bound {
            ch: self.ch,
            session,
            role,
        }))
    }
}

/// A connection bound to one role of one session: fetches are next.
pub struct Bound<T: Transport> {
    ch: Channel<T>,
    session: SessionId,
    role: Role,
}

impl<T: Transport> Bound<T> {
    /// The session and role this connection holds.
    pub fn bound(&self) -> (SessionId, Role) {
        (self.session, self.role)
    }

    /// Serves fetches until the party hangs up (or asks for something else: refused, and
    /// an error). The server's end closes the session: its masks and unserved pieces are
    /// dropped.
    pub fn serve(mut self, sessions: &Sessions) -> Result<Dealt, SessionError> {
        let mut dealt = Dealt {
            bound: Some(self.bound()),
            ..Dealt::default()
        };
        let served = self.fetches(sessions, &mut dealt);
        if self.role == Role::Server {
            sessions.close(self.session);
        }
        served.map(|()| dealt)
    }

    fn fetches(&mut self, sessions: &Sessions, dealt: &mut Dealt) -> Result<(), SessionError> {
        loop {
            self.ch.enter(Scope::phase(Phase::Offline));
            let Some(msg) = recv_or_end(&mut self.ch)? else {
                return Ok(());
            };
            if ToDealer::decode(&msg)? != ToDealer::Fetch {
                let reason = "a session is already bound to this connection".to_string();
                refuse(&mut self.ch, reason)?;
                return Err(SessionError::out_of_turn(match self.role {
                    Role::Server => Party::Server,
                    Role::Client => Party::Client,
                }));
            }
            match sessions.fetch(self.session, self.role) {
                Ok(material) => {
                    let msg = FromDealer::Material(material.encode());
                    self.ch.send(&msg.encode())?;
                    dealt.pieces += 1;
                }
                Err(refusal) => {
                    dealt.refused = refuse(&mut self.ch, refusal.0)?.refused;
                    return Ok(());
                }
            }
        }
    }
}

/// Tells the party why it is refused, and lets the refusal reach it.
fn refuse<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    reason: String,
) -> Result<Dealt, SessionError> {
    ch.send(
        &FromDealer::Refused {
            reason: reason.clone(),
        }
        .encode(),
    )?;
    let _ = ch.finish();
    Ok(Dealt {
        refused: Some(reason),
        ..Dealt::default()
    })
}
