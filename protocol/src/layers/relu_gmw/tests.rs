use super::*;
use crate::channel::{MemTransport, Phase, Scope};
use crate::layers::both_sides;
use crate::plan::LayerKind;
use crate::prg::{Prg, Seed};
use crate::ring::truncate;
use crate::share::split;
use std::thread;

/// Runs the layer `kind` on `x` split into random shares; returns the opened output and
/// the server's and client's tallies.
fn run_kind(
    kind: LayerKind,
    x: &[u64],
    fixed: FixedPoint,
) -> (Vec<u64>, crate::channel::Tally, crate::channel::Tally) {
    let windows = kind.windows().unwrap();
    let mut rng = Prg::new(Seed::random());
    let (s_mat, c_mat) = both_sides(&ReluGmw::new(fixed, windows.clone(), 64), None, &mut rng);
    let (xs, xc) = split(x, &mut rng);
    let (a, b) = MemTransport::pair();
    let scope = Scope::layer(Phase::Online, 1);
    let client_windows = windows.clone();
    let client = thread::spawn(move || {
        let mut ch = Channel::new(b);
        ch.enter(scope);
        let y = relu_trunc(&mut ch, Role::Client, fixed, &client_windows, &xc, c_mat).unwrap();
        ch.enter(Scope::CONTROL);
        (y, ch.meter().tally(scope))
    });
    let mut ch = Channel::new(a);
    ch.enter(scope);
    let ys = relu_trunc(&mut ch, Role::Server, fixed, &windows, &xs, s_mat).unwrap();
    ch.enter(Scope::CONTROL);
    let (yc, tc) = client.join().unwrap();
    (crate::share::add(&ys, &yc), ch.meter().tally(scope), tc)
}

fn run(x: &[u64], fixed: FixedPoint) -> (Vec<u64>, crate::channel::Tally, crate::channel::Tally) {
    run_kind(LayerKind::ReluTrunc { len: x.len() }, x, fixed)
}

fn reference(x: u64, f: u32) -> u64 {
    if (x as i64) < 0 {
        0
    } else {
        truncate(x, f)
    }
}

#[test]
fn exact_at_the_boundaries_of_the_range() {
    for fixed in [
        FixedPoint { f: 12, k: 32 },
        FixedPoint { f: 5, k: 13 },
        FixedPoint { f: 16, k: 40 },
    ] {
        let max = (1u64 << (fixed.k - 1)) - 1;
        let half = 1u64 << fixed.f;
        let xs: Vec<u64> = [0, 1, max, half - 1, half, half + 1, max - 1]
            .iter()
            .flat_map(|&v| [v, v.wrapping_neg()])
            .collect();
        let (y, _, _) = run(&xs, fixed);
        let want: Vec<u64> = xs.iter().map(|&x| reference(x, fixed.f)).collect();
        assert_eq!(y, want, "fixed point {fixed:?}");
    }
}

#[test]
fn exact_on_random_values_and_bytes_and_rounds_match_the_formula() {
    let fixed = FixedPoint { f: 12, k: 32 };
    let mut rng = Prg::new(Seed::random());
    let bound = 1u64 << (fixed.k - 1);
    let xs: Vec<u64> = (0..300)
        .map(|_| (rng.next_u64() % (2 * bound - 1)).wrapping_sub(bound - 1))
        .collect();
    let (y, ts, tc) = run(&xs, fixed);
    let want: Vec<u64> = xs.iter().map(|&x| reference(x, fixed.f)).collect();
    assert_eq!(y, want);
    let sent = bytes_sent(fixed, 1, xs.len()) as u64;
    assert_eq!((ts.sent, ts.received), (sent, sent));
    assert_eq!((tc.sent, tc.received), (sent, sent));
    // Both start level, every round is a simultaneous exchange: each adds exactly one.
    assert_eq!(ts.rounds(), rounds(fixed, 1) as u64);
    assert_eq!(tc.rounds(), rounds(fixed, 1) as u64);
}

#[test]
fn max_pool_relu_is_exact_with_ties_negatives_and_overlapping_windows() {
    use crate::plan::{Image, Window};
    let fixed = FixedPoint { f: 8, k: 26 };
    let mut rng = Prg::new(Seed::random());
    // Values within ±2^(k−2): every difference fits k bits, as calibration ensures.
    let bound = 1u64 << (fixed.k - 2);
    for (input, window) in [
        (Image { c: 3, h: 4, w: 6 }, Window::new([2, 2], [2, 2])),
        (Image { c: 2, h: 5, w: 5 }, Window::new([3, 3], [2, 2])),
        (Image { c: 1, h: 3, w: 4 }, Window::new([1, 2], [1, 1])),
    ] {
        let kind = LayerKind::MaxPoolRelu { input, window };
        let mut xs: Vec<u64> = (0..input.len())
            .map(|_| (rng.next_u64() % (2 * bound - 1)).wrapping_sub(bound - 1))
            .collect();
        // A window of equal values, one of negatives, one at the range's ends.
        xs[..4].iter_mut().for_each(|v| *v = 5 << fixed.f);
        xs[4] = (bound - 1).wrapping_neg();
        xs[5] = bound - 1;
        let (y, ts, tc) = run_kind(kind.clone(), &xs, fixed);
        let w = kind.windows().unwrap();
        let want: Vec<u64> = w
            .index
            .chunks(w.m)
            .map(|c| {
                let max = c.iter().map(|&i| xs[i] as i64).max().unwrap();
                reference(max as u64, fixed.f)
            })
            .collect();
        assert_eq!(y, want, "{input:?} {window:?}");
        let sent = bytes_sent(fixed, w.m, w.outputs()) as u64;
        assert_eq!((ts.sent, tc.sent), (sent, sent));
        assert_eq!(ts.rounds(), rounds(fixed, w.m) as u64);
    }
}

#[test]
fn the_gate_count_stays_near_three_k() {
    let fixed = FixedPoint { f: 12, k: 32 };
    assert!(
        and_gates(fixed, 1, 1) <= 3 * 32 + 2 + 5,
        "{}",
        and_gates(fixed, 1, 1)
    );
    assert_eq!(rounds(fixed, 1), 1 + 5 + 2);
    // A 2x2 window: ten carry circuits (four values, six differences), twelve selection
    // ANDs and eight closing ANDs per output, in two more rounds.
    assert_eq!(
        and_gates(fixed, 4, 1),
        10 * (and_gates(fixed, 1, 1) - 2) + 12 + 8
    );
    assert_eq!(rounds(fixed, 4), rounds(fixed, 1) + 2);
}

use rand_core::RngCore;
