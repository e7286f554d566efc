//! Silent correlated OT from primal LPN: Ferret's extension (Yang, Weng, Lan, Zhang,
//! Wang, CCS 2020), semi-honest.
//!
//! From `k + t·h` correlated OTs with the global Δ (set up once by IKNP, then taken from
//! the previous extension's own output), one extension makes `n = t·2^h` new ones:
//! - the first `k` are the LPN secret: the sender holds v, the receiver u (its choice bits)
//!   and w = v ⊕ u·Δ;
//! - the next `t·h` run `t` single-point COTs on GGM trees of `2^h` leaves ([`ggm`]): the
//!   sender gets s, the receiver s ⊕ e·Δ where e is a regular noise vector, one 1 per block
//!   of `2^h` at a point the receiver's choice bits fix and the sender never learns;
//! - both apply the public local code A ([`code`]): the sender's new COTs are v·A ⊕ s, the
//!   receiver's w·A ⊕ (s ⊕ e·Δ) = (v·A ⊕ s) ⊕ (u·A ⊕ e)·Δ, with choice bits u·A ⊕ e.
//!
//! The only traffic is the sender's: per tree `2h` masked level sums and ψ, so
//! `t·(32h + 16)` bytes and one flight per extension. Both parties' blocks keep the choice
//! bit in the low bit: Δ's low bit is 1 and every sender block's is 0.
//!
//! # Parameters and their security
//! Both sets are Ferret's (as the emp-ot reference implementation ships them) for
//! 128-bit computational security of LPN with regular noise at the time of publication,
//! against Gaussian elimination, information-set decoding, low-weight parity checks and the
//! attacks on regular noise that Ferret's §6 analyses:
//!
//! | set | n | k | t | 2^h | consumed | made for use |
//! |---|---|---|---|---|---|---|
//! | [`MAIN`] | 10,608,640 | 589,824 | 1,295 | 8,192 | 606,659 | 10,001,981 |
//! | [`BOOT`] | 607,232 | 69,454 | 593 | 1,024 | 75,384 | 531,848 |
//!
//! Briaud and Øygarden (Eurocrypt 2023) gave an algebraic attack that exploits the regular
//! structure of the noise and lowered the estimated security of several published sets of
//! regular-noise LPN parameters. We have not rerun their estimator on these two sets; they
//! live here alone, so a set that a later analysis weakens is replaced in one place. The
//! code is a local linear code with `d = 10`, not a Silver code (whose structure was
//! attacked).
//!
//! # Who learns what
//! The receiver sends nothing, so the sender's view (its own randomness and Δ) is
//! independent of the receiver's choice bits. The receiver sees, per tree level, one sum
//! masked by H(q ⊕ b̄·Δ) it cannot compute and one it learns, and ψ, masked by the leaf at α
//! it never learns: Δ stays hidden.

pub mod code;
pub mod ggm;

use rand_core::RngCore;

use self::code::Code;
use self::ggm::TreePrg;
use super::aes_prg::CrHash;
use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::codec::Reader;
use crate::error::ProtocolError;

/// One set of LPN parameters for an extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// COTs made.
    pub n: usize,
    /// Length of the LPN secret.
    pub k: usize,
    /// Noise weight: one point per tree.
    pub t: usize,
    /// Depth of each tree: `n = t · 2^h`.
    pub h: usize,
}

/// The extension of every query: about 0.45 bits per COT made.
pub const MAIN: Params = Params {
    n: 10_608_640,
    k: 589_824,
    t: 1_295,
    h: 13,
};

/// The smaller extension that first grows IKNP's output, and serves small needs alone.
pub const BOOT: Params = Params {
    n: 607_232,
    k: 69_454,
    t: 593,
    h: 10,
};

impl Params {
    /// COTs an extension consumes: the LPN secret and one per tree level.
    pub const fn seed(&self) -> usize {
        self.k + self.t * self.h
    }

    /// COTs an extension adds beyond what it consumes.
    pub const fn usable(&self) -> usize {
        self.n - self.seed()
    }

    /// Bytes the sender sends per extension.
    pub const fn bytes(&self) -> usize {
        self.t * (32 * self.h + 16)
    }

    /// Tree leaves.
    const fn leaves(&self) -> usize {
        1 << self.h
    }
}

/// The sender's side of one extension: `seed` holds [`Params::seed`] unused COTs (x0 with
/// low bit 0), `tweak` the hash index of its first tree-level COT (the caller advances
/// its count by `t·h`). Sends one message and returns the `n` new x0, in a vector with
/// room for `spare` more (so a pool can keep its unspent blocks after them, uncopied).
pub fn send<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    p: &Params,
    delta: Block,
    (seed, tweak): (&[Block], u128),
    spare: usize,
    rng: &mut dyn RngCore,
) -> Result<Vec<Block>, ProtocolError> {
    let (secret, levels) = split(p, seed)?;
    let (hash, mut prg) = (CrHash::new(), TreePrg::new());
    let mut out = Vec::with_capacity(p.n + spare);
    out.resize(p.n, Block::ZERO);
    let mut msg = Vec::with_capacity(p.bytes());
    let (mut sums, mut h0, mut h1) = (Vec::new(), vec![Block::ZERO; p.h], vec![Block::ZERO; p.h]);
    for (i, (leaves, qs)) in out
        .chunks_exact_mut(p.leaves())
        .zip(levels.chunks_exact(p.h))
        .enumerate()
    {
        let mut s = [0u8; 16];
        rng.fill_bytes(&mut s);
        let all = prg.sender_tree(Block::from_bytes(s), leaves, &mut sums);
        let first = tweak + (i * p.h) as u128;
        hash.hash_batch(first, qs, Block::ZERO, &mut h0);
        hash.hash_batch(first, qs, delta, &mut h1);
        for ((k, a), b) in sums.iter().zip(&h0).zip(&h1) {
            msg.extend_from_slice(&(k[0] ^ *a).to_bytes());
            msg.extend_from_slice(&(k[1] ^ *b).to_bytes());
        }
        msg.extend_from_slice(&(delta ^ all).to_bytes());
    }
    ch.send(&msg)?;
    Code::new(p.k).apply(secret, 0, &mut out);
    Ok(out)
}

/// The receiver's side of [`send`]: `seed` holds the receiver's blocks of the same COTs
/// (choice bits in the low bits). Receives one message and returns the `n` new blocks,
/// with room for `spare` more.
pub fn receive<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    p: &Params,
    (seed, tweak): (&[Block], u128),
    spare: usize,
) -> Result<Vec<Block>, ProtocolError> {
    let (secret, levels) = split(p, seed)?;
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let body = r.take(p.bytes(), "silent-OT tree sums")?;
    r.finish()?;
    let (hash, mut prg) = (CrHash::new(), TreePrg::new());
    let mut out = Vec::with_capacity(p.n + spare);
    out.resize(p.n, Block::ZERO);
    let (mut hashed, mut learned, mut side) = (
        vec![Block::ZERO; p.h],
        vec![Block::ZERO; p.h],
        vec![false; p.h],
    );
    let tree_bytes = 32 * p.h + 16;
    for (i, ((leaves, ts), part)) in out
        .chunks_exact_mut(p.leaves())
        .zip(levels.chunks_exact(p.h))
        .zip(body.chunks_exact(tree_bytes))
        .enumerate()
    {
        hash.hash_batch(tweak + (i * p.h) as u128, ts, Block::ZERO, &mut hashed);
        for (l, t) in ts.iter().enumerate() {
            let b = t.lsb();
            let at = 32 * l + 16 * usize::from(b);
            learned[l] = block(&part[at..at + 16]) ^ hashed[l];
            side[l] = b;
        }
        let psi = block(&part[32 * p.h..]);
        prg.receiver_tree(&learned, &side, psi, leaves);
    }
    Code::new(p.k).apply(secret, 0, &mut out);
    Ok(out)
}

/// The seed's LPN secret and tree-level COTs.
fn split<'a>(p: &Params, seed: &'a [Block]) -> Result<(&'a [Block], &'a [Block]), ProtocolError> {
    if seed.len() != p.seed() {
        return Err(ProtocolError::Misuse(
            "a silent-OT extension needs its exact seed",
        ));
    }
    Ok(seed.split_at(p.k))
}

/// A block from 16 little-endian bytes of a checked message.
fn block(b: &[u8]) -> Block {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Block::from_bytes(a)
}

#[cfg(test)]
mod tests;
