//! Sessions: the client's, the server's and the dealer's side of the message sequence of
//! [`crate::wire`], as states that each step consumes (rustls's `Expect*`), over any
//! [`Transport`].
//!
//! ```text
//! client                          server                           dealer
//! ExpectWelcome ── Hello ───────▶ ExpectHello → Greeted
//!                                 (with a dealer) ── Open{plan} ──▶ ExpectOpenOrJoin
//!                                 ◀── Opened{session}, U's seed ── Bound (server)
//!               ◀── Welcome{plan, session, dealer} | WelcomeTwoParty | Refused
//! JoinDealer ── Join{session, plan hash} ─────────────────────────▶ ExpectOpenOrJoin
//!            ◀── Joined | Refused ───────────────────────────────── Bound (client)
//! ExpectSetup ◀── setup: E = W − U, or base OTs; GC's ── Greeted → Open
//! Open ── Query ────────────────▶ Open → Answering
//!         each party ── Fetch ─────────────────────────────────────▶ Bound
//!                    ◀── material ───────────────────────────────── (or made by OT)
//!         offline, online (engine) ◀──▶;  ◀── Stats{the server's meters}
//!      ── Stash{batch, first, count} ▶ Open → Stashing: ◀── Ready, per query Stats
//!      ── Done ─────────────────▶ (end)
//! ```
//! A query made ahead of time is spent on a connection of its own: `Spend{batch, piece}`
//! instead of a hello, `WelcomeKept{plan}`, the online phase, `Stats`, `Done`
//! ([`client::spend`], [`server::serve`]).
//!
//! A step out of order does not compile: each state has only the steps that may follow.
//! A message out of turn is [`PeerError::OutOfTurn`], a malformed one a
//! [`PeerError::Protocol`] error; neither panics. Every random choice comes from the
//! generator the caller passes in (seeded from the OS at the top, in the binaries), so a
//! whole session replays from one seed in memory. What a session needs of the outside
//! comes in through two traits: [`Dial`] (reach a peer) and [`KeptStore`] (keep queries
//! made ahead of time). The binaries implement them with QUIC and the state folder; tests
//! with in-memory pipes ([`crate::channel::MemTransport`]) and [`MemStore`].
//!
//! Who learns what is the engine's business ([`crate::engine`]): the server learns nothing
//! of the client's input, the client only the output, the dealer only the plan.

pub mod access;
pub mod client;
pub mod dealer;
mod error;
pub mod mem;
mod report;
pub mod server;
mod store;

pub use error::{Party, PeerError, SessionError, Source, Usage};
pub use report::{LayerCost, LinkBytes, Links, PhaseCost, QueryReport};
pub use store::{KeptBatch, KeptStore, MemStore};

use crate::channel::{Channel, ChannelError, Phase, Scope, Transport};
use crate::wire::{FromDealer, ToDealer};

/// A channel a [`Dial`] opened, and what the peer's key says about it.
pub struct Dialed<T> {
    /// The channel's transport.
    pub transport: T,
    /// The fingerprint of the key the peer presented (hex).
    pub key: String,
    /// True if the peer's key was pinned just now, on first contact.
    pub newly_pinned: bool,
}

/// How a session reaches a peer: the binaries dial QUIC and check the peer's key against
/// their pins; tests hand out in-memory pipes.
pub trait Dial {
    /// The transport of the channels it opens.
    type Transport: Transport + 'static;
    /// Connects to the peer `name` (`host:port` as the user or the server wrote it).
    fn dial(&mut self, name: &str) -> Result<Dialed<Self::Transport>, SessionError>;
}

/// The longest first message a server or a dealer reads from a new connection (a hello,
/// a spend, a dealer's open with its plan): a stranger cannot make it read more.
pub const FIRST_FRAME: usize = 64 << 10;

/// Reads the first message of a new connection under [`FIRST_FRAME`], then lifts the limit.
fn recv_first<T: Transport + ?Sized>(ch: &mut Channel<T>) -> Result<Vec<u8>, ChannelError> {
    ch.transport_mut().limit_incoming(Some(FIRST_FRAME));
    let first = ch.recv();
    ch.transport_mut().limit_incoming(None);
    first
}

/// Receives one message, treating a peer that left (or fell silent) between two requests
/// as done: `None`.
fn recv_or_end<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
) -> Result<Option<Vec<u8>>, SessionError> {
    match ch.recv() {
        Ok(m) => Ok(Some(m)),
        Err(ChannelError::Closed) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A channel to the dealer, whatever its transport.
type DealerChannel = Channel<Box<dyn Transport>>;

/// Asks the dealer for this party's share of the next query's material (metered offline).
fn fetch(dealer: &mut DealerChannel) -> Result<Vec<u8>, SessionError> {
    dealer.enter(Scope::phase(Phase::Offline));
    dealer.send(&ToDealer::Fetch.encode())?;
    let msg = match FromDealer::decode(&dealer.recv()?)? {
        FromDealer::Material(m) => m,
        FromDealer::Refused { reason } => return Err(SessionError::refused(Party::Dealer, reason)),
        _ => return Err(SessionError::out_of_turn(Party::Dealer)),
    };
    dealer.enter(Scope::CONTROL);
    Ok(msg)
}
