//! The RLWE scheme: the client's keys, its seeded encryptions, the server's products and
//! reply (re-randomised, flooded, switched to a small modulus), and the client's
//! decryption of the reply's chosen coefficients. See [`super::params`] for the bounds.

use rand_core::{CryptoRng, RngCore};

use super::arith;
use super::params::{context, FLOOD_BITS, K, N, PRIMES};
use super::poly::{noise, ternary, Poly};
use crate::prg::{Prg, Seed};

/// The client's secret key: a ternary `s`, kept in NTT form.
pub struct SecretKey {
    s: Poly,
}

redacted_debug!(SecretKey, |_: &SecretKey| N);

/// The client's public key `(b, a) = (−a·s + e, a)`, `a` from a seed; NTT form.
pub struct PublicKey {
    b: Poly,
    a: Poly,
}

/// What the client sends of its public key: the seed of `a` and `b`'s coefficients.
pub struct PublicKeyMsg {
    /// Seed of `a`.
    pub seed: Seed,
    /// `b`, coefficient form.
    pub b: Poly,
}

/// A seeded symmetric ciphertext as sent: the seed of `c1 = a` and `c0`'s coefficients.
pub struct Upload {
    /// Seed of `a`.
    pub seed: Seed,
    /// `c0 = −a·s + e + ⌊Q·m/t⌉`, coefficient form.
    pub c0: Poly,
}

/// A ciphertext held by the server for products: both parts in NTT form.
pub struct Ciphertext {
    c0: Poly,
    c1: Poly,
}

/// One output polynomial of the server's products, accumulated in NTT form.
pub struct Product {
    c0: Poly,
    c1: Poly,
}

/// A reply as sent: `c1` switched to `2^b1` (every coefficient) and the chosen
/// coefficients of `c0` switched to `2^b0`.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// `c1`'s coefficients, each below `2^b1`.
    pub c1: Vec<u128>,
    /// The chosen coefficients of `c0`, each below `2^b0`.
    pub c0: Vec<u128>,
}

/// `⌊Q·m/t⌉ mod q_i` for plaintexts of `ℓ` bits: the encoding of [`super::params`].
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    bits: u32,
    /// `⌊Q/t⌋ mod q_i`.
    q_div_t: [u64; K],
    /// `Q mod t`.
    q_mod_t: u64,
}

impl Scale {
    /// The encoding for `t = 2^bits`, `1 ≤ bits ≤ 64`.
    pub fn new(bits: u32) -> Scale {
        let q = context().q;
        // Q >> bits as limbs, and Q's low `bits` bits.
        let shifted: Vec<u128> = (0..K)
            .map(|i| {
                let lo = q[i] as u128;
                let hi = q.get(i + 1).copied().unwrap_or(0) as u128;
                ((hi << 64 | lo) >> bits) & u64::MAX as u128
            })
            .collect();
        let q_div_t = std::array::from_fn(|j| {
            let p = PRIMES[j] as u128;
            shifted
                .iter()
                .rev()
                .fold(0u128, |acc, &limb| ((acc << 64) + limb) % p) as u64
        });
        let q_mod_t = match bits {
            64 => q[0],
            _ => q[0] & ((1u64 << bits) - 1),
        };
        Scale {
            bits,
            q_div_t,
            q_mod_t,
        }
    }

    /// The plaintext width `ℓ`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `⌊Q·m/t⌉` as residues, for `m < t`.
    pub fn encode(&self, m: u64) -> [u64; K] {
        let round = ((self.q_mod_t as u128 * m as u128) + (1u128 << (self.bits - 1))) >> self.bits;
        std::array::from_fn(|i| {
            let q = PRIMES[i];
            let hi = arith::mul(self.q_div_t[i], m % q, q);
            arith::add(hi, (round % q as u128) as u64, q)
        })
    }

    /// The plaintext mask: `t − 1`.
    pub fn mask(&self) -> u64 {
        match self.bits {
            64 => u64::MAX,
            b => (1u64 << b) - 1,
        }
    }
}

impl SecretKey {
    /// A fresh key pair, its randomness from `rng`; with the public key as it is sent.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> (SecretKey, PublicKeyMsg) {
        let mut s = Poly::from_signed(&ternary(rng));
        s.ntt();
        let sk = SecretKey { s };
        let (seed, b) = sk.encrypt_raw(rng, &Poly::zero());
        (sk, PublicKeyMsg { seed, b })
    }

    /// `(seed, −a·s + e + plain)` with `a` from a fresh seed: coefficient form.
    fn encrypt_raw<R: RngCore + CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        plain: &Poly,
    ) -> (Seed, Poly) {
        let seed = Seed::from_rng(rng);
        let a = Poly::uniform(&mut Prg::new(seed));
        let mut c0 = Poly::zero();
        c0.mul_acc(&a, &self.s);
        c0.intt();
        let mut neg = Poly::zero();
        neg.sub_assign(&c0);
        neg.add_assign(&Poly::from_signed(&noise(rng)));
        neg.add_assign(plain);
        (seed, neg)
    }

    /// Encrypts the plaintext `m` (at most `N` coefficients, each below `t`): a seeded
    /// ciphertext, half of which (the seed) the server regenerates.
    pub fn encrypt<R: RngCore + CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        scale: &Scale,
        m: &[u64],
    ) -> Upload {
        let mut plain = Poly::zero();
        for (k, &v) in m.iter().enumerate() {
            let r = scale.encode(v & scale.mask());
            for (i, r) in r.into_iter().enumerate() {
                plain.limb_mut(i)[k] = r;
            }
        }
        let (seed, c0) = self.encrypt_raw(rng, &plain);
        Upload { seed, c0 }
    }

    /// The plaintexts at the reply's chosen coefficients `at` (in the order of its `c0`),
    /// for a reply switched to `2^b1` / `2^b0`.
    pub fn decrypt(
        &self,
        reply: &Reply,
        at: &[usize],
        scale: &Scale,
        (b1, b0): (u32, u32),
    ) -> Vec<u64> {
        let c1s = self.c1_times_s(&reply.c1, b1);
        let mask1 = (1u128 << b1) - 1;
        let shift = b1 - scale.bits();
        at.iter()
            .zip(&reply.c0)
            .map(|(&k, &c0)| {
                let phase = ((c0 << (b1 - b0)) + c1s[k]) & mask1;
                let m = (phase + (1u128 << (shift - 1))) >> shift;
                (m as u64) & scale.mask()
            })
            .collect()
    }

    /// `c1·s mod 2^b1`, exactly: the integer product (below `N·2^b1 < q0·q1/2`) by the
    /// first two primes' NTTs and the CRT.
    fn c1_times_s(&self, c1: &[u128], b1: u32) -> Vec<u128> {
        let cx = context();
        let (q0, q1) = (PRIMES[0], PRIMES[1]);
        let mut limbs = [vec![0u64; N], vec![0u64; N]];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let q = PRIMES[i];
            for (r, &c) in limb.iter_mut().zip(c1) {
                *r = (c % q as u128) as u64;
            }
            cx.ntt[i].forward(limb);
            for (r, &s) in limb.iter_mut().zip(self.s.limb(i)) {
                *r = arith::mul(*r, s, q);
            }
            cx.ntt[i].inverse(limb);
        }
        let modulus = q0 as u128 * q1 as u128;
        let mask = (1u128 << b1) - 1;
        limbs[0]
            .iter()
            .zip(&limbs[1])
            .map(|(&x0, &x1)| {
                let d = arith::mul(arith::sub(x1, x0 % q1, q1), cx.q0_inv_mod_q1, q1);
                let x = x0 as u128 + q0 as u128 * d as u128;
                // Centred: the product may be negative.
                let signed = if x > modulus / 2 {
                    x.wrapping_sub(modulus)
                } else {
                    x
                };
                signed & mask
            })
            .collect()
    }
}

/// A seeded pair as it arrives (the seed of its uniform half, the other half in
/// coefficient form), both halves in NTT form: (the sent one, the seeded one).
fn expand_seeded(seed: Seed, sent: &Poly) -> (Poly, Poly) {
    let mut sent = sent.clone();
    sent.ntt();
    (sent, Poly::uniform(&mut Prg::new(seed)))
}

impl PublicKey {
    /// The key the client sent.
    pub fn from_msg(msg: &PublicKeyMsg) -> PublicKey {
        let (b, a) = expand_seeded(msg.seed, &msg.b);
        PublicKey { b, a }
    }
}

impl Ciphertext {
    /// An upload made ready for products.
    pub fn from_upload(upload: &Upload) -> Ciphertext {
        let (c0, c1) = expand_seeded(upload.seed, &upload.c0);
        Ciphertext { c0, c1 }
    }
}

impl Product {
    /// An empty sum of products.
    pub fn new() -> Product {
        Product {
            c0: Poly::zero(),
            c1: Poly::zero(),
        }
    }

    /// `self += ct · w`, `w` a plaintext in NTT form.
    pub fn add(&mut self, ct: &Ciphertext, w: &Poly) {
        self.c0.mul_acc(&ct.c0, w);
        self.c1.mul_acc(&ct.c1, w);
    }

    /// The reply for the coefficients `at`: re-randomised with a fresh encryption of zero
    /// under `pk`, `⌊Q·r/t⌉` subtracted at each coefficient sent (`r` uniform below `t`:
    /// the server's share), flooded there with a uniform integer of `[−2^F, 2^F]`, and
    /// switched to `2^b1` / `2^b0`. Returns the reply and the server's shares.
    pub fn reply<R: RngCore + CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        pk: &PublicKey,
        at: &[usize],
        scale: &Scale,
        (b1, b0): (u32, u32),
    ) -> (Reply, Vec<u64>) {
        let masked = self.mask(rng, pk, at, scale);
        let c1 = (0..N).map(|k| switch(masked.c1.residues(k), b1)).collect();
        let c0 = masked.c0.into_iter().map(|c| switch(c, b0)).collect();
        (Reply { c1, c0 }, masked.shares)
    }

    /// The reply at Q, before switching (which only rounds what this holds).
    fn mask<R: RngCore + CryptoRng + ?Sized>(
        mut self,
        rng: &mut R,
        pk: &PublicKey,
        at: &[usize],
        scale: &Scale,
    ) -> Masked {
        let mut u = Poly::from_signed(&ternary(rng));
        u.ntt();
        self.c0.mul_acc(&pk.b, &u);
        self.c1.mul_acc(&pk.a, &u);
        self.c0.intt();
        self.c1.intt();
        self.c0.add_assign(&Poly::from_signed(&noise(rng)));
        self.c1.add_assign(&Poly::from_signed(&noise(rng)));
        let mut shares = Vec::with_capacity(at.len());
        let c0 = at
            .iter()
            .map(|&k| {
                let r = rng.next_u64() & scale.mask();
                shares.push(r);
                let masked = scale.encode(r);
                let flood = flooding(rng);
                let c = self.c0.residues(k);
                std::array::from_fn(|i| {
                    let q = PRIMES[i];
                    let x = arith::sub(c[i], masked[i], q);
                    arith::add(x, arith::from_signed_wide(flood, q), q)
                })
            })
            .collect();
        Masked {
            c1: self.c1,
            c0,
            shares,
        }
    }
}

/// A reply at Q: `c1` whole, in coefficient form; the chosen coefficients of `c0`; the
/// server's shares.
struct Masked {
    c1: Poly,
    c0: Vec<[u64; K]>,
    shares: Vec<u64>,
}

impl Default for Product {
    fn default() -> Self {
        Product::new()
    }
}

/// A uniform integer of `[−2^F, 2^F]`, `F = FLOOD_BITS`.
fn flooding<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> i128 {
    let span = (1u128 << (FLOOD_BITS + 1)) + 1;
    let bits = FLOOD_BITS + 2;
    loop {
        let x = ((rng.next_u64() as u128) << 64 | rng.next_u64() as u128) & ((1u128 << bits) - 1);
        if x < span {
            return x as i128 - (1i128 << FLOOD_BITS);
        }
    }
}

/// `⌊2^b · c / Q⌉ mod 2^b` for the value `c` of these residues: `c/Q mod 1` is
/// `Σ (c_i·(Q/q_i)⁻¹ mod q_i)/q_i mod 1`, summed in 128-bit fixed point (error below
/// `K·2^-128`), then rounded to `b ≤ 100` bits.
pub fn switch(c: [u64; K], b: u32) -> u128 {
    let cx = context();
    let frac = (0..K).fold(0u128, |acc, i| {
        let q = PRIMES[i];
        let x = arith::mul(c[i], cx.crt_inv[i], q) as u128;
        // ⌊x · 2^128 / q⌋, x < q < 2^64: two long-division steps.
        let hi = (x << 64) / q as u128;
        let rem = (x << 64) % q as u128;
        let lo = (rem << 64) / q as u128;
        acc.wrapping_add(hi << 64 | lo)
    });
    let rounded = frac.wrapping_add(1u128 << (127 - b)) >> (128 - b);
    rounded & ((1u128 << b) - 1)
}

#[cfg(test)]
mod tests;
