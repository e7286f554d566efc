//! The tweakable circular-correlation-robust hash of half-gates, from AES-128.
//!
//! `TCCR(x, i) = π(π(x) ⊕ i) ⊕ π(x)` with `π = AES-128` under a [`HashKey`]
//! (Guo–Katz–Wang–Yu, "Efficient and Secure Multiparty Computation from Fixed-Key Block
//! Ciphers", IEEE S&P 2020: this `H̃` is a tweakable circular correlation robust hash in
//! the random-permutation model, and a TCCR hash is what the half-gates proof needs).
//! Never plain `AES(x ⊕ i)`: it is invertible, and an evaluator holding label `A` learns
//! the hash of the other label whenever `p_b = 0` (it is `T_G ⊕ H(A, j)`), so it would
//! invert that, read `A ⊕ Δ` and hence `Δ`. The tests run this attack: it works on plain
//! AES and fails on TCCR.
//!
//! # The key: per session, public
//! The garbler draws a fresh random key for each garbling session and sends it to the
//! evaluator in the clear; tweaks (`2j`, `2j + 1`, and a separate domain for output
//! shares) are unique within the session. Why a per-session key rather than one fixed key
//! with session-unique tweaks: with a fixed key, every evaluation of `π` an attacker makes
//! (offline, or against other sessions) is a guess `x = L ⊕ Δ_s` that it can check against
//! the labels of *every* session `s` at once, so the advantage grows with the total number
//! of garbled gates across all sessions, whatever the tweaks (the multi-instance loss
//! analysed by Guo, Katz, Wang, Weng and Yu, CRYPTO 2020, whose MITCCRH answers it with
//! keys re-derived per batch). With an independent random key per session each session is
//! its own ideal-cipher instance: queries under one key say nothing about another, so the
//! single-instance TCCR bound of the S&P paper (quadratic in the number of queries, over
//! 2^128) applies per session. The key need not be secret, since the adversary may query
//! `π` and `π⁻¹` freely in that model; it must be chosen by the garbler (never by the
//! evaluator) and never reused. [`crate::gc::Garbler::new`] draws it from its CSPRNG.
//!
//! # Cost
//! Two AES passes per batch: all `π(x)` of a slice in one `encrypt_blocks` call (AES-NI,
//! eight blocks in flight), then all `π(π(x) ⊕ i)` in a second.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use rand_core::{CryptoRng, RngCore};

use super::lane::Lane;
use crate::block::Block;

/// Blocks hashed per AES pass: small enough that both scratch buffers stay in L1.
const PASS: usize = 128;

/// The AES key of a garbling session's hash. Public (the evaluator needs it), but fresh
/// per session and chosen by the garbler.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HashKey(pub [u8; 16]);

impl HashKey {
    /// A fresh key drawn from `rng`.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> HashKey {
        let mut k = [0u8; 16];
        rng.fill_bytes(&mut k);
        HashKey(k)
    }
}

/// `TCCR(x, i) = π(π(x) ⊕ i) ⊕ π(x)` with `π` = AES-128 under one session's key.
#[derive(Clone)]
pub struct Tccr {
    aes: Aes128Enc,
}

impl std::fmt::Debug for Tccr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tccr(..)")
    }
}

impl Tccr {
    /// The hash of the session keyed by `key`.
    pub fn new(key: &HashKey) -> Tccr {
        Tccr {
            aes: Aes128Enc::new(&key.0.into()),
        }
    }

    /// `π(x)`: one AES-128 encryption of the block's 16 little-endian bytes.
    pub fn permute(&self, x: Block) -> Block {
        let mut b = to_aes(x);
        self.aes.encrypt_block(&mut b);
        from_aes(&b)
    }

    /// `TCCR(x, tweak)` for one block (the reference the batched form is tested against).
    pub fn hash(&self, x: Block, tweak: Block) -> Block {
        let u = self.permute(x);
        self.permute(u ^ tweak) ^ u
    }

    /// `out[t] = TCCR(xs[t], tweaks[t])` for every `t`, with two batched AES passes per
    /// 128 blocks.
    ///
    /// # Panics
    /// If the three slices differ in length (a caller bug; never peer data).
    pub fn hash_batch(&self, xs: &[Block], tweaks: &[Block], out: &mut [Block]) {
        assert!(
            xs.len() == tweaks.len() && xs.len() == out.len(),
            "hash_batch: slice lengths differ"
        );
        let mut u = [aes::Block::default(); PASS];
        let mut v = [aes::Block::default(); PASS];
        let chunks = xs
            .chunks(PASS)
            .zip(tweaks.chunks(PASS))
            .zip(out.chunks_mut(PASS));
        for ((xs, tweaks), out) in chunks {
            let (u, v) = (&mut u[..xs.len()], &mut v[..xs.len()]);
            for (ut, x) in u.iter_mut().zip(xs) {
                *ut = to_aes(*x);
            }
            self.hash_split(u, v, |t| tweaks[t].0);
            for ((o, ut), vt) in out.iter_mut().zip(u.iter()).zip(v.iter()) {
                *o = from_aes(ut) ^ from_aes(vt);
            }
        }
    }

    /// The two passes, fused for the garbling kernels. On entry `u[t] = x_t`; on return
    /// `u[t] = π(x_t)` and `v[t] = π(π(x_t) ⊕ tweak(t))`, so that
    /// `TCCR(x_t, tweak(t)) = u[t] ⊕ v[t]`. Both slices must have the same length.
    pub(crate) fn hash_split(
        &self,
        u: &mut [aes::Block],
        v: &mut [aes::Block],
        tweak: impl Fn(usize) -> u128,
    ) {
        debug_assert_eq!(u.len(), v.len());
        // Pass 1: π(x).
        self.aes.encrypt_blocks(u);
        for (t, (vt, ut)) in v.iter_mut().zip(u.iter()).enumerate() {
            (Lane::from_aes(ut) ^ Lane::from(tweak(t))).to_aes(vt);
        }
        // Pass 2: π(π(x) ⊕ i).
        self.aes.encrypt_blocks(v);
    }
}

/// A block as AES input (its 16 little-endian bytes).
pub(crate) fn to_aes(b: Block) -> aes::Block {
    aes::Block::from(b.to_bytes())
}

/// An AES block back as a [`Block`].
pub(crate) fn from_aes(b: &aes::Block) -> Block {
    Block(u128::from_le_bytes((*b).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prg::{Prg, Seed};

    #[test]
    fn permutation_is_aes_128_on_little_endian_bytes() {
        // FIPS-197, appendix C.1.
        let key = HashKey(core::array::from_fn(|i| i as u8));
        let pt = Block::from_bytes(core::array::from_fn(|i| (i as u8) * 0x11));
        let ct = [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ];
        assert_eq!(Tccr::new(&key).permute(pt), Block::from_bytes(ct));
    }

    #[test]
    fn hash_is_the_tccr_formula() {
        let h = Tccr::new(&HashKey([3; 16]));
        let (x, i) = (Block(0x1234), Block(7));
        let pi_x = h.permute(x);
        assert_eq!(h.hash(x, i), h.permute(pi_x ^ i) ^ pi_x);
        assert_ne!(h.hash(x, i), h.hash(x, Block(6)));
    }

    #[test]
    fn batch_equals_one_by_one_at_every_length() {
        let mut rng = Prg::new(Seed([9; 16]));
        let h = Tccr::new(&HashKey::random(&mut rng));
        for len in [0, 1, 7, PASS - 1, PASS, PASS + 1, 3 * PASS + 5] {
            let xs: Vec<Block> = (0..len)
                .map(|_| Block(rng.next_u64() as u128 * 3))
                .collect();
            let ts: Vec<Block> = (0..len).map(|t| Block(t as u128)).collect();
            let mut out = vec![Block::ZERO; len];
            h.hash_batch(&xs, &ts, &mut out);
            for t in 0..len {
                assert_eq!(out[t], h.hash(xs[t], ts[t]), "len {len}, t {t}");
            }
        }
    }

    #[test]
    fn keys_differ_per_session_and_change_the_hash() {
        let mut rng = Prg::new(Seed([1; 16]));
        let (k1, k2) = (HashKey::random(&mut rng), HashKey::random(&mut rng));
        assert_ne!(k1, k2);
        let x = Block(42);
        assert_ne!(
            Tccr::new(&k1).hash(x, Block(0)),
            Tccr::new(&k2).hash(x, Block(0))
        );
    }
}
