//! What the evaluator's view must not give away (Δ), and how peer bytes fail.

use std::collections::HashSet;

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes128;

use super::halfgates::{and_tweaks, garble_and_blocks as garble_and};
use super::tests::{garble_and_evaluate, random_bits, AndSelf, Gadget, Ripple, SignCarries};
use super::*;
use crate::codec::DecodeError;
use crate::error::ProtocolError;
use crate::prg::{Prg, Seed};
use rand_core::RngCore;
use veil_circuits::Bits;

/// Whether Δ is a block of `view`, or the XOR of two or three of its blocks.
fn reveals(view: &[Block], delta: Block) -> bool {
    let set: HashSet<u128> = view.iter().map(|b| b.0).collect();
    if view.iter().any(|x| set.contains(&(x.0 ^ delta.0))) || set.contains(&delta.0) {
        return true;
    }
    (0..view.len())
        .any(|i| (i + 1..view.len()).any(|j| set.contains(&(view[i].0 ^ view[j].0 ^ delta.0))))
}

fn table_blocks(tables: &[u8]) -> Vec<Block> {
    tables
        .chunks_exact(16)
        .map(|c| Block::from_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn and_of_x_with_x_and_with_not_x_leaves_delta_out_of_the_evaluators_view() {
    for s in 0..8u8 {
        let x = random_bits(128, &mut Prg::new(Seed([s | 0x80; 16])));
        let mut garbler = Garbler::new(&mut Prg::new(Seed([s; 16])));
        let zero = garbler.input(x.len);
        let out_zero = AndSelf
            .run(&mut garbler, std::slice::from_ref(&zero))
            .unwrap();
        let tables = garbler.take_tables();
        let active = garbler.encode(&zero, &x).unwrap();
        let mut evaluator = Evaluator::new(garbler.hash_key(), tables.clone());
        let out = AndSelf
            .run(&mut evaluator, std::slice::from_ref(&active))
            .unwrap();
        evaluator.finish().unwrap();

        let delta = garbler.delta();
        let mut view = active;
        view.extend(table_blocks(&tables));
        view.extend(out.iter().flatten());
        view.push(Block(u128::from_le_bytes(garbler.hash_key().0)));
        assert!(!reveals(&view, delta), "seed {s}");
        // And the outputs are right: x ∧ x = x, x ∧ ¬x = 0.
        let opened = |i: usize| evaluator_decode(&out[i], &garbler.decode_bits(&out_zero[i]));
        assert_eq!(opened(0), x);
        assert_eq!(opened(1), Bits::zeros(x.len));
    }
}

fn evaluator_decode(wire: &[Block], colours: &Bits) -> Bits {
    Evaluator::new(HashKey([0; 16]), Vec::new())
        .decode(wire, colours)
        .unwrap()
}

/// The control: one tweak for both halves (the flaw) hands the evaluator Δ on the same
/// gates, and [`reveals`] sees it. So the check above has teeth.
#[test]
fn one_tweak_for_both_halves_would_leak_delta() {
    let mut rng = Prg::new(Seed([2; 16]));
    let hash = Tccr::new(&HashKey::random(&mut rng));
    let delta = Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()) | 1);
    for negate in [false, true] {
        let mut view = Vec::new();
        for j in 0..64u64 {
            let a0 = Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
            let b0 = if negate { a0 ^ delta } else { a0 };
            let t = and_tweaks(j).0;
            let h = [
                hash.hash(a0, t),
                hash.hash(a0 ^ delta, t),
                hash.hash(b0, t),
                hash.hash(b0 ^ delta, t),
            ];
            let (_, [t_g, t_e]) = garble_and(a0, b0, delta, &h);
            let x = rng.next_u32() & 1 == 1;
            view.extend([a0 ^ delta.select(x), t_g, t_e]);
        }
        assert!(reveals(&view, delta), "negate {negate}");
    }
}

/// The control for the hash: with `H(x, i) = AES(x ⊕ i)` an evaluator inverts
/// `T_G ⊕ H(A)` whenever `p_b = 0` and reads Δ; with TCCR the same attack yields noise.
#[test]
fn plain_aes_of_x_xor_tweak_would_leak_delta_and_tccr_does_not() {
    let mut rng = Prg::new(Seed([3; 16]));
    let key = HashKey::random(&mut rng);
    let aes = Aes128::new(&key.0.into());
    let tccr = Tccr::new(&key);
    let enc = |x: Block| {
        let mut b = aes::Block::from(x.to_bytes());
        aes.encrypt_block(&mut b);
        Block::from_bytes(b.into())
    };
    let dec = |x: Block| {
        let mut b = aes::Block::from(x.to_bytes());
        aes.decrypt_block(&mut b);
        Block::from_bytes(b.into())
    };
    let delta = Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()) | 1);
    let (mut leaked, mut tccr_leaked) = (0, 0);
    for j in 0..64u64 {
        let a0 = Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        let b0 = Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        let (t_a, t_b) = and_tweaks(j);
        let a = a0 ^ delta.select(rng.next_u32() & 1 == 1);
        let plain = |x: Block, t: Block| enc(x ^ t);
        for (use_tccr, count) in [(false, &mut leaked), (true, &mut tccr_leaked)] {
            let hash = |x: Block, t: Block| {
                if use_tccr {
                    tccr.hash(x, t)
                } else {
                    plain(x, t)
                }
            };
            let h = [
                hash(a0, t_a),
                hash(a0 ^ delta, t_a),
                hash(b0, t_b),
                hash(b0 ^ delta, t_b),
            ];
            let (_, [t_g, _]) = garble_and(a0, b0, delta, &h);
            // The evaluator's guess at the other label A ⊕ Δ, then at Δ.
            let guess = dec(t_g ^ hash(a, t_a)) ^ t_a ^ a;
            *count += usize::from(guess == delta);
        }
    }
    assert!(leaked > 10, "plain AES leaked Δ in {leaked} of 64 gates");
    assert_eq!(tccr_leaked, 0);
}

#[test]
fn delta_has_low_bit_one_and_is_fresh_per_session() {
    let mut rng = Prg::new(Seed::random());
    let mut deltas = HashSet::new();
    let mut keys = HashSet::new();
    for _ in 0..500 {
        let g = Garbler::new(&mut rng);
        assert!(g.delta().lsb());
        assert!(deltas.insert(g.delta().0));
        assert!(keys.insert(g.hash_key().0));
        let shown = format!("{g:?}");
        assert!(!shown.contains(&g.delta().0.to_string()));
        assert!(!shown.contains(&format!("{:x}", g.delta().0)));
    }
}

#[test]
fn encode_gives_exactly_one_label_per_element() {
    let mut rng = Prg::new(Seed([7; 16]));
    let mut g = Garbler::new(&mut rng);
    let bits = random_bits(200, &mut rng);
    let zero = g.input(bits.len);
    let labels = g.encode(&zero, &bits).unwrap();
    assert_eq!(labels.len(), bits.len);
    for e in 0..bits.len {
        let want = if bits.get(e) {
            zero[e] ^ g.delta()
        } else {
            zero[e]
        };
        assert_eq!(labels[e], want);
    }
    assert!(!reveals(&labels, g.delta()));
    assert!(matches!(
        g.encode(&zero, &Bits::zeros(199)),
        Err(ProtocolError::Misuse(_))
    ));
}

/// Garbles the carry circuit and returns (tables, evaluator input labels, key).
fn garbled_carry_circuit() -> (Vec<u8>, Vec<Vec<Block>>, HashKey) {
    let mut rng = Prg::new(Seed([8; 16]));
    let inputs: Vec<Bits> = (0..32).map(|_| random_bits(50, &mut rng)).collect();
    let mut g = Garbler::new(&mut rng);
    let zero: Vec<Vec<Block>> = inputs.iter().map(|b| g.input(b.len)).collect();
    SignCarries { k: 16, f: 6 }.run(&mut g, &zero).unwrap();
    let active = zero
        .iter()
        .zip(&inputs)
        .map(|(z, b)| g.encode(z, b).unwrap())
        .collect();
    (g.take_tables(), active, g.hash_key())
}

#[test]
fn truncated_tables_are_a_typed_error_not_a_panic() {
    let (tables, active, key) = garbled_carry_circuit();
    let gadget = SignCarries { k: 16, f: 6 };
    for cut in [
        0,
        1,
        16,
        31,
        32,
        50 * 32,
        tables.len() / 2,
        tables.len() - 1,
    ] {
        let mut ev = Evaluator::new(key, tables[..cut].to_vec());
        let got = gadget.run(&mut ev, &active);
        assert!(
            matches!(got, Err(ProtocolError::Peer(DecodeError::Truncated { .. }))),
            "cut at {cut}: {got:?}"
        );
    }
}

#[test]
fn trailing_table_bytes_are_a_typed_error_at_finish() {
    let (tables, active, key) = garbled_carry_circuit();
    for extra in [1usize, 32] {
        let mut long = tables.clone();
        long.extend(vec![0u8; extra]);
        let mut ev = Evaluator::new(key, long);
        SignCarries { k: 16, f: 6 }.run(&mut ev, &active).unwrap();
        assert!(matches!(
            ev.finish(),
            Err(ProtocolError::Peer(DecodeError::Trailing(n))) if n == extra
        ));
    }
}

#[test]
fn tables_can_arrive_layer_by_layer() {
    let mut rng = Prg::new(Seed([10; 16]));
    let inputs: Vec<Bits> = (0..16).map(|_| random_bits(70, &mut rng)).collect();
    let mut g = Garbler::new(&mut rng);
    let zero: Vec<Vec<Block>> = inputs.iter().map(|b| g.input(b.len)).collect();
    let first = Ripple { k: 8 }.run(&mut g, &zero).unwrap();
    let t1 = g.take_tables();
    let second = Ripple { k: 4 }.run(&mut g, &first).unwrap();
    let t2 = g.take_tables();
    let active: Vec<Vec<Block>> = zero
        .iter()
        .zip(&inputs)
        .map(|(z, b)| g.encode(z, b).unwrap())
        .collect();
    let mut ev = Evaluator::new(g.hash_key(), t1);
    let mid = Ripple { k: 8 }.run(&mut ev, &active).unwrap();
    assert_eq!(ev.remaining(), 0);
    ev.extend_tables(&t2);
    let out = Ripple { k: 4 }.run(&mut ev, &mid).unwrap();
    ev.finish().unwrap();
    let plain = Ripple { k: 4 }
        .run(
            &mut veil_circuits::Plain,
            &Ripple { k: 8 }
                .run(&mut veil_circuits::Plain, &inputs)
                .unwrap(),
        )
        .unwrap();
    for i in 0..4 {
        assert_eq!(
            evaluator_decode(&out[i], &g.decode_bits(&second[i])),
            plain[i]
        );
    }
}

#[test]
fn malformed_output_messages_are_typed_errors() {
    let mut rng = Prg::new(Seed([11; 16]));
    let inputs: Vec<Bits> = (0..8).map(|_| random_bits(33, &mut rng)).collect();
    let (zero, active, mut g) = garble_and_evaluate(&Ripple { k: 4 }, &inputs, Seed([12; 16]));
    let (_, msg) = g.share_output(&zero, &mut rng).unwrap();
    let mut ev = Evaluator::new(g.hash_key(), Vec::new());
    let short = ev.receive_output_shares(&active, &msg[..msg.len() - 1]);
    assert!(matches!(
        short,
        Err(ProtocolError::Peer(DecodeError::Truncated { .. }))
    ));
    let mut long = msg.clone();
    long.push(0);
    let long = ev.receive_output_shares(&active, &long);
    assert!(matches!(
        long,
        Err(ProtocolError::Peer(DecodeError::Trailing(1)))
    ));
    let colours = Bits::zeros(active[0].len() + 1);
    assert!(matches!(
        ev.decode(&active[0], &colours),
        Err(ProtocolError::Peer(DecodeError::Invalid { .. }))
    ));
    assert!(matches!(
        ev.receive_output_shares(&[], &[]),
        Err(ProtocolError::Misuse(_))
    ));
}
