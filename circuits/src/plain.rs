//! The plaintext backend: wires are packed bits in the clear.

use crate::backend::{Backend, CircuitError};

/// `len` bits packed little-endian into 64-bit words; bits past `len` are zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits {
    /// The packed words.
    pub words: Vec<u64>,
    /// The number of meaningful bits.
    pub len: usize,
}

impl Bits {
    /// `len` zero bits.
    pub fn zeros(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Bit `i`.
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Sets bit `i` to `v`.
    pub fn set(&mut self, i: usize, v: bool) {
        let m = 1u64 << (i % 64);
        if v {
            self.words[i / 64] |= m;
        } else {
            self.words[i / 64] &= !m;
        }
    }

    /// Bit `bit` of every value, sliced into one wire.
    pub fn slice(values: &[u64], bit: u32) -> Bits {
        let mut b = Bits::zeros(values.len());
        for (i, v) in values.iter().enumerate() {
            b.words[i / 64] |= (v >> bit & 1) << (i % 64);
        }
        b
    }

    /// Wires for bits `0..width` of every value (LSB first): 64 values at a time through
    /// a 64×64 bit transpose.
    pub fn slice_all(values: &[u64], width: u32) -> Vec<Bits> {
        let mut out = vec![Bits::zeros(values.len()); width as usize];
        for (chunk, vals) in values.chunks(64).enumerate() {
            let mut block = [0u64; 64];
            block[..vals.len()].copy_from_slice(vals);
            transpose64(&mut block);
            for (wire, row) in out.iter_mut().zip(block) {
                wire.words[chunk] = row;
            }
        }
        out.iter_mut().for_each(Bits::mask_tail);
        out
    }

    /// Bits `start .. start + len`.
    ///
    /// # Panics
    /// If the range runs past the end.
    pub fn range(&self, start: usize, len: usize) -> Bits {
        assert!(start + len <= self.len, "bit range out of bounds");
        let (q, r) = (start / 64, start % 64);
        let mut b = Bits::zeros(len);
        for (j, w) in b.words.iter_mut().enumerate() {
            let lo = self.words[q + j] >> r;
            let hi = match (r, self.words.get(q + j + 1)) {
                (0, _) | (_, None) => 0,
                (_, Some(next)) => next << (64 - r),
            };
            *w = lo | hi;
        }
        b.mask_tail();
        b
    }

    /// The parts one after the other.
    pub fn concat(parts: &[&Bits]) -> Bits {
        let mut b = Bits::zeros(parts.iter().map(|p| p.len).sum());
        let mut at = 0;
        for p in parts {
            let (q, r) = (at / 64, at % 64);
            for (j, &w) in p.words.iter().enumerate() {
                b.words[q + j] |= w << r;
                if r > 0 && q + j + 1 < b.words.len() {
                    b.words[q + j + 1] |= w >> (64 - r);
                }
            }
            at += p.len;
        }
        b
    }

    /// Clears the bits past `len` in the last word.
    pub fn mask_tail(&mut self) {
        if !self.len.is_multiple_of(64) {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << (self.len % 64)) - 1;
            }
        }
    }

    fn zip(&self, other: &Bits, op: impl Fn(u64, u64) -> u64) -> Result<Bits, CircuitError> {
        if self.len != other.len {
            return Err(CircuitError::WidthMismatch(self.len, other.len));
        }
        Ok(Bits {
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| op(*a, *b))
                .collect(),
            len: self.len,
        })
    }

    /// `self ⊕ other`.
    pub fn xor(&self, other: &Bits) -> Result<Bits, CircuitError> {
        self.zip(other, |a, b| a ^ b)
    }

    /// `self ∧ other`.
    pub fn and(&self, other: &Bits) -> Result<Bits, CircuitError> {
        self.zip(other, |a, b| a & b)
    }

    /// `¬self`.
    pub fn not(&self) -> Bits {
        let mut b = Bits {
            words: self.words.iter().map(|w| !w).collect(),
            len: self.len,
        };
        b.mask_tail();
        b
    }
}

/// Transposes a 64×64 bit matrix in place: bit `j` of row `i` becomes bit `i` of row `j`
/// (rows are words, bit 0 the least significant), by swapping ever smaller blocks.
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut m = 0x0000_0000_ffff_ffffu64;
    while j != 0 {
        for k in 0..64 {
            if k & j == 0 {
                let t = ((a[k] >> j) ^ a[k + j]) & m;
                a[k] ^= t << j;
                a[k + j] ^= t;
            }
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Evaluates circuits in the clear: the reference every secure backend is compared with.
#[derive(Debug, Default)]
pub struct Plain;

impl Backend for Plain {
    type Wire = Bits;
    type Error = CircuitError;

    fn xor(&mut self, a: &Bits, b: &Bits) -> Result<Bits, CircuitError> {
        a.xor(b)
    }

    fn not(&mut self, a: &Bits) -> Result<Bits, CircuitError> {
        Ok(a.not())
    }

    fn and_batch(&mut self, gates: &[(&Bits, &Bits)]) -> Result<Vec<Bits>, CircuitError> {
        gates.iter().map(|(a, b)| a.and(b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from_bools(v: &[bool]) -> Bits {
        let mut b = Bits::zeros(v.len());
        v.iter().enumerate().for_each(|(i, x)| b.set(i, *x));
        b
    }

    proptest! {
        #[test]
        fn slice_all_transposes_bit_by_bit(
            values in proptest::collection::vec(any::<u64>(), 0..300),
            width in 1u32..=64,
        ) {
            let all = Bits::slice_all(&values, width);
            prop_assert_eq!(all.len(), width as usize);
            for (bit, wire) in all.iter().enumerate() {
                prop_assert_eq!(wire, &Bits::slice(&values, bit as u32));
            }
        }

        #[test]
        fn range_and_concat_agree_with_single_bits(
            parts in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 0..150), 1..5),
            cut in any::<prop::sample::Index>(),
            take in any::<prop::sample::Index>(),
        ) {
            let bits: Vec<Bits> = parts.iter().map(|p| from_bools(p)).collect();
            let joined = Bits::concat(&bits.iter().collect::<Vec<_>>());
            let flat: Vec<bool> = parts.concat();
            prop_assert_eq!(&joined, &from_bools(&flat));
            let start = cut.index(flat.len() + 1);
            let len = take.index(flat.len() - start + 1);
            prop_assert_eq!(joined.range(start, len), from_bools(&flat[start..start + len]));
        }
    }
}
