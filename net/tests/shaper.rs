//! Shaped QUIC links on loopback: the meters read exactly what was sent, and the wall
//! clock shows the link's round trips and transmit times.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use veil_net::{
    connect, Connection, Identity, KnownHosts, LinkShape, Listener, NetError, QuicTransport,
};
use veil_protocol::channel::{Channel, Phase, Scope, Transport};

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
const CONNECT: Duration = Duration::from_secs(5);
/// Scheduling noise allowed on a shared, busy machine.
const SLACK: Duration = Duration::from_millis(150);

/// Both ends of one stream, and what must live as long as they do.
struct Pair {
    opened: QuicTransport,
    accepted: QuicTransport,
    _held: (Connection, Connection, Listener),
}

/// A stream over a connection shaped as `client` at the opening end and as `server` at
/// the accepting end (`None`: that end unshaped).
fn pair(
    rt: &Runtime,
    client: Option<LinkShape>,
    server: Option<LinkShape>,
) -> Result<Pair, NetError> {
    let client_id = Identity::ephemeral("client")?;
    let server_id = Identity::ephemeral("server")?;
    let (listener, client, server) = rt.block_on(async {
        let mut listener = Listener::bind(LOOPBACK, &server_id)?;
        if let Some(shape) = server {
            listener = listener.with_shape(shape);
        }
        let addr = listener.local_addr()?;
        let (pins, name) = (KnownHosts::in_memory(), addr.to_string());
        let (c, s) = tokio::join!(
            connect(addr, &name, &client_id, &pins, CONNECT),
            listener.accept()
        );
        Ok::<_, NetError>((listener, c?.with_shape(client), s?))
    })?;
    Ok(Pair {
        opened: QuicTransport::open(&client, rt.handle().clone())?,
        accepted: QuicTransport::accept(&server, rt.handle().clone())?,
        _held: (client, server, listener),
    })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn shaped(mbps: f64, rtt_ms: u64) -> Option<LinkShape> {
    Some(LinkShape {
        bandwidth: mbps * 1e6,
        rtt: Duration::from_millis(rtt_ms),
    })
}

#[test]
fn ten_round_trips_cost_their_bytes_their_rounds_and_ten_rtts() {
    let rt = runtime();
    // Fast enough that transmission is negligible: the round trips dominate.
    let shape = shaped(1000.0, 20);
    let Pair {
        opened,
        accepted,
        _held,
    } = pair(&rt, shape, shape).unwrap();
    let echo = thread::spawn(move || {
        let mut ch = Channel::new(accepted);
        ch.enter(Scope::phase(Phase::Online));
        for _ in 0..10 {
            let got = ch.recv().unwrap();
            ch.send(&[got.len() as u8; 200]).unwrap();
        }
        ch.meter().tally(Scope::phase(Phase::Online))
    });
    let mut ch = Channel::new(opened);
    ch.enter(Scope::phase(Phase::Online));
    let start = Instant::now();
    for _ in 0..10 {
        ch.send(&[7u8; 100]).unwrap();
        assert_eq!(ch.recv().unwrap(), vec![100u8; 200]);
    }
    let elapsed = start.elapsed();
    let mine = ch.meter().tally(Scope::phase(Phase::Online));
    let theirs = echo.join().unwrap();
    assert_eq!((mine.sent, mine.received), (1000, 2000));
    assert_eq!((theirs.sent, theirs.received), (2000, 1000));
    assert_eq!(mine.rounds(), 20, "ten round trips are twenty rounds");
    let rtts = Duration::from_millis(200);
    assert!(elapsed >= rtts, "{elapsed:?} < {rtts:?}");
    assert!(elapsed < rtts + SLACK, "{elapsed:?} is far above {rtts:?}");
}

#[test]
fn a_megabyte_at_ten_megabytes_a_second_takes_a_tenth_of_a_second() {
    let rt = runtime();
    let shape = shaped(10.0, 0);
    let mut p = pair(&rt, shape, shape).unwrap();
    let (a, b) = (&mut p.opened, &mut p.accepted);
    let frame = vec![0xa5u8; 1_000_000];
    let start = Instant::now();
    a.send(&frame).unwrap();
    a.flush().unwrap();
    assert_eq!(b.recv().unwrap(), frame);
    let elapsed = start.elapsed();
    let transmit = Duration::from_millis(100);
    assert!(elapsed >= transmit, "{elapsed:?} < {transmit:?}");
    assert!(
        elapsed < transmit + SLACK,
        "{elapsed:?} is far above {transmit:?}"
    );
}

#[test]
fn frames_wait_for_the_link_to_finish_the_previous_one() {
    let rt = runtime();
    let shape = shaped(10.0, 10);
    let mut p = pair(&rt, shape, shape).unwrap();
    let (a, b) = (&mut p.opened, &mut p.accepted);
    let start = Instant::now();
    // Two half-megabyte frames sent at once: the second is transmitted after the first.
    a.send(&[1u8; 500_000]).unwrap();
    a.send(&[2u8; 500_000]).unwrap();
    assert_eq!(b.recv().unwrap()[0], 1);
    let first = start.elapsed();
    assert_eq!(b.recv().unwrap()[0], 2);
    let second = start.elapsed();
    assert!(first >= Duration::from_millis(55), "{first:?}");
    assert!(second >= Duration::from_millis(105), "{second:?}");
}

#[test]
fn shaping_one_end_only_is_refused() {
    let rt = runtime();
    let e = pair(&rt, None, shaped(10.0, 10)).err().expect("a mismatch");
    assert!(matches!(e, NetError::BadHello), "{e}");
}
