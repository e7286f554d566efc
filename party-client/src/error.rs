//! Why a client session failed, and which exit code that means.

use veil_model::InputError;
use veil_net::NetError;
use veil_protocol::channel::ChannelError;
use veil_protocol::codec::DecodeError;
use veil_protocol::ProtocolError;

/// Why a client session or query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The input file or its values do not fit the model.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A connection failed or a key was refused.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The protocol failed (the peer hung up, timed out or sent garbage).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The server refused the request.
    #[error("the server refused: {reason}")]
    Refused {
        /// True if the request was at fault (an unknown model name).
        bad_request: bool,
        /// The server's reason.
        reason: String,
    },
    /// The dealer refused to join or serve.
    #[error("the dealer refused: {0}")]
    DealerRefused(String),
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

impl ClientError {
    /// The process exit code of CONTRACT.md: 2 for bad usage or input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Input(_)
            | ClientError::Net(NetError::Resolve { .. })
            | ClientError::DealerUnused { .. }
            | ClientError::Refused {
                bad_request: true, ..
            } => 2,
            _ => 1,
        }
    }
}

impl From<ChannelError> for ClientError {
    fn from(e: ChannelError) -> Self {
        ClientError::Protocol(e.into())
    }
}

impl From<DecodeError> for ClientError {
    fn from(e: DecodeError) -> Self {
        ClientError::Protocol(e.into())
    }
}
