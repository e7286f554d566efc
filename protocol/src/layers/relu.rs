//! ReLU with exact truncation, by GMW: `y = ReLU(x) >> f` on additive shares.
//!
//! Let `a`, `b` be the low `k` bits of the server's and client's shares of `x`, with
//! |x| < 2^(k−1). The carry circuit gives XOR shares of the sign `msb`, the rounding carry
//! `c_f` into bit `f` and the wrap `w` out of bit `k − 1` of `a + b`. With `s = ¬msb`,
//!
//! `ReLU(x) >> f = s · ((a >> f) + (b >> f)) + (s ∧ c_f) − 2^(k−f) · (s ∧ w)`
//!
//! exactly (the floor shift of the reference), because for `x ≥ 0`,
//! `x = a + b − w · 2^k` and `floor((a + b) / 2^f) = (a >> f) + (b >> f) + c_f`.
//!
//! Messages, both parties at once in each round:
//! 1. `1 + ceil(log2 k)` AND batches of the carry circuit (2 bits per AND each way);
//! 2. one round that opens the two closing ANDs, `c = s ⊕ r` and `e = T − R` where
//!    `T = (a >> f) + (b >> f)`: with `s = c + (1 − 2c)·r` and `T = e + R`,
//!    `s · T = c·e + c·R + (1 − 2c)·(e·r + r·R)`, linear in the shared `R`, `r`, `r·R`;
//! 3. one round that injects `s ∧ c_f` and `s ∧ w` into the ring (open `u ⊕ r'`).
//!
//! Each party sees only values masked by one-time randomness (triples, `r`, `R`, `r'`).

use veil_circuits::{sign_and_carries, Backend, Bits, Counter};

use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::gmw::{and_finish, and_masks, input_wires, BitTriple, Gmw};
use crate::material::{InjectPair, ReluShare};
use crate::ring::{low_bits, FixedPoint, Ring};
use crate::share::Role;

/// AND gates per element: the carry circuit's plus the two closing ANDs.
pub fn and_gates(fixed: FixedPoint) -> usize {
    circuit_cost(fixed).ands + 2
}

/// Rounds of one ReLU layer: the circuit's AND batches, the closing round, the injection.
pub fn rounds(fixed: FixedPoint) -> usize {
    circuit_cost(fixed).batches + 2
}

/// Payload bytes one party sends for a ReLU layer of `n` values.
pub fn bytes_sent(fixed: FixedPoint, n: usize) -> usize {
    // One message per batch of gates; then 2 closing ANDs + c; then two injections.
    let batches = batch_sizes(fixed);
    let circuit: usize = batches.iter().map(|g| (2 * g * n).div_ceil(8)).sum();
    circuit + (5 * n).div_ceil(8) + 8 * n + (2 * n).div_ceil(8)
}

fn circuit_cost(fixed: FixedPoint) -> veil_circuits::GateCount {
    let mut c = Counter::new();
    let wires = vec![c.input(); fixed.k as usize];
    sign_and_carries(&mut c, &wires, &wires, fixed.f as usize)
        .expect("a validated FixedPoint fits the circuit");
    c.count()
}

/// The number of gates in each AND batch of the carry circuit.
fn batch_sizes(fixed: FixedPoint) -> Vec<usize> {
    /// Records the size of every batch.
    struct Sizes(Vec<usize>);
    impl Backend for Sizes {
        type Wire = ();
        type Error = veil_circuits::CircuitError;
        fn xor(&mut self, _: &(), _: &()) -> Result<(), Self::Error> {
            Ok(())
        }
        fn not(&mut self, _: &()) -> Result<(), Self::Error> {
            Ok(())
        }
        fn and_batch(&mut self, g: &[(&(), &())]) -> Result<Vec<()>, Self::Error> {
            self.0.push(g.len());
            Ok(vec![(); g.len()])
        }
    }
    let mut s = Sizes(Vec::new());
    let wires = vec![(); fixed.k as usize];
    sign_and_carries(&mut s, &wires, &wires, fixed.f as usize)
        .expect("a validated FixedPoint fits the circuit");
    s.0
}

/// Runs the ReLU layer on this party's shares `x` (scale 2^(2f)); returns its shares of
/// `ReLU(x) >> f` (scale 2^f).
pub fn relu_trunc<T: Transport>(
    ch: &mut Channel<T>,
    role: Role,
    fixed: FixedPoint,
    x: &[Ring],
    material: ReluShare,
) -> Result<Vec<Ring>, ProtocolError> {
    let (k, f) = (fixed.k, fixed.f);
    let n = x.len();
    if material.product.big_r.len() != n {
        return Err(ProtocolError::Material(
            "ReLU material of the wrong width".into(),
        ));
    }
    let low: Vec<u64> = x.iter().map(|v| low_bits(*v, k)).collect();
    let (xw, yw) = input_wires(role, &low, k);
    let mut gmw = Gmw::new(ch, role, material.triples);
    let sc = sign_and_carries(&mut gmw, &xw, &yw, f as usize)?;
    let s = gmw.not(&sc.msb)?;
    let (closing, ch) = gmw.finish();
    let [t_carry, t_wrap]: [BitTriple; 2] = closing
        .try_into()
        .map_err(|_| ProtocolError::Material("wrong number of AND triples".into()))?;

    // Round 2: closing ANDs, and the masked sign and truncated sum for s · T.
    let t: Vec<Ring> = low.iter().map(|v| v >> f).collect();
    let (d1, e1) = and_masks(&s, &sc.carry_f, &t_carry)?;
    let (d2, e2) = and_masks(&s, &sc.wrap, &t_wrap)?;
    let c_share = s.xor(&material.product.inject.r)?;
    let e_share: Vec<Ring> = crate::share::sub(&t, &material.product.big_r);
    let (open, e) = ch.open_shares(&[&d1, &e1, &d2, &e2, &c_share], &e_share)?;
    let u = and_finish(role, &open[0], &open[1], &t_carry)?;
    let v = and_finish(role, &open[2], &open[3], &t_wrap)?;
    let c = &open[4];
    let p = &material.product;
    let product: Vec<Ring> = (0..n)
        .map(|i| {
            let ci = c.get(i) as u64;
            let sign = 1u64.wrapping_sub(2 * ci);
            let own = if role.adds_constants() {
                ci.wrapping_mul(e[i])
            } else {
                0
            };
            own.wrapping_add(ci.wrapping_mul(p.big_r[i])).wrapping_add(
                sign.wrapping_mul(
                    e[i].wrapping_mul(p.inject.arith[i])
                        .wrapping_add(p.product[i]),
                ),
            )
        })
        .collect();

    // Round 3: inject s ∧ c_f and s ∧ w into the ring.
    let [carry, wrap] = inject(ch, role, [&u, &v], [&material.carry, &material.wrap])?;
    let shift = 1u64 << (k - f);
    Ok((0..n)
        .map(|i| {
            product[i]
                .wrapping_add(carry[i])
                .wrapping_sub(shift.wrapping_mul(wrap[i]))
        })
        .collect())
}

/// Bit injection: additive ring shares of XOR-shared bits, one round for all of them.
/// Opens `b ⊕ r` and uses `b = c + (1 − 2c)·r`.
fn inject<T: Transport, const N: usize>(
    ch: &mut Channel<T>,
    role: Role,
    bits: [&Bits; N],
    pairs: [&InjectPair; N],
) -> Result<[Vec<Ring>; N], ProtocolError> {
    let masked = bits
        .iter()
        .zip(&pairs)
        .map(|(b, p)| b.xor(&p.r))
        .collect::<Result<Vec<_>, _>>()?;
    let (open, _) = ch.open_shares(&masked.iter().collect::<Vec<_>>(), &[])?;
    Ok(std::array::from_fn(|j| {
        let (c, arith) = (&open[j], &pairs[j].arith);
        (0..c.len)
            .map(|i| {
                let ci = c.get(i) as u64;
                let own = if role.adds_constants() { ci } else { 0 };
                own.wrapping_add(1u64.wrapping_sub(2 * ci).wrapping_mul(arith[i]))
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests;
