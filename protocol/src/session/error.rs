//! Why a session failed, split by whose fault it is: the user's request ([`Usage`]), a
//! peer's refusal or misbehaviour ([`PeerError`]), this machine's I/O
//! ([`SessionError::Local`]), or a bug ([`SessionError::Internal`]). The binaries map the
//! first to exit code 2 and the others to 1 ([`SessionError::exit_code`]).
//!
//! Messages are one or two plain sentences and never carry a secret; the sources are kept.

use std::error::Error;
use std::fmt;

use crate::channel::ChannelError;
use crate::codec::DecodeError;
use crate::error::ProtocolError;

/// A failure from outside the protocol crate (a file, an address, a QUIC connection),
/// kept whole.
pub type Source = Box<dyn Error + Send + Sync + 'static>;

/// Why a session (or one of its steps) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The request cannot be served as asked: exit code 2.
    #[error(transparent)]
    Usage(#[from] Usage),
    /// A peer refused, broke the protocol, could not be reached or went away.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// Something on this machine failed: the network stack, a file in the state folder.
    #[error(transparent)]
    Local(Source),
    /// A state the code should never reach.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The request itself is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Usage {
    /// The server refused the request as wrong (an unknown model name).
    #[error("the server refused: {0}")]
    Refused(String),
    /// The user named a dealer, but the server runs dealer-free.
    #[error(
        "the server at {server} runs without a dealer (two-party preprocessing), so the \
         dealer {dealer} given with --dealer cannot be used; run again without --dealer"
    )]
    DealerUnused {
        /// The dealer the user named.
        dealer: String,
        /// The server.
        server: String,
    },
    /// A file, address or value the user gave does not fit.
    #[error(transparent)]
    Input(Source),
}

/// The peer a fault belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The server.
    Server,
    /// The client.
    Client,
    /// The dealer.
    Dealer,
    /// A dealer's peer that has not yet said which party it is.
    Peer,
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Server => "server",
            Party::Client => "client",
            Party::Dealer => "dealer",
            Party::Peer => "peer",
        })
    }
}

/// A peer is at fault (or at least not doing what this session needs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer refused.
    #[error("the {who} refused: {reason}")]
    Refused {
        /// Who refused.
        who: Party,
        /// Its reason, for the user.
        reason: String,
    },
    /// The peer sent a well-formed message that does not belong at this point.
    #[error("the {0} sent a message out of turn")]
    OutOfTurn(Party),
    /// The peer hung up, went silent, or sent something malformed.
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The peer could not be reached, or presented a key other than the pinned one.
    #[error(transparent)]
    Connection(Source),
    /// The dealer's key is not the one the server announced.
    #[error(
        "the dealer at {addr} presented key {seen}, but the server announced {announced}; \
         refusing: someone may be impersonating the dealer"
    )]
    DealerMismatch {
        /// The dealer's address.
        addr: String,
        /// The key the dealer presented.
        seen: String,
        /// The key the server announced.
        announced: String,
    },
}

impl SessionError {
    /// The process exit code of CONTRACT.md: 2 for bad usage or input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            SessionError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// A usage error from a file, address or value the user gave.
    pub fn usage(e: impl Into<Source>) -> SessionError {
        SessionError::Usage(Usage::Input(e.into()))
    }

    /// A peer that could not be reached or did not present the pinned key.
    pub fn connection(e: impl Into<Source>) -> SessionError {
        SessionError::Peer(PeerError::Connection(e.into()))
    }

    /// A local failure (the network stack, the state folder).
    pub fn local(e: impl Into<Source>) -> SessionError {
        SessionError::Local(e.into())
    }

    /// The error from outside the protocol that this one carries, if it is an `E`: e.g.
    /// the network error behind a connection failure.
    pub fn find<E: Error + 'static>(&self) -> Option<&E> {
        let source: &(dyn Error + 'static) = match self {
            SessionError::Usage(Usage::Input(e))
            | SessionError::Peer(PeerError::Connection(e))
            | SessionError::Local(e) => e.as_ref(),
            _ => return None,
        };
        source.downcast_ref()
    }

    /// A message out of turn from `who`.
    pub(crate) fn out_of_turn(who: Party) -> SessionError {
        SessionError::Peer(PeerError::OutOfTurn(who))
    }

    /// A refusal from `who`.
    pub(crate) fn refused(who: Party, reason: String) -> SessionError {
        SessionError::Peer(PeerError::Refused { who, reason })
    }
}

/// The protocol's errors, by fault: a broken channel or bytes that do not parse are the
/// peer's; a transport's own I/O failure is local; misuse of the API and inconsistent
/// circuits are bugs.
impl From<ProtocolError> for SessionError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::Channel(ChannelError::Io(io)) => SessionError::Local(Box::new(io)),
            ProtocolError::Misuse(what) | ProtocolError::Internal(what) => {
                SessionError::Internal(what)
            }
            ProtocolError::Circuit(_) => SessionError::Internal("a circuit's wires do not fit"),
            e => SessionError::Peer(PeerError::Protocol(e)),
        }
    }
}

impl From<ChannelError> for SessionError {
    fn from(e: ChannelError) -> Self {
        ProtocolError::from(e).into()
    }
}

impl From<DecodeError> for SessionError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::from(e).into()
    }
}
