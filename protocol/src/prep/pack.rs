//! Packing ring values of `w ≤ 64` meaningful bits back to back, so that a vector-OT
//! correction of n values costs ceil(n·w / 8) bytes, not 8n.

use crate::codec::DecodeError;
use crate::ring::Ring;

/// The values of `width` bits, `1 ≤ width ≤ 64`: `2^width − 1` (all ones for 64).
pub fn low_mask(width: u32) -> Ring {
    u64::MAX >> (64 - width)
}

/// Appends `w`-bit values little-endian into one bit stream, a 64-bit word at a time.
#[derive(Debug, Default)]
pub struct Packer {
    out: Vec<u8>,
    /// The `fill < 64` bits not yet written.
    acc: u64,
    fill: u32,
}

impl Packer {
    /// An empty stream with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        Packer {
            out: Vec::with_capacity(bytes.next_multiple_of(8)),
            ..Packer::default()
        }
    }

    /// Appends the low `width` bits of `v` (the caller has cleared the rest).
    #[inline]
    pub fn push(&mut self, v: Ring, width: u32) {
        self.acc |= v << self.fill;
        let end = self.fill + width;
        if end >= 64 {
            self.out.extend_from_slice(&self.acc.to_le_bytes());
            // The bits of v that did not fit: v >> (64 − fill), zero when fill = 0.
            self.acc = (v >> 1) >> (63 - self.fill);
            self.fill = end - 64;
        } else {
            self.fill = end;
        }
    }

    /// The stream as `ceil(bits / 8)` bytes, zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        let tail = self.fill.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..tail]);
        self.out
    }
}

/// Reads `w`-bit values back from a stream of exactly the length the reader expects, a
/// 64-bit word at a time.
#[derive(Debug)]
pub struct Unpacker<'a> {
    bytes: &'a [u8],
    /// The `fill < 64` bits read but not yet handed out.
    acc: u64,
    fill: u32,
}

impl<'a> Unpacker<'a> {
    /// A reader over one whole stream (its length already checked by the caller).
    pub fn new(bytes: &'a [u8]) -> Self {
        Unpacker {
            bytes,
            acc: 0,
            fill: 0,
        }
    }

    /// The next `width`-bit value; zero past the end (the caller sized the stream, and
    /// [`Unpacker::finish`] checks that it was consumed exactly).
    #[inline]
    pub fn pull(&mut self, width: u32) -> Ring {
        let mask = low_mask(width);
        if self.fill >= width {
            // Here width < 64.
            let v = self.acc & mask;
            self.acc >>= width;
            self.fill -= width;
            return v;
        }
        let word = self.word();
        let v = (self.acc | (word << self.fill)) & mask;
        // The word's bits past the `width − fill` just used: word >> used, used in 1..=64.
        let used = width - self.fill;
        self.acc = (word >> 1) >> (used - 1);
        self.fill = 64 - used;
        v
    }

    /// The next 8 bytes as a word, zero-padded at the end of the stream.
    #[inline]
    fn word(&mut self) -> u64 {
        if let Some((head, rest)) = self.bytes.split_first_chunk::<8>() {
            self.bytes = rest;
            return u64::from_le_bytes(*head);
        }
        let mut word = [0u8; 8];
        word[..self.bytes.len()].copy_from_slice(self.bytes);
        self.bytes = &[];
        u64::from_le_bytes(word)
    }

    /// Ends the stream: no byte may be left unread, and the padding bits must be zero.
    pub fn finish(self) -> Result<(), DecodeError> {
        if !self.bytes.is_empty() {
            return Err(DecodeError::Invalid {
                what: "packed values",
                detail: "the stream is longer than its values".into(),
            });
        }
        if self.acc != 0 {
            return Err(DecodeError::Invalid {
                what: "packed values",
                detail: "padding bits are set".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_any_width_round_trip_in_the_fewest_bytes() {
        let widths: Vec<u32> = (1..=64).chain([64, 1, 63, 7]).collect();
        let values: Vec<Ring> = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & low_mask(w))
            .collect();
        let mut p = Packer::default();
        widths.iter().zip(&values).for_each(|(&w, &v)| p.push(v, w));
        let bytes = p.finish();
        let bits: u32 = widths.iter().sum();
        assert_eq!(bytes.len(), bits.div_ceil(8) as usize);
        let mut u = Unpacker::new(&bytes);
        let back: Vec<Ring> = widths.iter().map(|&w| u.pull(w)).collect();
        assert_eq!(back, values);
        u.finish().unwrap();
    }

    #[test]
    fn set_padding_and_leftover_bytes_are_refused() {
        let mut p = Packer::default();
        p.push(5, 3);
        let mut bytes = p.finish();
        bytes[0] |= 0x80;
        let mut u = Unpacker::new(&bytes);
        assert_eq!(u.pull(3), 5);
        assert!(u.finish().is_err());
        let long = [0u8; 9];
        let mut u = Unpacker::new(&long);
        u.pull(3);
        assert!(u.finish().is_err());
    }
}
