//! Both pools of an instance over an in-memory pipe, both kinds: correlation, random and
//! chosen OTs, silent growth without a message from the receiver, and views.

use rand_core::{OsRng, RngCore};

use super::*;
use crate::channel::{MemTransport, Scope};
use crate::fixtures::both;

type Ch = Channel<MemTransport>;

fn pools(kind: OtKind) -> ((PoolSender, Ch), (PoolReceiver, Ch)) {
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cr) = (Channel::new(a), Channel::new(b));
    let (s, r) = both(
        || PoolSender::setup(&mut cs, kind, &mut OsRng).expect("sender set-up"),
        || PoolReceiver::setup(&mut cr, kind, &mut OsRng).expect("receiver set-up"),
    );
    ((s, cs), (r, cr))
}

fn reserve(s: &mut (PoolSender, Ch), r: &mut (PoolReceiver, Ch), n: usize) {
    both(
        || s.0.reserve(&mut s.1, n).expect("sender reserve"),
        || r.0.reserve(&mut r.1, n).expect("receiver reserve"),
    );
}

/// Payload bytes each end has sent so far: (sender, receiver).
fn sent(s: &(PoolSender, Ch), r: &(PoolReceiver, Ch)) -> (u64, u64) {
    let of = |ch: &Ch| ch.meter().tally(Scope::CONTROL).sent;
    (of(&s.1), of(&r.1))
}

#[test]
fn pooled_ots_are_correlated_random_and_chosen_for_both_kinds_and_many_sizes() {
    for (kind, sizes) in [
        (OtKind::Iknp, &[10, 1_000, 100_000][..]),
        (OtKind::Silent, &[10, 1_000, 1_000_000, 10_000_000][..]),
    ] {
        let (mut s, mut r) = pools(kind);
        let delta = s.0.delta();
        assert!(delta.lsb());
        for &n in sizes {
            reserve(&mut s, &mut r, n);
            let choices = r.0.peek_choices(n).unwrap();
            let (x0, t) = (s.0.correlated(n).unwrap(), r.0.correlated(n).unwrap());
            for ((x, t), c) in x0.iter().zip(&t).zip(&choices) {
                assert_eq!(*t, *x ^ delta.select(*c), "{kind} n = {n}");
                assert!(!x.lsb());
            }
            let ones = choices.iter().filter(|c| **c).count() as f64;
            let half = n as f64 / 2.0;
            assert!(
                (ones - half).abs() <= 6.0 * half.sqrt() + 3.0,
                "{kind}: {ones} of {n}"
            );
        }
        // Random OTs: the receiver's key is the message it chose, and keys are fresh.
        let n = 5_000;
        reserve(&mut s, &mut r, n);
        let choices = r.0.peek_choices(n).unwrap();
        let (mut pairs, mut keys) = (Vec::new(), Vec::new());
        s.0.random(n, |m0, m1| {
            pairs.extend(m0.iter().copied().zip(m1.iter().copied()))
        })
        .unwrap();
        r.0.random(n, |k| keys.extend_from_slice(k)).unwrap();
        for (((m0, m1), k), c) in pairs.iter().zip(&keys).zip(&choices) {
            assert_eq!(*k, if *c { *m1 } else { *m0 });
            assert_ne!(*m0 ^ *m1, delta, "hashed messages are not correlated");
        }
        // Chosen OTs: one bit each from the receiver once the pool holds them (IKNP: the
        // matrix carries the choices).
        let want: Vec<bool> = (0..777).map(|_| OsRng.next_u32() & 1 == 1).collect();
        reserve(&mut s, &mut r, want.len());
        // What the COTs spent so far carried is charged now, not with the chosen ones.
        s.0.settle(&mut s.1);
        r.0.settle(&mut r.1);
        let before = sent(&s, &r);
        let (x0, got) = both(
            || s.0.send_chosen(&mut s.1, want.len()).unwrap(),
            || r.0.receive_chosen(&mut r.1, &want).unwrap(),
        );
        for ((x, g), c) in x0.iter().zip(&got).zip(&want) {
            assert_eq!(*g, *x ^ delta.select(*c));
        }
        let after = sent(&s, &r);
        let cost = match kind {
            OtKind::Iknp => crate::ot::matrix_bytes(want.len()),
            OtKind::Silent => want.len().div_ceil(8),
        };
        // Beside the message, the spent COTs' share of the pool's growth: under a bit each.
        let extra = (after.1 - before.1).checked_sub(cost as u64);
        assert!(
            extra.is_some_and(|e| e <= want.len() as u64 / 8),
            "{kind}: {after:?}"
        );
    }
}

#[test]
fn silent_growth_costs_the_receiver_nothing_and_well_under_a_bit_per_ot_in_main() {
    let (mut s, mut r) = pools(OtKind::Silent);
    // Bootstrap: IKNP for BOOT's seed, then BOOT, then MAIN.
    reserve(&mut s, &mut r, 2_000_000);
    let (s0, r0) = sent(&s, &r);
    assert_eq!(r0, (16 * BOOT.seed().div_ceil(128) * 128 + 32) as u64);
    assert_eq!(s0, (4_096 + BOOT.bytes() + MAIN.bytes()) as u64);
    // Spend it all and more: one more MAIN extension, from the sender alone.
    let left = s.0.pool.available() - MAIN.seed();
    s.0.correlated(left).unwrap();
    r.0.correlated(left).unwrap();
    reserve(&mut s, &mut r, 1);
    let (s1, r1) = sent(&s, &r);
    assert_eq!(r1, r0, "the receiver sends nothing to grow the pool");
    assert_eq!(s1 - s0, MAIN.bytes() as u64);
    assert!(8.0 * MAIN.bytes() as f64 / MAIN.usable() as f64 <= 0.5);
}

#[test]
fn a_silent_extension_is_charged_to_the_scopes_that_spend_it() {
    use crate::channel::Phase;
    let (mut s, mut r) = pools(OtKind::Silent);
    reserve(&mut s, &mut r, 3_000_000);
    // Everything the pools grew by so far (here set-up's bootstrap too: these pools were
    // set up outside a set-up phase) went to the control scope, uncharged: both ways but
    // for the base OTs.
    let control = s.1.meter().tally(Scope::CONTROL);
    let grown = control.sent + control.received - (32 + 4096);
    let spendable = s.0.pool.available() - MAIN.seed();
    let mut spent = 0;
    for layer in 0.. {
        let n = (spendable - spent).min(1_234_567);
        if n == 0 {
            break;
        }
        let scope = Scope::layer(Phase::Offline, layer);
        s.1.enter(scope);
        r.1.enter(scope);
        s.0.correlated(n).unwrap();
        r.0.correlated(n).unwrap();
        s.0.settle(&mut s.1);
        r.0.settle(&mut r.1);
        let (at_s, at_r) = (s.1.meter().tally(scope), r.1.meter().tally(scope));
        assert_eq!((at_s.sent, at_s.received), (at_r.received, at_r.sent));
        assert!(at_s.sent > 0, "layer {layer} pays its share");
        spent += n;
    }
    let charged = s.1.meter().phase_total(Phase::Offline).bytes();
    // All but what the seed left in the pool carries: at most MAIN's share of it.
    let kept = MAIN.seed() as f64 * (MAIN.bytes() as f64 + 1.5e6) / MAIN.n as f64;
    assert!(charged <= grown, "{charged} of {grown}");
    assert!(
        charged as f64 >= grown as f64 - kept - 10.0,
        "{charged} of {grown}"
    );
}

#[test]
fn the_receivers_blocks_never_reveal_delta() {
    let (mut s, mut r) = pools(OtKind::Silent);
    let n = 200_000;
    reserve(&mut s, &mut r, n);
    let delta = s.0.delta();
    let t = r.0.correlated(n).unwrap();
    // Two blocks that differ by Δ, or Δ itself, would hand the receiver Δ and with it
    // every unchosen message.
    let held: std::collections::HashSet<u128> = t.iter().map(|b| b.0).collect();
    assert_eq!(held.len(), n, "fresh blocks");
    assert!(t
        .iter()
        .all(|b| *b != delta && !held.contains(&(*b ^ delta).0)));
}

#[test]
fn a_pool_refuses_to_spend_more_than_was_reserved() {
    let (mut s, mut r) = pools(OtKind::Iknp);
    reserve(&mut s, &mut r, 100);
    assert!(matches!(s.0.correlated(101), Err(ProtocolError::Misuse(_))));
    // The refusal poisons the sender; the receiver still holds its 100.
    assert!(matches!(s.0.correlated(1), Err(ProtocolError::Misuse(_))));
    assert_eq!(r.0.peek_choices(100).unwrap().len(), 100);
    assert!(r.0.peek_choices(101).is_err());
}

#[test]
fn chosen_flips_look_the_same_whatever_the_choices() {
    let n = 20_000;
    for choice in [false, true] {
        let (mut s, mut r) = pools(OtKind::Silent);
        reserve(&mut s, &mut r, n);
        // The flips c ⊕ r are the receiver's only message: read off the wire, they are
        // balanced for all-0 and all-1 choices alike.
        r.0.receive_chosen(&mut r.1, &vec![choice; n]).unwrap();
        let msg = s.1.recv().expect("the flips");
        assert_eq!(msg.len(), n.div_ceil(8));
        let ones = msg.iter().map(|b| b.count_ones()).sum::<u32>() as f64;
        let half = n as f64 / 2.0;
        assert!((ones - half).abs() < 6.0 * half.sqrt(), "{ones} of {n}");
    }
}
