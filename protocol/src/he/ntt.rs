//! The negacyclic number-theoretic transform over `Z_q[X]/(X^N + 1)`: a polynomial product
//! becomes a pointwise one. Forward by Cooley–Tukey with the powers of a primitive
//! `2N`-th root ψ merged in, inverse by Gentleman–Sande (Longa–Naehrig 2016); values in
//! the evaluation domain are in bit-reversed order, which pointwise products do not mind.

use super::arith::{self, Shoup};

/// The tables of one prime.
#[derive(Debug)]
pub struct Ntt {
    q: u64,
    /// ψ^bitrev(k), k < N.
    psi: Vec<Shoup>,
    /// ψ^−bitrev(k), k < N.
    psi_inv: Vec<Shoup>,
    n_inv: Shoup,
}

impl Ntt {
    /// The tables for the prime `q` (below 2^62) and degree `n` (a power of two), with `psi`
    /// a primitive `2n`-th root of unity mod `q`.
    pub fn new(q: u64, n: usize, psi: u64) -> Ntt {
        let bits = n.trailing_zeros();
        let psi_inv = arith::inv(psi, q);
        let rev = |k: usize| (k.reverse_bits() >> (usize::BITS - bits)) as u64;
        Ntt {
            q,
            psi: (0..n)
                .map(|k| Shoup::new(arith::pow(psi, rev(k), q), q))
                .collect(),
            psi_inv: (0..n)
                .map(|k| Shoup::new(arith::pow(psi_inv, rev(k), q), q))
                .collect(),
            n_inv: Shoup::new(arith::inv(n as u64, q), q),
        }
    }

    /// Coefficients (each below q) to evaluations, in place.
    pub fn forward(&self, a: &mut [u64]) {
        let (q, n) = (self.q, a.len());
        let mut t = n;
        let mut m = 1;
        while m < n {
            t >>= 1;
            for i in 0..m {
                let s = self.psi[m + i];
                let start = 2 * i * t;
                for j in start..start + t {
                    let w = s.mul(a[j + t], q);
                    let x = a[j];
                    a[j] = arith::add(x, w, q);
                    a[j + t] = arith::sub(x, w, q);
                }
            }
            m <<= 1;
        }
    }

    /// Evaluations back to coefficients, in place.
    pub fn inverse(&self, a: &mut [u64]) {
        let (q, n) = (self.q, a.len());
        let mut t = 1;
        let mut m = n;
        while m > 1 {
            let h = m >> 1;
            for i in 0..h {
                let s = self.psi_inv[h + i];
                let start = 2 * i * t;
                for j in start..start + t {
                    let (x, y) = (a[j], a[j + t]);
                    a[j] = arith::add(x, y, q);
                    a[j + t] = s.mul(arith::sub(x, y, q), q);
                }
            }
            t <<= 1;
            m = h;
        }
        for x in a.iter_mut() {
            *x = self.n_inv.mul(*x, q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    /// The negacyclic product by its definition.
    fn naive(a: &[u64], b: &[u64], q: u64) -> Vec<u64> {
        let n = a.len();
        let mut c = vec![0u64; n];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                let p = arith::mul(x, y, q);
                let k = (i + j) % n;
                c[k] = if i + j < n {
                    arith::add(c[k], p, q)
                } else {
                    arith::sub(c[k], p, q)
                };
            }
        }
        c
    }

    #[test]
    fn the_transform_multiplies_negacyclically_and_inverts() {
        let q = 18014398508400641;
        // A primitive 2n-th root for n = 64: ψ = g^((q−1)/128) of order 128.
        let n = 64;
        let psi = (2..)
            .map(|g| arith::pow(g, (q - 1) / (2 * n as u64), q))
            .find(|&r| arith::pow(r, n as u64, q) == q - 1)
            .unwrap();
        let ntt = Ntt::new(q, n, psi);
        let mut rng = crate::prg::Prg::new(crate::prg::Seed([5; 16]));
        let a: Vec<u64> = (0..n).map(|_| rng.next_u64() % q).collect();
        let b: Vec<u64> = (0..n).map(|_| rng.next_u64() % q).collect();
        let (mut fa, mut fb) = (a.clone(), b.clone());
        ntt.forward(&mut fa);
        ntt.forward(&mut fb);
        let mut c: Vec<u64> = fa
            .iter()
            .zip(&fb)
            .map(|(x, y)| arith::mul(*x, *y, q))
            .collect();
        ntt.inverse(&mut c);
        assert_eq!(c, naive(&a, &b, q));
        ntt.inverse(&mut fa);
        assert_eq!(fa, a);
    }
}
