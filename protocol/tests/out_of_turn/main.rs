//! Every state of a session, sent a message out of turn (or bytes that do not decode),
//! ends in a typed error: never a panic, never a hang.
//!
//! Each test plays the other side by hand over a [`MemTransport`] pair: a [`Channel`] on
//! the far end sends encoded `ToServer` / `ToClient` / `ToDealer` / `FromDealer` messages
//! (or raw frames) and reads what the state machine under test sent. Where a state can
//! only be reached after setup, the fake peer runs the engine's setup itself
//! ([`ServerSetup`] / [`ClientSetup`]) on a thread of its own, with a dealer (the fake
//! dealer's answers queued in advance) or dealer-free. Every case is timed: a state
//! machine that waited for a message that never comes would take MemTransport's 60 s.

#[path = "../common/mod.rs"]
mod common;

mod client_side;
mod dealer_side;
mod server_side;

use std::collections::VecDeque;
use std::thread;
use std::time::{Duration, Instant};

use veil_protocol::channel::{Channel, ChannelError, MemTransport, Scope, Transport};
use veil_protocol::codec::Reader;
use veil_protocol::engine::{self, ClientSetup, PreparedQuery, Preprocessing, ServerSetup};
use veil_protocol::engine::{deal, ServerSource, SessionMasks};
use veil_protocol::material::{LinearPrep, MaterialMsg, OtKind};
use veil_protocol::plan::{Backend, Plan, Weights};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::session::client::{self, ExpectWelcome, Kept, Options, Spent, Welcomed};
use veil_protocol::session::dealer::{self, Sessions};
use veil_protocol::session::server::{
    self, Dealing, ExpectHello, First, HostedModel, Hosting, Precomputed, Request, Served,
};
use veil_protocol::session::{
    Dial, Dialed, KeptBatch, KeptStore, MemStore, Party, PeerError, QueryReport, SessionError,
    Usage,
};
use veil_protocol::share::Role;
use veil_protocol::wire::{
    tallies, BatchId, DealerInfo, FromDealer, SessionId, ToClient, ToDealer, ToServer,
};
use veil_protocol::ProtocolError;

use common::{mlp, plain, FIXED};

const SERVER: &str = "server.test:4433";
const SERVER_KEY: &str = "5e5e5e";
const DEALER: &str = "dealer.test:4434";
const DEALER_KEY: &str = "dededede";
const CLIENT_KEY: &str = "c1c1c1";
/// The model's name at the server.
const MODEL: &str = "mlp";
/// The dealer session the fake server and the fake dealer announce.
const SESSION: SessionId = SessionId([0x55; 16]);
/// The session mask seed the fake dealer gives the fake server.
const MASK_SEED: Seed = Seed([0x33; 16]);
/// The batch of kept queries the tests use.
const BATCH: BatchId = BatchId([0x77; 16]);
/// A small model: 6 → 4 → ReLU → 3.
const SIZES: [usize; 3] = [6, 4, 3];
/// The longest one case may take; a hang would take MemTransport's 60 s.
const QUICK: Duration = Duration::from_secs(5);

fn model() -> (Plan, Weights) {
    mlp(&SIZES, FIXED, &mut rng(1))
}

fn rng(n: u8) -> Prg {
    Prg::new(Seed([n; 16]))
}

fn options(dealer: Option<&str>) -> Options {
    Options {
        server: SERVER.into(),
        model: None,
        backend: Backend::Gmw,
        dealer: dealer.map(str::to_string),
        label_only: false,
    }
}

fn dialed(transport: MemTransport, key: &str) -> Dialed<MemTransport> {
    Dialed {
        transport,
        key: key.into(),
        newly_pinned: false,
    }
}

/// Hands out prepared transports in order, and records the names dialled; with none left
/// a dial fails as an unreachable peer would.
#[derive(Default)]
struct Handing {
    queue: VecDeque<Dialed<MemTransport>>,
    dialled: Vec<String>,
}

impl Handing {
    fn new(peers: Vec<Dialed<MemTransport>>) -> Handing {
        Handing {
            queue: peers.into(),
            dialled: Vec::new(),
        }
    }
}

impl Dial for Handing {
    type Transport = MemTransport;

    fn dial(&mut self, name: &str) -> Result<Dialed<MemTransport>, SessionError> {
        self.dialled.push(name.to_string());
        self.queue
            .pop_front()
            .ok_or_else(|| SessionError::connection(format!("nobody answers at {name}")))
    }
}

/// What a fake peer puts on the wire.
#[derive(Clone, Debug)]
enum Frame {
    /// A payload, stamped by the channel as usual.
    Payload(Vec<u8>),
    /// A raw frame, stamp and all, straight onto the transport.
    Raw(Vec<u8>),
}

/// Bytes that do not decode.
struct Junk {
    name: &'static str,
    frame: Frame,
}

/// Malformed variations of `valid` (an encoded message with a body): none decodes.
fn junk(valid: &[u8]) -> Vec<Junk> {
    assert!(valid.len() > 1, "the valid message needs a body");
    let mut trailing = valid.to_vec();
    trailing.push(0);
    let mut stamped = valid.to_vec();
    stamped.extend_from_slice(&u64::MAX.to_le_bytes());
    vec![
        Junk {
            name: "an empty message",
            frame: Frame::Payload(Vec::new()),
        },
        Junk {
            name: "an unknown tag",
            frame: Frame::Payload(vec![0xEE]),
        },
        Junk {
            name: "a trailing byte",
            frame: Frame::Payload(trailing),
        },
        Junk {
            name: "a message cut short",
            frame: Frame::Payload(valid[..valid.len() - 1].to_vec()),
        },
        Junk {
            name: "a frame shorter than its round stamp",
            frame: Frame::Raw(vec![1, 2, 3]),
        },
        Junk {
            name: "a round stamp out of range",
            frame: Frame::Raw(stamped),
        },
    ]
}

fn put(ch: &mut Channel<MemTransport>, frame: &Frame) {
    match frame {
        Frame::Payload(p) => ch.send(p).expect("the fake peer sends"),
        Frame::Raw(r) => ch.transport_mut().send(r).expect("the fake peer sends"),
    }
}

fn payload(msg: Vec<u8>) -> Frame {
    Frame::Payload(msg)
}

/// True if `e` is what `frame` (junk) should give: a decode error for a payload, a
/// malformed frame for a raw one.
fn is_junk_error(frame: &Frame, e: &SessionError) -> bool {
    match frame {
        Frame::Payload(_) => matches!(
            e,
            SessionError::Peer(PeerError::Protocol(ProtocolError::Peer(_)))
        ),
        Frame::Raw(_) => matches!(
            e,
            SessionError::Peer(PeerError::Protocol(ProtocolError::Channel(
                ChannelError::Malformed(_)
            )))
        ),
    }
}

fn is_out_of_turn(e: &SessionError, who: Party) -> bool {
    matches!(e, SessionError::Peer(PeerError::OutOfTurn(p)) if *p == who)
}

/// The error of a step that must fail.
fn failed<T>(r: Result<T, SessionError>, what: &str) -> SessionError {
    match r {
        Ok(_) => panic!("{what}: succeeded, but it must fail"),
        Err(e) => e,
    }
}

/// Runs one case, failing it if it took long enough to have waited on a silent peer.
fn quick<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    assert!(
        took < QUICK,
        "{what}: took {took:?}, as if waiting for a message"
    );
    r
}

fn stats() -> ToClient {
    ToClient::Stats {
        peer: Vec::new(),
        dealer: Vec::new(),
    }
}

fn welcome(plan: &Plan) -> ToClient {
    ToClient::Welcome {
        plan: plan.clone(),
        session: SESSION,
        dealer: DealerInfo {
            addr: DEALER.into(),
            fingerprint: DEALER_KEY.into(),
        },
    }
}

fn refusal(bad_request: bool) -> ToClient {
    ToClient::Refused {
        bad_request,
        reason: "no thanks".into(),
    }
}

fn recv_to_client(ch: &mut Channel<MemTransport>) -> ToClient {
    let msg = ch.recv().expect("the fake client receives");
    ToClient::decode(&msg).expect("the server's message decodes")
}

fn recv_to_server(ch: &mut Channel<MemTransport>) -> ToServer {
    let msg = ch.recv().expect("the fake server receives");
    ToServer::decode(&msg).expect("the client's message decodes")
}

fn recv_from_dealer(ch: &mut Channel<MemTransport>) -> FromDealer {
    let msg = ch.recv().expect("the fake party receives");
    FromDealer::decode(&msg).expect("the dealer's message decodes")
}

fn recv_to_dealer(ch: &mut Channel<MemTransport>) -> ToDealer {
    let msg = ch.recv().expect("the fake dealer receives");
    ToDealer::decode(&msg).expect("the party's message decodes")
}

/// Asserts that the peer has hung up: nothing more is coming.
fn assert_closed(ch: &mut Channel<MemTransport>, what: &str) {
    match ch.recv() {
        Err(ChannelError::Closed) => {}
        Ok(m) => panic!("{what}: expected the connection to end, got {m:?}"),
        Err(e) => panic!("{what}: expected the connection to end, got {e:?}"),
    }
}

/// Asserts that the client was refused (not as a bad request) and the server hung up.
fn assert_refused_client(ch: &mut Channel<MemTransport>, what: &str) -> String {
    let reason = match recv_to_client(ch) {
        ToClient::Refused {
            bad_request: false,
            reason,
        } => reason,
        other => panic!("{what}: the client expected a refusal, got {other:?}"),
    };
    assert_closed(ch, what);
    reason
}

/// Whether the session's material comes from a dealer or is made by the two parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Dealer,
    TwoParty,
}

const MODES: [Mode; 2] = [Mode::Dealer, Mode::TwoParty];

impl Mode {
    /// How a server in this mode deals (without a dealer, the linear layers by RLWE).
    fn dealing(self) -> Dealing {
        match self {
            Mode::Dealer => Dealing::Dealer(DEALER.into()),
            Mode::TwoParty => Dealing::TwoParty(LinearPrep::He, OtKind::default()),
        }
    }
}

/// The fake server's end of a session after setup.
struct FakeServer {
    ch: Channel<MemTransport>,
    setup: ServerSetup,
    rng: Prg,
}

impl FakeServer {
    fn recv(&mut self) -> ToServer {
        recv_to_server(&mut self.ch)
    }

    fn send(&mut self, msg: &ToClient) {
        self.ch.send(&msg.encode()).expect("the fake server sends");
    }

    /// One query's offline phase: with the dealer's `material`, or made with the client.
    fn offline(&mut self, material: Option<MaterialMsg>) {
        let material = match material {
            Some(msg) => self.setup.expand(msg),
            None => self.setup.make(&mut self.ch),
        }
        .expect("the fake server's material");
        self.setup
            .offline(&mut self.ch, material, &mut self.rng)
            .expect("the fake server's offline phase");
    }

    /// The meters, as the real server sends them after a query.
    fn send_stats(&mut self) {
        self.ch.enter(Scope::CONTROL);
        let stats = ToClient::Stats {
            peer: tallies(&self.ch.take_meter()),
            dealer: Vec::new(),
        };
        self.send(&stats);
    }
}

/// `n` queries' material from the fake dealer: the server's share, and the client's as
/// the dealer sends it.
fn dealt(n: usize) -> (Vec<MaterialMsg>, Vec<Frame>) {
    let (plan, _) = model();
    let masks = SessionMasks::expand(&plan, MASK_SEED);
    let mut rng = rng(4);
    (0..n)
        .map(|_| {
            let (server, client) = deal(&masks, &mut rng);
            (
                server,
                payload(FromDealer::Material(client.encode()).encode()),
            )
        })
        .unzip()
}

/// Opens a real client session against a fake server (and, in dealer mode, a fake dealer
/// that answers the join, then sends `dealer_sends` in order), then runs `server` on the
/// fake server's end and `client` on the open session, at once.
fn with_client_open<RS: Send, RC>(
    mode: Mode,
    dealer_sends: &[Frame],
    server: impl FnOnce(FakeServer) -> RS + Send,
    client: impl FnOnce(client::Open<MemTransport>, &mut Prg) -> RC,
) -> (RS, RC) {
    let (plan, weights) = model();
    let (plan, weights) = (&plan, &weights);
    let (c_end, s_end) = MemTransport::pair();
    let (d_near, d_far) = MemTransport::pair();
    let mut dealer = Channel::new(d_far);
    if mode == Mode::Dealer {
        dealer
            .send(&FromDealer::Joined.encode())
            .expect("the fake dealer sends");
        dealer_sends.iter().for_each(|f| put(&mut dealer, f));
    }
    let out = thread::scope(|s| {
        let fake = s.spawn(move || {
            let mut ch = Channel::new(s_end);
            let mut rng = rng(2);
            match recv_to_server(&mut ch) {
                ToServer::Hello { .. } => {}
                other => panic!("the fake server expected a hello, got {other:?}"),
            }
            let masks = SessionMasks::expand(plan, MASK_SEED);
            let (welcome, source) = match mode {
                Mode::Dealer => (welcome(plan), ServerSource::Dealer(&masks)),
                Mode::TwoParty => (
                    ToClient::WelcomeTwoParty {
                        plan: plan.clone(),
                        linear: LinearPrep::He,
                        ot: OtKind::default(),
                    },
                    ServerSource::TwoParty(LinearPrep::He, OtKind::default()),
                ),
            };
            ch.send(&welcome.encode()).expect("the fake server sends");
            let setup = ServerSetup::run(&mut ch, plan, weights, source, &mut rng)
                .expect("the fake server's setup");
            server(FakeServer { ch, setup, rng })
        });
        let opts = options(None);
        let mut rng = rng(3);
        let welcomed = ExpectWelcome::new(dialed(c_end, SERVER_KEY))
            .hello(&opts)
            .expect("the welcome");
        let setup = match welcomed {
            Welcomed::Dealer(join) => {
                let dealer = dialed(d_near, DEALER_KEY);
                join.join(dealer, &opts).expect("the join").0
            }
            Welcomed::TwoParty(setup) => setup,
        };
        let open = setup.setup(&mut rng).expect("the client's setup");
        assert_eq!(open.has_dealer(), mode == Mode::Dealer);
        let rc = client(open, &mut rng);
        let rs = fake.join().expect("the fake server panicked");
        (rs, rc)
    });
    drop(dealer);
    out
}

/// A batch in a fresh store.
fn batch() -> (MemStore, <MemStore as KeptStore>::Batch) {
    let store = MemStore::new();
    let batch = store
        .create(SERVER, BATCH, b"header")
        .expect("the batch is created");
    (store, batch)
}
