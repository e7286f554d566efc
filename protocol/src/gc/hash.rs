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
//! The garbling kernels run a whole AND batch inside one `Tccr::run` call, which holds the
//! widest AES instructions of this CPU (VAES or AES-NI, detected at run time by the crate's
//! `simd` module) for the batch: per group of `GROUP` blocks, one pass of `π(x)`, the
//! tweaks, a second pass of `π(π(x) ⊕ i)`, in vector registers, with no per-call dispatch.
//! [`Tccr::hash_batch`] does the same over slices.

use rand_core::{CryptoRng, RngCore};

use crate::block::Block;
use crate::simd::{Aes, Cipher, Kernel, Lane, WIDTH};

/// Blocks hashed together by [`tccr`]: one [`Cipher::encrypt`] call per pass.
pub(crate) const GROUP: usize = WIDTH;

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
    aes: Aes,
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
            aes: Aes::new(Block::from_bytes(key.0)),
        }
    }

    /// `π(x)`: one AES-128 encryption of the block's 16 little-endian bytes.
    pub fn permute(&self, x: Block) -> Block {
        self.aes.encrypt(x)
    }

    /// `TCCR(x, tweak)` for one block (the reference the batched form is tested against).
    pub fn hash(&self, x: Block, tweak: Block) -> Block {
        let u = self.permute(x);
        self.permute(u ^ tweak) ^ u
    }

    /// `out[t] = TCCR(xs[t], tweaks[t])` for every `t`, a group of blocks at a time
    /// inside one kernel run.
    ///
    /// # Panics
    /// If the three slices differ in length (a caller bug; never peer data).
    pub fn hash_batch(&self, xs: &[Block], tweaks: &[Block], out: &mut [Block]) {
        assert!(
            xs.len() == tweaks.len() && xs.len() == out.len(),
            "hash_batch: slice lengths differ"
        );
        self.run(Slices { xs, tweaks, out });
    }

    /// Runs `kernel` with the AES instructions in hand: one dispatch for the whole kernel,
    /// and every [`tccr`] call inside it inlined down to them.
    pub(crate) fn run<K: Kernel>(&self, kernel: K) {
        self.aes.run(kernel);
    }
}

/// `TCCR(x[t], tweaks[t])` for each `t` of a group, through the cipher a kernel holds.
#[inline(always)]
pub(crate) fn tccr(aes: &impl Cipher, x: &[Lane; GROUP], tweaks: &[Lane; GROUP]) -> [Lane; GROUP] {
    // Pass 1: π(x).
    let mut u = *x;
    aes.encrypt(&mut u);
    // Pass 2: π(π(x) ⊕ i).
    let mut v: [Lane; GROUP] = core::array::from_fn(|t| u[t] ^ tweaks[t]);
    aes.encrypt(&mut v);
    core::array::from_fn(|t| u[t] ^ v[t])
}

/// [`Tccr::hash_batch`] as a kernel.
struct Slices<'a> {
    xs: &'a [Block],
    tweaks: &'a [Block],
    out: &'a mut [Block],
}

impl Kernel for Slices<'_> {
    #[inline(always)]
    fn run(self, aes: &impl Cipher) {
        let groups = self.xs.chunks(GROUP).zip(self.tweaks.chunks(GROUP));
        for ((xs, tweaks), out) in groups.zip(self.out.chunks_mut(GROUP)) {
            // A short last group hashes zeros in its empty slots and drops them.
            let mut x = [Lane::zero(); GROUP];
            let mut i = [Lane::zero(); GROUP];
            for (t, (xt, it)) in xs.iter().zip(tweaks).enumerate() {
                (x[t], i[t]) = (Lane::from(*xt), Lane::from(*it));
            }
            let h = tccr(aes, &x, &i);
            for (o, h) in out.iter_mut().zip(h) {
                *o = Block::from(h);
            }
        }
    }
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
        for len in [0, 1, 7, GROUP - 1, GROUP, GROUP + 1, 3 * GROUP + 5, 1000] {
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
