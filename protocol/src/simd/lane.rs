//! [`Lane`]: a 128-bit label as the hot loops hold it, in a vector register.
//!
//! A [`Block`] is a `u128`, which LLVM keeps in a pair of general registers; AES works on
//! vector registers, so every label bounced between the two in the garbling loops. A
//! `Lane` is the vector itself (SSE2, part of every x86-64 CPU), and its colour bit
//! becomes a mask without leaving the vector unit. Elsewhere it is a `u128`.

use crate::block::Block;

#[cfg(target_arch = "x86_64")]
pub(crate) use sse2::Lane;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use portable::Lane;

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lanes are labels: never print them.
        f.write_str("Lane(..)")
    }
}

impl PartialEq for Lane {
    fn eq(&self, other: &Lane) -> bool {
        Block::from(*self) == Block::from(*other)
    }
}

impl Lane {
    /// The tweak of the 128-bit value `2·j + half` (`half` is 0 or 1).
    #[inline(always)]
    pub fn tweak(j: u64, half: u64) -> Lane {
        Lane::from_halves(j.wrapping_shl(1) | half, j >> 63)
    }

    /// From 16 little-endian bytes (`b` has exactly 16).
    #[inline(always)]
    pub fn read(b: &[u8]) -> Lane {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(b);
        Lane::from(Block::from_bytes(bytes))
    }

    /// To 16 little-endian bytes in `out` (which has exactly 16).
    #[inline(always)]
    pub fn write(self, out: &mut [u8]) {
        out.copy_from_slice(&Block::from(self).to_bytes());
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    //! SSE2 is part of the x86-64 baseline, so these intrinsics run on every CPU this
    //! code is built for; `unsafe` is only the calling convention of `core::arch`.

    use core::arch::x86_64::*;
    use std::ops::BitXor;

    use crate::block::Block;

    /// A 128-bit label in an SSE register.
    #[derive(Clone, Copy)]
    #[repr(transparent)]
    pub(crate) struct Lane(__m128i);

    impl Lane {
        /// All zeros.
        #[inline(always)]
        pub fn zero() -> Lane {
            // SAFETY: SSE2 is baseline on x86-64.
            Lane(unsafe { _mm_setzero_si128() })
        }

        /// `lo | hi << 64`.
        #[inline(always)]
        pub fn from_halves(lo: u64, hi: u64) -> Lane {
            // SAFETY: SSE2 is baseline on x86-64.
            Lane(unsafe { _mm_set_epi64x(hi as i64, lo as i64) })
        }

        /// `self` if `colour`'s low bit is 1, else zero: the select of point-and-permute,
        /// with no branch and no trip through a general register.
        #[inline(always)]
        pub fn select_by(self, colour: Lane) -> Lane {
            // SAFETY: SSE2 is baseline on x86-64.
            unsafe {
                // The colour to bit 31 of dword 1, copied to all four dwords, then spread
                // across each dword by the arithmetic shift.
                let top = _mm_slli_epi64::<63>(colour.0);
                let mask = _mm_srai_epi32::<31>(_mm_shuffle_epi32::<0x55>(top));
                Lane(_mm_and_si128(self.0, mask))
            }
        }

        /// The vector, for the AES instructions.
        #[inline(always)]
        pub(in crate::simd) fn vector(self) -> __m128i {
            self.0
        }

        /// A vector the AES instructions produced.
        #[inline(always)]
        pub(in crate::simd) fn from_vector(v: __m128i) -> Lane {
            Lane(v)
        }
    }

    impl BitXor for Lane {
        type Output = Lane;
        #[inline(always)]
        fn bitxor(self, rhs: Lane) -> Lane {
            // SAFETY: SSE2 is baseline on x86-64.
            Lane(unsafe { _mm_xor_si128(self.0, rhs.0) })
        }
    }

    impl From<Block> for Lane {
        #[inline(always)]
        fn from(b: Block) -> Lane {
            // SAFETY: a `Block` is 16 readable bytes, its `u128` in little-endian order.
            Lane(unsafe { _mm_loadu_si128((&b as *const Block).cast()) })
        }
    }

    impl From<Lane> for Block {
        #[inline(always)]
        fn from(l: Lane) -> Block {
            let mut b = Block::ZERO;
            // SAFETY: a `Block` is 16 writable bytes.
            unsafe { _mm_storeu_si128((&mut b as *mut Block).cast(), l.0) };
            b
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod portable {
    //! The same operations on a `u128`, for other CPUs.

    use std::ops::BitXor;

    use crate::block::Block;

    /// A 128-bit label.
    #[derive(Clone, Copy)]
    pub(crate) struct Lane(u128);

    impl Lane {
        /// All zeros.
        pub fn zero() -> Lane {
            Lane(0)
        }

        /// `lo | hi << 64`.
        pub fn from_halves(lo: u64, hi: u64) -> Lane {
            Lane(u128::from(lo) | u128::from(hi) << 64)
        }

        /// `self` if `colour`'s low bit is 1, else zero, without a branch.
        pub fn select_by(self, colour: Lane) -> Lane {
            Lane(self.0 & (colour.0 & 1).wrapping_neg())
        }
    }

    impl BitXor for Lane {
        type Output = Lane;
        fn bitxor(self, rhs: Lane) -> Lane {
            Lane(self.0 ^ rhs.0)
        }
    }

    impl From<Block> for Lane {
        fn from(b: Block) -> Lane {
            Lane(b.0)
        }
    }

    impl From<Lane> for Block {
        fn from(l: Lane) -> Block {
            Block(l.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_blocks_and_select_by_reads_only_the_colour() {
        let b = Block(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let l = Lane::from(b);
        assert_eq!(Block::from(l), b);
        assert_eq!(
            Lane::from_halves(0xfedc_ba98_7654_3210, 0x0123_4567_89ab_cdef),
            l
        );
        let mut bytes = [0u8; 16];
        l.write(&mut bytes);
        assert_eq!(bytes, b.to_bytes());
        assert_eq!(Lane::read(&bytes), l);
        for colour in [
            1u128,
            3,
            u128::MAX,
            1 << 127 | 1,
            0,
            2,
            1 << 64,
            u128::MAX - 1,
        ] {
            let expect = if colour & 1 == 1 { b } else { Block::ZERO };
            assert_eq!(Block::from(l.select_by(Lane::from(Block(colour)))), expect);
        }
        assert_eq!(Block::from(l ^ Lane::from(Block(1))), b ^ Block(1));
        assert_eq!(Block::from(Lane::zero()), Block::ZERO);
        assert_eq!(format!("{l:?}"), "Lane(..)");
    }

    #[test]
    fn tweaks_are_two_j_plus_half_as_128_bit_values() {
        for j in [0u64, 1, 5, u64::MAX / 2, 1 << 63, u64::MAX] {
            for half in [0, 1] {
                let expect = 2 * u128::from(j) + u128::from(half);
                assert_eq!(Block::from(Lane::tweak(j, half)), Block(expect));
            }
        }
    }
}
