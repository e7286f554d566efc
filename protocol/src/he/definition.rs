//! The negacyclic product by its definition, against which the tests hold the NTT path.

use super::params::N;

/// `acc += input · Σ w·X^j` over `terms` (j, w), in Z_{2^64}[X]/(X^N + 1).
pub(super) fn negacyclic_mul_acc(acc: &mut [u64], input: &[u64], terms: &[(usize, i64)]) {
    for &(j, w) in terms {
        for (i, &x) in input.iter().enumerate() {
            let term = x.wrapping_mul(w as u64);
            let k = i + j;
            if k < N {
                acc[k] = acc[k].wrapping_add(term);
            } else {
                acc[k - N] = acc[k - N].wrapping_sub(term);
            }
        }
    }
}
