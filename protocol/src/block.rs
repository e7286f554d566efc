//! 128-bit blocks: wire labels, OT messages, AES inputs.

use std::ops::{BitAnd, BitXor, BitXorAssign};

/// 128 bits, the unit of garbling and oblivious transfer (laid out as its `u128`, which
/// the SIMD module loads and stores as 16 little-endian bytes).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Block(pub u128);

impl Block {
    /// All zeros.
    pub const ZERO: Block = Block(0);

    /// From 16 little-endian bytes.
    pub fn from_bytes(b: [u8; 16]) -> Block {
        Block(u128::from_le_bytes(b))
    }

    /// To 16 little-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// The least significant bit (the point-and-permute colour of a label).
    pub fn lsb(self) -> bool {
        self.0 & 1 == 1
    }

    /// `self` if `bit`, else zero, without a branch on `bit`.
    pub fn select(self, bit: bool) -> Block {
        Block(self.0 & (bit as u128).wrapping_neg())
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Blocks are often secret (labels, Δ, OT keys): never print them.
        f.write_str("Block(..)")
    }
}

impl BitXor for Block {
    type Output = Block;
    fn bitxor(self, rhs: Block) -> Block {
        Block(self.0 ^ rhs.0)
    }
}

impl BitXorAssign for Block {
    fn bitxor_assign(&mut self, rhs: Block) {
        self.0 ^= rhs.0;
    }
}

impl BitAnd for Block {
    type Output = Block;
    fn bitand(self, rhs: Block) -> Block {
        Block(self.0 & rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_select_is_a_mask() {
        let b = Block(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(Block::from_bytes(b.to_bytes()), b);
        assert_eq!(b.select(true), b);
        assert_eq!(b.select(false), Block::ZERO);
        assert!(b.lsb());
        assert_eq!(format!("{b:?}"), "Block(..)");
    }
}
