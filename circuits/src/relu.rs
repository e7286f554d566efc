//! ReLU with the truncation shift fused in, for backends where ANDs cost and depth is
//! free (garbled circuits): `2k − 2 − f` ANDs.
//!
//! The k-bit sum `s = (x + y) mod 2^k` by a ripple-carry adder (one AND per carry,
//! `k − 1`), read as signed: its sign is bit `k − 1`. `ReLU(s) >> f` keeps bits
//! `f ..= k − 2` of `s` when the sign is 0: one AND each (`k − 1 − f`). The shift is wiring.

use crate::backend::{Backend, CircuitError};

/// The k-bit sum of `x` and `y` (LSB first; the carry out of the top bit is dropped).
pub fn add<B: Backend>(b: &mut B, x: &[B::Wire], y: &[B::Wire]) -> Result<Vec<B::Wire>, B::Error> {
    if x.len() != y.len() {
        return Err(CircuitError::WidthMismatch(x.len(), y.len()).into());
    }
    let mut sum = Vec::with_capacity(x.len());
    let mut carry: Option<B::Wire> = None;
    for (i, (xi, yi)) in x.iter().zip(y).enumerate() {
        let p = b.xor(xi, yi)?;
        let next = match &carry {
            None => {
                sum.push(p);
                (i + 1 < x.len())
                    .then(|| b.and_batch(&[(xi, yi)]))
                    .transpose()?
                    .map(|mut v| v.remove(0))
            }
            Some(c) => {
                sum.push(b.xor(&p, c)?);
                if i + 1 < x.len() {
                    // c' = c ⊕ ((x ⊕ c) ∧ (y ⊕ c)): the majority of x, y, c with one AND.
                    let (xc, yc) = (b.xor(xi, c)?, b.xor(yi, c)?);
                    let t = b.and_batch(&[(&xc, &yc)])?.remove(0);
                    Some(b.xor(c, &t)?)
                } else {
                    None
                }
            }
        };
        carry = next;
    }
    Ok(sum)
}

/// Bits of `ReLU(x + y) >> f` where `x + y` is read as a signed k-bit number
/// (`k = x.len()`): `k − 1 − f` output wires, LSB first.
pub fn relu_shift<B: Backend>(
    b: &mut B,
    x: &[B::Wire],
    y: &[B::Wire],
    f: usize,
) -> Result<Vec<B::Wire>, B::Error> {
    let k = x.len();
    if k < 2 || f + 1 >= k {
        return Err(CircuitError::TooFewBits {
            needed: f + 2,
            got: k,
        }
        .into());
    }
    let sum = add(b, x, y)?;
    let positive = b.not(&sum[k - 1])?;
    let gates: Vec<_> = sum[f..k - 1].iter().map(|s| (s, &positive)).collect();
    b.and_batch(&gates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bits, Counter, Plain};
    use proptest::prelude::*;

    fn value(bits: &[Bits], i: usize) -> u64 {
        bits.iter()
            .enumerate()
            .map(|(j, b)| (b.get(i) as u64) << j)
            .sum()
    }

    fn check(xs: &[u64], ys: &[u64], k: u32, f: u32) {
        let mask = (1u64 << k) - 1;
        let (xw, yw) = (Bits::slice_all(xs, k), Bits::slice_all(ys, k));
        let sum = add(&mut Plain, &xw, &yw).unwrap();
        let out = relu_shift(&mut Plain, &xw, &yw, f as usize).unwrap();
        assert_eq!(out.len(), (k - 1 - f) as usize);
        for i in 0..xs.len() {
            let s = xs[i].wrapping_add(ys[i]) & mask;
            assert_eq!(value(&sum, i), s);
            // Sign-extend the k-bit sum, then ReLU and the floor shift.
            let signed = ((s << (64 - k)) as i64) >> (64 - k);
            let want = if signed < 0 { 0 } else { (signed as u64) >> f };
            assert_eq!(value(&out, i), want, "x={} y={} k={k} f={f}", xs[i], ys[i]);
        }
    }

    #[test]
    fn boundaries_of_the_signed_range() {
        for (k, f) in [(32u32, 12u32), (13, 5), (40, 16), (3, 1)] {
            let max = (1u64 << (k - 1)) - 1;
            let vals = [
                0u64,
                1,
                max,
                1u64.wrapping_neg(),
                max.wrapping_neg(),
                1 << f,
            ];
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for v in vals {
                for share in [0u64, 1, max, (1 << k) - 1, 0x5a5a_5a5a_5a5a] {
                    xs.push(share);
                    ys.push(v.wrapping_sub(share));
                }
            }
            check(&xs, &ys, k, f);
        }
    }

    proptest! {
        #[test]
        fn matches_integer_arithmetic(
            pairs in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..100),
            k in 3u32..=48,
            f_frac in 0.0f64..1.0,
        ) {
            let f = 1 + ((k - 3) as f64 * f_frac) as u32;
            let (xs, ys): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
            check(&xs, &ys, k, f);
        }
    }

    #[test]
    fn costs_two_k_minus_two_minus_f_ands() {
        let mut c = Counter::new();
        let w = vec![c.input(); 32];
        relu_shift(&mut c, &w, &w, 12).unwrap();
        assert_eq!(c.count().ands, 2 * 32 - 2 - 12);
        assert!(c.count().ands <= 3 * 32 - 2);
    }
}
