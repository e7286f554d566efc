//! Packing bit vectors back to back, so a message of m·n bits takes ceil(m·n / 8) bytes.

use veil_circuits::Bits;

use crate::codec::DecodeError;

/// Appends bit vectors into one contiguous little-endian bit stream.
#[derive(Default)]
pub struct BitWriter {
    words: Vec<u64>,
    bits: usize,
}

impl BitWriter {
    /// Appends all `b.len` bits of `b`.
    pub fn push(&mut self, b: &Bits) {
        let shift = self.bits % 64;
        for (i, &w) in b.words.iter().enumerate() {
            let valid = (b.len - 64 * i).min(64);
            let w = if valid == 64 {
                w
            } else {
                w & ((1u64 << valid) - 1)
            };
            if shift == 0 {
                self.words.push(w);
            } else {
                *self.words.last_mut().expect("a partial word exists") |= w << shift;
                if valid + shift > 64 {
                    self.words.push(w >> (64 - shift));
                }
            }
            self.bits += valid;
        }
    }

    /// Total bits pushed.
    pub fn len(&self) -> usize {
        self.bits
    }

    /// True if nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The stream as `ceil(bits / 8)` bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        out.truncate(self.bits.div_ceil(8));
        out
    }
}

/// Splits a bit stream back into vectors of the given lengths. The stream must be exactly
/// `ceil(sum / 8)` bytes with zero padding.
pub fn read_bits(bytes: &[u8], lens: &[usize]) -> Result<Vec<Bits>, DecodeError> {
    let total: usize = lens.iter().sum();
    if bytes.len() != total.div_ceil(8) {
        return Err(DecodeError::Invalid {
            what: "bit stream",
            detail: format!("expected {} bytes, got {}", total.div_ceil(8), bytes.len()),
        });
    }
    let mut words = vec![0u64; total.div_ceil(64) + 1];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(le);
    }
    if !total.is_multiple_of(8) && bytes.last().is_some_and(|b| b >> (total % 8) != 0) {
        return Err(DecodeError::Invalid {
            what: "bit stream",
            detail: "padding bits are set".into(),
        });
    }
    let mut out = Vec::with_capacity(lens.len());
    let mut pos = 0;
    for &len in lens {
        let mut b = Bits::zeros(len);
        for (j, w) in b.words.iter_mut().enumerate() {
            let at = pos + 64 * j;
            let (q, r) = (at / 64, at % 64);
            *w = if r == 0 {
                words[q]
            } else {
                words[q] >> r | words[q + 1] << (64 - r)
            };
        }
        b.mask_tail();
        out.push(b);
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_any_lengths(
            vecs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 0..200), 0..8)
        ) {
            let bits: Vec<Bits> = vecs.iter().map(|v| {
                let mut b = Bits::zeros(v.len());
                for (i, x) in v.iter().enumerate() { b.set(i, *x); }
                b
            }).collect();
            let mut w = BitWriter::default();
            bits.iter().for_each(|b| w.push(b));
            let lens: Vec<usize> = bits.iter().map(|b| b.len).collect();
            let total: usize = lens.iter().sum();
            let bytes = w.into_bytes();
            prop_assert_eq!(bytes.len(), total.div_ceil(8));
            prop_assert_eq!(read_bits(&bytes, &lens).unwrap(), bits);
        }
    }

    #[test]
    fn wrong_lengths_and_set_padding_are_refused() {
        assert!(read_bits(&[0, 0], &[3]).is_err());
        assert!(read_bits(&[0b1000], &[3]).is_err());
        assert!(read_bits(&[0b0111], &[3]).is_ok());
    }
}
