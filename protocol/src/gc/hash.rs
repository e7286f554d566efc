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
//! The garbling kernels run a whole AND batch inside one [`Tccr::run`] call, which holds
//! the AES backend (AES-NI, detected at run time) for the batch: per group of [`GROUP`]
//! blocks, one pipelined pass of `π(x)`, the tweaks, a second pass of `π(π(x) ⊕ i)`, all
//! in registers, with no scratch buffer and no per-call dispatch. [`Tccr::hash_batch`]
//! does the same over slices.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{BlockBackend, BlockClosure, BlockEncrypt, BlockSizeUser, KeyInit};
use aes::Aes128Enc;
use rand_core::{CryptoRng, RngCore};

use super::lane::Lane;
use crate::block::Block;

/// Blocks hashed together by [`Group::tccr`]: two of AES-NI's eight-block pipelines, so
/// that one pipeline's second pass overlaps the other's first.
pub(crate) const GROUP: usize = 16;

/// AES-NI's pipeline width: blocks per `proc_par_blocks`.
const PIPELINE: usize = 8;

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

    /// `out[t] = TCCR(xs[t], tweaks[t])` for every `t`, a [`GROUP`] of blocks at a time
    /// inside one [`Tccr::run`].
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

    /// Runs `kernel` with the AES backend in hand: one dispatch for the whole kernel, and
    /// every [`Group::tccr`] call inside it inlined down to the AES instructions.
    pub(crate) fn run<K: Kernel>(&self, kernel: K) {
        self.aes.encrypt_with_backend(Backend(kernel));
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

/// A loop that hashes through [`Tccr::run`].
pub(crate) trait Kernel {
    /// Runs the loop; `hash` computes TCCR a [`GROUP`] at a time.
    fn run(self, hash: &mut impl Group);
}

/// TCCR on a group of blocks, with the AES backend in hand.
pub(crate) trait Group {
    /// `TCCR(x[t], tweaks[t])` for each `t`.
    fn tccr(&mut self, x: &[Lane; GROUP], tweaks: &[u128; GROUP]) -> [Lane; GROUP];
}

/// [`Tccr::hash_batch`] as a kernel.
struct Slices<'a> {
    xs: &'a [Block],
    tweaks: &'a [Block],
    out: &'a mut [Block],
}

impl Kernel for Slices<'_> {
    fn run(self, hash: &mut impl Group) {
        let groups = self.xs.chunks(GROUP).zip(self.tweaks.chunks(GROUP));
        for ((xs, tweaks), out) in groups.zip(self.out.chunks_mut(GROUP)) {
            // A short last group hashes zeros in its empty slots and drops them.
            let mut x = [Lane([0, 0]); GROUP];
            let mut i = [0u128; GROUP];
            for (t, (xt, it)) in xs.iter().zip(tweaks).enumerate() {
                (x[t], i[t]) = (Lane::from(*xt), it.0);
            }
            let h = hash.tccr(&x, &i);
            for (o, h) in out.iter_mut().zip(h) {
                *o = Block::from(h);
            }
        }
    }
}

/// Hands a [`Kernel`] the AES backend (the `cipher` crate's rank-2 closure).
struct Backend<K>(K);

impl<K> BlockSizeUser for Backend<K> {
    type BlockSize = U16;
}

impl<K: Kernel> BlockClosure for Backend<K> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        self.0.run(&mut Pi(backend));
    }
}

/// `π` through a backend.
struct Pi<'a, B>(&'a mut B);

impl<B: BlockBackend<BlockSize = U16>> Pi<'_, B> {
    /// Encrypts `blocks` in place, [`PIPELINE`] at a time where the backend pipelines
    /// that many (AES-NI), else block by block (the software fallback).
    #[inline(always)]
    fn encrypt(&mut self, blocks: &mut [aes::Block; GROUP]) {
        if B::ParBlocksSize::USIZE == PIPELINE {
            for par in blocks.chunks_exact_mut(PIPELINE) {
                self.0
                    .proc_par_blocks_inplace(GenericArray::from_mut_slice(par));
            }
        } else {
            for b in blocks.iter_mut() {
                self.0.proc_block_inplace(b);
            }
        }
    }
}

impl<B: BlockBackend<BlockSize = U16>> Group for Pi<'_, B> {
    #[inline(always)]
    fn tccr(&mut self, x: &[Lane; GROUP], tweaks: &[u128; GROUP]) -> [Lane; GROUP] {
        let mut u = [aes::Block::default(); GROUP];
        for (ut, x) in u.iter_mut().zip(x) {
            x.to_aes(ut);
        }
        // Pass 1: π(x).
        self.encrypt(&mut u);
        let mut v = [aes::Block::default(); GROUP];
        for ((vt, ut), i) in v.iter_mut().zip(&u).zip(tweaks) {
            (Lane::from_aes(ut) ^ Lane::from(*i)).to_aes(vt);
        }
        // Pass 2: π(π(x) ⊕ i).
        self.encrypt(&mut v);
        core::array::from_fn(|t| Lane::from_aes(&u[t]) ^ Lane::from_aes(&v[t]))
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
