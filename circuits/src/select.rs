//! One-hot selection of a window's maximum, with the ReLU folded in.
//!
//! Given, for `m` candidates, the wires `neg[i]` (candidate i is negative) and, for every
//! pair `i < j` in lexicographic order, `lt[p]` (`x_i < x_j`), candidate `i` is selected
//! when it is non-negative, not below any later candidate and above every earlier one:
//! the first maximum wins ties, so at most one wire is 1, and none when the maximum is
//! negative (the ReLU). Each candidate ANDs its `m` conditions in a balanced tree, all
//! candidates side by side: `m(m − 1)` ANDs in `ceil(log2 m)` batches.

use crate::backend::{Backend, CircuitError};

/// The index of pair `(i, j)`, `i < j`, in lexicographic order over `m` candidates.
pub fn pair_index(m: usize, i: usize, j: usize) -> usize {
    debug_assert!(i < j && j < m);
    i * (2 * m - i - 1) / 2 + (j - i - 1)
}

/// The number of pairs among `m` candidates.
pub fn pairs(m: usize) -> usize {
    m * (m - 1) / 2
}

/// The selection wires of the first non-negative maximum (see the module notes).
pub fn select_max<B: Backend>(
    b: &mut B,
    neg: &[B::Wire],
    lt: &[B::Wire],
) -> Result<Vec<B::Wire>, B::Error> {
    select(b, neg.len(), Some(neg), lt)
}

/// The selection wires of the first maximum of `m` candidates, negative or not: exactly
/// one is 1. `m(m − 2)` ANDs in `ceil(log2 (m − 1))` batches.
pub fn select_first_max<B: Backend>(
    b: &mut B,
    m: usize,
    lt: &[B::Wire],
) -> Result<Vec<B::Wire>, B::Error> {
    if m < 2 {
        return Err(CircuitError::TooFewBits { needed: 2, got: m }.into());
    }
    select(b, m, None, lt)
}

/// Candidate `i` is selected when every condition holds: not negative (where `neg` is
/// given), not below any later candidate, above every earlier one.
fn select<B: Backend>(
    b: &mut B,
    m: usize,
    neg: Option<&[B::Wire]>,
    lt: &[B::Wire],
) -> Result<Vec<B::Wire>, B::Error> {
    if lt.len() != pairs(m) {
        return Err(CircuitError::WidthMismatch(pairs(m), lt.len()).into());
    }
    let mut terms: Vec<Vec<B::Wire>> = Vec::with_capacity(m);
    for i in 0..m {
        let mut t = match neg {
            Some(neg) => vec![b.not(&neg[i])?],
            None => Vec::with_capacity(m - 1),
        };
        for j in 0..m {
            if j < i {
                // x_j < x_i strictly: earlier candidates lose ties.
                t.push(lt[pair_index(m, j, i)].clone());
            } else if j > i {
                // x_i >= x_j.
                t.push(b.not(&lt[pair_index(m, i, j)])?);
            }
        }
        terms.push(t);
    }
    while terms.iter().any(|t| t.len() > 1) {
        let gates: Vec<(&B::Wire, &B::Wire)> = terms
            .iter()
            .flat_map(|t| t.chunks_exact(2).map(|p| (&p[0], &p[1])))
            .collect();
        let mut out = b.and_batch(&gates)?.into_iter();
        terms = terms
            .iter()
            .map(|t| {
                let mut next: Vec<B::Wire> = (0..t.len() / 2)
                    .map(|_| out.next())
                    .collect::<Option<_>>()?;
                if t.len() % 2 == 1 {
                    next.push(t[t.len() - 1].clone());
                }
                Some(next)
            })
            .collect::<Option<_>>()
            .expect("one output per gate");
    }
    Ok(terms.into_iter().map(|mut t| t.remove(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bits, Counter, Plain};

    fn bit(v: bool) -> Bits {
        let mut b = Bits::zeros(1);
        b.set(0, v);
        b
    }

    #[test]
    fn selects_the_first_non_negative_maximum() {
        for values in [
            vec![3i64, -1, 7, 7],
            vec![-5, -2, -9, -1],
            vec![0, 0, 0, 0],
            vec![4],
            vec![-4],
            vec![2, 9, 1, 9, 9, 0, -3, 9, 8],
        ] {
            let m = values.len();
            let neg: Vec<Bits> = values.iter().map(|v| bit(*v < 0)).collect();
            let mut lt = Vec::new();
            for i in 0..m {
                for j in i + 1..m {
                    assert_eq!(pair_index(m, i, j), lt.len());
                    lt.push(bit(values[i] < values[j]));
                }
            }
            let sel = select_max(&mut Plain, &neg, &lt).unwrap();
            let max = *values.iter().max().unwrap();
            let want = (max >= 0).then(|| values.iter().position(|v| *v == max).unwrap());
            let got: Vec<usize> = (0..m).filter(|i| sel[*i].get(0)).collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{values:?}");
        }
    }

    #[test]
    fn costs_m_times_m_minus_one_ands_in_log_m_batches() {
        for (m, batches) in [(1usize, 0usize), (2, 1), (4, 2), (9, 4)] {
            let mut c = Counter::new();
            let neg = vec![c.input(); m];
            let lt = vec![c.input(); pairs(m)];
            select_max(&mut c, &neg, &lt).unwrap();
            assert_eq!(c.count().ands, m * (m - 1));
            assert_eq!(c.count().batches, batches);
        }
    }
}
