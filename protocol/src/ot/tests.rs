//! Both parties of every OT over an in-memory pipe, on two threads: correctness, exact
//! bytes, privacy checks on the transcripts, and tampered messages.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use rand_chacha::ChaCha12Rng;
use rand_core::{OsRng, RngCore, SeedableRng};

use super::iknp::{matrix_bytes, messages, padded, CHUNK_OTS, FLIGHT_OTS};
use super::*;
use crate::block::Block;
use crate::channel::{Channel, ChannelError, MemTransport, Scope, Transport};
use crate::codec::DecodeError;
use crate::error::ProtocolError;
use crate::fixtures::both;

/// A test seed, printed so a failure can be replayed with `VEIL_TEST_SEED`.
fn test_seed() -> u64 {
    let s = std::env::var("VEIL_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| OsRng.next_u64());
    eprintln!("seed = {s} (replay with VEIL_TEST_SEED={s})");
    s
}

fn rng(seed: u64, party: u64) -> ChaCha12Rng {
    ChaCha12Rng::seed_from_u64(seed ^ party.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

type Tamper = Box<dyn FnMut(usize, &mut Vec<u8>) + Send>;

/// One end of a pipe that records every payload it receives and may edit it first.
struct Tap {
    inner: MemTransport,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    tamper: Option<Tamper>,
}

impl Transport for Tap {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.inner.send(frame)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let mut frame = self.inner.recv()?;
        // The last 8 bytes are the round stamp; tamper with the payload only.
        let stamp = frame.split_off(frame.len() - 8);
        let mut seen = self.seen.lock().expect("test log");
        if let Some(t) = &mut self.tamper {
            t(seen.len(), &mut frame);
        }
        seen.push(frame.clone());
        frame.extend_from_slice(&stamp);
        Ok(frame)
    }
}

impl Tap {
    fn log(&self) -> Arc<Mutex<Vec<Vec<u8>>>> {
        self.seen.clone()
    }
}

fn pair() -> (Channel<Tap>, Channel<Tap>) {
    let (a, b) = MemTransport::pair();
    let tap = |inner| Tap {
        inner,
        seen: Arc::default(),
        tamper: None,
    };
    (Channel::new(tap(a)), Channel::new(tap(b)))
}

fn choices(rng: &mut impl RngCore, n: usize) -> Vec<bool> {
    (0..n).map(|_| rng.next_u32() & 1 == 1).collect()
}

/// Runs both set-ups: (sender, its channel), (receiver, its channel).
fn setup(
    seed: u64,
    delta: Option<Block>,
) -> ((CotSender, Channel<Tap>), (CotReceiver, Channel<Tap>)) {
    let (mut cs, mut cr) = pair();
    let (s, r) = thread::scope(|sc| {
        let h = sc.spawn(|| CotReceiver::setup(&mut cr, &mut rng(seed, 2)));
        let s = match delta {
            Some(d) => CotSender::setup_with_delta(&mut cs, &mut rng(seed, 1), d),
            None => CotSender::setup(&mut cs, &mut rng(seed, 1)),
        };
        (s, h.join().expect("receiver thread"))
    });
    (
        (s.expect("sender set-up"), cs),
        (r.expect("receiver set-up"), cr),
    )
}

#[test]
fn base_ot_receiver_gets_exactly_the_chosen_key_for_one_round_trip() {
    let seed = test_seed();
    for n in [0, 1, 127, 128, 129, 1000] {
        let c = choices(&mut rng(seed, 3), n);
        let (mut a, mut b) = pair();
        let (pairs, got) = both(
            || base::send(&mut a, &mut rng(seed, 1), n).unwrap(),
            || base::receive(&mut b, &mut rng(seed, 2), &c).unwrap(),
        );
        assert_eq!((pairs.len(), got.len()), (n, n));
        for ((k, (k0, k1)), &c) in got.iter().zip(&pairs).zip(&c) {
            assert_eq!(*k, if c { *k1 } else { *k0 }, "n = {n}");
            assert_ne!(*k, if c { *k0 } else { *k1 }, "n = {n}");
        }
        let (ta, tb) = (
            a.meter().tally(Scope::CONTROL),
            b.meter().tally(Scope::CONTROL),
        );
        assert_eq!((ta.sent, tb.sent), (32, 32 * n as u64));
        assert_eq!((b.clock(), a.clock()), (1, 2));
        // The other key never reaches the receiver.
        let others: HashSet<[u8; 16]> = pairs
            .iter()
            .zip(&c)
            .map(|((k0, k1), &c)| if c { k0.to_bytes() } else { k1.to_bytes() })
            .collect();
        assert_eq!(
            windows(&b.transport_mut().log())
                .intersection(&others)
                .count(),
            0
        );
    }
}

#[test]
fn base_ot_refuses_invalid_points_with_typed_errors() {
    let seed = test_seed();
    // An invalid A (not a canonical encoding): the receiver refuses it.
    let (mut a, mut b) = pair();
    b.transport_mut().tamper = Some(Box::new(|_, p: &mut Vec<u8>| p.fill(0xff)));
    let (sent, got) = both(
        || base::send(&mut a, &mut rng(seed, 1), 4),
        // The receiver hangs up after its error, so the sender is not left waiting.
        move || base::receive(&mut b, &mut rng(seed, 2), &[true; 4]),
    );
    let err = got.unwrap_err();
    assert!(
        matches!(err, ProtocolError::Peer(DecodeError::Invalid { .. })),
        "{err}"
    );
    assert!(matches!(
        sent,
        Err(ProtocolError::Channel(ChannelError::Closed))
    ));

    // An invalid B_2, then a truncated reply: the sender refuses them.
    for (edit, want_invalid) in [(0usize, true), (1, false)] {
        let (mut a, mut b) = pair();
        a.transport_mut().tamper = Some(Box::new(move |_, p: &mut Vec<u8>| {
            if edit == 0 {
                p[64..96].fill(0xff);
            } else {
                p.pop();
            }
        }));
        let (sent, got) = both(
            || base::send(&mut a, &mut rng(seed, 1), 4),
            || base::receive(&mut b, &mut rng(seed, 2), &[false; 4]),
        );
        assert!(got.is_ok());
        match sent.unwrap_err() {
            ProtocolError::Peer(DecodeError::Invalid { detail, .. }) if want_invalid => {
                assert!(detail.contains("point 2"), "{detail}");
            }
            ProtocolError::Peer(DecodeError::Truncated { .. }) if !want_invalid => {}
            e => panic!("unexpected error {e}"),
        }
    }
}

#[test]
fn an_invalid_point_at_extension_set_up_is_a_typed_error() {
    let seed = test_seed();
    let (mut cs, mut cr) = pair();
    cs.transport_mut().tamper = Some(Box::new(|_, p: &mut Vec<u8>| p.fill(0xff)));
    let (s, r) = both(
        move || CotSender::setup(&mut cs, &mut rng(seed, 1)),
        || CotReceiver::setup(&mut cr, &mut rng(seed, 2)),
    );
    let err = s.unwrap_err();
    assert!(
        matches!(err, ProtocolError::Peer(DecodeError::Invalid { .. })),
        "{err}"
    );
    assert!(matches!(
        r.unwrap_err(),
        ProtocolError::Channel(ChannelError::Closed)
    ));
}

/// All 16-byte windows, at every offset, of every payload in a log.
fn windows(log: &Mutex<Vec<Vec<u8>>>) -> HashSet<[u8; 16]> {
    let log = log.lock().expect("test log");
    log.iter()
        .flat_map(|p| p.windows(16))
        .map(|w| {
            let mut a = [0u8; 16];
            a.copy_from_slice(w);
            a
        })
        .collect()
}

#[test]
fn correlated_ot_gives_the_chosen_label_and_pairs_differ_by_delta() {
    let seed = test_seed();
    let delta = Block(rng(seed, 9).next_u64() as u128 | 1 | (7 << 100));
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, Some(delta));
    assert_eq!(s.delta(), delta);
    for n in [1, 127, 128, 129, 10_000, 100_000] {
        let c = choices(&mut rng(seed, n as u64), n);
        let (x0, got) = both(
            || s.send_correlated(&mut cs, n).unwrap(),
            || r.receive_correlated(&mut cr, &c).unwrap(),
        );
        assert_eq!((x0.len(), got.len()), (n, n));
        for (j, ((x0, y), &c)) in x0.iter().zip(&got).zip(&c).enumerate() {
            let x1 = *x0 ^ delta;
            assert_eq!(*y, if c { x1 } else { *x0 }, "n = {n}, OT {j}");
        }
    }
    // A random Δ at set-up works the same way.
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed ^ 1, None);
    let c = choices(&mut rng(seed, 4), 300);
    let (x0, got) = both(
        || s.send_correlated(&mut cs, 300).unwrap(),
        || r.receive_correlated(&mut cr, &c).unwrap(),
    );
    for ((x0, y), &c) in x0.iter().zip(&got).zip(&c) {
        assert_eq!(*y, if c { *x0 ^ s.delta() } else { *x0 });
    }
}

#[test]
fn random_ot_gives_the_chosen_message_and_fresh_messages_per_call() {
    let seed = test_seed();
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    let mut previous: HashSet<Block> = HashSet::new();
    for n in [1, 127, 128, 129, 10_000, 100_000] {
        let c = choices(&mut rng(seed, n as u64), n);
        let (pairs, got) = both(
            || s.send_random(&mut cs, n).unwrap(),
            || r.receive_random(&mut cr, &c).unwrap(),
        );
        assert_eq!((pairs.len(), got.len()), (n, n));
        for ((y, (m0, m1)), &c) in got.iter().zip(&pairs).zip(&c) {
            assert_eq!(*y, if c { *m1 } else { *m0 });
            assert_ne!(m0, m1);
            // No message repeats, within a call or across calls.
            assert!(previous.insert(*m0) && previous.insert(*m1));
        }
    }
}

#[test]
fn correlated_ot_with_a_chosen_delta_costs_sixteen_bytes_each_way() {
    let seed = test_seed();
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    for n in [1, 127, 128, 129, 10_000, 100_000, FLIGHT_OTS + 1000] {
        let delta = Block(u128::from(rng(seed, 5).next_u64()) << 1 | 1);
        let c = choices(&mut rng(seed, n as u64), n);
        cs.take_meter();
        cr.take_meter();
        let before = cs.clock().max(cr.clock());
        let (x0, got) = both(
            || s.send_correlated_with(&mut cs, delta, n).unwrap(),
            || r.receive_correlated_with(&mut cr, &c).unwrap(),
        );
        for ((x0, y), &c) in x0.iter().zip(&got).zip(&c) {
            assert_eq!(*y, if c { *x0 ^ delta } else { *x0 });
        }
        let (ts, tr) = (
            cs.meter().tally(Scope::CONTROL),
            cr.meter().tally(Scope::CONTROL),
        );
        assert_eq!(tr.sent as usize, matrix_bytes(n));
        assert_eq!(ts.sent as usize, 16 * n);
        let rounds = cs.clock().max(cr.clock()) - before;
        let flights = n.div_ceil(FLIGHT_OTS) as u64;
        assert_eq!(rounds, 2 * flights, "matrix, then corrections, per flight");
    }
}

#[test]
fn extension_bytes_and_rounds_match_the_formula() {
    let seed = test_seed();
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    // Set-up: 32 bytes from the extension receiver, 128 points from the sender.
    assert_eq!(cr.meter().tally(Scope::CONTROL).sent, 32);
    assert_eq!(cs.meter().tally(Scope::CONTROL).sent, 128 * 32);
    for n in [1, 129, CHUNK_OTS, CHUNK_OTS + 1, 3 * CHUNK_OTS + 200] {
        let c = choices(&mut rng(seed, 6), n);
        let frames = cs.transport_mut().log().lock().expect("log").len();
        let before = cs.clock().max(cr.clock());
        cs.take_meter();
        cr.take_meter();
        both(
            || s.send_correlated(&mut cs, n).unwrap(),
            || r.receive_correlated(&mut cr, &c).unwrap(),
        );
        let (ts, tr) = (
            cs.meter().tally(Scope::CONTROL),
            cr.meter().tally(Scope::CONTROL),
        );
        assert_eq!((tr.sent as usize, ts.sent), (matrix_bytes(n), 0));
        assert_eq!(matrix_bytes(n), 16 * padded(n));
        let frames_now = cs.transport_mut().log().lock().expect("log").len();
        assert_eq!(frames_now - frames, messages(n));
        // One flight: the deeper clock moves at most once (and not at all when the
        // receiver spoke last too: calls in a row pipeline).
        assert!(cs.clock().max(cr.clock()) - before <= 1);
    }
}

#[test]
fn the_other_message_never_reaches_the_receiver() {
    let seed = test_seed();
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    let n = 2000;
    let delta = Block(u128::from(rng(seed, 7).next_u64()) | 1 << 127);
    let c = choices(&mut rng(seed, 8), n);
    let (x0, got) = both(
        || s.send_correlated_with(&mut cs, delta, n).unwrap(),
        || r.receive_correlated_with(&mut cr, &c).unwrap(),
    );
    let other: HashSet<[u8; 16]> = x0
        .iter()
        .zip(&c)
        .map(|(x0, &c)| {
            if c {
                x0.to_bytes()
            } else {
                (*x0 ^ delta).to_bytes()
            }
        })
        .collect();
    let seen = windows(&cr.transport_mut().log());
    assert!(
        seen.len() > n,
        "the receiver's transcript holds the corrections"
    );
    assert_eq!(seen.intersection(&other).count(), 0);
    assert!(got.iter().all(|y| !other.contains(&y.to_bytes())));
    for secret in [delta, s.delta()] {
        assert!(!seen.contains(&secret.to_bytes()));
    }
}

#[test]
fn the_receivers_output_does_not_depend_on_the_other_message() {
    // Same seeds on both sides, two runs that differ only in Δ', i.e. only in the
    // messages x1 = x0 ⊕ Δ': where the receiver chose 0 its output is the same.
    let seed = test_seed();
    let n = 1000;
    let c = choices(&mut rng(seed, 10), n);
    let run = |delta: Block| {
        let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
        both(
            || s.send_correlated_with(&mut cs, delta, n).unwrap(),
            || r.receive_correlated_with(&mut cr, &c).unwrap(),
        )
    };
    let (d1, d2) = (Block(0x1234_5678_9abc_def1), Block(0x0fed_cba9_8765_4321));
    let ((x0a, ya), (x0b, yb)) = (run(d1), run(d2));
    assert_eq!(x0a, x0b);
    for ((a, b), &c) in ya.iter().zip(&yb).zip(&c) {
        if c {
            assert_eq!(*a ^ *b, d1 ^ d2);
        } else {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn the_senders_view_looks_uniform_whatever_the_choices() {
    let seed = test_seed();
    let n = 10_000;
    for all in [false, true] {
        let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
        let log = cs.transport_mut().log();
        let before = log.lock().expect("log").len();
        both(
            || s.send_correlated(&mut cs, n).unwrap(),
            || r.receive_correlated(&mut cr, &vec![all; n]).unwrap(),
        );
        let log = log.lock().expect("log");
        let (ones, bits) = log[before..]
            .iter()
            .flatten()
            .fold((0u64, 0u64), |(o, b), x| {
                (o + u64::from(x.count_ones()), b + 8)
            });
        let frac = ones as f64 / bits as f64;
        assert!((0.495..0.505).contains(&frac), "choices all {all}: {frac}");
    }
}

/// An edit of one payload.
type Edit = fn(&mut Vec<u8>);

#[test]
fn a_wrong_length_matrix_is_a_typed_error_and_the_sender_then_refuses() {
    let seed = test_seed();
    let edits: [(&str, Edit); 3] = [
        ("truncate", |p| {
            p.pop();
        }),
        ("extend", |p| p.push(0)),
        ("empty", |p| p.clear()),
    ];
    for (name, edit) in edits {
        let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
        let frames = cs.transport_mut().log().lock().expect("log").len();
        cs.transport_mut().tamper = Some(Box::new(move |k, p| {
            if k == frames {
                edit(p);
            }
        }));
        let c = choices(&mut rng(seed, 11), 500);
        let (sent, got) = both(
            || s.send_correlated(&mut cs, 500),
            || r.receive_correlated(&mut cr, &c),
        );
        assert!(got.is_ok());
        match sent.unwrap_err() {
            ProtocolError::Peer(DecodeError::Truncated { .. }) if name != "extend" => {}
            ProtocolError::Peer(DecodeError::Trailing(1)) if name == "extend" => {}
            e => panic!("{name}: unexpected error {e}"),
        }
        let again = s.send_random(&mut cs, 10).unwrap_err();
        assert!(matches!(again, ProtocolError::Misuse(_)), "{again}");
    }
}

#[test]
fn mismatched_counts_and_bad_corrections_are_typed_errors() {
    let seed = test_seed();
    // The sender asks for more OTs than the receiver extends.
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    let c = choices(&mut rng(seed, 12), 100);
    let (sent, got) = both(
        || s.send_correlated(&mut cs, 300),
        || r.receive_correlated(&mut cr, &c),
    );
    assert!(got.is_ok());
    assert!(matches!(
        sent,
        Err(ProtocolError::Peer(DecodeError::Truncated { .. }))
    ));

    // Corrections cut short reach the receiver as a typed error.
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, None);
    let frames = cr.transport_mut().log().lock().expect("log").len();
    cr.transport_mut().tamper = Some(Box::new(move |k, p| {
        if k == frames {
            p.truncate(p.len() - 16);
        }
    }));
    let (sent, got) = both(
        || s.send_correlated_with(&mut cs, Block(3), 100),
        || r.receive_correlated_with(&mut cr, &c),
    );
    assert!(sent.is_ok());
    assert!(matches!(
        got,
        Err(ProtocolError::Peer(DecodeError::Truncated { .. }))
    ));
    assert!(matches!(
        r.receive_random(&mut cr, &c),
        Err(ProtocolError::Misuse(_))
    ));
}

#[test]
fn a_flipped_matrix_bit_is_not_detected_but_spoils_only_its_own_ot() {
    // Semi-honest IKNP has no consistency check (KOS would add one): a flipped bit of
    // u^i in column j changes q_j where Δ_i = 1, nothing else, and never panics.
    let seed = test_seed();
    let delta = Block(u128::MAX);
    let ((mut s, mut cs), (mut r, mut cr)) = setup(seed, Some(delta));
    let frames = cs.transport_mut().log().lock().expect("log").len();
    let (row, ot) = (5usize, 77usize);
    let n = 256;
    cs.transport_mut().tamper = Some(Box::new(move |k, p| {
        if k == frames {
            p[row * (n / 8) + ot / 8] ^= 1 << (ot % 8);
        }
    }));
    let c = choices(&mut rng(seed, 13), n);
    let (x0, got) = both(
        || s.send_correlated(&mut cs, n).unwrap(),
        || r.receive_correlated(&mut cr, &c).unwrap(),
    );
    for (j, ((x0, y), &c)) in x0.iter().zip(&got).zip(&c).enumerate() {
        let want = if c { *x0 ^ delta } else { *x0 };
        assert_eq!(*y == want, j != ot, "OT {j}");
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let seed = test_seed();
    let delta = Block(0x0123_4567_89ab_cdef_fedc_ba98_7654_3211);
    let ((s, _cs), (r, _cr)) = setup(seed, Some(delta));
    let text = format!("{s:?} {r:?} {:?}", s.delta());
    for secret in [
        format!("{:x}", delta.0),
        format!("{}", delta.0),
        format!("{:X}", delta.0),
    ] {
        assert!(!text.contains(&secret), "{text}");
    }
    assert!(
        text.starts_with("CotSender { extended: 0, poisoned: false, .. }"),
        "{text}"
    );
}
