//! QUIC endpoints: a mutual-TLS [`Listener`], [`connect`] with key pinning, and the
//! [`Connection`] both produce.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls_pki_types::CertificateDer;

use crate::identity::CERT_NAME;
use crate::pins::{Pin, PinStatus};
use crate::shaper::LinkShape;
use crate::tls::{client_config, server_config, PinVerifier};
use crate::{Fingerprint, Identity, KnownHosts, NetError};

/// How long [`connect`] waits for a peer by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a listener gives one incoming handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive pings while a connection is quiet.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A connection with no packets from the peer for this long is dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

const STREAM_WINDOW: u32 = 64 << 20;
const CONNECTION_WINDOW: u32 = 128 << 20;
/// UDP socket buffers asked of the kernel (which caps them at `net.core.rmem_max` /
/// `wmem_max`). The default, ~208 KiB, overflows while a peer streams tables at full
/// speed: on loopback 1.5 % of packets were dropped, and every drop halved the window.
const SOCKET_BUFFER: usize = 8 << 20;

/// quinn settings for bulk protocol traffic with prompt detection of a vanished peer.
fn transport_config() -> Arc<TransportConfig> {
    let mut config = TransportConfig::default();
    config
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .receive_window(VarInt::from_u32(CONNECTION_WINDOW))
        .send_window(u64::from(CONNECTION_WINDOW))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(idle_timeout()))
        .max_concurrent_uni_streams(VarInt::from_u32(0));
    Arc::new(config)
}

fn idle_timeout() -> IdleTimeout {
    // 30 000 ms fits a VarInt by far.
    IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT.as_millis() as u32))
}

/// A UDP socket accepting veil connections. Every client must present a certificate;
/// any self-signed one is accepted, and the application binds roles to
/// [`Connection::peer_fingerprint`].
#[derive(Debug)]
pub struct Listener {
    endpoint: quinn::Endpoint,
    shape: Option<LinkShape>,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port) as `identity`. Must be called inside
    /// a Tokio runtime (or with its handle entered).
    pub fn bind(addr: SocketAddr, identity: &Identity) -> Result<Listener, NetError> {
        let tls = QuicServerConfig::try_from(server_config(identity)?).map_err(no_suite)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(tls));
        config.transport_config(transport_config());
        let endpoint =
            endpoint(Some(config), addr).map_err(|source| NetError::Bind { addr, source })?;
        Ok(Listener {
            endpoint,
            shape: None,
        })
    }

    /// Shapes every connection accepted from now on (see [`crate::shaper`]): for
    /// benchmarks, with peers that shape their end the same way.
    pub fn with_shape(mut self, shape: LinkShape) -> Listener {
        self.shape = Some(shape);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.endpoint.local_addr().map_err(|source| NetError::Bind {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            source,
        })
    }

    /// The next connection whose handshake succeeds. Failed handshakes are logged and
    /// skipped; each gets at most [`HANDSHAKE_TIMEOUT`]. Fails only once the listener is
    /// closed ([`NetError::ListenerClosed`]).
    pub async fn accept(&self) -> Result<Connection, NetError> {
        loop {
            let incoming = self.incoming().await?;
            let from = incoming.remote_address();
            match incoming.establish().await {
                Ok(connection) => return Ok(connection),
                Err(err) => tracing::warn!(%from, "incoming connection failed: {err}"),
            }
        }
    }

    /// The next connection attempt, before its handshake: lets a server run handshakes
    /// concurrently with [`Incoming::establish`].
    pub async fn incoming(&self) -> Result<Incoming, NetError> {
        match self.endpoint.accept().await {
            Some(inner) => Ok(Incoming {
                inner,
                shape: self.shape,
            }),
            None => Err(NetError::ListenerClosed),
        }
    }

    /// Closes every connection and stops accepting; waits (at most a second) for the
    /// close to reach the peers.
    pub async fn close(&self) {
        self.endpoint.close(VarInt::from_u32(0), b"closing");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// A connection attempt that has reached a [`Listener`].
#[derive(Debug)]
pub struct Incoming {
    inner: quinn::Incoming,
    shape: Option<LinkShape>,
}

impl Incoming {
    /// Where the attempt comes from (not yet authenticated).
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Runs the handshake, within [`HANDSHAKE_TIMEOUT`].
    pub async fn establish(self) -> Result<Connection, NetError> {
        let addr = self.inner.remote_address();
        let connecting = self
            .inner
            .accept()
            .map_err(|source| NetError::Handshake { addr, source })?;
        let inner = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
            Ok(Ok(inner)) => inner,
            Ok(Err(source)) => return Err(NetError::Handshake { addr, source }),
            Err(_) => {
                return Err(NetError::Timeout {
                    what: "the handshake",
                    after: HANDSHAKE_TIMEOUT,
                })
            }
        };
        Ok(Connection::new(inner, None)?.with_shape(self.shape))
    }
}

/// Connects to `addr` as `identity`, checking the server's key against the pin of
/// `name` in `pins` (trust on first use: an unknown name is pinned, and
/// [`Connection::newly_pinned`] says so).
///
/// `name` is what the user typed (e.g. `127.0.0.1:4433` or `dealer.lan:4433`). Fails
/// with [`NetError::Unreachable`] if no handshake completes within `timeout`, and with
/// [`NetError::KeyChanged`] if the server's key differs from its pin.
pub async fn connect(
    addr: SocketAddr,
    name: &str,
    identity: &Identity,
    pins: &KnownHosts,
    timeout: Duration,
) -> Result<Connection, NetError> {
    let pin = pins.lookup(name)?;
    let verifier = Arc::new(PinVerifier::new(pin.map(|p| p.fingerprint)));
    let tls =
        QuicClientConfig::try_from(client_config(identity, verifier.clone())?).map_err(no_suite)?;
    let mut config = quinn::ClientConfig::new(Arc::new(tls));
    config.transport_config(transport_config());
    let endpoint = client_endpoint(addr)?;
    let connecting = endpoint
        .connect_with(config, addr, CERT_NAME)
        .map_err(|source| NetError::Connect { addr, source })?;
    let inner = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(inner)) => inner,
        Ok(Err(source)) => {
            let seen = verifier.seen();
            return Err(handshake_error(addr, name, pins, pin, seen, source));
        }
        Err(_) => return Err(NetError::Unreachable { addr, timeout }),
    };
    let connection = Connection::new(inner, Some(endpoint))?;
    match pins.pin(name, connection.peer) {
        Ok(status) => Ok(Connection {
            pin: Some(status),
            ..connection
        }),
        Err(err) => {
            connection
                .inner
                .close(VarInt::from_u32(1), b"key not trusted");
            Err(err)
        }
    }
}

fn client_endpoint(peer: SocketAddr) -> Result<quinn::Endpoint, NetError> {
    let local = match peer {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    endpoint(None, local).map_err(|source| NetError::Bind {
        addr: local,
        source,
    })
}

/// A quinn endpoint on a UDP socket bound to `addr` with [`SOCKET_BUFFER`]-sized buffers
/// (best effort: a kernel that refuses keeps its default). An IPv6 socket also takes
/// IPv4 where the system allows, as quinn's own constructors do.
fn endpoint(
    server: Option<quinn::ServerConfig>,
    addr: SocketAddr,
) -> std::io::Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    let sized = socket
        .set_recv_buffer_size(SOCKET_BUFFER)
        .and_then(|()| socket.set_send_buffer_size(SOCKET_BUFFER));
    if let Err(err) = sized {
        tracing::debug!(%err, "keeping the default UDP socket buffers");
    }
    socket.bind(&addr.into())?;
    let runtime =
        quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime found"))?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket.into(),
        runtime,
    )
}

fn handshake_error(
    addr: SocketAddr,
    name: &str,
    pins: &KnownHosts,
    pin: Option<Pin>,
    seen: Option<Fingerprint>,
    source: quinn::ConnectionError,
) -> NetError {
    if let (Some(pin), Some(seen)) = (pin, seen) {
        if pin.fingerprint != seen {
            return pins.key_changed(name, pin);
        }
    }
    match source {
        quinn::ConnectionError::TimedOut => NetError::Unreachable {
            addr,
            timeout: IDLE_TIMEOUT,
        },
        source => NetError::Handshake { addr, source },
    }
}

fn no_suite(_: quinn::crypto::rustls::NoInitialCipherSuite) -> NetError {
    NetError::Tls(rustls::Error::General(
        "the TLS provider lacks the cipher suite QUIC needs".into(),
    ))
}

/// An authenticated QUIC connection to one peer. Cloning is cheap and shares it.
#[derive(Clone, Debug)]
pub struct Connection {
    inner: quinn::Connection,
    peer: Fingerprint,
    pin: Option<PinStatus>,
    /// A client's own endpoint, kept alive as long as the connection.
    endpoint: Option<quinn::Endpoint>,
    shape: Option<LinkShape>,
}

impl Connection {
    fn new(
        inner: quinn::Connection,
        endpoint: Option<quinn::Endpoint>,
    ) -> Result<Connection, NetError> {
        let addr = inner.remote_address();
        let peer = inner
            .peer_identity()
            .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
            .and_then(|chain| chain.first().and_then(|c| Fingerprint::of_certificate(c)))
            .ok_or(NetError::NoPeerCertificate { addr })?;
        Ok(Connection {
            inner,
            peer,
            pin: None,
            endpoint,
            shape: None,
        })
    }

    /// Shapes the channels opened or accepted on this connection from now on (`None`:
    /// unshaped), for benchmarks; the peer must shape its end too ([`crate::shaper`]).
    pub fn with_shape(self, shape: Option<LinkShape>) -> Connection {
        Connection { shape, ..self }
    }

    /// The shape of this connection's channels, if they are shaped.
    pub fn shape(&self) -> Option<LinkShape> {
        self.shape
    }

    /// The fingerprint of the key the peer proved it holds.
    pub fn peer_fingerprint(&self) -> Fingerprint {
        self.peer
    }

    /// The peer's current address.
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// True if [`connect`] pinned the peer's key just now (first contact): the caller
    /// should tell the user once. Always false on a listener's connections.
    pub fn newly_pinned(&self) -> bool {
        self.pin == Some(PinStatus::NewlyPinned)
    }

    /// UDP bytes this connection has sent so far (QUIC and TLS overhead included).
    pub fn wire_bytes(&self) -> u64 {
        self.inner.stats().udp_tx.bytes
    }

    /// Closes the connection at once (unsent data is dropped: see `Transport::finish` of
    /// [`crate::QuicTransport`]) and waits, at most a second, for the close to reach the
    /// peer.
    pub async fn close(&self) {
        self.close_now();
        if let Some(endpoint) = &self.endpoint {
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
    }

    /// Closes the connection without waiting: the close goes out while the runtime runs.
    /// For drop paths; prefer [`Connection::close`], which waits for it to leave.
    pub fn close_now(&self) {
        self.inner.close(VarInt::from_u32(0), b"done");
    }

    /// Waits until the connection is closed, by either side or by the idle timeout.
    pub async fn closed(&self) {
        self.inner.closed().await;
    }

    /// The underlying quinn connection.
    pub fn quic(&self) -> &quinn::Connection {
        &self.inner
    }
}
