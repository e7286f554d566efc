use super::*;
use crate::{Bits, Counter, Plain};
use proptest::prelude::*;

/// The three bits by integer arithmetic.
fn expected(x: u64, y: u64, k: u32, f: u32) -> (bool, bool, bool) {
    let mask = (1u128 << k) - 1;
    let sum = x as u128 + y as u128;
    let msb = (sum & mask) >> (k - 1) & 1 == 1;
    let fmask = (1u128 << f) - 1;
    let carry_f = ((x as u128 & fmask) + (y as u128 & fmask)) >> f == 1;
    let wrap = sum >> k & 1 == 1;
    (msb, carry_f, wrap)
}

fn check(xs: &[u64], ys: &[u64], k: u32, f: u32) {
    let mask = (1u64 << k) - 1;
    let xs: Vec<u64> = xs.iter().map(|v| v & mask).collect();
    let ys: Vec<u64> = ys.iter().map(|v| v & mask).collect();
    let out = sign_and_carries(
        &mut Plain,
        &Bits::slice_all(&xs, k),
        &Bits::slice_all(&ys, k),
        f as usize,
    )
    .unwrap();
    for i in 0..xs.len() {
        let (msb, carry_f, wrap) = expected(xs[i], ys[i], k, f);
        let got = (out.msb.get(i), out.carry_f.get(i), out.wrap.get(i));
        assert_eq!(
            got,
            (msb, carry_f, wrap),
            "x={} y={} k={k} f={f}",
            xs[i],
            ys[i]
        );
    }
}

#[test]
fn boundaries_of_the_signed_range() {
    for k in [3u32, 8, 17, 31, 32, 33, 40] {
        let max = (1u64 << (k - 1)) - 1;
        // Shares (x, y) of values 0, ±1, ±max with several splits.
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for v in [0u64, 1, max, 1u64.wrapping_neg(), max.wrapping_neg()] {
            for share in [0u64, 1, max, max + 1, (1 << k) - 1, 0x5555_5555_5555] {
                xs.push(share);
                ys.push(v.wrapping_sub(share));
            }
        }
        for f in [1, k / 2, k - 1] {
            check(&xs, &ys, k, f);
        }
    }
}

proptest! {
    #[test]
    fn matches_integer_arithmetic(
        pairs in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..150),
        k in 2u32..=48,
        f_frac in 0.0f64..1.0,
    ) {
        let f = 1 + ((k - 2) as f64 * f_frac) as u32;
        let (xs, ys): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
        check(&xs, &ys, k, f);
    }
}

#[test]
fn about_three_k_ands_in_log_depth() {
    for (k, f) in [(32usize, 12usize), (31, 12), (24, 8), (16, 6), (40, 16)] {
        let mut c = Counter::new();
        let w = vec![c.input(); k];
        sign_and_carries(&mut c, &w, &w, f).unwrap();
        let count = c.count();
        let log = (k as f64).log2().ceil() as usize;
        assert!(count.ands <= 3 * k + log, "k={k}: {} ANDs", count.ands);
        assert_eq!(count.batches, 1 + log, "k={k}");
        assert_eq!(c.depth(), 1 + log, "k={k}");
    }
}

#[test]
fn bad_widths_are_errors() {
    let w = Bits::slice_all(&[1, 2], 8);
    assert!(sign_and_carries(&mut Plain, &w, &w[..7], 3).is_err());
    assert!(sign_and_carries(&mut Plain, &w, &w, 8).is_err());
    assert!(sign_and_carries(&mut Plain, &w, &w, 0).is_err());
}

proptest! {
    #[test]
    fn sign_is_the_top_bit_of_the_sum(
        pairs in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..100),
        k in 2u32..=64,
    ) {
        let mask = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
        let (xs, ys): (Vec<u64>, Vec<u64>) =
            pairs.iter().map(|(x, y)| (x & mask, y & mask)).unzip();
        let (xw, yw) = (Bits::slice_all(&xs, k), Bits::slice_all(&ys, k));
        let msb = sign(&mut Plain, &xw, &yw).unwrap();
        for i in 0..xs.len() {
            prop_assert_eq!(msb.get(i), expected(xs[i], ys[i], k, 1).0);
        }
    }
}

#[test]
fn sign_costs_under_three_k_ands_in_log_depth() {
    let mut c = Counter::new();
    let w = vec![c.input(); 64];
    sign(&mut c, &w, &w).unwrap();
    assert!(c.count().ands <= 3 * 64, "{:?}", c.count());
    assert_eq!(c.count().batches, 1 + 6);
}
