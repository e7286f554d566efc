//! The form labels take inside the hot loops: two little-endian 64-bit halves.
//!
//! `u128` arithmetic on values that AES reads and writes as bytes made LLVM bounce every
//! label between vector and general registers, and `[u8; 16]` lanes did not vectorise;
//! two `u64` halves load, XOR and store in plain general-register instructions (or one
//! vector instruction where LLVM pairs them), with no unsafe code and no intrinsics.

use std::ops::BitXor;

use crate::block::Block;

/// A 128-bit label as `[low 64 bits, high 64 bits]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lane(pub [u64; 2]);

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lanes are labels: never print them.
        f.write_str("Lane(..)")
    }
}

impl Lane {
    /// The colour bit (low bit of the little-endian block).
    #[inline(always)]
    pub fn lsb(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// `self` if `bit`, else zero, without a branch.
    #[inline(always)]
    pub fn select(self, bit: bool) -> Lane {
        let mask = u64::from(bit).wrapping_neg();
        Lane([self.0[0] & mask, self.0[1] & mask])
    }

    /// From 16 little-endian bytes (`b` has exactly 16).
    #[inline(always)]
    pub fn read(b: &[u8]) -> Lane {
        let (lo, hi) = b.split_at(8);
        let mut l = [0u8; 8];
        let mut h = [0u8; 8];
        l.copy_from_slice(lo);
        h.copy_from_slice(&hi[..8]);
        Lane([u64::from_le_bytes(l), u64::from_le_bytes(h)])
    }

    /// To 16 little-endian bytes in `out` (which has exactly 16).
    #[inline(always)]
    pub fn write(self, out: &mut [u8]) {
        let (lo, hi) = out.split_at_mut(8);
        lo.copy_from_slice(&self.0[0].to_le_bytes());
        hi[..8].copy_from_slice(&self.0[1].to_le_bytes());
    }

    /// From an AES block.
    #[inline(always)]
    pub fn from_aes(b: &aes::Block) -> Lane {
        Lane::read(b.as_slice())
    }

    /// Into an AES block.
    #[inline(always)]
    pub fn to_aes(self, out: &mut aes::Block) {
        self.write(out.as_mut_slice());
    }
}

impl BitXor for Lane {
    type Output = Lane;
    #[inline(always)]
    fn bitxor(self, rhs: Lane) -> Lane {
        Lane([self.0[0] ^ rhs.0[0], self.0[1] ^ rhs.0[1]])
    }
}

impl From<Block> for Lane {
    #[inline(always)]
    fn from(b: Block) -> Lane {
        Lane([b.0 as u64, (b.0 >> 64) as u64])
    }
}

impl From<Lane> for Block {
    #[inline(always)]
    fn from(l: Lane) -> Block {
        Block(u128::from(l.0[0]) | u128::from(l.0[1]) << 64)
    }
}

impl From<u128> for Lane {
    #[inline(always)]
    fn from(x: u128) -> Lane {
        Lane::from(Block(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_the_little_endian_halves_of_blocks() {
        let b = Block(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let l = Lane::from(b);
        assert_eq!(l.0, [0xfedc_ba98_7654_3210, 0x0123_4567_89ab_cdef]);
        assert_eq!(Block::from(l), b);
        let mut bytes = [0u8; 16];
        l.write(&mut bytes);
        assert_eq!(bytes, b.to_bytes());
        assert_eq!(Lane::read(&bytes), l);
        let mut a = aes::Block::default();
        l.to_aes(&mut a);
        assert_eq!(Lane::from_aes(&a), l);
        assert!(!l.lsb() && l.select(true) == l && l.select(false) == Lane([0, 0]));
        assert_eq!(Block::from(l ^ Lane::from(Block(1))), b ^ Block(1));
    }
}
