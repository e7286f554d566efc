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

    /// Wires for bits `0..width` of every value (LSB first).
    pub fn slice_all(values: &[u64], width: u32) -> Vec<Bits> {
        (0..width).map(|bit| Bits::slice(values, bit)).collect()
    }

    /// Bits `start .. start + len`.
    ///
    /// # Panics
    /// If the range runs past the end.
    pub fn range(&self, start: usize, len: usize) -> Bits {
        assert!(start + len <= self.len, "bit range out of bounds");
        let mut b = Bits::zeros(len);
        for i in 0..len {
            let j = start + i;
            b.words[i / 64] |= (self.words[j / 64] >> (j % 64) & 1) << (i % 64);
        }
        b
    }

    /// The parts one after the other.
    pub fn concat(parts: &[&Bits]) -> Bits {
        let mut b = Bits::zeros(parts.iter().map(|p| p.len).sum());
        let mut at = 0;
        for p in parts {
            for i in 0..p.len {
                b.words[(at + i) / 64] |= (p.words[i / 64] >> (i % 64) & 1) << ((at + i) % 64);
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
