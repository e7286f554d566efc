//! The ring Z_{2^64} and veil's fixed-point encoding on it.
//!
//! Every secret value lives in wrapping `u64` arithmetic read as two's complement. A real
//! number `x` is encoded as `round(x · 2^f)`; a product of two encodings carries `2f`
//! fraction bits until a truncation (a floor shift by `f`) brings it back.

/// An element of Z_{2^64}.
pub type Ring = u64;

/// Fixed-point parameters of one model: `f` fraction bits, and `k`, the bit width that
/// every pre-truncation value fits in as a signed number (|x| < 2^(k-1)).
///
/// Non-linear circuits work on the low `k` bits of the shares only, so their cost scales
/// with `k`, not with 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedPoint {
    /// Fraction bits of an encoded value.
    pub f: u32,
    /// Signed bit width of every value a circuit sees (before truncation: `2f` fraction bits).
    pub k: u32,
}

impl FixedPoint {
    /// Checks the parameters make sense: `0 < f`, `2f < k ≤ 62`.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.f == 0 || self.f > 24 {
            return Err("fraction bits f must be in 1..=24");
        }
        if self.k <= 2 * self.f || self.k > 62 {
            return Err("bit width k must exceed 2f and be at most 62");
        }
        Ok(())
    }

    /// Encodes a real at scale 2^f, rounding to nearest.
    pub fn encode(&self, x: f64) -> Ring {
        encode_at(x, self.f)
    }

    /// Encodes a real at scale 2^(2f), as a bias added to products is.
    pub fn encode_double(&self, x: f64) -> Ring {
        encode_at(x, 2 * self.f)
    }

    /// Decodes a value at scale 2^f.
    pub fn decode(&self, x: Ring) -> f64 {
        decode_at(x, self.f)
    }

    /// Decodes a value at scale 2^(2f) (a product not yet truncated).
    pub fn decode_double(&self, x: Ring) -> f64 {
        decode_at(x, 2 * self.f)
    }
}

/// Encodes `x` as `round(x · 2^frac)` in two's complement.
pub fn encode_at(x: f64, frac: u32) -> Ring {
    ((x * 2f64.powi(frac as i32)).round() as i64) as u64
}

/// Decodes a two's-complement value with `frac` fraction bits.
pub fn decode_at(x: Ring, frac: u32) -> f64 {
    (x as i64) as f64 / 2f64.powi(frac as i32)
}

/// The signed floor shift that defines truncation: `floor(x / 2^f)` on two's complement.
pub fn truncate(x: Ring, f: u32) -> Ring {
    ((x as i64) >> f) as u64
}

/// The low `k` bits of `x`.
pub fn low_bits(x: Ring, k: u32) -> Ring {
    if k >= 64 {
        x
    } else {
        x & ((1u64 << k) - 1)
    }
}

/// True if `x`, read as signed, satisfies |x| < 2^(k-1).
pub fn fits_signed(x: Ring, k: u32) -> bool {
    if k >= 64 {
        return x as i64 != i64::MIN;
    }
    let v = x as i64;
    let bound = 1i64 << (k - 1);
    v > -bound && v < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips_and_rounds_to_nearest() {
        let fp = FixedPoint { f: 12, k: 32 };
        assert_eq!(fp.encode(1.0), 4096);
        assert_eq!(fp.encode(-1.0), (-4096i64) as u64);
        assert_eq!(fp.encode(0.5 / 4096.0 + 1e-9), 1);
        assert_eq!(fp.decode(fp.encode(-3.25)), -3.25);
        assert_eq!(fp.decode_double(fp.encode_double(0.125)), 0.125);
    }

    #[test]
    fn truncation_is_a_floor_shift() {
        assert_eq!(truncate(7, 1), 3);
        assert_eq!(truncate((-7i64) as u64, 1), (-4i64) as u64);
        assert_eq!(truncate((-1i64) as u64, 12), (-1i64) as u64);
    }

    #[test]
    fn fits_signed_at_the_boundaries() {
        let k = 20;
        let max = (1u64 << (k - 1)) - 1;
        assert!(fits_signed(max, k));
        assert!(fits_signed(max.wrapping_neg(), k));
        assert!(!fits_signed(max + 1, k));
        assert!(!fits_signed((max + 1).wrapping_neg(), k));
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(FixedPoint { f: 12, k: 32 }.validate().is_ok());
        assert!(FixedPoint { f: 0, k: 32 }.validate().is_err());
        assert!(FixedPoint { f: 16, k: 32 }.validate().is_err());
        assert!(FixedPoint { f: 12, k: 63 }.validate().is_err());
    }
}
