//! The scheme's parameters, and why they are what they are.
//!
//! **Ring.** `N = 8192`, `Q = q0·q1·q2` with three 54-bit primes `≡ 1 mod 2N` (NTT-friendly),
//! `log2 Q ≈ 161.98`. The Homomorphic Encryption Standard (Albrecht et al., 2018, Table 1,
//! ternary or Gaussian secrets, 128-bit classical security) allows `log2 Q ≤ 218` at
//! `N = 8192` (and only 109 at `N = 4096`, too little for what follows). Secrets are
//! ternary, errors centred binomial with `η = 21` (σ ≈ 3.24, and `|e| ≤ 21` always).
//!
//! **Plaintexts.** `t = 2^ℓ` with `ℓ` per layer: 64 for a model's last layer (its output
//! is opened whole), `k` for a layer a ReLU or max-pool reads (it reads the low `k` bits
//! only). A plaintext `m ∈ Z_t` is encoded as `⌊Q·m/t⌉`, not `⌊Q/t⌋·m`: then multiplying
//! by an integer polynomial `w` gives `(Q/t)·(m·w mod t) + (ε + e)·w` with `|ε| ≤ 1/2`, the
//! wrap of `m·w` past `t` vanishing mod Q (with `⌊Q/t⌋·m` a term `(Q mod t)·⌊m·w/t⌋` of
//! up to `2^64 · ‖w‖₁` would remain).
//!
//! **Noise and flooding.** After the server's products, an output coefficient carries
//! `E_w = Σ (ε + e)·w` with `|E_w| ≤ (η + 1/2)·‖ŵ‖₁ < 2^(5 + W)` when the weights meeting
//! in one output polynomial have `‖ŵ‖₁ < 2^W`, `W =` [`WEIGHT_BITS`]. `E_w` depends on W
//! and the client knows its own `e`, so it must not see it: the server adds to every
//! coefficient it sends a uniform integer of `[−2^F, 2^F]`, `F =` [`FLOOD_BITS`] `= 40 +
//! 20 + 5 + W`. A shift by `|E_w|` moves a uniform variable of that width by at most
//! `2^(5+W−F) = 2^-60` in statistical distance, so up to 2^20 coefficients per query
//! stay within 2^-40 of a reply that depends on `W·V − r` alone. The public-key
//! encryption of zero the server adds (noise below `2N·η + η < 2^19`, independent of W)
//! makes `c1` uniform (RLWE) where `W·a` would give W away.
//!
//! **Reply.** The server switches the modulus from Q to `2^(ℓ+15)` for `c1` (every
//! coefficient) and to `2^(ℓ+3)` for the coefficients of `c0` it sends. At the client the
//! phase in units of `2^(ℓ+15)` holds: the flooded noise scaled, `2^(ℓ+15+F+1−log2 Q) ≤
//! 2^(F−81) = 2^11` for `ℓ = 64`; `c1`'s rounding times the ternary secret, `≤ N/2 = 2^12`;
//! `c0`'s rounding, `≤ 2^11`; together below `2^14`, the half-unit of the plaintext
//! `2^(ℓ+15)/2^ℓ/2`. So every coefficient decrypts exactly, for every `ℓ ≤ 64` (checked
//! by a test of this module).

use std::sync::OnceLock;

use super::ntt::Ntt;

/// Ring degree.
pub const N: usize = 8192;

/// Number of RNS primes.
pub const K: usize = 3;

/// The primes of Q, each `≡ 1 mod 2N`, below 2^54 (the largest such).
pub const PRIMES: [u64; K] = [18014398508400641, 18014398508138497, 18014398507892737];

/// A primitive `2N`-th root of unity modulo each prime.
const PSI: [u64; K] = [9354911369072846, 14423865892627390, 12617745759101472];

/// Bits of each residue on the wire.
pub const PRIME_BITS: u32 = 54;

/// The centred binomial distribution's parameter: errors lie in `[−η, η]`.
pub const NOISE_ETA: u32 = 21;

/// The largest `log2 ‖ŵ‖₁` the parameters carry: the weights meeting in one output
/// polynomial (every channel group and packed kernel) must sum, in absolute value, below
/// `2^WEIGHT_BITS` (the server refuses a model that does not fit).
pub const WEIGHT_BITS: u32 = 27;

/// Statistical security of the flooding, in bits.
pub const STAT_BITS: u32 = 40;

/// `log2` of the most flooded coefficients one query's replies may hold.
pub const MAX_SENT_BITS: u32 = 20;

/// `log2` of the flooding's width: every W-dependent term is below `2^(5 + WEIGHT_BITS)`.
pub const FLOOD_BITS: u32 = STAT_BITS + MAX_SENT_BITS + 5 + WEIGHT_BITS;

/// Bits above the plaintext's at which `c1` is sent.
pub const C1_EXTRA_BITS: u32 = 15;

/// Bits above the plaintext's at which `c0`'s coefficients are sent.
pub const C0_EXTRA_BITS: u32 = 3;

/// Tables computed once: the NTTs and the CRT constants.
#[derive(Debug)]
pub struct Context {
    /// One NTT per prime.
    pub ntt: [Ntt; K],
    /// Q, little-endian 64-bit limbs.
    pub q: [u64; K],
    /// `(Q/q_i)⁻¹ mod q_i`.
    pub crt_inv: [u64; K],
    /// `q0⁻¹ mod q1`, for the two-prime reconstructions of decryption.
    pub q0_inv_mod_q1: u64,
}

/// The tables, made on first use.
pub fn context() -> &'static Context {
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let ntt = std::array::from_fn(|i| Ntt::new(PRIMES[i], N, PSI[i]));
        let crt_inv = std::array::from_fn(|i| {
            let others = (0..K).filter(|&j| j != i).fold(1u64, |acc, j| {
                super::arith::mul(acc, PRIMES[j] % PRIMES[i], PRIMES[i])
            });
            super::arith::inv(others, PRIMES[i])
        });
        Context {
            ntt,
            q: q_limbs(),
            crt_inv,
            q0_inv_mod_q1: super::arith::inv(PRIMES[0] % PRIMES[1], PRIMES[1]),
        }
    })
}

/// Q as little-endian limbs.
fn q_limbs() -> [u64; K] {
    let mut q = [1u64, 0, 0];
    for &p in &PRIMES {
        let mut carry = 0u128;
        for limb in q.iter_mut() {
            let x = *limb as u128 * p as u128 + carry;
            *limb = x as u64;
            carry = x >> 64;
        }
    }
    q
}

/// `log2 Q`, rounded down.
pub fn q_bits() -> u32 {
    let q = q_limbs();
    192 - q[2].leading_zeros() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::he::arith;

    fn is_prime(n: u64) -> bool {
        [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
            .iter()
            .all(|&a| {
                let (mut d, mut s) = (n - 1, 0);
                while d % 2 == 0 {
                    d /= 2;
                    s += 1;
                }
                let mut x = arith::pow(a, d, n);
                if x == 1 || x == n - 1 {
                    return true;
                }
                (1..s).any(|_| {
                    x = arith::mul(x, x, n);
                    x == n - 1
                })
            })
    }

    #[test]
    fn the_primes_are_ntt_friendly_and_the_roots_primitive() {
        for (&q, &psi) in PRIMES.iter().zip(&PSI) {
            assert!(is_prime(q), "{q}");
            assert_eq!(q % (2 * N as u64), 1, "{q} ≡ 1 mod 2N");
            assert!(q < 1 << PRIME_BITS);
            assert_eq!(arith::pow(psi, N as u64, q), q - 1, "ψ^N = −1");
        }
    }

    /// The module doc's budget, in numbers: 128-bit security by the HE standard's table,
    /// and exact decryption of every coefficient for every plaintext width.
    #[test]
    fn the_parameters_hold_the_documented_bounds() {
        let log_q = q_bits();
        assert_eq!(log_q, 161);
        assert!(log_q < 218, "HE standard, N = 8192, 128-bit security");
        // The W-dependent noise fits under the flooding's 2^-60 per coefficient.
        let e_w_bits = (NOISE_ETA as f64 + 0.5).log2().ceil() as u32 + WEIGHT_BITS;
        assert!(e_w_bits + STAT_BITS + MAX_SENT_BITS <= FLOOD_BITS);
        for l in 1..=64u32 {
            // In units of the reply's 2^(ℓ + C1_EXTRA_BITS): flooded noise (+ the smaller
            // terms at Q, at most doubling it), c1's rounding times s, c0's rounding.
            let b1 = l + C1_EXTRA_BITS;
            let flood = 2f64.powi((b1 + FLOOD_BITS + 1) as i32 - log_q as i32);
            let c1_rounding = (N / 2) as f64;
            let c0_rounding = 2f64.powi((C1_EXTRA_BITS - C0_EXTRA_BITS - 1) as i32);
            let half_unit = 2f64.powi(C1_EXTRA_BITS as i32 - 1);
            assert!(
                flood + c1_rounding + c0_rounding + 1.0 < half_unit,
                "ℓ = {l}"
            );
        }
    }
}
