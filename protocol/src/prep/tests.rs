//! Both parties of every generator over an in-memory pipe, on two threads: the identities
//! the material must satisfy, exact bytes, fresh randomness per call, and tampered frames.

use super::pack::low_mask;
use super::vole::{correction_bytes, ot_bytes, Shape};
use super::*;
use crate::channel::{Channel, ChannelError, MemTransport, Phase, Scope, Transport};
use crate::codec::DecodeError;
use crate::error::ProtocolError;
use crate::fixtures::both;
use crate::gmw::BitTriple;
use crate::linalg::matvec;
use crate::material::{BitRing, InjectPair, OtKind};
use crate::ot::pool::RENT;
use crate::prg::{Prg, Seed};
use crate::ring::Ring;
use crate::share::{add, Role};

type Edit = Box<dyn FnMut(usize, &mut Vec<u8>) + Send>;

/// One end of a pipe that may edit the payloads it receives (numbered from when the edit
/// was installed).
struct Tap {
    inner: MemTransport,
    seen: usize,
    edit: Option<Edit>,
}

impl Transport for Tap {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.inner.send(frame)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let mut frame = self.inner.recv()?;
        if let Some(edit) = &mut self.edit {
            // The last 8 bytes are the round stamp; edit the payload only.
            let stamp = frame.split_off(frame.len() - 8);
            edit(self.seen, &mut frame);
            frame.extend_from_slice(&stamp);
        }
        self.seen += 1;
        Ok(frame)
    }
}

type Ch = Channel<Tap>;

/// Server and client sessions over IKNP, set up, with their channels.
fn sessions() -> ((PrepSession, Ch), (PrepSession, Ch)) {
    sessions_of(OtKind::Iknp)
}

/// Server and client sessions of `kind`, set up (a silent one bootstrapped), with their
/// channels and fresh meters.
fn sessions_of(kind: OtKind) -> ((PrepSession, Ch), (PrepSession, Ch)) {
    let (a, b) = MemTransport::pair();
    let tap = |inner| Tap {
        inner,
        seen: 0,
        edit: None,
    };
    let (mut cs, mut cc) = (Channel::new(tap(a)), Channel::new(tap(b)));
    // Set up in the set-up phase, as sessions do: a silent bootstrap is counted there.
    for ch in [&mut cs, &mut cc] {
        ch.enter(Scope::phase(Phase::Setup));
    }
    let (s, c) = both(
        || {
            PrepSession::setup(
                &mut cs,
                Role::Server,
                kind,
                RENT,
                &mut Prg::new(Seed::random()),
            )
            .expect("server set-up")
        },
        || {
            PrepSession::setup(
                &mut cc,
                Role::Client,
                kind,
                RENT,
                &mut Prg::new(Seed::random()),
            )
            .expect("client set-up")
        },
    );
    for ch in [&mut cs, &mut cc] {
        ch.take_meter();
    }
    ((s, cs), (c, cc))
}

/// Payload bytes sent since the last call, and a fresh meter.
fn sent(ch: &mut Ch) -> usize {
    ch.take_meter().tally(Scope::CONTROL).sent as usize
}

fn open_bits(a: &BitTriple, b: &BitTriple) -> [veil_circuits::Bits; 3] {
    [
        a.u.xor(&b.u).unwrap(),
        a.v.xor(&b.v).unwrap(),
        a.w.xor(&b.w).unwrap(),
    ]
}

#[test]
fn set_up_runs_base_ots_both_ways() {
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cc) = (Channel::new(a), Channel::new(b));
    let (s, c) = both(
        || {
            PrepSession::setup(
                &mut cs,
                Role::Server,
                OtKind::Iknp,
                0,
                &mut Prg::new(Seed::random()),
            )
            .unwrap()
        },
        || {
            PrepSession::setup(
                &mut cc,
                Role::Client,
                OtKind::Iknp,
                0,
                &mut Prg::new(Seed::random()),
            )
            .unwrap()
        },
    );
    assert_eq!((s.role(), c.role()), (Role::Server, Role::Client));
    for ch in [&cs, &cc] {
        assert_eq!(ch.meter().tally(Scope::CONTROL).sent, 32 + 4096);
    }
}

#[test]
fn and_triples_satisfy_c_equals_a_and_b_and_cost_sixteen_bytes_each_way() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    for (gates, width) in [(3, 1000), (2, 130), (4, 0), (0, 7)] {
        let (ts, tc) = both(
            || and_triples(&mut s, &mut cs, gates, width).unwrap(),
            || and_triples(&mut c, &mut cc, gates, width).unwrap(),
        );
        assert_eq!((ts.len(), tc.len()), (gates, gates));
        for (a, b) in ts.iter().zip(&tc) {
            let [u, v, w] = open_bits(a, b);
            assert_eq!(u.len, width);
            assert_eq!(u.and(&v).unwrap(), w, "c = a·b for {gates} × {width}");
        }
        let n = gates * width;
        assert_eq!(
            (sent(&mut cs), sent(&mut cc)),
            (ot_bytes(n, OtKind::Iknp), ot_bytes(n, OtKind::Iknp))
        );
    }
    // Shares and opened values are not constant.
    let (ts, tc) = both(
        || and_triples(&mut s, &mut cs, 1, 256).unwrap(),
        || and_triples(&mut c, &mut cc, 1, 256).unwrap(),
    );
    let [u, v, _] = open_bits(&ts[0], &tc[0]);
    for x in [&u, &v, &ts[0].u, &tc[0].v] {
        assert!(x.words.iter().any(|w| *w != 0) && x.words.iter().any(|w| *w != u64::MAX));
    }
}

#[test]
fn a_batch_longer_than_a_flight_takes_two() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    let n = crate::ot::FLIGHT_OTS + 100;
    let clock = cs.clock();
    let (ts, tc) = both(
        || and_triples(&mut s, &mut cs, 1, n).unwrap(),
        || and_triples(&mut c, &mut cc, 1, n).unwrap(),
    );
    let [u, v, w] = open_bits(&ts[0], &tc[0]);
    assert_eq!(u.and(&v).unwrap(), w);
    assert_eq!(cs.clock() - clock, 2);
    assert_eq!(sent(&mut cs), ot_bytes(n, OtKind::Iknp));
}

/// Ring values modulo 2^width.
fn low(x: Ring, width: u32) -> Ring {
    x & low_mask(width)
}

fn check_inject(s: &InjectPair, c: &InjectPair, n: usize, width: u32) {
    assert_eq!(
        (s.r.len, c.r.len, s.arith.len(), c.arith.len()),
        (n, n, n, n)
    );
    let r = s.r.xor(&c.r).unwrap();
    for (i, x) in add(&s.arith, &c.arith).into_iter().enumerate() {
        assert_eq!(low(x, width), Ring::from(r.get(i)), "element {i}");
    }
}

#[test]
fn inject_pairs_agree_as_bits_and_ring_values() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    for n in [1000, 1, 0] {
        let (ps, pc) = both(
            || inject_pairs(&mut s, &mut cs, n).unwrap(),
            || inject_pairs(&mut c, &mut cc, n).unwrap(),
        );
        check_inject(&ps, &pc, n, 64);
        let corrections = correction_bytes(n, &|_| Shape { len: 1, width: 64 });
        assert_eq!(corrections, 8 * n);
        assert_eq!(
            (sent(&mut cs), sent(&mut cc)),
            (corrections, ot_bytes(n, OtKind::Iknp))
        );
    }
}

fn check_bit_ring(s: &BitRing, c: &BitRing, n: usize, width: u32) {
    check_inject(&s.inject, &c.inject, n, width);
    let r = s.inject.r.xor(&c.inject.r).unwrap();
    let big_r = add(&s.big_r, &c.big_r);
    let product = add(&s.product, &c.product);
    for i in 0..n {
        let want = Ring::from(r.get(i)).wrapping_mul(big_r[i]);
        assert_eq!(low(product[i], width), low(want, width));
    }
}

#[test]
fn bit_rings_hold_shares_of_r_times_big_r() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    let n = 777;
    let (ps, pc) = both(
        || bit_rings(&mut s, &mut cs, n).unwrap(),
        || bit_rings(&mut c, &mut cc, n).unwrap(),
    );
    check_bit_ring(&ps, &pc, n, 64);
    assert_eq!(
        (sent(&mut cs), sent(&mut cc)),
        (
            ot_bytes(n, OtKind::Iknp) + 16 * n,
            ot_bytes(n, OtKind::Iknp) + 8 * n
        )
    );
}

#[test]
fn a_layers_relu_pairs_come_in_two_flights_with_the_bytes_of_three_calls() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    for n in [128, 301, 0] {
        let clock = cs.clock();
        let ((bs, cas, was), (bc, cac, wac)) = both(
            || relu_pairs(&mut s, &mut cs, n, 64).unwrap(),
            || relu_pairs(&mut c, &mut cc, n, 64).unwrap(),
        );
        check_bit_ring(&bs, &bc, n, 64);
        check_inject(&cas, &cac, n, 64);
        check_inject(&was, &wac, n, 64);
        assert!(n == 0 || cas.r != was.r, "carry and wrap bits differ");
        assert_eq!(cs.clock() - clock, if n > 0 { 2 } else { 0 });
        assert_eq!(
            (sent(&mut cs), sent(&mut cc)),
            (
                ot_bytes(n, OtKind::Iknp) + 32 * n,
                ot_bytes(3 * n, OtKind::Iknp) + 8 * n
            )
        );
    }
}

/// Runs Gilboa on both sides: (server's share, client's share, client's mask V).
fn gilboa(
    s: &mut (PrepSession, Ch),
    c: &mut (PrepSession, Ch),
    pattern: &Pattern,
    weights: &[Ring],
) -> (Vec<Ring>, Vec<Ring>, Vec<Ring>) {
    let (xs, (v, xc)) = both(
        || weights_share(&mut s.0, &mut s.1, pattern, weights).unwrap(),
        || mask_share(&mut c.0, &mut c.1, pattern).unwrap(),
    );
    assert_eq!(v.len(), pattern.cols());
    (xs, xc, v)
}

#[test]
fn gilboa_shares_sum_to_m_times_v_for_a_dense_matrix() {
    let (mut s, mut c) = sessions();
    // 70 · 64 · 260 bytes of corrections: two frames.
    let (rows, cols) = (70, 64);
    let w = Prg::new(Seed::random()).ring_vec(rows * cols);
    let pattern = Pattern::dense(rows as u32, cols);
    let weights = pattern.gather(|r, j| w[r * cols + j]);
    let deeper = |s: &(PrepSession, Ch), c: &(PrepSession, Ch)| s.1.clock().max(c.1.clock());
    let before = deeper(&s, &c);
    let (xs, xc, v) = gilboa(&mut s, &mut c, &pattern, &weights);
    assert_eq!(add(&xs, &xc), matvec(&w, rows, cols, &v));
    assert!(
        deeper(&s, &c) - before <= 2,
        "two flights: matrix, corrections"
    );
    let (server, client) = linear_bytes(&pattern, OtKind::Iknp);
    assert_eq!(server, rows * cols * 260);
    assert_eq!(client, ot_bytes(64 * cols, OtKind::Iknp));
    assert_eq!((sent(&mut s.1), sent(&mut c.1)), (server, client));
}

#[test]
fn gilboa_shares_sum_to_m_times_v_for_convolutions() {
    use crate::plan::{Image, Linear, LinearOp, Window};
    let (mut s, mut c) = sessions();
    for (stride, pads) in [(1, [0; 4]), (2, [1, 0, 1, 1])] {
        let layer = Linear {
            pool: None,
            op: LinearOp::Conv {
                input: Image { c: 3, h: 7, w: 6 },
                out_channels: 4,
                window: Window {
                    size: [3, 2],
                    stride: [stride, stride],
                    pads,
                },
            },
            residual: None,
        };
        let kernel = Prg::new(Seed::random()).ring_vec(layer.op.weight_len());
        let matrix = LinearMatrix::of(&layer).unwrap();
        let pattern = matrix.pattern();
        let weights = matrix.weights(&kernel).unwrap();
        let (xs, xc, v) = gilboa(&mut s, &mut c, pattern, &weights);
        assert_eq!(add(&xs, &xc), layer.apply(&kernel, &v), "stride {stride}");
        assert_eq!(
            (sent(&mut s.1), sent(&mut c.1)),
            linear_bytes(pattern, OtKind::Iknp),
            "stride {stride}"
        );
    }
}

#[test]
fn gilboa_handles_empty_columns_and_repeated_rows() {
    let (mut s, mut c) = sessions();
    let pattern = Pattern::sparse(3, &[vec![0, 2, 0], vec![], vec![1]]).unwrap();
    let weights = vec![5, u64::MAX, 7, 1 << 62];
    let (xs, xc, v) = gilboa(&mut s, &mut c, &pattern, &weights);
    let expect = [
        (5u64.wrapping_add(7)).wrapping_mul(v[0]),
        (1u64 << 62).wrapping_mul(v[2]),
        u64::MAX.wrapping_mul(v[0]),
    ];
    assert_eq!(add(&xs, &xc), expect);
}

#[test]
fn two_draws_give_different_material() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    let mut draw = || {
        both(
            || {
                let t = and_triples(&mut s, &mut cs, 1, 256).unwrap();
                let p = inject_pairs(&mut s, &mut cs, 64).unwrap();
                let b = bit_rings(&mut s, &mut cs, 4).unwrap();
                let pattern = Pattern::dense(4, 2);
                let x = weights_share(&mut s, &mut cs, &pattern, &[1; 8]).unwrap();
                (t, p, b, x)
            },
            || {
                let t = and_triples(&mut c, &mut cc, 1, 256).unwrap();
                let p = inject_pairs(&mut c, &mut cc, 64).unwrap();
                let b = bit_rings(&mut c, &mut cc, 4).unwrap();
                let x = mask_share(&mut c, &mut cc, &Pattern::dense(4, 2)).unwrap();
                (t, p, b, x)
            },
        )
    };
    let ((s1, c1), (s2, c2)) = (draw(), draw());
    assert_ne!(s1.0, s2.0, "server triples");
    assert_ne!(c1.0, c2.0, "client triples");
    assert_ne!(s1.1.r, s2.1.r, "server inject bits");
    assert_ne!(c1.1.arith, c2.1.arith, "client inject shares");
    assert_ne!(s1.2.big_r, s2.2.big_r, "server R");
    assert_ne!(c1.2.product, c2.2.product, "client products");
    // Fresh masks V, and each pair of shares sums to M·V (M all ones).
    let ((v1, x1), (v2, x2)) = (&c1.3, &c2.3);
    assert_ne!(v1, v2, "client masks");
    for (xs, v, xc) in [(&s1.3, v1, x1), (&s2.3, v2, x2)] {
        assert_eq!(add(xs, xc), vec![v[0].wrapping_add(v[1]); 4]);
    }
}

/// What one party saw in a tampered run: its call's result, and if that failed, the
/// result of a further call.
type Outcome = (
    Result<Vec<Ring>, ProtocolError>,
    Option<Result<Vec<BitTriple>, ProtocolError>>,
);

/// Runs one party's `call`; on failure tries once more, then hangs up (drops the channel)
/// so that the peer sees Closed rather than waiting.
fn run_and_hang_up(
    mut session: PrepSession,
    mut ch: Ch,
    call: impl FnOnce(&mut PrepSession, &mut Ch) -> Result<Vec<Ring>, ProtocolError>,
) -> Outcome {
    let out = call(&mut session, &mut ch);
    let again = out
        .is_err()
        .then(|| and_triples(&mut session, &mut ch, 1, 1));
    (out, again)
}

/// Runs Gilboa for a small dense layer with `edit` on the frames `victim` receives.
fn tampered(victim: Role, edit: Edit) -> (Outcome, Outcome) {
    let ((s, mut cs), (c, mut cc)) = sessions();
    match victim {
        Role::Server => cs.transport_mut().edit = Some(edit),
        Role::Client => cc.transport_mut().edit = Some(edit),
    }
    let pattern = Pattern::dense(5, 3);
    both(
        || run_and_hang_up(s, cs, |s, ch| weights_share(s, ch, &pattern, &[9; 15])),
        || run_and_hang_up(c, cc, |c, ch| Ok(mask_share(c, ch, &pattern)?.1)),
    )
}

#[test]
fn short_or_long_frames_are_typed_errors_and_spoil_the_session() {
    let truncate: fn(&mut Vec<u8>) = |p| {
        p.pop();
    };
    let extend: fn(&mut Vec<u8>) = |p| p.push(0);
    for (victim, change) in [
        (Role::Server, truncate),
        (Role::Server, extend),
        (Role::Client, truncate),
        (Role::Client, extend),
    ] {
        let (server, client) = tampered(victim, Box::new(move |_, p| change(p)));
        let (hit, peer) = match victim {
            Role::Server => (server, client),
            Role::Client => (client, server),
        };
        assert!(
            matches!(
                hit.0,
                Err(ProtocolError::Peer(
                    DecodeError::Truncated { .. } | DecodeError::Trailing(_)
                ))
            ),
            "{victim:?}: {:?}",
            hit.0
        );
        assert!(
            matches!(hit.1, Some(Err(ProtocolError::Misuse(_)))),
            "{victim:?}: the session refuses further work"
        );
        // A refused OT matrix stops the server before its corrections: the client sees the
        // hang-up. A refused correction frame leaves the server done.
        match victim {
            Role::Server => assert!(
                matches!(peer.0, Err(ProtocolError::Channel(ChannelError::Closed))),
                "{:?}",
                peer.0
            ),
            Role::Client => assert!(peer.0.is_ok()),
        }
    }
}

#[test]
fn shapes_that_do_not_fit_are_refused_before_any_message() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions();
    let pattern = Pattern::dense(2, 2);
    assert!(matches!(
        weights_share(&mut s, &mut cs, &pattern, &[1; 3]),
        Err(ProtocolError::Misuse(_))
    ));
    assert!(matches!(
        Pattern::sparse(2, &[vec![2]]),
        Err(ProtocolError::Misuse(_))
    ));
    assert_eq!((sent(&mut cs), sent(&mut cc)), (0, 0));
    // Refused calls do not spoil the session.
    let (ts, tc) = both(
        || and_triples(&mut s, &mut cs, 1, 8).unwrap(),
        || and_triples(&mut c, &mut cc, 1, 8).unwrap(),
    );
    let [u, v, w] = open_bits(&ts[0], &tc[0]);
    assert_eq!(u.and(&v).unwrap(), w);
}

#[test]
fn silent_ot_makes_the_same_material_at_a_fraction_of_the_bytes() {
    let ((mut s, mut cs), (mut c, mut cc)) = sessions_of(OtKind::Silent);
    // Triples spend the pools set-up filled: no message at all.
    let (ts, tc) = both(
        || and_triples(&mut s, &mut cs, 3, 1000).unwrap(),
        || and_triples(&mut c, &mut cc, 3, 1000).unwrap(),
    );
    for (a, b) in ts.iter().zip(&tc) {
        let [u, v, w] = open_bits(a, b);
        assert_eq!(u.and(&v).unwrap(), w);
    }
    assert_eq!((sent(&mut cs), sent(&mut cc)), (0, 0));
    // The ReLU's pairs: only the corrections, 32 and 8 bytes per candidate at 64 bits,
    // half that at 32.
    let n = 500;
    for width in [64, 32, 21] {
        let ((bs, cas, was), (bc, cac, wac)) = both(
            || relu_pairs(&mut s, &mut cs, n, width).unwrap(),
            || relu_pairs(&mut c, &mut cc, n, width).unwrap(),
        );
        check_bit_ring(&bs, &bc, n, width);
        check_inject(&cas, &cac, n, width);
        check_inject(&was, &wac, n, width);
        let bytes = relu_pairs_bytes(n, width);
        assert_eq!((sent(&mut cs), sent(&mut cc)), bytes);
        let w = width as usize;
        assert_eq!(bytes, ((4 * n * w).div_ceil(8), (n * w).div_ceil(8)));
    }
    // Gilboa for a layer larger than the bootstrap pool: the server's one extension.
    let (rows, cols) = (3, 9_000);
    let w = Prg::new(Seed::random()).ring_vec(rows * cols);
    let pattern = Pattern::dense(rows as u32, cols);
    let weights = pattern.gather(|r, j| w[r * cols + j]);
    let (xs, xc, v) = gilboa(&mut (s, cs), &mut (c, cc), &pattern, &weights);
    assert_eq!(add(&xs, &xc), matvec(&w, rows, cols, &v));
}
