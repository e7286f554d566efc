//! ReLU of a window's maximum with the truncation shift fused in, for backends where ANDs
//! cost and depth is free (garbled circuits).
//!
//! Each candidate's k-bit sum `s = (x + y) mod 2^k` by a ripple-carry adder (`k − 1` ANDs),
//! read as signed. Every pair of candidates is compared by the sign of their k-bit
//! difference (`k − 1` ANDs; the model's `k` holds differences), [`select_max`] picks the
//! first non-negative maximum, and the output keeps bits `f ..= k − 2` of the selected
//! sum (`k − 1 − f` ANDs per candidate): the shift is wiring. With one candidate this is
//! a ReLU: `2k − 2 − f` ANDs. Adders and comparators run side by side, one AND batch per
//! bit position, so a window costs no more batches than one candidate.

use crate::backend::{Backend, CircuitError};
use crate::select::{pairs, select_max};

/// Two k-bit operands, LSB first.
pub type Operands<'a, W> = (&'a [W], &'a [W]);

/// The k-bit sums `x_i + y_i` (LSB first; carries out of the top bit dropped), all pairs
/// side by side.
pub fn add<B: Backend>(
    b: &mut B,
    operands: &[Operands<B::Wire>],
) -> Result<Vec<Vec<B::Wire>>, B::Error> {
    let k = width(operands)?;
    let mut sums: Vec<Vec<B::Wire>> = vec![Vec::with_capacity(k); operands.len()];
    let mut carries: Vec<B::Wire> = Vec::new();
    for bit in 0..k {
        for (i, (x, y)) in operands.iter().enumerate() {
            let p = b.xor(&x[bit], &y[bit])?;
            sums[i].push(match carries.get(i) {
                Some(c) => b.xor(&p, c)?,
                None => p,
            });
        }
        if bit + 1 < k {
            carries = next_carries(b, operands, bit, &carries)?;
        }
    }
    Ok(sums)
}

/// For each pair, the sign of the k-bit difference `x − y`: 1 when `x < y` as signed
/// k-bit numbers, provided the difference fits in k bits.
pub fn less_than<B: Backend>(
    b: &mut B,
    operands: &[Operands<B::Wire>],
) -> Result<Vec<B::Wire>, B::Error> {
    let k = width(operands)?;
    // x − y = x + ¬y + 1: the carry into bit 1 is x_0 ∨ ¬y_0 = ¬(¬x_0 ∧ y_0).
    let not_y: Vec<Vec<B::Wire>> = operands
        .iter()
        .map(|(_, y)| y.iter().map(|w| b.not(w)).collect())
        .collect::<Result<_, _>>()?;
    let negated: Vec<Operands<B::Wire>> = operands
        .iter()
        .zip(&not_y)
        .map(|((x, _), ny)| (*x, ny.as_slice()))
        .collect();
    let mut carries = Vec::new();
    if k > 1 {
        let nx: Vec<B::Wire> = operands
            .iter()
            .map(|(x, _)| b.not(&x[0]))
            .collect::<Result<_, _>>()?;
        let gates: Vec<_> = nx
            .iter()
            .zip(operands)
            .map(|(a, (_, y))| (a, &y[0]))
            .collect();
        carries = b
            .and_batch(&gates)?
            .iter()
            .map(|w| b.not(w))
            .collect::<Result<_, _>>()?;
        for bit in 1..k - 1 {
            carries = next_carries(b, &negated, bit, &carries)?;
        }
    }
    negated
        .iter()
        .enumerate()
        .map(|(i, (x, ny))| {
            let p = b.xor(&x[k - 1], &ny[k - 1])?;
            match carries.get(i) {
                Some(c) => b.xor(&p, c),
                // k = 1: the top bit gets the constant carry-in 1.
                None => b.not(&p),
            }
        })
        .collect()
}

/// The carries out of `bit` for every operand pair, from the carries into it (none at
/// bit 0): `c' = c ⊕ ((x ⊕ c) ∧ (y ⊕ c))`, the majority with one AND; all in one batch.
fn next_carries<B: Backend>(
    b: &mut B,
    operands: &[Operands<B::Wire>],
    bit: usize,
    carries: &[B::Wire],
) -> Result<Vec<B::Wire>, B::Error> {
    if carries.is_empty() {
        let gates: Vec<_> = operands.iter().map(|(x, y)| (&x[bit], &y[bit])).collect();
        return b.and_batch(&gates);
    }
    let masked: Vec<(B::Wire, B::Wire)> = operands
        .iter()
        .zip(carries)
        .map(|((x, y), c)| Ok((b.xor(&x[bit], c)?, b.xor(&y[bit], c)?)))
        .collect::<Result<_, B::Error>>()?;
    let gates: Vec<_> = masked.iter().map(|(x, y)| (x, y)).collect();
    let t = b.and_batch(&gates)?;
    carries.iter().zip(&t).map(|(c, t)| b.xor(c, t)).collect()
}

/// Each candidate's k-bit sum (its wires, LSB first), and each pair's comparison.
pub type SumsAndComparisons<W> = (Vec<Vec<W>>, Vec<W>);

/// Each candidate's k-bit sum `x[i] + y[i]`, and for every pair `i < j` in lexicographic
/// order whether `sum_i < sum_j` (signed), side by side: what a window's maximum and a
/// vector's argmax both select from.
pub fn sums_and_comparisons<B: Backend>(
    b: &mut B,
    x: &[Vec<B::Wire>],
    y: &[Vec<B::Wire>],
) -> Result<SumsAndComparisons<B::Wire>, B::Error> {
    let m = x.len();
    if m != y.len() {
        return Err(CircuitError::WidthMismatch(m, y.len()).into());
    }
    let operands: Vec<Operands<B::Wire>> = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a.as_slice(), b.as_slice()))
        .collect();
    let sums = add(b, &operands)?;
    let mut compared = Vec::with_capacity(pairs(m));
    for i in 0..m {
        for j in i + 1..m {
            compared.push((sums[i].as_slice(), sums[j].as_slice()));
        }
    }
    let lt = if compared.is_empty() {
        Vec::new()
    } else {
        less_than(b, &compared)?
    };
    Ok((sums, lt))
}

/// The common width of all operands.
fn width<W>(operands: &[Operands<W>]) -> Result<usize, CircuitError> {
    let k = operands.first().map_or(0, |(x, _)| x.len());
    match operands.iter().find(|(x, y)| x.len() != k || y.len() != k) {
        Some((x, y)) => Err(CircuitError::WidthMismatch(x.len(), y.len())),
        None => Ok(k),
    }
}

/// Bits of `ReLU(max_i (x_i + y_i)) >> f` where each sum is read as a signed k-bit number:
/// `x[i]` and `y[i]` are candidate i's two k-bit shares; `k − 1 − f` output wires, LSB
/// first. One candidate is a ReLU.
pub fn max_relu_shift<B: Backend>(
    b: &mut B,
    x: &[Vec<B::Wire>],
    y: &[Vec<B::Wire>],
    f: usize,
) -> Result<Vec<B::Wire>, B::Error> {
    let k = x.first().map_or(0, Vec::len);
    if x.is_empty() || x.len() != y.len() {
        return Err(CircuitError::WidthMismatch(x.len(), y.len()).into());
    }
    if k < 2 || f + 1 >= k {
        return Err(CircuitError::TooFewBits {
            needed: f + 2,
            got: k,
        }
        .into());
    }
    let (sums, lt) = sums_and_comparisons(b, x, y)?;
    let neg: Vec<B::Wire> = sums.iter().map(|s| s[k - 1].clone()).collect();
    let selected = select_max(b, &neg, &lt)?;
    let gates: Vec<_> = sums
        .iter()
        .zip(&selected)
        .flat_map(|(s, sel)| s[f..k - 1].iter().map(move |w| (w, sel)))
        .collect();
    let picked = b.and_batch(&gates)?;
    let mut out: Vec<B::Wire> = picked[..k - 1 - f].to_vec();
    for cand in picked[k - 1 - f..].chunks_exact(k - 1 - f) {
        for (o, w) in out.iter_mut().zip(cand) {
            *o = b.xor(o, w)?;
        }
    }
    Ok(out)
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

    fn signed(v: u64, k: u32) -> i64 {
        ((v << (64 - k)) as i64) >> (64 - k)
    }

    /// Checks `max_relu_shift` over windows of `m` candidates: `xs[i]`, `ys[i]` hold
    /// candidate i's shares for every element.
    fn check(xs: &[Vec<u64>], ys: &[Vec<u64>], k: u32, f: u32) {
        let mask = (1u64 << k) - 1;
        let xw: Vec<Vec<Bits>> = xs.iter().map(|x| Bits::slice_all(x, k)).collect();
        let yw: Vec<Vec<Bits>> = ys.iter().map(|y| Bits::slice_all(y, k)).collect();
        let operands: Vec<_> = xw
            .iter()
            .zip(&yw)
            .map(|(x, y)| (x.as_slice(), y.as_slice()))
            .collect();
        let sums = add(&mut Plain, &operands).unwrap();
        let out = max_relu_shift(&mut Plain, &xw, &yw, f as usize).unwrap();
        assert_eq!(out.len(), (k - 1 - f) as usize);
        for e in 0..xs[0].len() {
            let vals: Vec<i64> = (0..xs.len())
                .map(|i| {
                    let s = xs[i][e].wrapping_add(ys[i][e]) & mask;
                    assert_eq!(value(&sums[i], e), s);
                    signed(s, k)
                })
                .collect();
            let max = *vals.iter().max().unwrap();
            let want = if max < 0 { 0 } else { (max as u64) >> f };
            assert_eq!(value(&out, e), want, "values {vals:?} k={k} f={f}");
        }
    }

    /// Shares of `v` split as `v − share` and `share` for a few awkward shares.
    fn split(values: &[i64], k: u32) -> (Vec<u64>, Vec<u64>) {
        let mask = (1u64 << k) - 1;
        let shares = [0u64, 1, mask, 0x5a5a_5a5a_5a5a & mask, 1 << (k - 1)];
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let s = shares[i % shares.len()];
                ((*v as u64).wrapping_sub(s) & mask, s)
            })
            .unzip()
    }

    #[test]
    fn relu_at_the_boundaries_of_the_signed_range() {
        for (k, f) in [(32u32, 12u32), (13, 5), (40, 16), (3, 1)] {
            let max = (1i64 << (k - 1)) - 1;
            let vals: Vec<i64> = [0, 1, max, -1, -max, 1 << f]
                .iter()
                .flat_map(|v| [*v; 5])
                .collect();
            let (x, y) = split(&vals, k);
            check(&[x], &[y], k, f);
        }
    }

    #[test]
    fn windows_with_ties_negatives_and_extremes() {
        let (k, f) = (16u32, 4u32);
        // Differences must fit k bits: keep values within ±2^(k−2).
        let big = (1i64 << (k - 2)) - 1;
        let windows: [[i64; 4]; 6] = [
            [3, -1, 7, 7],
            [-5, -2, -9, -1],
            [0, 0, 0, 0],
            [big, -big, big - 1, 0],
            [-big, -big, -big, -big],
            [17, 16, 15, 1 << f],
        ];
        let cands: Vec<(Vec<u64>, Vec<u64>)> =
            (0..4).map(|i| split(&windows.map(|w| w[i]), k)).collect();
        let (xs, ys): (Vec<_>, Vec<_>) = cands.into_iter().unzip();
        check(&xs, &ys, k, f);
    }

    #[test]
    fn less_than_compares_signed_differences() {
        let k = 8u32;
        let (a, b): (Vec<i64>, Vec<i64>) = [
            (1, 2),
            (2, 1),
            (-3, 3),
            (63, -64),
            (-64, 63),
            (5, 5),
            (0, -1),
        ]
        .into_iter()
        .unzip();
        let mask = (1u64 << k) - 1;
        let enc =
            |v: &[i64]| Bits::slice_all(&v.iter().map(|x| *x as u64 & mask).collect::<Vec<_>>(), k);
        let (aw, bw) = (enc(&a), enc(&b));
        let lt = less_than(&mut Plain, &[(aw.as_slice(), bw.as_slice())]).unwrap();
        for i in 0..a.len() {
            assert_eq!(lt[0].get(i), a[i] < b[i], "{} < {}", a[i], b[i]);
        }
    }

    proptest! {
        #[test]
        fn matches_integer_arithmetic(
            seeds in proptest::collection::vec(any::<u64>(), 4..200),
            k in 4u32..=48,
            m in 1usize..=5,
            f_frac in 0.0f64..1.0,
        ) {
            let f = 1 + ((k - 4) as f64 * f_frac) as u32;
            let n = seeds.len() / (2 * m);
            prop_assume!(n > 0);
            // Values within ±2^(k−2) so that every difference fits k bits.
            let bound = 1u64 << (k - 2);
            let vals: Vec<Vec<i64>> = (0..m)
                .map(|i| (0..n).map(|e| (seeds[i * n + e] % (2 * bound)) as i64 - bound as i64).collect())
                .collect();
            let mask = (1u64 << k) - 1;
            let (xs, ys): (Vec<Vec<u64>>, Vec<Vec<u64>>) = vals
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let share: Vec<u64> = (0..n).map(|e| seeds[(i * n + e + 1) % seeds.len()].rotate_left(17) & mask).collect();
                    let x = v.iter().zip(&share).map(|(v, s)| (*v as u64).wrapping_sub(*s) & mask).collect();
                    (x, share)
                })
                .unzip();
            check(&xs, &ys, k, f);
        }
    }

    #[test]
    fn costs() {
        let count = |m: usize| {
            let mut c = Counter::new();
            let w = vec![vec![c.input(); 32]; m];
            max_relu_shift(&mut c, &w, &w, 12).unwrap();
            c.count()
        };
        // A ReLU: the adder's 31 ANDs and 19 output ANDs.
        assert_eq!(count(1).ands, 2 * 32 - 2 - 12);
        assert!(count(1).ands <= 3 * 32 - 2);
        // A 2x2 window: 4 adders, 6 comparators, 12 selection ANDs, 4 × 19 output ANDs,
        // and no more batches than the adders' and comparators' carry chains.
        assert_eq!(count(4).ands, 4 * 31 + 6 * 31 + 12 + 4 * 19);
        assert_eq!(count(4).batches, 31 + 31 + 2 + 1);
    }
}
