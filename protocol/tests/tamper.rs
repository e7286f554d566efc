//! A peer that misbehaves gets a typed error, never a panic or a hang.
//!
//! A tampering transport sits on one party's end and spoils the N-th frame that party
//! sends (frames are `8-byte round stamp || payload`): it flips a payload byte, cuts the
//! payload short, appends bytes, sends a frame shorter than a stamp, replaces the stamp
//! with garbage, or hangs up (drops the pipe, so that the other end sees the close at
//! once: nothing here waits for MemTransport's 60 s timeout). Every frame position of one
//! session (setup and one query), in both directions, is tried with every fault.
//! Undetectable faults (a flipped payload bit: the protocol is semi-honest) must still
//! end both parties without a panic.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_protocol::channel::{Channel, ChannelError, MemTransport, Phase, Scope, Transport};
use veil_protocol::codec::DecodeError;
use veil_protocol::engine::{self, ClientSetup, Preprocessing, ServerSetup, ServerSource};
use veil_protocol::engine::{correction_len, deal, SessionMasks};
use veil_protocol::layers::relu_gmw as relu;
use veil_protocol::material::MaterialMsg;
use veil_protocol::plan::{Plan, Weights};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::ring::Ring;
use veil_protocol::share::Role;
use veil_protocol::ProtocolError;

use common::{mlp, plain, run_session, Sides, TestSeed, FIXED, SIZES};

/// Bytes the `Extend` fault appends (not a multiple of 8, so not a whole ring element).
const EXTRA: usize = 3;

/// The longest a tampered session may take; a hang would take MemTransport's 60 s.
const QUICK: Duration = Duration::from_secs(5);

/// What the tamperer does to its chosen frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// XOR 0x81 into the payload byte at this index (modulo the payload length): its
    /// lowest bit, and its highest, which is padding in the last byte of a bit stream.
    Flip(usize),
    /// Drop the payload's last byte.
    Truncate,
    /// Append [`EXTRA`] bytes.
    Extend,
    /// Send 5 bytes: less than a round stamp.
    Runt,
    /// Replace the stamp with a value no real clock reaches.
    BadStamp,
    /// Drop the pipe instead of sending: the peer hung up.
    HangUp,
}

const DETECTABLE: [Fault; 5] = [
    Fault::Truncate,
    Fault::Extend,
    Fault::Runt,
    Fault::BadStamp,
    Fault::HangUp,
];

/// Which party's sends are tampered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    ClientToServer,
    ServerToClient,
}

/// Forwards frames, spoiling the one at index `at` with `fault`.
struct Tamper<T> {
    inner: Option<T>,
    at: usize,
    fault: Fault,
    sent: Arc<AtomicUsize>,
    fired: Arc<AtomicBool>,
}

impl<T: Transport> Transport for Tamper<T> {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        let index = self.sent.fetch_add(1, Ordering::SeqCst);
        let inner = self.inner.as_mut().ok_or(ChannelError::Closed)?;
        if index != self.at {
            return inner.send(frame);
        }
        self.fired.store(true, Ordering::SeqCst);
        assert!(frame.len() > 8, "every protocol frame has a payload");
        // The payload, then the 8-byte round stamp.
        let mut f = frame.to_vec();
        let stamp_at = f.len() - 8;
        match self.fault {
            Fault::Flip(i) => f[i % stamp_at] ^= 0x81,
            Fault::Truncate => {
                f.remove(stamp_at - 1);
            }
            Fault::Extend => {
                f.splice(stamp_at..stamp_at, [0xa5; EXTRA]);
            }
            Fault::Runt => f.truncate(5),
            Fault::BadStamp => {
                f[stamp_at..].copy_from_slice(&0xa5a5_a5a5_a5a5_a5a5u64.to_le_bytes())
            }
            Fault::HangUp => {
                self.inner = None;
                return Err(ChannelError::Closed);
            }
        }
        inner.send(&f)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.as_mut().ok_or(ChannelError::Closed)?.recv()
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        self.inner.as_mut().ok_or(ChannelError::Closed)?.flush()
    }
}

/// The test model, with one input.
struct Fixture {
    plan: Plan,
    weights: Weights,
    input: Vec<Ring>,
}

impl Fixture {
    fn new(seed: &TestSeed) -> Fixture {
        let mut rng = seed.prg();
        let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
        let input = (0..SIZES[0])
            .map(|_| FIXED.encode(common::unit(&mut rng)))
            .collect();
        Fixture {
            plan,
            weights,
            input,
        }
    }
}

/// How one tampered session ended.
struct Outcome {
    sides: Sides,
    fired: bool,
    sent: usize,
    took: Duration,
}

fn run(fx: &Fixture, path: Path, at: usize, fault: Fault) -> Outcome {
    let (a, b) = MemTransport::pair();
    let sent = Arc::new(AtomicUsize::new(0));
    let fired = Arc::new(AtomicBool::new(false));
    let wrap = |t| Tamper {
        inner: Some(t),
        at,
        fault,
        sent: sent.clone(),
        fired: fired.clone(),
    };
    let start = Instant::now();
    let inputs = [fx.input.clone()];
    let sides = match path {
        Path::ClientToServer => run_session(&fx.plan, &fx.weights, a, wrap(b), &inputs),
        Path::ServerToClient => run_session(&fx.plan, &fx.weights, wrap(a), b, &inputs),
    };
    Outcome {
        sides,
        took: start.elapsed(),
        fired: fired.load(Ordering::SeqCst),
        sent: sent.load(Ordering::SeqCst),
    }
}

/// Frames each party sends in a session of setup and one query: the server sends E per
/// linear layer, its half of every ReLU round, then its output share; the client sends F
/// per linear layer and its half of every ReLU round.
fn frames(path: Path) -> usize {
    let relu_rounds = 2 * relu::rounds(FIXED, 1);
    match path {
        Path::ServerToClient => 3 + relu_rounds + 1,
        Path::ClientToServer => 3 + relu_rounds,
    }
}

/// A name for the frame at `at`, for messages.
fn frame_name(path: Path, at: usize) -> String {
    let r = relu::rounds(FIXED, 1);
    let relu_round = |i: usize| format!("ReLU {} round {}", 1 + 2 * (i / r), i % r + 1);
    match path {
        Path::ServerToClient if at < 3 => format!("setup E of linear layer {}", 2 * at),
        Path::ServerToClient if at == 3 + 2 * r => "the output reveal".into(),
        Path::ServerToClient => relu_round(at - 3),
        Path::ClientToServer if at == 0 => "F of layer 0".into(),
        Path::ClientToServer if at == r + 1 => "F of layer 2".into(),
        Path::ClientToServer if at == 2 * r + 2 => "F of layer 4".into(),
        Path::ClientToServer if at <= r => relu_round(at - 1),
        Path::ClientToServer => relu_round(at - 2),
    }
}

type Ended<'a> = Result<(), &'a ProtocolError>;

/// Each side's result, asserting that neither panicked: (receiver of the spoiled frame,
/// its sender, the client's outputs if it succeeded).
fn ended(o: &Outcome, path: Path) -> (Ended<'_>, Ended<'_>, Option<&Vec<Vec<Ring>>>) {
    let server = match &o.sides.server {
        Ok(r) => r,
        Err(p) => panic!("the server panicked: {}", panic_text(p.as_ref())),
    };
    let client = match &o.sides.client {
        Ok(r) => r,
        Err(p) => panic!("the client panicked: {}", panic_text(p.as_ref())),
    };
    let server = server.as_ref().map(|_| ());
    let output = client.as_ref().ok();
    let client = client.as_ref().map(|_| ());
    match path {
        Path::ClientToServer => (server, client, output),
        Path::ServerToClient => (client, server, output),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The error the receiver of a spoiled frame must return.
fn expected(fault: Fault, e: &ProtocolError) -> bool {
    match fault {
        Fault::Truncate => matches!(e, ProtocolError::Peer(DecodeError::Truncated { .. })),
        Fault::Extend => matches!(e, ProtocolError::Peer(DecodeError::Trailing(n)) if *n == EXTRA),
        Fault::Runt | Fault::BadStamp => {
            matches!(e, ProtocolError::Channel(ChannelError::Malformed(_)))
        }
        Fault::HangUp => matches!(e, ProtocolError::Channel(ChannelError::Closed)),
        Fault::Flip(_) => true,
    }
}

#[test]
fn an_untouched_pipe_carries_the_expected_frames() {
    let seed = TestSeed::new();
    let fx = Fixture::new(&seed);
    for path in [Path::ClientToServer, Path::ServerToClient] {
        let o = run(&fx, path, usize::MAX, Fault::Truncate);
        let (receiver, sender, output) = ended(&o, path);
        receiver.expect("no fault, no error");
        sender.expect("no fault, no error");
        assert!(!o.fired);
        assert_eq!(o.sent, frames(path), "{path:?}: frames sent");
        let want = plain(&fx.plan, &fx.weights, &fx.input);
        assert_eq!(output, Some(&vec![want]), "{path:?}: output");
    }
}

#[test]
fn every_detectable_fault_on_every_frame_is_a_typed_error() {
    let seed = TestSeed::new();
    let fx = Fixture::new(&seed);
    for path in [Path::ClientToServer, Path::ServerToClient] {
        for at in 0..frames(path) {
            for fault in DETECTABLE {
                let o = run(&fx, path, at, fault);
                let what = format!(
                    "{fault:?} on {path:?} frame {at} ({})",
                    frame_name(path, at)
                );
                assert!(o.took < QUICK, "{what}: took {:?}", o.took);
                assert!(o.fired, "{what}: the frame was never sent");
                let (receiver, sender, _) = ended(&o, path);
                match receiver {
                    Err(e) if expected(fault, e) => {}
                    other => panic!("{what}: the receiver returned {other:?}"),
                }
                // The sender learns of it only as a closed pipe, if at all.
                match (fault, sender) {
                    (Fault::HangUp, Err(ProtocolError::Channel(ChannelError::Closed))) => {}
                    (Fault::HangUp, other) => panic!("{what}: the sender returned {other:?}"),
                    (_, Ok(()) | Err(ProtocolError::Channel(ChannelError::Closed))) => {}
                    (_, other) => panic!("{what}: the sender returned {other:?}"),
                }
            }
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_ends_both_parties_without_a_panic() {
    let seed = TestSeed::new();
    let fx = Fixture::new(&seed);
    let want = plain(&fx.plan, &fx.weights, &fx.input);
    for path in [Path::ClientToServer, Path::ServerToClient] {
        for at in 0..frames(path) {
            // The first, a middle and the last payload byte, and byte 7: in the closing
            // round of the first ReLU (12 values), 5·12 bits end there in 4 padding bits.
            for byte in [0, 7, 37, usize::MAX] {
                let o = run(&fx, path, at, Fault::Flip(byte));
                let what = format!(
                    "byte {byte} flipped in {path:?} frame {at} ({})",
                    frame_name(path, at)
                );
                assert!(o.took < QUICK, "{what}: took {:?}", o.took);
                assert!(o.fired, "{what}: the frame was never sent");
                let (receiver, sender, output) = ended(&o, path);
                if path == Path::ServerToClient && at == frames(path) - 1 {
                    // The output reveal: the flip lands in the opened output itself.
                    assert!(receiver.is_ok() && sender.is_ok(), "{what}: an error");
                    assert_ne!(output, Some(&vec![want.clone()]), "{what}: no effect");
                }
                for e in [receiver, sender].into_iter().filter_map(Result::err) {
                    assert!(
                        !matches!(e, ProtocolError::Channel(ChannelError::Timeout)),
                        "{what}: a party waited for a frame that never came"
                    );
                }
            }
        }
    }
}

fn other_plan(seed: &TestSeed) -> (Plan, Weights) {
    mlp(&[16, 10, 6, 4], FIXED, &mut seed.prg())
}

/// Both parties' setups for `plan` with a dealer, on one thread (at setup the server
/// only sends), and their channels.
fn set_up(
    plan: &Plan,
    weights: &Weights,
    masks: &SessionMasks,
    rng: &mut Prg,
) -> (
    ServerSetup,
    ClientSetup,
    Channel<MemTransport>,
    Channel<MemTransport>,
) {
    let (a, b) = MemTransport::pair();
    let (mut server, mut client) = (Channel::new(a), Channel::new(b));
    let s = ServerSetup::run(&mut server, plan, weights, ServerSource::Dealer(masks), rng)
        .expect("setup");
    let c = ClientSetup::run(&mut client, plan, Preprocessing::Dealer, rng).expect("setup");
    (s, c, server, client)
}

#[test]
fn material_for_another_plan_is_refused() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let fx = Fixture::new(&seed);
    let (other, _) = other_plan(&seed);
    let other_masks = SessionMasks::expand(&other, Seed::from_rng(&mut rng));
    let (_, foreign) = deal(&other_masks, &mut rng);
    let masks = SessionMasks::expand(&fx.plan, Seed::from_rng(&mut rng));
    let (_, c_msg) = deal(&masks, &mut rng);
    let (_, client, _, _) = set_up(&fx.plan, &fx.weights, &masks, &mut rng);

    // The client's corrections are sized by its session's plan.
    assert!(matches!(
        client.decode_material(&foreign.encode()),
        Err(ProtocolError::Peer(_))
    ));
    assert!(matches!(
        client.expand(foreign),
        Err(ProtocolError::Peer(_))
    ));
    let mut short = MaterialMsg::decode(correction_len(&fx.plan), &c_msg.encode()).unwrap();
    short.corrections.pop();
    assert!(matches!(
        client.expand(short),
        Err(ProtocolError::Peer(DecodeError::Truncated { .. }))
    ));
    let mut long = MaterialMsg::decode(correction_len(&fx.plan), &c_msg.encode()).unwrap();
    long.corrections.push(0);
    assert!(matches!(
        client.expand(long),
        Err(ProtocolError::Peer(DecodeError::Trailing(1)))
    ));
    client
        .expand(c_msg)
        .expect("the right plan's material expands");
}

/// A query made in a session of another plan (same layer kinds, other widths) and spent
/// on this plan: only a shape check can tell, and it does, without a panic.
#[test]
fn a_query_of_another_shape_is_an_error_not_a_panic() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let fx = Fixture::new(&seed);
    let (other, other_weights) = other_plan(&seed);
    assert_eq!(other.layers.len(), fx.plan.layers.len());
    let masks = SessionMasks::expand(&other, Seed::from_rng(&mut rng));
    let (s_msg, c_msg) = deal(&masks, &mut rng);
    let (mut s, mut c, mut server, mut client) = set_up(&other, &other_weights, &masks, &mut rng);
    let material = s.expand(s_msg).expect("expands for its plan");
    let query = s
        .offline(&mut server, material, &mut rng)
        .expect("GMW material passes through offline");
    let material = c.expand(c_msg).expect("expands for its plan");
    let prepared = c
        .offline(&mut client, material, &mut rng)
        .expect("the client's offline step sends nothing with a dealer");
    // The server notices before it waits for the client's first message.
    assert!(matches!(
        engine::server_online(&mut server, &fx.plan, &fx.weights, query),
        Err(ProtocolError::Material(_))
    ));
    let online = server.meter().tally(Scope::layer(Phase::Online, 0));
    assert_eq!(online.received, 0, "caught before any online traffic");
    // The client (whose first layer has the same input length) gets an error too, at the
    // latest when the server has gone.
    drop(server);
    let input = vec![0; fx.plan.input_len()];
    assert!(engine::client_online(&mut client, &fx.plan, prepared, &input).is_err());
}

#[test]
fn material_msg_decode_refuses_truncated_and_extended_bytes() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let fx = Fixture::new(&seed);
    let masks = SessionMasks::expand(&fx.plan, Seed::from_rng(&mut rng));
    let (s_msg, c_msg) = deal(&masks, &mut rng);
    for (role, msg) in [(Role::Server, s_msg), (Role::Client, c_msg)] {
        // The server's message is its seed alone; the client's carries the plan's corrections.
        let corrections = match role {
            Role::Server => 0,
            Role::Client => correction_len(&fx.plan),
        };
        let bytes = msg.encode();
        assert_eq!(MaterialMsg::decode(corrections, &bytes).as_ref(), Ok(&msg));
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    MaterialMsg::decode(corrections, &bytes[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "{role:?}: {cut} of {} bytes accepted",
                bytes.len()
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            MaterialMsg::decode(corrections, &long),
            Err(DecodeError::Trailing(1))
        );
    }
}

/// The garbled-circuit backend: hash key, base OTs, OT extension matrices, garbled tables,
/// output ciphertexts and the server's labels all travel on the same pipe; every
/// detectable fault on every one of those frames must end in a typed error too.
#[test]
fn every_detectable_fault_on_every_garbled_circuit_frame_is_a_typed_error() {
    let seed = TestSeed::new();
    let mut fx = Fixture::new(&seed);
    fx.plan.backend = veil_protocol::plan::Backend::Gc;
    for path in [Path::ClientToServer, Path::ServerToClient] {
        let clean = run(&fx, path, usize::MAX, Fault::Truncate);
        let (receiver, sender, output) = ended(&clean, path);
        receiver.expect("no fault, no error");
        sender.expect("no fault, no error");
        let want = plain(&fx.plan, &fx.weights, &fx.input);
        assert_eq!(output, Some(&vec![want]), "{path:?}: GC output");
        for at in 0..clean.sent {
            for fault in DETECTABLE {
                let o = run(&fx, path, at, fault);
                assert!(o.fired, "{path:?} frame {at}: the fault was not applied");
                assert!(
                    o.took < QUICK,
                    "{path:?} frame {at} {fault:?}: {:?}",
                    o.took
                );
                let (receiver, _, _) = ended(&o, path);
                let e = receiver.expect_err("a spoiled frame must be noticed");
                let typed = match fault {
                    // Lengths of OT matrices and tables are checked, each with its own
                    // decode error.
                    Fault::Truncate | Fault::Extend => matches!(e, ProtocolError::Peer(_)),
                    _ => expected(fault, e),
                };
                assert!(
                    typed,
                    "{path:?} frame {at} {fault:?}: {e:?} (seed {})",
                    seed.hex()
                );
            }
        }
    }
}
