//! veil's network layer: QUIC (quinn + rustls with the ring provider) between the dealer,
//! server and client, with SSH-style key pinning instead of certificate authorities.
//!
//! - [`Identity`]: one long-term key and self-signed certificate per role, kept in the
//!   state folder ([`state_dir`]); peers know it by its [`Fingerprint`], the SHA-256 of
//!   the certificate's SubjectPublicKeyInfo.
//! - [`KnownHosts`]: `<name> <fingerprint>` pins, trust on first use; a changed key is
//!   refused with [`NetError::KeyChanged`] naming the line to delete.
//! - [`Listener`] and [`connect`]: mutual TLS 1.3, ALPN `veil/1`. The client checks the
//!   server against its pin; the server accepts any client key and exposes its
//!   fingerprint so the application can bind roles to it.
//! - [`QuicTransport`]: the protocol's blocking
//!   [`Transport`](veil_protocol::channel::Transport) over one QUIC stream.
//! - [`QuicDialer`]: how a session ([`veil_protocol::session`]) reaches its peers.
//! - [`Store`]: queries made ahead of time, waiting in the state folder; each piece is
//!   removed for good before it is used (the session's
//!   [`KeptStore`](veil_protocol::session::KeptStore)).
//! - [`shaper`]: delays frames as a link of given bandwidth and round-trip time would, so
//!   benchmarks on loopback can stand in for a LAN or a WAN.
//!
//! Who learns what: a passive observer learns packet sizes and timing only; each peer
//! learns the other's public key fingerprint.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
mod dial;
mod endpoint;
mod error;
mod fingerprint;
mod identity;
mod pins;
mod serve;
pub mod shaper;
mod state;
mod store;
mod tls;
mod transport;

pub use dial::QuicDialer;
pub use endpoint::{
    connect, Connection, Incoming, Listener, DEFAULT_CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT, KEEP_ALIVE,
};
pub use error::NetError;
pub use fingerprint::Fingerprint;
pub use identity::Identity;
pub use pins::{KnownHosts, Pin, PinStatus, KNOWN_HOSTS};
pub use serve::serve_blocking;
pub use shaper::LinkShape;
pub use state::{resolve, state_dir};
pub use store::{Batch, Store};
pub use transport::{QuicTransport, DEFAULT_TIMEOUT, MAX_FRAME};

/// The ALPN protocol name every veil endpoint speaks; a new wire format gets a new name.
pub const ALPN: &[u8] = b"veil/1";
