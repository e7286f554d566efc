//! The scheme's objects as bytes: polynomials at Q (54 bits a residue) and switched
//! coefficients (a given number of bits each), packed little-endian bit after bit. Every
//! read checks its length and its values (a residue below its prime, a coefficient below
//! its modulus) before anything is kept.

use super::params::{K, N, PRIMES, PRIME_BITS};
use super::poly::Poly;
use crate::codec::{DecodeError, Reader, Writer};

/// Bits packed into bytes, least significant first.
#[derive(Default)]
struct Packer {
    bytes: Vec<u8>,
    acc: u128,
    bits: u32,
}

impl Packer {
    fn push(&mut self, value: u128, width: u32) {
        // At most 64 bits at a time, so that the accumulator never overflows.
        let (low, high) = (width.min(64), width.saturating_sub(64));
        self.push64(value as u64 & mask64(low), low);
        if high > 0 {
            self.push64((value >> 64) as u64 & mask64(high), high);
        }
    }

    fn push64(&mut self, value: u64, width: u32) {
        self.acc |= (value as u128) << self.bits;
        self.bits += width;
        while self.bits >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

fn mask64(width: u32) -> u64 {
    match width {
        64 => u64::MAX,
        w => (1u64 << w) - 1,
    }
}

/// Bytes of `count` values of `width` bits.
pub fn packed_len(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

/// Appends `values`, each below `2^width`.
pub fn put_ints(w: &mut Writer, values: &[u128], width: u32) {
    let mut p = Packer::default();
    values.iter().for_each(|&v| p.push(v, width));
    w.bytes(&p.finish());
}

/// Reads `count` values of `width` bits (`width ≤ 128`).
pub fn get_ints(
    r: &mut Reader<'_>,
    count: usize,
    width: u32,
    what: &'static str,
) -> Result<Vec<u128>, DecodeError> {
    let bytes = r.take(packed_len(count, width), what)?;
    let mut out = Vec::with_capacity(count);
    let (mut acc, mut bits, mut next) = (0u128, 0u32, 0usize);
    for _ in 0..count {
        let mut value = 0u128;
        let mut filled = 0u32;
        while filled < width {
            if bits == 0 {
                acc = bytes[next] as u128;
                next += 1;
                bits = 8;
            }
            let take = bits.min(width - filled);
            value |= (acc & ((1u128 << take) - 1)) << filled;
            acc >>= take;
            bits -= take;
            filled += take;
        }
        out.push(value);
    }
    // The last byte's unused bits must be zero: one encoding per value.
    if bits > 0 && acc != 0 {
        return Err(DecodeError::Invalid {
            what,
            detail: "nonzero padding bits".into(),
        });
    }
    Ok(out)
}

/// Bytes of one polynomial at Q.
pub const POLY_BYTES: usize = (N * K * PRIME_BITS as usize) / 8;

/// Appends a polynomial at Q (coefficient form), prime after prime.
pub fn put_poly(w: &mut Writer, p: &Poly) {
    let values: Vec<u128> = p.0.iter().map(|&x| x as u128).collect();
    put_ints(w, &values, PRIME_BITS);
}

/// Reads a polynomial at Q; every residue must lie below its prime.
pub fn get_poly(r: &mut Reader<'_>, what: &'static str) -> Result<Poly, DecodeError> {
    let values = get_ints(r, K * N, PRIME_BITS, what)?;
    let mut p = Poly::zero();
    for (i, &q) in PRIMES.iter().enumerate() {
        for (dst, &v) in p.limb_mut(i).iter_mut().zip(&values[i * N..(i + 1) * N]) {
            if v >= q as u128 {
                return Err(DecodeError::Invalid {
                    what,
                    detail: "a residue is not below its prime".into(),
                });
            }
            *dst = v as u64;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_at_any_width_and_damage_is_refused() {
        for width in [1, 7, 54, 64, 65, 79] {
            let top = if width == 128 {
                u128::MAX
            } else {
                (1u128 << width) - 1
            };
            let values: Vec<u128> = (0..13).map(|i| top / (i + 1)).collect();
            let mut w = Writer::default();
            put_ints(&mut w, &values, width);
            let bytes = w.into_bytes();
            assert_eq!(bytes.len(), packed_len(13, width));
            let mut r = Reader::new(&bytes);
            assert_eq!(get_ints(&mut r, 13, width, "ints").unwrap(), values);
            r.finish().unwrap();
            assert!(get_ints(&mut Reader::new(&bytes[1..]), 13, width, "ints").is_err());
        }
        // Padding bits must be zero.
        assert!(get_ints(&mut Reader::new(&[0xff]), 1, 7, "ints").is_err());
        // A residue at or above its prime is refused.
        let mut w = Writer::default();
        put_ints(&mut w, &vec![PRIMES[0] as u128; K * N], PRIME_BITS);
        assert!(get_poly(&mut Reader::new(&w.into_bytes()), "poly").is_err());
    }
}
