//! Errors of the protocol crate, split by whose fault they are.

use thiserror::Error;
use veil_circuits::CircuitError;

use crate::channel::{ChannelError, OpenError};
use crate::codec::DecodeError;

/// Why a protocol run failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The channel to the peer failed (hang-up, timeout, transport error).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The peer sent bytes that do not parse as the message the protocol expects.
    #[error("the peer sent a malformed message: {0}")]
    Peer(#[from] DecodeError),
    /// Correlated randomness did not fit the plan (a dealer or store fault).
    #[error("correlated randomness does not fit the plan: {0}")]
    Material(String),
    /// The caller broke an API rule (never caused by peer data).
    #[error("protocol misuse: {0}")]
    Misuse(&'static str),
    /// A state the code should never reach (a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A circuit was given inconsistent wires (a bug).
    #[error("internal circuit error: {0}")]
    Circuit(#[from] CircuitError),
}

impl From<OpenError> for ProtocolError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Channel(c) => ProtocolError::Channel(c),
            OpenError::Decode(d) => ProtocolError::Peer(d),
        }
    }
}
