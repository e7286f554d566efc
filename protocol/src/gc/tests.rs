//! Garbling agrees with the plaintext backend, bit for bit; output shares add up.

use super::halfgates::{and_tweaks, garble_and_blocks as garble_and};
use super::*;
use crate::prg::{Prg, Seed};
use proptest::prelude::*;
use rand_core::RngCore;
use veil_circuits::{sign_and_carries, Backend, Bits, Plain};

/// A circuit, written once, run by every backend.
pub(super) trait Gadget {
    /// Runs it on `b`.
    fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error>;
}

/// `sign_and_carries` on two k-bit numbers (inputs: x bits then y bits).
pub(super) struct SignCarries {
    pub k: usize,
    pub f: usize,
}

impl Gadget for SignCarries {
    fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
        let s = sign_and_carries(b, &x[..self.k], &x[self.k..], self.f)?;
        Ok(vec![s.msb, s.carry_f, s.wrap])
    }
}

/// `and(x, x)` and `and(x, ¬x)` side by side in one batch.
pub(super) struct AndSelf;

impl Gadget for AndSelf {
    fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
        let not_x = b.not(&x[0])?;
        b.and_batch(&[(&x[0], &x[0]), (&x[0], &not_x)])
    }
}

/// XOR and NOT chains around ANDs: the free gates in every position.
struct XorChain;

impl Gadget for XorChain {
    fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
        let mut acc = x[0].clone();
        for w in &x[1..] {
            acc = b.xor(&acc, w)?;
            acc = b.not(&acc)?;
        }
        let n1 = b.not(&x[1])?;
        let ands = b.and_batch(&[(&acc, &x[0]), (&n1, &x[2]), (&acc, &acc)])?;
        let mixed = b.xor(&ands[0], &ands[1])?;
        let n2 = b.not(&ands[2])?;
        let last = b.and_batch(&[(&mixed, &n2)])?;
        Ok(vec![acc, mixed, last[0].clone()])
    }
}

/// A ripple-carry adder mod 2^k: one small AND batch per bit, batches of unequal size.
pub(super) struct Ripple {
    pub k: usize,
}

impl Gadget for Ripple {
    fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
        let (xs, ys) = x.split_at(self.k);
        let mut sum = vec![b.xor(&xs[0], &ys[0])?];
        let mut carry = b.and_batch(&[(&xs[0], &ys[0])])?.remove(0);
        for i in 1..self.k {
            let p = b.xor(&xs[i], &ys[i])?;
            sum.push(b.xor(&p, &carry)?);
            let gp = b.and_batch(&[(&xs[i], &ys[i]), (&p, &carry)])?;
            carry = b.xor(&gp[0], &gp[1])?;
        }
        Ok(sum)
    }
}

pub(super) fn random_bits(n: usize, rng: &mut Prg) -> Bits {
    let mut b = Bits::zeros(n);
    b.words.iter_mut().for_each(|w| *w = rng.next_u64());
    b.mask_tail();
    b
}

/// Garbles, hands the evaluator its input labels and the tables in memory, evaluates;
/// returns (garbler's output 0-labels, evaluator's active output labels, garbler).
pub(super) fn garble_and_evaluate<G: Gadget>(
    gadget: &G,
    inputs: &[Bits],
    seed: Seed,
) -> (Vec<Vec<Block>>, Vec<Vec<Block>>, Garbler) {
    let mut garbler = Garbler::new(&mut Prg::new(seed));
    let zero: Vec<Vec<Block>> = inputs.iter().map(|b| garbler.input(b.len)).collect();
    let out_zero = gadget.run(&mut garbler, &zero).unwrap();
    let tables = garbler.take_tables();
    let active: Vec<Vec<Block>> = zero
        .iter()
        .zip(inputs)
        .map(|(z, b)| garbler.encode(z, b).unwrap())
        .collect();
    let mut evaluator = Evaluator::new(garbler.hash_key(), tables);
    let out_active = gadget.run(&mut evaluator, &active).unwrap();
    assert_eq!(evaluator.and_count(), garbler.and_count());
    evaluator.finish().unwrap();
    (out_zero, out_active, garbler)
}

/// Runs `gadget` as Plain and as garbler → evaluator and compares every output bit.
fn assert_backends_agree<G: Gadget>(gadget: &G, inputs: &[Bits], seed: Seed) {
    let plain = gadget.run(&mut Plain, inputs).unwrap();
    let (zero, active, garbler) = garble_and_evaluate(gadget, inputs, seed);
    let evaluator = Evaluator::new(garbler.hash_key(), Vec::new());
    for (i, (z, a)) in zero.iter().zip(&active).enumerate() {
        let opened = evaluator.decode(a, &garbler.decode_bits(z)).unwrap();
        assert_eq!(opened, plain[i], "output {i}, seed {seed:?}");
    }
}

/// Bit-sliced wires of x (k bits) then y (k bits).
fn sliced(xs: &[u64], ys: &[u64], k: u32) -> Vec<Bits> {
    let mut w = Bits::slice_all(xs, k);
    w.extend(Bits::slice_all(ys, k));
    w
}

#[test]
fn carry_circuit_agrees_on_the_boundaries_of_the_signed_range() {
    for k in [2u32, 3, 8, 17, 32, 33, 48] {
        let max = (1u64 << (k - 1)) - 1;
        let mask = (1u64 << k) - 1;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for v in [0u64, 1, max, 1u64.wrapping_neg(), max.wrapping_neg()] {
            for share in [0u64, 1, max, max + 1, mask, 0x5555_5555_5555] {
                xs.push(share & mask);
                ys.push(v.wrapping_sub(share) & mask);
            }
        }
        for f in [1, k / 2, k - 1].into_iter().filter(|f| *f >= 1) {
            let gadget = SignCarries {
                k: k as usize,
                f: f as usize,
            };
            assert_backends_agree(&gadget, &sliced(&xs, &ys, k), Seed([k as u8; 16]));
        }
    }
}

#[test]
fn hand_gadgets_agree() {
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    for n in [1usize, 2, 63, 64, 65, 300, 1000] {
        let one = vec![random_bits(n, &mut rng)];
        assert_backends_agree(&AndSelf, &one, seed);
        let four: Vec<Bits> = (0..4).map(|_| random_bits(n, &mut rng)).collect();
        assert_backends_agree(&XorChain, &four, seed);
    }
}

#[test]
fn batches_larger_than_a_chunk_and_gates_of_unequal_width_agree() {
    let seed = Seed::random();
    let mut rng = Prg::new(seed);
    struct Uneven;
    impl Gadget for Uneven {
        fn run<B: Backend>(&self, b: &mut B, x: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
            b.and_batch(&[(&x[0], &x[1]), (&x[2], &x[3]), (&x[4], &x[5])])
        }
    }
    let widths = [CHUNK - 1, 3 * CHUNK + 7, 1];
    let inputs: Vec<Bits> = widths
        .iter()
        .flat_map(|n| [*n, *n])
        .map(|n| random_bits(n, &mut rng))
        .collect();
    assert_backends_agree(&Uneven, &inputs, seed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn carry_circuit_agrees_on_random_values(
        pairs in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..200),
        k in 2u32..=48,
        f_frac in 0.0f64..1.0,
        seed in any::<[u8; 16]>(),
    ) {
        let f = 1 + ((k - 2) as f64 * f_frac) as u32;
        let mask = (1u64 << k) - 1;
        let (xs, ys): (Vec<u64>, Vec<u64>) = pairs.iter().map(|(x, y)| (x & mask, y & mask)).unzip();
        let gadget = SignCarries { k: k as usize, f: f as usize };
        assert_backends_agree(&gadget, &sliced(&xs, &ys, k), Seed(seed));
    }

    #[test]
    fn ripple_adder_agrees_and_output_shares_add_up(
        pairs in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..100),
        k in 1u32..=64,
        seed in any::<[u8; 16]>(),
    ) {
        let mask = u64::MAX >> (64 - k);
        let (xs, ys): (Vec<u64>, Vec<u64>) = pairs.iter().map(|(x, y)| (x & mask, y & mask)).unzip();
        let inputs = sliced(&xs, &ys, k);
        let gadget = Ripple { k: k as usize };
        assert_backends_agree(&gadget, &inputs, Seed(seed));

        let (zero, active, mut garbler) = garble_and_evaluate(&gadget, &inputs, Seed(seed));
        let mut rng = Prg::new(Seed(seed));
        let (mine, msg) = garbler.share_output(&zero, &mut rng).unwrap();
        prop_assert_eq!(msg.len(), SHARE_BYTES * k as usize * xs.len());
        let mut evaluator = Evaluator::new(garbler.hash_key(), Vec::new());
        let theirs = evaluator.receive_output_shares(&active, &msg).unwrap();
        for e in 0..xs.len() {
            let want = xs[e].wrapping_add(ys[e]) & mask;
            prop_assert_eq!(mine[e].wrapping_add(theirs[e]), want);
        }
    }
}

#[test]
fn output_shares_of_a_second_call_use_fresh_tweaks_and_still_add_up() {
    let mut rng = Prg::new(Seed([4; 16]));
    let mut garbler = Garbler::new(&mut rng);
    let mut evaluator = Evaluator::new(garbler.hash_key(), Vec::new());
    let n = 2 * CHUNK + 3;
    let values: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    let wires = Bits::slice_all(&values, 64);
    let zero: Vec<Vec<Block>> = (0..64).map(|_| garbler.input(n)).collect();
    let active: Vec<Vec<Block>> = zero
        .iter()
        .zip(&wires)
        .map(|(z, b)| garbler.encode(z, b).unwrap())
        .collect();
    let mut messages = Vec::new();
    for _ in 0..2 {
        let (mine, msg) = garbler.share_output(&zero, &mut rng).unwrap();
        let theirs = evaluator.receive_output_shares(&active, &msg).unwrap();
        for e in 0..n {
            assert_eq!(mine[e].wrapping_add(theirs[e]), values[e]);
        }
        messages.push(msg);
    }
    assert_ne!(messages[0], messages[1]);
}

#[test]
fn tables_are_half_gates_with_tweaks_two_j_and_two_j_plus_one_over_the_session() {
    let mut rng = Prg::new(Seed([6; 16]));
    let mut garbler = Garbler::new(&mut rng);
    let (delta, hash) = (garbler.delta(), Tccr::new(&garbler.hash_key()));
    let n = CHUNK + 5;
    let (a, b) = (garbler.input(n), garbler.input(n));
    // The same gate in two batches, then a gate in a batch of two: j runs over all ANDs.
    let mut tables = Vec::new();
    let first = garbler.and_batch(&[(&a, &b)]).unwrap();
    tables.extend(garbler.take_tables());
    let second = garbler.and_batch(&[(&b, &a), (&a, &b)]).unwrap();
    tables.extend(garbler.take_tables());
    assert_eq!(garbler.and_count(), 3 * n as u64);
    let operands = [(&a, &b), (&b, &a), (&a, &b)];
    let outputs = [&first[0], &second[0], &second[1]];
    for (g, ((x, y), out)) in operands.iter().zip(outputs).enumerate() {
        for e in 0..n {
            let j = (g * n + e) as u64;
            let (t_a, t_b) = and_tweaks(j);
            let (x0, y0) = (x[e], y[e]);
            let h = [
                hash.hash(x0, t_a),
                hash.hash(x0 ^ delta, t_a),
                hash.hash(y0, t_b),
                hash.hash(y0 ^ delta, t_b),
            ];
            let (c0, [t_g, t_e]) = garble_and(x0, y0, delta, &h);
            let at = AND_TABLE_BYTES * j as usize;
            assert_eq!(
                &tables[at..at + 16],
                &t_g.to_bytes()[..],
                "gate {g} element {e}"
            );
            assert_eq!(&tables[at + 16..at + 32], &t_e.to_bytes()[..]);
            assert_eq!(out[e], c0);
        }
    }
    // The same (a, b) garbled at j and at j + 2n: fresh tweaks, so different ciphertexts.
    let third = 2 * n * AND_TABLE_BYTES;
    assert!(
        (0..n).all(|e| tables[32 * e..32 * e + 32] != tables[third + 32 * e..third + 32 * e + 32])
    );
}

#[test]
fn recycled_table_buffers_hold_the_same_tables() {
    let mut rng = Prg::new(Seed([13; 16]));
    let mut garbler = Garbler::new(&mut rng);
    let (a, b) = (garbler.input(100), garbler.input(100));
    garbler.and_batch(&[(&a, &b)]).unwrap();
    let first = garbler.take_tables();
    let mut spent = first.clone();
    spent.extend([0xaa; 4096]);
    garbler.recycle(spent);
    garbler.and_batch(&[(&a, &b)]).unwrap();
    let second = garbler.take_tables();
    assert_eq!(second.len(), first.len());
    assert!(second.capacity() >= 4096);
    // A fresh session from the same seed writes the same second batch into a new buffer.
    let mut again = Garbler::new(&mut Prg::new(Seed([13; 16])));
    let (a, b) = (again.input(100), again.input(100));
    again.and_batch(&[(&a, &b)]).unwrap();
    again.take_tables();
    again.and_batch(&[(&a, &b)]).unwrap();
    assert_eq!(again.take_tables(), second);
}
