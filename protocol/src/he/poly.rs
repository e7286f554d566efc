//! Polynomials of `R_Q = Z_Q[X]/(X^N + 1)` in RNS form: one residue vector per prime of
//! [`PRIMES`], limb after limb. Whether a polynomial holds coefficients or NTT evaluations
//! is the caller's to track; products are pointwise in the NTT domain.

use rand_core::{CryptoRng, RngCore};

use super::arith;
use super::params::{context, K, N, NOISE_ETA, PRIMES};

/// One polynomial of `R_Q`, limb-major (`K · N` residues).
#[derive(Clone, PartialEq, Eq)]
pub struct Poly(pub(super) Vec<u64>);

redacted_debug!(Poly, |p: &Poly| p.0.len());

impl Poly {
    /// The zero polynomial.
    pub fn zero() -> Poly {
        Poly(vec![0; K * N])
    }

    /// The polynomial with these signed integer coefficients (at most `N`; the rest zero).
    pub fn from_signed(coeffs: &[i64]) -> Poly {
        let mut p = Poly::zero();
        for (i, &q) in PRIMES.iter().enumerate() {
            for (r, &c) in p.limb_mut(i).iter_mut().zip(coeffs) {
                *r = arith::from_signed(c, q);
            }
        }
        p
    }

    /// Residues of prime `i`.
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.0[i * N..(i + 1) * N]
    }

    /// Residues of prime `i`, mutably.
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.0[i * N..(i + 1) * N]
    }

    /// Coefficient `k`'s residues, one per prime.
    pub fn residues(&self, k: usize) -> [u64; K] {
        std::array::from_fn(|i| self.limb(i)[k])
    }

    /// Coefficients to NTT evaluations.
    pub fn ntt(&mut self) {
        let cx = context();
        for i in 0..K {
            cx.ntt[i].forward(self.limb_mut(i));
        }
    }

    /// NTT evaluations to coefficients.
    pub fn intt(&mut self) {
        let cx = context();
        for i in 0..K {
            cx.ntt[i].inverse(self.limb_mut(i));
        }
    }

    /// `self += other`.
    pub fn add_assign(&mut self, other: &Poly) {
        self.zip(other, arith::add);
    }

    /// `self −= other`.
    pub fn sub_assign(&mut self, other: &Poly) {
        self.zip(other, arith::sub);
    }

    /// `self += a ⊙ b`, pointwise (a product when all three are NTT evaluations).
    pub fn mul_acc(&mut self, a: &Poly, b: &Poly) {
        for (i, &q) in PRIMES.iter().enumerate() {
            let (x, y) = (a.limb(i), b.limb(i));
            for ((r, x), y) in self.limb_mut(i).iter_mut().zip(x).zip(y) {
                *r = arith::add(*r, arith::mul(*x, *y, q), q);
            }
        }
    }

    fn zip(&mut self, other: &Poly, f: fn(u64, u64, u64) -> u64) {
        for (i, &q) in PRIMES.iter().enumerate() {
            let o = other.limb(i);
            for (r, o) in self.limb_mut(i).iter_mut().zip(o) {
                *r = f(*r, *o, q);
            }
        }
    }

    /// A uniform polynomial of `R_Q` (uniform residues are uniform mod Q by the CRT), in
    /// either domain: the NTT is a bijection.
    pub fn uniform<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Poly {
        let mut p = Poly::zero();
        for (i, &q) in PRIMES.iter().enumerate() {
            // Rejection below the largest multiple of q under 2^64: exactly uniform.
            let limit = u64::MAX - u64::MAX % q;
            for r in p.limb_mut(i) {
                *r = loop {
                    let x = rng.next_u64();
                    if x < limit {
                        break x % q;
                    }
                };
            }
        }
        p
    }
}

/// `N` coefficients uniform in {−1, 0, 1} (the secret key, the public-key encryption's u).
pub fn ternary<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Vec<i64> {
    (0..N)
        .map(|_| loop {
            // Two bits, rejecting one of four values: exactly uniform over three.
            match rng.next_u32() & 3 {
                0 => break -1,
                1 => break 0,
                2 => break 1,
                _ => continue,
            }
        })
        .collect()
}

/// `N` coefficients from the centred binomial distribution of parameter [`NOISE_ETA`]:
/// variance η/2, bounded by η.
pub fn noise<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Vec<i64> {
    (0..N)
        .map(|_| {
            let bits = rng.next_u64();
            let mask = (1u64 << NOISE_ETA) - 1;
            let (a, b) = (bits & mask, (bits >> NOISE_ETA) & mask);
            a.count_ones() as i64 - b.count_ones() as i64
        })
        .collect()
}
