use super::*;
use crate::channel::{MemTransport, Phase, Scope};
use crate::material::{deal, expand, LayerMaterial, SessionMasks};
use crate::plan::{LayerKind, Plan, PlanLayer};
use crate::prg::{Prg, Seed};
use crate::ring::truncate;
use crate::share::split;
use std::thread;

fn relu_plan(n: usize, fixed: FixedPoint) -> Plan {
    Plan {
        model: "relu".into(),
        input_shape: vec![n],
        input_range: (-1.0, 1.0),
        fixed,
        backend: crate::plan::Backend::Gmw,
        layers: vec![
            PlanLayer {
                name: "fc".into(),
                kind: LayerKind::Linear { rows: n, cols: n },
            },
            PlanLayer {
                name: "relu".into(),
                kind: LayerKind::ReluTrunc { len: n },
            },
        ],
    }
}

/// Runs the ReLU layer on `x` split into random shares; returns the opened output and
/// the server's and client's tallies.
fn run(x: &[u64], fixed: FixedPoint) -> (Vec<u64>, crate::channel::Tally, crate::channel::Tally) {
    let plan = relu_plan(x.len(), fixed);
    let masks = SessionMasks::expand(&plan, Seed::random());
    let (sm, cm) = deal(&plan, &masks);
    let take = |m: (Role, crate::material::MaterialMsg)| match expand(&plan, m.0, m.1)
        .unwrap()
        .layers
        .pop()
    {
        Some(LayerMaterial::Relu(r)) => r,
        _ => unreachable!(),
    };
    let (s_mat, c_mat) = (take((Role::Server, sm)), take((Role::Client, cm)));
    let (xs, xc) = split(x, &mut Prg::from_os());
    let (a, b) = MemTransport::pair();
    let scope = Scope::layer(Phase::Online, 1);
    let client = thread::spawn(move || {
        let mut ch = Channel::new(b);
        ch.enter(scope);
        let y = relu_trunc(&mut ch, Role::Client, fixed, &xc, c_mat).unwrap();
        ch.enter(Scope::CONTROL);
        (y, ch.meter().tally(scope))
    });
    let mut ch = Channel::new(a);
    ch.enter(scope);
    let ys = relu_trunc(&mut ch, Role::Server, fixed, &xs, s_mat).unwrap();
    ch.enter(Scope::CONTROL);
    let (yc, tc) = client.join().unwrap();
    (crate::share::add(&ys, &yc), ch.meter().tally(scope), tc)
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
    let mut rng = Prg::from_os();
    let bound = 1u64 << (fixed.k - 1);
    let xs: Vec<u64> = (0..300)
        .map(|_| (rng.next_u64() % (2 * bound - 1)).wrapping_sub(bound - 1))
        .collect();
    let (y, ts, tc) = run(&xs, fixed);
    let want: Vec<u64> = xs.iter().map(|&x| reference(x, fixed.f)).collect();
    assert_eq!(y, want);
    let sent = bytes_sent(fixed, xs.len()) as u64;
    assert_eq!((ts.sent, ts.received), (sent, sent));
    assert_eq!((tc.sent, tc.received), (sent, sent));
    // Both start level, every round is a simultaneous exchange: each adds exactly one.
    assert_eq!(ts.rounds(), rounds(fixed) as u64);
    assert_eq!(tc.rounds(), rounds(fixed) as u64);
}

#[test]
fn the_gate_count_stays_near_three_k() {
    let fixed = FixedPoint { f: 12, k: 32 };
    assert!(and_gates(fixed) <= 3 * 32 + 2 + 5, "{}", and_gates(fixed));
    assert_eq!(rounds(fixed), 1 + 5 + 2);
}

use rand_core::RngCore;
