//! Arithmetic modulo one word-sized prime: products through `u128`, and Shoup's
//! precomputed multiplication for a constant operand (one `u128` product and one
//! correction, no division), which the NTT's twiddle factors and the plaintext weights use.
//!
//! The corrections are branch-free (a mask from the sign bit, `q < 2^63`): on random
//! residues a branch is mispredicted half the time, which made the NTT four times slower.

/// `a · b mod q`.
#[inline]
pub fn mul(a: u64, b: u64, q: u64) -> u64 {
    ((a as u128 * b as u128) % q as u128) as u64
}

/// `x mod q` for `x < 2q`.
#[inline]
fn reduce_once(x: u64, q: u64) -> u64 {
    let t = x.wrapping_sub(q);
    t.wrapping_add(q & ((t as i64 >> 63) as u64))
}

/// `a + b mod q`, for `a, b < q`.
#[inline]
pub fn add(a: u64, b: u64, q: u64) -> u64 {
    reduce_once(a + b, q)
}

/// `a − b mod q`, for `a, b < q`.
#[inline]
pub fn sub(a: u64, b: u64, q: u64) -> u64 {
    let d = a.wrapping_sub(b);
    d.wrapping_add(q & ((d as i64 >> 63) as u64))
}

/// `a^e mod q`.
pub fn pow(mut a: u64, mut e: u64, q: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, a, q);
        }
        a = mul(a, a, q);
        e >>= 1;
    }
    r
}

/// `a⁻¹ mod q`, `q` prime and `a ≠ 0 mod q`.
pub fn inv(a: u64, q: u64) -> u64 {
    pow(a, q - 2, q)
}

/// A constant `w < q` with its Shoup quotient `⌊w · 2^64 / q⌋`: multiplying by it costs a
/// high product and a correction.
#[derive(Clone, Copy, Debug)]
pub struct Shoup {
    /// The constant.
    pub w: u64,
    /// `⌊w · 2^64 / q⌋`.
    pub quotient: u64,
}

impl Shoup {
    /// The constant `w` (reduced below `q`) for the modulus `q < 2^63`.
    pub fn new(w: u64, q: u64) -> Shoup {
        let w = w % q;
        Shoup {
            w,
            quotient: (((w as u128) << 64) / q as u128) as u64,
        }
    }

    /// `a · w mod q`, for any `a < 2^64`.
    #[inline]
    pub fn mul(self, a: u64, q: u64) -> u64 {
        let hi = ((a as u128 * self.quotient as u128) >> 64) as u64;
        reduce_once(a.wrapping_mul(self.w).wrapping_sub(hi.wrapping_mul(q)), q)
    }
}

/// A signed integer reduced into `[0, q)`.
#[inline]
pub fn from_signed(x: i64, q: u64) -> u64 {
    if x >= 0 {
        x as u64 % q
    } else {
        let r = x.unsigned_abs() % q;
        if r == 0 {
            0
        } else {
            q - r
        }
    }
}

/// A signed 128-bit integer reduced into `[0, q)`.
#[inline]
pub fn from_signed_wide(x: i128, q: u64) -> u64 {
    let r = (x.unsigned_abs() % q as u128) as u64;
    if x >= 0 || r == 0 {
        r
    } else {
        q - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = 18014398508400641;

    #[test]
    fn shoup_agrees_with_plain_products() {
        for (a, w) in [
            (0, 5),
            (Q - 1, Q - 1),
            (u64::MAX, 12345),
            (987654321987, Q / 3),
        ] {
            assert_eq!(Shoup::new(w, Q).mul(a, Q), mul(a % Q, w, Q), "{a} · {w}");
        }
    }

    proptest::proptest! {
        /// The branch-free corrections agree with plain reduction, edges included.
        #[test]
        fn sums_and_differences_agree_with_wide_arithmetic(
            a in proptest::prop_oneof![0..Q, Q - 3..Q],
            b in proptest::prop_oneof![0..Q, Q - 3..Q],
        ) {
            let (wa, wb, wq) = (a as u128, b as u128, Q as u128);
            proptest::prop_assert_eq!(add(a, b, Q) as u128, (wa + wb) % wq);
            proptest::prop_assert_eq!(sub(a, b, Q) as u128, (wa + wq - wb) % wq);
        }
    }

    #[test]
    fn inverse_and_signed_reduction() {
        assert_eq!(mul(inv(12345, Q), 12345, Q), 1);
        assert_eq!(from_signed(-1, Q), Q - 1);
        assert_eq!(from_signed(-(Q as i64), Q), 0);
        assert_eq!(from_signed_wide(-3, Q), Q - 3);
        assert_eq!(add(Q - 1, 2, Q), 1);
        assert_eq!(sub(1, 2, Q), Q - 1);
    }
}
