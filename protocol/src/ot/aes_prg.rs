//! AES-128 primitives for OT extension: a counter-mode PRG and a fixed-key hash.
//!
//! Both run on the `aes` crate, which picks AES-NI at run time, and both work on batches
//! (`encrypt_blocks_inout` pipelines eight blocks at a time), never one block per call.
//!
//! - [`AesPrg`] is the PRG G of IKNP: AES-128 keyed by a base-OT seed, run in counter
//!   mode over the block index. Each seed keys its own cipher, so every counter starts at
//!   zero without a nonce.
//! - [`CrHash`] is the hash H that turns IKNP's correlated rows into random OTs (and, in
//!   counter mode over its tweak, [`CrHash::stretch`], a fixed-key PRG for many short
//!   streams):
//!   H(i, x) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i with π fixed-key AES-128 and σ the linear
//!   orthomorphism σ(x_hi ‖ x_lo) = (x_hi ⊕ x_lo) ‖ x_hi. This is Guo–Katz–Wang–Yu
//!   (S&P 2020, §7.2–7.3): π(w) ⊕ w ("MMO") is correlation robust (CR) when π is a
//!   random permutation, and pre-composing σ makes it circular correlation robust (CCR):
//!   H(i, x ⊕ Δ) ⊕ b·Δ stays pseudorandom for a secret uniform Δ, even when Δ also
//!   appears outside the hash. The tweak i (the OT's index) is XORed into the input: the
//!   hash stays CR/CCR as long as no two queries share σ(x) ⊕ i, which holds except with
//!   probability ≈ q²/2^128 when x is pseudorandom, as in semi-honest IKNP. A malicious
//!   party could aim for such collisions; a malicious-secure extension would need the
//!   tweakable TCCR π(π(x) ⊕ i) ⊕ π(x) (two AES calls) instead. Never plain π(x ⊕ i):
//!   it is invertible.

use aes::cipher::consts::U16;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;

use crate::block::Block;

/// The public key of the fixed-key permutation π: the first hexadecimal digits of π,
/// a nothing-up-my-sleeve number. The analysis models AES under a fixed public key as a
/// random permutation.
const FIXED_KEY: u128 = 0x243F_6A88_85A3_08D3_1319_8A2E_0370_7344;

/// Blocks per batch of the hash (on the stack, 1 KiB).
const HASH_BATCH: usize = 64;

/// Encrypts, in place, every whole 16-byte block of `buf` (a trailing partial block is
/// left as it is).
fn encrypt_in_place(cipher: &Aes128Enc, buf: &mut [u8]) {
    let (blocks, _tail) = InOutBuf::from(buf).into_chunks::<U16>();
    cipher.encrypt_blocks_inout(blocks);
}

fn cipher_for(key: Block) -> Aes128Enc {
    Aes128Enc::new(&key.to_bytes().into())
}

/// AES-128 in counter mode, keyed by a 128-bit seed: a PRG whose output stream is
/// AES_seed(0) ‖ AES_seed(1) ‖ … (counters as little-endian blocks).
#[derive(Clone)]
pub struct AesPrg {
    cipher: Aes128Enc,
    counter: u128,
}

impl AesPrg {
    /// The generator that `seed` keys, at the start of its stream.
    pub fn new(seed: Block) -> Self {
        AesPrg {
            cipher: cipher_for(seed),
            counter: 0,
        }
    }

    /// Overwrites `out` with the next `out.len()` bytes of the stream. A length that is
    /// not a multiple of 16 discards the rest of the last block, so calls stay aligned to
    /// whole blocks.
    pub fn fill(&mut self, out: &mut [u8]) {
        let whole = out.len() / 16 * 16;
        let (body, tail) = out.split_at_mut(whole);
        for chunk in body.chunks_exact_mut(16) {
            chunk.copy_from_slice(&self.counter.to_le_bytes());
            self.counter = self.counter.wrapping_add(1);
        }
        encrypt_in_place(&self.cipher, body);
        if !tail.is_empty() {
            let mut last = self.counter.to_le_bytes();
            self.counter = self.counter.wrapping_add(1);
            encrypt_in_place(&self.cipher, &mut last);
            tail.copy_from_slice(&last[..tail.len()]);
        }
    }
}

impl std::fmt::Debug for AesPrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is an OT seed: never print it.
        f.debug_struct("AesPrg")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// The fixed-key circular-correlation-robust hash H(i, x) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i (see
/// the module doc for the argument and its limits).
#[derive(Clone)]
pub struct CrHash {
    cipher: Aes128Enc,
}

impl Default for CrHash {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CrHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CrHash(fixed-key AES-128)")
    }
}

/// σ(x_hi ‖ x_lo) = (x_hi ⊕ x_lo) ‖ x_hi: linear, and x ↦ σ(x) ⊕ x is a bijection too.
fn sigma(x: u128) -> u128 {
    let hi = x >> 64;
    let lo = x & u128::from(u64::MAX);
    ((hi ^ lo) << 64) | hi
}

impl CrHash {
    /// The hash under the fixed public key.
    pub fn new() -> Self {
        CrHash {
            cipher: cipher_for(Block(FIXED_KEY)),
        }
    }

    /// H(tweak, x) for one block (tests and small inputs; use [`CrHash::hash_batch`] for
    /// many).
    pub fn hash(&self, tweak: u128, x: Block) -> Block {
        let mut out = [Block::ZERO];
        self.hash_batch(tweak, &[x], Block::ZERO, &mut out);
        out[0]
    }

    /// `out[k] = H(first_tweak + k, xs[k] ⊕ offset)` for every k, in AES batches.
    ///
    /// # Panics
    /// If `out` and `xs` differ in length (a caller bug, never peer data).
    pub fn hash_batch(&self, first_tweak: u128, xs: &[Block], offset: Block, out: &mut [Block]) {
        assert_eq!(xs.len(), out.len(), "hash_batch: input and output lengths");
        let mut buf = [0u8; 16 * HASH_BATCH];
        let mut ws = [0u128; HASH_BATCH];
        let mut tweak = first_tweak;
        for (xs, out) in xs.chunks(HASH_BATCH).zip(out.chunks_mut(HASH_BATCH)) {
            let bytes = &mut buf[..16 * xs.len()];
            for ((x, w), b) in xs.iter().zip(ws.iter_mut()).zip(bytes.chunks_exact_mut(16)) {
                *w = sigma(x.0 ^ offset.0) ^ tweak;
                b.copy_from_slice(&w.to_le_bytes());
                tweak = tweak.wrapping_add(1);
            }
            encrypt_in_place(&self.cipher, bytes);
            for ((w, b), o) in ws.iter().zip(bytes.chunks_exact(16)).zip(out.iter_mut()) {
                *o = Block(u128::from_le_bytes(block_bytes(b)) ^ w);
            }
        }
    }
}

impl CrHash {
    /// The PRG G(key) = H(0, key) ‖ H(1, key) ‖ …, read as little-endian words into `out`
    /// (an odd length drops the last block's upper half). For a uniform secret `key` it is
    /// pseudorandom when π is a random permutation: its inputs σ(key) ⊕ b are fresh
    /// points to anyone who does not know `key`. Fixed-key, so it needs no key schedule
    /// per key, unlike [`AesPrg`]: the better choice for many short streams.
    pub fn stretch(&self, key: Block, out: &mut [u64]) {
        let s = sigma(key.0);
        let mut blocks = [aes::Block::default(); HASH_BATCH];
        let mut first = 0u128;
        for chunk in out.chunks_mut(2 * HASH_BATCH) {
            let blocks = &mut blocks[..chunk.len().div_ceil(2)];
            for (b, t) in blocks.iter_mut().zip(first..) {
                *b = (s ^ t).to_le_bytes().into();
            }
            self.cipher.encrypt_blocks(blocks);
            let mut words = blocks
                .iter()
                .zip(first..)
                .map(|(b, t)| u128::from_le_bytes((*b).into()) ^ s ^ t);
            let mut pairs = chunk.chunks_exact_mut(2);
            for (pair, v) in (&mut pairs).zip(&mut words) {
                pair[0] = v as u64;
                pair[1] = (v >> 64) as u64;
            }
            if let (Some(last), Some(v)) = (pairs.into_remainder().first_mut(), words.next()) {
                *last = v as u64;
            }
            first += blocks.len() as u128;
        }
    }
}

/// Copies a 16-byte chunk into an array (the chunk comes from `chunks_exact(16)`).
fn block_bytes(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_matches_the_fips_197_vector() {
        // FIPS-197 appendix C.1: the backend (AES-NI or soft) computes AES-128.
        let key =
            Block::from_bytes(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
        let mut pt = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
        encrypt_in_place(&cipher_for(key), &mut pt);
        assert_eq!(
            pt,
            *b"\x69\xc4\xe0\xd8\x6a\x7b\x04\x30\xd8\xcd\xb7\x80\x70\xb4\xc5\x5a"
        );
    }

    #[test]
    fn prg_streams_are_deterministic_split_invariant_and_keyed() {
        let mut a = AesPrg::new(Block(7));
        let mut whole = vec![0u8; 160];
        a.fill(&mut whole);
        let mut b = AesPrg::new(Block(7));
        let (mut x, mut y) = (vec![0u8; 48], vec![0u8; 112]);
        b.fill(&mut x);
        b.fill(&mut y);
        assert_eq!([x, y].concat(), whole);
        let mut c = AesPrg::new(Block(8));
        let mut other = vec![0u8; 160];
        c.fill(&mut other);
        assert_ne!(other, whole);
        // A partial block consumes a whole counter value.
        let mut d = AesPrg::new(Block(7));
        let (mut p, mut q) = (vec![0u8; 5], vec![0u8; 16]);
        d.fill(&mut p);
        d.fill(&mut q);
        assert_eq!(p, whole[..5]);
        assert_eq!(q, whole[16..32]);
        assert_eq!(format!("{d:?}"), "AesPrg { counter: 2, .. }");
    }

    #[test]
    fn batched_hash_equals_one_at_a_time_and_depends_on_tweak_and_offset() {
        let h = CrHash::new();
        let xs: Vec<Block> = (0..200u128)
            .map(|i| Block(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        let off = Block(0xdead_beef);
        let mut out = vec![Block::ZERO; xs.len()];
        h.hash_batch(1000, &xs, off, &mut out);
        for (k, (x, o)) in xs.iter().zip(&out).enumerate() {
            assert_eq!(h.hash(1000 + k as u128, *x ^ off), *o);
        }
        assert_ne!(h.hash(1, Block(5)), h.hash(2, Block(5)));
        // The stretch is the hash at tweaks 0, 1, … in words, whatever the batch.
        let mut words = vec![0u64; 2 * HASH_BATCH + 3];
        h.stretch(off, &mut words);
        for (b, pair) in words.chunks(2).enumerate() {
            let v = h.hash(b as u128, off).0;
            assert_eq!(pair, &[v as u64, (v >> 64) as u64][..pair.len()]);
        }
        assert_ne!(h.hash(1, Block(5)), h.hash(1, Block(6)));
        // σ is linear and σ ⊕ id is injective on a sample: no easy collisions.
        assert_eq!(sigma(3) ^ sigma(5), sigma(6));
        assert_ne!(sigma(1) ^ 1, 0);
    }
}
