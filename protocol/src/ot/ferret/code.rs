//! The primal LPN code of the extension: a local linear code from k to n in which every
//! output XORs [`D`] inputs at public pseudorandom positions (Ferret, §5; `d = 10`).
//!
//! Output j is x_j = e_j ⊕ ⊕_{d<D} u[idx(j, d)], on blocks (the sender's v, the receiver's
//! w = v ⊕ u·Δ, the choice bits riding in the low bits). The positions come from fixed-key
//! AES in counter mode over j: one block gives four 32-bit words, each taken modulo k (a
//! bias below 2^-12 for k < 2^20, as in the reference implementations). The code is the
//! same for every extension and both parties.

use crate::block::Block;
use crate::simd::Aes;

/// Inputs per output.
pub const D: usize = 10;

/// Blocks of AES output per output position (three blocks give twelve words; ten used).
const BLOCKS_PER_ROW: usize = 3;

/// Outputs whose positions are drawn in one AES batch.
const BATCH: usize = 256;

/// The code's position generator (public key: the digits of √2).
pub(super) struct Code {
    aes: Aes,
    k: usize,
    buf: Vec<Block>,
}

impl Code {
    /// The code from `k` inputs.
    pub(super) fn new(k: usize) -> Self {
        Code {
            aes: Aes::new(Block(0x6A09_E667_F3BC_C908_B2FB_1366_EA95_7D3E)),
            k,
            buf: vec![Block::ZERO; BATCH * BLOCKS_PER_ROW],
        }
    }

    /// `out[j] ^= ⊕_d secret[idx(first + j, d)]` for every j.
    ///
    /// # Panics
    /// If `secret` is not `k` long (a caller bug).
    pub(super) fn apply(&mut self, secret: &[Block], first: usize, out: &mut [Block]) {
        assert_eq!(secret.len(), self.k, "LPN secret length");
        let k = self.k as u32;
        for (c, rows) in out.chunks_mut(BATCH).enumerate() {
            let row0 = first + c * BATCH;
            let buf = &mut self.buf[..rows.len() * BLOCKS_PER_ROW];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = Block((row0 * BLOCKS_PER_ROW + i) as u128);
            }
            self.aes.encrypt_blocks(buf);
            for (row, words) in rows.iter_mut().zip(buf.chunks_exact(BLOCKS_PER_ROW)) {
                let mut acc = *row;
                for d in 0..D {
                    let w = (words[d / 4].0 >> (32 * (d % 4))) as u32;
                    acc ^= secret[(w % k) as usize];
                }
                *row = acc;
            }
        }
    }
}
