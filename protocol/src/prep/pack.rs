//! Packing ring values of `w ≤ 64` meaningful bits back to back, so that a vector-OT
//! correction of n values costs ceil(n·w / 8) bytes, not 8n.

use crate::codec::DecodeError;
use crate::ring::Ring;

/// The values of `width` bits, `1 ≤ width ≤ 64`: `2^width − 1` (all ones for 64).
pub fn low_mask(width: u32) -> Ring {
    u64::MAX >> (64 - width)
}

/// Appends `w`-bit values little-endian into one bit stream of a size fixed up front.
/// Each push stores its word whether or not it is full, so the loop has no data-dependent
/// branch (the widths of a Gilboa OT defeat the branch predictor).
#[derive(Debug)]
pub struct Packer {
    out: Vec<u8>,
    /// The word being filled: its index, and its `fill < 64` low bits so far.
    word: usize,
    acc: u64,
    fill: u32,
}

impl Packer {
    /// An empty stream for at most `bytes` bytes of values, in the buffer `out` (say, the
    /// last stream's, so that a frame needs no fresh allocation). Its old bytes are never
    /// read: every word up to the last is stored before [`Packer::finish`] cuts the
    /// stream there.
    pub fn reusing(mut out: Vec<u8>, bytes: usize) -> Self {
        // One spare word: the last push stores the (empty) word after the last.
        out.resize(bytes.next_multiple_of(8) + 8, 0);
        Packer {
            out,
            word: 0,
            acc: 0,
            fill: 0,
        }
    }

    /// Appends the low `width` bits of `v` (the caller has cleared the rest).
    ///
    /// # Panics
    /// Past the capacity given at construction (a caller bug).
    #[inline]
    pub fn push(&mut self, v: Ring, width: u32) {
        let low = self.acc | (v << self.fill);
        // The bits of v that do not fit: v >> (64 − fill), zero when fill = 0.
        let high = (v >> 1) >> (63 - self.fill);
        self.out[8 * self.word..8 * self.word + 8].copy_from_slice(&low.to_le_bytes());
        let end = self.fill + width;
        let full = (end >> 6) as usize;
        self.acc = if full == 1 { high } else { low };
        self.word += full;
        self.fill = end & 63;
    }

    /// The stream as `ceil(bits / 8)` bytes, zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        let at = 8 * self.word;
        self.out[at..at + 8].copy_from_slice(&self.acc.to_le_bytes());
        self.out.truncate(at + self.fill.div_ceil(8) as usize);
        self.out
    }
}

/// Reads `w`-bit values back from a stream of exactly the length the reader expects, two
/// unaligned 8-byte loads per value and no data-dependent branch.
#[derive(Debug)]
pub struct Unpacker<'a> {
    bytes: &'a [u8],
    /// Bits handed out so far.
    at: usize,
}

impl<'a> Unpacker<'a> {
    /// A reader over one whole stream (its length already checked by the caller).
    pub fn new(bytes: &'a [u8]) -> Self {
        Unpacker { bytes, at: 0 }
    }

    /// The next `width`-bit value; zero past the end (the caller sized the stream, and
    /// [`Unpacker::finish`] checks that it was consumed exactly).
    #[inline]
    pub fn pull(&mut self, width: u32) -> Ring {
        let (byte, shift) = (self.at / 8, (self.at % 8) as u32);
        // Bits at..at + 64 − shift, then the rest (at most 7 bits) from 8 bytes on.
        let low = self.load(byte) >> shift;
        let high = (self.load(byte + 8) << 1) << (63 - shift);
        self.at += width as usize;
        (low | high) & low_mask(width)
    }

    /// The 8 bytes from `at` as a little-endian word, zero-padded past the end.
    #[inline]
    fn load(&self, at: usize) -> u64 {
        match self.bytes.get(at..at + 8) {
            Some(b) => {
                let mut w = [0u8; 8];
                w.copy_from_slice(b);
                u64::from_le_bytes(w)
            }
            None => {
                let tail = self.bytes.get(at..).unwrap_or(&[]);
                let mut w = [0u8; 8];
                w[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(w)
            }
        }
    }

    /// Ends the stream: no byte may be left unread, and the padding bits must be zero.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.len() != self.at.div_ceil(8) {
            return Err(DecodeError::Invalid {
                what: "packed values",
                detail: "the stream's length differs from its values'".into(),
            });
        }
        if self.load(self.at / 8) >> (self.at % 8) != 0 {
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
        let bits: u32 = widths.iter().sum();
        let mut p = Packer::reusing(Vec::new(), bits.div_ceil(8) as usize);
        widths.iter().zip(&values).for_each(|(&w, &v)| p.push(v, w));
        let bytes = p.finish();
        assert_eq!(bytes.len(), bits.div_ceil(8) as usize);
        let mut u = Unpacker::new(&bytes);
        let back: Vec<Ring> = widths.iter().map(|&w| u.pull(w)).collect();
        assert_eq!(back, values);
        u.finish().unwrap();
        // A reused buffer full of ones gives the same stream.
        let mut p = Packer::reusing(vec![0xff; 3 * bytes.len()], bytes.len());
        widths.iter().zip(&values).for_each(|(&w, &v)| p.push(v, w));
        assert_eq!(p.finish(), bytes);
    }

    #[test]
    fn set_padding_and_leftover_bytes_are_refused() {
        let mut p = Packer::reusing(Vec::new(), 1);
        p.push(5, 3);
        let mut bytes = p.finish();
        bytes[0] |= 0x80;
        let mut u = Unpacker::new(&bytes);
        assert_eq!(u.pull(3), 5);
        assert!(u.finish().is_err());
        for long in [&[0u8; 9][..], &[0u8; 2]] {
            let mut u = Unpacker::new(long);
            u.pull(3);
            assert!(u.finish().is_err(), "{} bytes for 3 bits", long.len());
        }
    }
}
