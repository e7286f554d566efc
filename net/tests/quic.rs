//! The QUIC transport over loopback: frames, timeouts, pinning and hang-ups.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use veil_net::{connect, Connection, Identity, KnownHosts, Listener, NetError, QuicTransport};
use veil_protocol::channel::{Channel, ChannelError, Transport};

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
const CONNECT: Duration = Duration::from_secs(5);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A listener and one connection to it, both ends authenticated.
struct Link {
    rt: Runtime,
    client: Connection,
    server: Connection,
    client_id: Identity,
    server_id: Identity,
    _listener: Listener,
}

fn link() -> Link {
    let rt = runtime();
    let client_id = Identity::ephemeral("client").unwrap();
    let server_id = Identity::ephemeral("server").unwrap();
    let (listener, client, server) = rt.block_on(async {
        let listener = Listener::bind(LOOPBACK, &server_id).unwrap();
        let addr = listener.local_addr().unwrap();
        let pins = KnownHosts::in_memory();
        let name = addr.to_string();
        let (client, server) = tokio::join!(
            connect(addr, &name, &client_id, &pins, CONNECT),
            listener.accept()
        );
        (listener, client.unwrap(), server.unwrap())
    });
    Link {
        rt,
        client,
        server,
        client_id,
        server_id,
        _listener: listener,
    }
}

impl Link {
    /// A transport pair: the client opens, the server accepts.
    fn transports(&self) -> (QuicTransport, QuicTransport) {
        let handle = self.rt.handle().clone();
        let a = QuicTransport::open(&self.client, handle.clone()).unwrap();
        let b = QuicTransport::accept(&self.server, handle).unwrap();
        (a, b)
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn both_ends_see_each_others_key() {
    let link = link();
    assert_eq!(link.client.peer_fingerprint(), link.server_id.fingerprint());
    assert_eq!(link.server.peer_fingerprint(), link.client_id.fingerprint());
    assert!(link.client.newly_pinned());
    assert!(!link.server.newly_pinned());
}

#[test]
fn frames_round_trip_both_ways_at_once() {
    let link = link();
    let (a, b) = link.transports();
    let sizes = [0usize, 1, 100, 70_000, 8 << 20, 5];
    let run = |mut t: QuicTransport, seed: u8| {
        thread::spawn(move || {
            // Even sizes go as owned buffers (handed to the stream whole when large).
            for &n in &sizes {
                match n % 2 {
                    0 => t.send_owned(pattern(n, seed)).unwrap(),
                    _ => t.send(&pattern(n, seed)).unwrap(),
                }
            }
            let got: Vec<Vec<u8>> = sizes.iter().map(|_| t.recv().unwrap()).collect();
            (t, got)
        })
    };
    let (ta, tb) = (run(a, 1), run(b, 2));
    let (a, from_b) = ta.join().unwrap();
    let (_b, from_a) = tb.join().unwrap();
    for (i, &n) in sizes.iter().enumerate() {
        assert_eq!(from_b[i], pattern(n, 2), "frame {i} to the client");
        assert_eq!(from_a[i], pattern(n, 1), "frame {i} to the server");
    }
    assert!(a.wire_bytes().unwrap() > 8 << 20);
}

#[test]
fn ping_pong_of_small_frames() {
    let link = link();
    let (mut a, mut b) = link.transports();
    const ROUNDS: usize = 2000;
    let echo = thread::spawn(move || {
        for _ in 0..ROUNDS {
            let frame = b.recv().unwrap();
            b.send(&frame).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..ROUNDS {
        let frame = (i as u64).to_le_bytes();
        a.send(&frame).unwrap();
        assert_eq!(a.recv().unwrap(), frame);
    }
    let per_round = start.elapsed() / ROUNDS as u32;
    eprintln!("ping-pong round trip over loopback QUIC: {per_round:?}");
    echo.join().unwrap();
}

#[test]
fn channel_runs_over_quic() {
    let link = link();
    let (a, b) = link.transports();
    let peer = thread::spawn(move || {
        let mut ch = Channel::new(b);
        let got = ch.recv().unwrap();
        ch.send(&got).unwrap();
        ch.clock()
    });
    let mut ch = Channel::new(a);
    ch.send(b"hello").unwrap();
    assert_eq!(ch.recv().unwrap(), b"hello");
    assert_eq!(ch.clock(), 2);
    assert_eq!(peer.join().unwrap(), 1);
    assert!(ch.wire_bytes().unwrap() > 0);
}

#[test]
fn unreachable_peer_fails_within_the_timeout() {
    let rt = runtime();
    let id = Identity::ephemeral("client").unwrap();
    // A port that was just free: nobody listens there.
    let addr = std::net::UdpSocket::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap();
    let timeout = Duration::from_secs(1);
    let start = Instant::now();
    let result = rt.block_on(connect(
        addr,
        "nobody",
        &id,
        &KnownHosts::in_memory(),
        timeout,
    ));
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Err(NetError::Unreachable { .. })),
        "{result:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
}

#[test]
fn changed_server_key_is_refused_naming_the_file() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let pins = KnownHosts::open(dir.path()).unwrap();
    let client_id = Identity::ephemeral("client").unwrap();
    let dial = |server_id: &Identity| {
        rt.block_on(async {
            let listener = std::sync::Arc::new(Listener::bind(LOOPBACK, server_id).unwrap());
            let addr = listener.local_addr().unwrap();
            let server = listener.clone();
            let accept = tokio::spawn(async move { server.accept().await });
            let result = connect(addr, "the-server", &client_id, &pins, CONNECT).await;
            accept.abort();
            result
        })
    };
    let first = Identity::ephemeral("server").unwrap();
    assert!(dial(&first).unwrap().newly_pinned());
    assert!(!dial(&first).unwrap().newly_pinned());
    let err = dial(&Identity::ephemeral("server").unwrap()).unwrap_err();
    let file = dir.path().join("known_hosts");
    match &err {
        NetError::KeyChanged {
            name,
            file: f,
            line,
        } => {
            assert_eq!((name.as_str(), f, *line), ("the-server", &file, 1));
        }
        other => panic!("expected KeyChanged, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text, format!("the-server {}\n", first.fingerprint()));
}

#[test]
fn dropped_peer_makes_recv_return_closed() {
    let link = link();
    let (mut a, mut b) = link.transports();
    a.send(b"one").unwrap();
    assert_eq!(b.recv().unwrap(), b"one");
    let Link { client, rt, .. } = link;
    drop(a);
    drop(client);
    let start = Instant::now();
    let result = b.recv();
    assert!(matches!(result, Err(ChannelError::Closed)), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(matches!(b.send(b"late"), Err(ChannelError::Closed)));
    drop(rt);
}

#[test]
fn finished_sender_delivers_its_last_frame() {
    let link = link();
    let (mut a, mut b) = link.transports();
    let last = pattern(3 << 20, 7);
    a.send(&last).unwrap();
    a.finish().unwrap();
    drop(a);
    link.rt.block_on(link.client.close());
    assert_eq!(b.recv().unwrap(), last);
}

#[test]
fn too_large_frame_is_malformed() {
    let link = link();
    let (mut a, b) = link.transports();
    let mut b = b.with_max_frame(1024);
    a.send(&[0u8; 1024]).unwrap();
    assert_eq!(b.recv().unwrap().len(), 1024);
    a.send(&[0u8; 1025]).unwrap();
    assert!(matches!(b.recv(), Err(ChannelError::Malformed(_))));
    let mut a = a.with_max_frame(16);
    assert!(matches!(
        a.send(&[0u8; 17]),
        Err(ChannelError::Malformed(_))
    ));
}

#[test]
fn recv_timeout_is_resumable() {
    let link = link();
    let (mut a, b) = link.transports();
    let mut b = b.with_timeout(Duration::from_millis(200));
    let start = Instant::now();
    assert!(matches!(b.recv(), Err(ChannelError::Timeout)));
    assert!(start.elapsed() < Duration::from_secs(2));
    a.send(b"late but fine").unwrap();
    assert_eq!(b.recv().unwrap(), b"late but fine");
}
