//! One extension of each parameter set between two threads, from correlated OTs dealt
//! here: the outputs are correlated OTs again, with noisy choice bits, one message only.

use rand_core::{OsRng, RngCore};

use super::*;
use crate::channel::{Channel, MemTransport};
use crate::fixtures::both;

/// `n` dealt COTs under `delta`: the sender's blocks (low bit 0) and the receiver's.
fn dealt(delta: Block, n: usize) -> (Vec<Block>, Vec<Block>) {
    let x0: Vec<Block> = (0..n)
        .map(|_| Block((u128::from(OsRng.next_u64()) << 64 | u128::from(OsRng.next_u64())) & !1))
        .collect();
    let t = x0
        .iter()
        .map(|x| *x ^ delta.select(OsRng.next_u32() & 1 == 1))
        .collect();
    (x0, t)
}

/// Runs one extension with `p` and returns (sender's, receiver's, Δ, bytes sent).
fn extend(p: &Params) -> (Vec<Block>, Vec<Block>, Block, u64) {
    let delta = Block(u128::from(OsRng.next_u64()) << 64 | u128::from(OsRng.next_u64()) | 1);
    let (x0, t) = dealt(delta, p.seed());
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cr) = (Channel::new(a), Channel::new(b));
    let (s, r) = both(
        || send(&mut cs, p, delta, (&x0, 7), 0, &mut OsRng).expect("sender"),
        || receive(&mut cr, p, (&t, 7), 0).expect("receiver"),
    );
    let sent = cs.meter().tally(crate::channel::Scope::CONTROL).sent;
    (s, r, delta, sent)
}

fn check(p: &Params) {
    let (s, r, delta, sent) = extend(p);
    assert_eq!((s.len(), r.len()), (p.n, p.n));
    assert_eq!(sent, p.bytes() as u64, "one message of the tree sums");
    let ones = r.iter().filter(|b| b.lsb()).count();
    for (x0, t) in s.iter().zip(&r) {
        assert!(!x0.lsb(), "the sender's blocks have low bit 0");
        assert_eq!(*t, *x0 ^ delta.select(t.lsb()), "t = x0 ⊕ c·Δ");
    }
    // The choice bits are u·A ⊕ e: about half ones.
    let half = p.n as f64 / 2.0;
    assert!(
        (ones as f64 - half).abs() < 6.0 * half.sqrt(),
        "{ones} ones of {}",
        p.n
    );
}

#[test]
fn a_small_extension_gives_correlated_ots_with_balanced_choices() {
    check(&Params {
        n: 64 << 6,
        k: 300,
        t: 64,
        h: 6,
    });
}

#[test]
fn the_bootstrap_set_gives_correlated_ots() {
    check(&BOOT);
}

#[test]
fn a_wrong_seed_length_or_a_short_message_is_refused() {
    let p = Params {
        n: 8 << 4,
        k: 40,
        t: 8,
        h: 4,
    };
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cr) = (Channel::new(a), Channel::new(b));
    let err = send(&mut cs, &p, Block(1), (&[Block::ZERO; 3], 0), 0, &mut OsRng).unwrap_err();
    assert!(matches!(err, ProtocolError::Misuse(_)), "{err:?}");
    cs.send(&vec![0u8; p.bytes() - 1]).unwrap();
    let err = receive(&mut cr, &p, (&vec![Block::ZERO; p.seed()], 0), 0).unwrap_err();
    assert!(matches!(err, ProtocolError::Peer(_)), "{err:?}");
}

#[test]
fn the_receivers_view_of_an_extension_never_shows_delta() {
    let p = Params {
        n: 128 << 7,
        k: 500,
        t: 128,
        h: 7,
    };
    let delta = Block(u128::from(OsRng.next_u64()) << 64 | u128::from(OsRng.next_u64()) | 1);
    let (x0, _) = dealt(delta, p.seed());
    let (a, b) = MemTransport::pair();
    let (mut cs, mut cr) = (Channel::new(a), Channel::new(b));
    send(&mut cs, &p, delta, (&x0, 0), 0, &mut OsRng).expect("sender");
    // The whole view: one message of masked level sums and ψ per tree.
    let msg = cr.recv().expect("the sums");
    assert_eq!(msg.len(), p.bytes());
    for at in 0..=msg.len() - 16 {
        assert_ne!(
            block(&msg[at..at + 16]),
            delta,
            "Δ in the clear at byte {at}"
        );
    }
    // ψ = Δ ⊕ (XOR of the leaves) differs from tree to tree: the leaves hide Δ.
    let psis: std::collections::HashSet<[u8; 16]> = msg
        .chunks_exact(32 * p.h + 16)
        .map(|tree| tree[32 * p.h..].try_into().expect("16 bytes"))
        .collect();
    assert_eq!(psis.len(), p.t);
}
