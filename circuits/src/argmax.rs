//! The label of a vector: the index of its first largest value, as bits, for answers
//! that reveal the label and nothing else of the outputs.
//!
//! One stage, as a max-pool window: every pair of candidates is compared side by side,
//! [`select_first_max`] turns the comparisons into a one-hot selection (earlier
//! candidates win ties, as the plaintext argmax), and the label's bit `t` is the XOR of
//! the selection wires of the candidates whose index has bit `t` set: free. The backends
//! differ only in how they compare: garbled circuits add each candidate's two shares and
//! compare the sums ([`argmax`]); GMW compares by the sign of each pair's difference,
//! which it forms on its additive shares for free, and hands the signs to
//! [`label_bits`].

use crate::backend::Backend;
use crate::relu::sums_and_comparisons;
use crate::select::select_first_max;

/// Bits of a label among `m` candidates: enough for `m − 1`.
pub fn label_width(m: usize) -> usize {
    (usize::BITS - m.saturating_sub(1).leading_zeros()) as usize
}

/// The label's bits (LSB first) from the comparisons `lt[p]` (`x_i < x_j`) of every pair
/// `i < j` of `m ≥ 2` candidates in lexicographic order.
pub fn label_bits<B: Backend>(
    b: &mut B,
    m: usize,
    lt: &[B::Wire],
) -> Result<Vec<B::Wire>, B::Error> {
    let selected = select_first_max(b, m, lt)?;
    (0..label_width(m))
        .map(|t| {
            let mut with_bit = selected
                .iter()
                .enumerate()
                .filter(|(i, _)| i >> t & 1 == 1)
                .map(|(_, w)| w);
            let first = with_bit
                .next()
                .expect("candidate 2^t exists below m")
                .clone();
            with_bit.try_fold(first, |acc, w| b.xor(&acc, w))
        })
        .collect()
}

/// The label's bits of the values `x_i + y_i` read as signed k-bit numbers, `x[i]` and
/// `y[i]` candidate `i`'s two shares (k bits each, LSB first). Exact while every
/// difference of two values fits k bits.
pub fn argmax<B: Backend>(
    b: &mut B,
    x: &[Vec<B::Wire>],
    y: &[Vec<B::Wire>],
) -> Result<Vec<B::Wire>, B::Error> {
    let (_, lt) = sums_and_comparisons(b, x, y)?;
    label_bits(b, x.len(), &lt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bits, Counter, Plain};
    use proptest::prelude::*;

    /// The plaintext reference: the first largest.
    fn first_max(v: &[i64]) -> usize {
        (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
    }

    /// Runs [`argmax`] on each row of `rows` (one element per row), shared as `v − s`, `s`.
    fn run(rows: &[Vec<i64>], k: u32, salt: u64) -> Vec<usize> {
        let (m, n) = (rows[0].len(), rows.len());
        let mask = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
        let share = |i: usize, e: usize| {
            (salt ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ e as u64).rotate_left(23)
                & mask
        };
        let column = |f: &dyn Fn(usize) -> u64| -> Vec<Bits> {
            Bits::slice_all(&(0..n).map(f).collect::<Vec<_>>(), k)
        };
        let x: Vec<Vec<Bits>> = (0..m)
            .map(|i| column(&|e| (rows[e][i] as u64).wrapping_sub(share(i, e)) & mask))
            .collect();
        let y: Vec<Vec<Bits>> = (0..m).map(|i| column(&|e| share(i, e))).collect();
        let bits = argmax(&mut Plain, &x, &y).unwrap();
        assert_eq!(bits.len(), label_width(m));
        (0..n)
            .map(|e| {
                bits.iter()
                    .enumerate()
                    .map(|(t, w)| (w.get(e) as usize) << t)
                    .sum()
            })
            .collect()
    }

    #[test]
    fn the_first_largest_wins_ties_and_negatives_count() {
        let rows = vec![
            vec![3i64, -1, 7, 7, 2],
            vec![-5, -2, -9, -1, -1],
            vec![0, 0, 0, 0, 0],
            vec![-9, -9, -9, -9, -8],
            vec![1 << 40, -(1 << 40), (1 << 40) - 1, 0, 5],
        ];
        let want: Vec<usize> = rows.iter().map(|r| first_max(r)).collect();
        assert_eq!(run(&rows, 64, 7), want);
        assert_eq!(run(&rows, 64, 0), want);
    }

    #[test]
    fn label_widths() {
        assert_eq!(
            [2, 3, 4, 5, 10, 16, 17, 256].map(label_width),
            [1, 2, 2, 3, 4, 4, 5, 8]
        );
    }

    #[test]
    fn costs_adders_comparators_and_the_selection() {
        let mut c = Counter::new();
        let w = vec![vec![c.input(); 64]; 10];
        argmax(&mut c, &w, &w).unwrap();
        assert_eq!(c.count().ands, 10 * 63 + 45 * 63 + 10 * 8);
    }

    proptest! {
        #[test]
        fn matches_the_plaintext_argmax(
            values in proptest::collection::vec(-(1i64 << 50)..(1i64 << 50), 2..120),
            m in 2usize..=12,
            salt in any::<u64>(),
            tie in any::<bool>(),
        ) {
            let mut rows: Vec<Vec<i64>> = values.chunks_exact(m).map(<[i64]>::to_vec).collect();
            prop_assume!(!rows.is_empty());
            if tie {
                // Force ties on the maximum in every row.
                for r in &mut rows {
                    let max = *r.iter().max().unwrap();
                    let last = r.len() - 1;
                    r[last] = max;
                }
            }
            let want: Vec<usize> = rows.iter().map(|r| first_max(r)).collect();
            prop_assert_eq!(run(&rows, 64, salt), want);
        }
    }
}
