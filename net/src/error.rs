//! Why a network or state-folder operation failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use veil_protocol::session::SessionError;

/// Why setting up identities, pins or connections failed.
///
/// Messages are one or two plain sentences: what went wrong and what to do. They never
/// carry key material; fingerprints are public and may appear.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetError {
    /// Nothing answered at the address within the connect timeout.
    #[error(
        "could not reach {addr} within {timeout:?}; check that the peer is running and \
         that the address and port are right"
    )]
    Unreachable {
        /// The address dialled.
        addr: SocketAddr,
        /// How long we waited.
        timeout: Duration,
    },
    /// The QUIC/TLS handshake with the peer failed.
    #[error("the secure handshake with {addr} failed: {source}")]
    Handshake {
        /// The peer's address.
        addr: SocketAddr,
        /// What quinn reported.
        #[source]
        source: quinn::ConnectionError,
    },
    /// The peer presented a different key than the one pinned for its name.
    #[error(
        "the key of {name} changed (pinned in {}, line {line}); if the change is expected, \
         delete that line",
        file.display()
    )]
    KeyChanged {
        /// The name or address the key was pinned under.
        name: String,
        /// The known-hosts file holding the pin.
        file: PathBuf,
        /// The 1-based line of the pin in that file.
        line: usize,
    },
    /// The peer presented no usable certificate.
    #[error("the peer at {addr} presented no certificate; it is not a veil peer")]
    NoPeerCertificate {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// The local UDP socket could not be bound.
    #[error("could not listen on {addr}: {source}; pick another address or port")]
    Bind {
        /// The local address asked for.
        addr: SocketAddr,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// quinn refused to start a connection (e.g. an unusable remote address).
    #[error("could not start a connection to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// What quinn reported.
        #[source]
        source: quinn::ConnectError,
    },
    /// An established connection failed while opening or accepting a stream.
    #[error("the connection to the peer was lost: {0}")]
    ConnectionLost(#[from] quinn::ConnectionError),
    /// The peer's first bytes on a new stream were not a veil stream hello, or only one
    /// end of the connection is shaped.
    #[error("the peer opened a stream that is not a veil channel, or not shaped as ours")]
    BadHello,
    /// The peer closed a new stream before it was set up.
    #[error("the peer closed the channel while it was being set up")]
    StreamClosed,
    /// The peer did not do its part in time.
    #[error("timed out after {after:?} waiting for {what}; the peer may be stuck or gone")]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The listener was closed; no more connections will arrive.
    #[error("the listener was closed")]
    ListenerClosed,
    /// Reading or writing a file in the state folder failed.
    #[error("could not access {}: {source}", path.display())]
    State {
        /// The file or folder.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// A file in the state folder holds something that cannot be used.
    #[error("{} is not usable ({reason}); fix or delete it", location(path, *line))]
    BadStateFile {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when the problem is on one line.
        line: Option<usize>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A role name cannot be used in a file name.
    #[error("{0:?} is not a valid role name (use lowercase letters, digits and '-')")]
    InvalidRole(String),
    /// A peer name cannot be written to the known-hosts file.
    #[error("{0:?} cannot be pinned: names must be non-empty and contain no whitespace")]
    InvalidName(String),
    /// An address did not resolve to a socket address.
    #[error("cannot resolve the address {addr:?}: {detail}; write it as host:port")]
    Resolve {
        /// The address as given.
        addr: String,
        /// What went wrong.
        detail: String,
    },
    /// A string is not a key fingerprint.
    #[error("{0:?} is not a key fingerprint (expected 64 hex digits)")]
    InvalidFingerprint(String),
    /// A certificate could not be generated.
    #[error("could not generate a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The TLS configuration could not be built.
    #[error("could not configure TLS: {0}")]
    Tls(#[from] rustls::Error),
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("line {line} of {}", path.display()),
        None => path.display().to_string(),
    }
}

/// Network failures by fault, for a session: an address that does not resolve is the
/// user's; a peer that cannot be reached, fails the handshake or shows another key is the
/// peer's; the local socket, files and TLS set-up are this machine's.
impl From<NetError> for SessionError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Resolve { .. } => SessionError::usage(e),
            NetError::Unreachable { .. }
            | NetError::Handshake { .. }
            | NetError::KeyChanged { .. }
            | NetError::NoPeerCertificate { .. }
            | NetError::ConnectionLost(_)
            | NetError::BadHello
            | NetError::StreamClosed
            | NetError::Timeout { .. } => SessionError::connection(e),
            _ => SessionError::local(e),
        }
    }
}
