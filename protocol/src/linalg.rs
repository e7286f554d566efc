//! Matrix-vector products over Z_{2^64}.

use crate::ring::Ring;

/// `M · x` for a `rows × cols` row-major matrix, wrapping.
pub fn matvec(m: &[Ring], rows: usize, cols: usize, x: &[Ring]) -> Vec<Ring> {
    debug_assert_eq!(m.len(), rows * cols);
    debug_assert_eq!(x.len(), cols);
    m.chunks_exact(cols)
        .map(|row| {
            row.iter()
                .zip(x)
                .fold(0u64, |acc, (a, b)| acc.wrapping_add(a.wrapping_mul(*b)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matvec_wraps() {
        let m = [1, 2, u64::MAX, 3];
        assert_eq!(
            super::matvec(&m, 2, 2, &[5, 7]),
            vec![19, 16u64.wrapping_sub(0)]
        );
    }
}
