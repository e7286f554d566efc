//! Known-answer tests of the plaintext fixed-point reference, computed by hand.

use veil_model::reference::{linear, max_pool_relu, min_bits, reference_observed, relu_trunc};
use veil_model::{calibrate, decode_output, lower, reference, Dense, FloatModel, Layer, Op};
use veil_plan::ring::{fits_signed, FixedPoint};
use veil_plan::{
    Image, LayerKind, Linear, LinearOp, LinearWeights, Plan, PlanLayer, SumPool, Weights, Window,
};

fn neg(v: i64) -> u64 {
    v as u64
}

const FIXED: FixedPoint = FixedPoint { f: 2, k: 10 };

/// x = [1.5, -0.75] at f = 2 is [6, -3].
///
/// fc1 (scale 4, bias at 16): W = [[1, -2], [0.25, 0.5], [-1, 1]] → [[4, -8], [1, 2], [-4, 4]],
/// b = [0.5625, 0.6875, 2.1875] → [9, 11, 35].
///   row 0: 4·6 + (−8)(−3) + 9 = 57  → ReLU, floor(57 / 4) = 14   (14.25 floors)
///   row 1: 1·6 + 2·(−3) + 11 = 11   → floor(11 / 4) = 2           (2.75 floors, not 3)
///   row 2: −4·6 + 4·(−3) + 35 = −1  → 0                           (ReLU first: not −1)
/// fc2: W = [[-1, 2, 3]] → [[-4, 8, 12]], b = [-0.1875] → [-3]:
///   −4·14 + 8·2 + 12·0 − 3 = −43, i.e. −2.6875 at scale 16.
fn hand_plan() -> (Plan, Weights) {
    let layer = |name: &str, kind| PlanLayer {
        name: name.into(),
        kind,
    };
    let plan = Plan {
        model: "hand".into(),
        input_shape: vec![1, 2],
        input_range: (-2.0, 2.0),
        fixed: FIXED,
        backend: veil_plan::Backend::Gmw,
        layers: vec![
            layer("fc1", LayerKind::dense(3, 2)),
            layer("relu", LayerKind::ReluTrunc { len: 3 }),
            layer("fc2", LayerKind::dense(1, 3)),
        ],
    };
    let weights = Weights {
        linear: vec![
            LinearWeights {
                w: vec![4, neg(-8), 1, 2, neg(-4), 4],
                bias: vec![9, 11, 35],
            },
            LinearWeights {
                w: vec![neg(-4), 8, 12],
                bias: vec![neg(-3)],
            },
        ],
    };
    (plan, weights)
}

fn hand_float() -> FloatModel {
    let dense = |rows, cols, weight: &[f64], bias: &[f64]| {
        Op::Dense(Dense {
            rows,
            cols,
            weight: weight.to_vec(),
            bias: bias.to_vec(),
        })
    };
    let layer = |name: &str, op| Layer {
        name: name.into(),
        op,
    };
    FloatModel {
        input_shape: vec![1, 2],
        input_range: (-2.0, 2.0),
        layers: vec![
            layer(
                "fc1",
                dense(
                    3,
                    2,
                    &[1.0, -2.0, 0.25, 0.5, -1.0, 1.0],
                    &[0.5625, 0.6875, 2.1875],
                ),
            ),
            layer("relu", Op::Relu),
            layer("fc2", dense(1, 3, &[-1.0, 2.0, 3.0], &[-0.1875])),
        ],
    }
}

#[test]
fn hand_computed_network() {
    let (plan, weights) = hand_plan();
    plan.validate().unwrap();
    weights.check(&plan).unwrap();
    let x = [6, neg(-3)];
    let mut seen = Vec::new();
    let out = reference_observed(&plan, &weights, &x, &mut |i, v| seen.push((i, v.to_vec())));
    assert_eq!(seen, vec![(1, vec![57, 11, neg(-1)])]);
    assert_eq!(out, vec![neg(-43)]);
    assert_eq!(reference(&plan, &weights, &x), out);
    assert_eq!(decode_output(&plan, &out), vec![-2.6875]);
}

#[test]
fn lowering_the_float_model_gives_the_hand_encoding() {
    let (plan, weights) = hand_plan();
    let (lowered, lowered_weights) = lower(&hand_float(), "hand", FIXED).unwrap();
    assert_eq!(lowered, plan);
    assert_eq!(lowered_weights, weights);
    // The float model, for comparison: the floors cost 0.3125 here.
    assert_eq!(hand_float().eval(&[1.5, -0.75]), vec![-2.375]);
}

#[test]
fn relu_trunc_is_relu_then_floor_shift() {
    assert_eq!(relu_trunc(neg(-1), 12), 0);
    assert_eq!(relu_trunc(neg(-4096), 12), 0);
    assert_eq!(relu_trunc(1 << 63, 12), 0);
    assert_eq!(relu_trunc(0, 12), 0);
    assert_eq!(relu_trunc(4095, 12), 0);
    assert_eq!(relu_trunc(4096, 12), 1);
    assert_eq!(relu_trunc(8191, 12), 1);
    assert_eq!(relu_trunc(i64::MAX as u64, 12), (i64::MAX >> 12) as u64);
}

#[test]
fn linear_wraps_in_the_ring() {
    let lw = LinearWeights {
        w: vec![u64::MAX, 2, 1 << 62, 1 << 62],
        bias: vec![u64::MAX, 5],
    };
    // x = [2^63, 1]: row 0 (−1)·2^63 + 2·1 − 1 = 2^63 + 1, row 1 2^62·2^63 + 2^62 + 5 = 2^62 + 5.
    assert_eq!(
        linear(&Linear::dense(2, 2), &lw, &[1 << 63, 1]),
        vec![(1 << 63) + 1, (1 << 62) + 5]
    );
    // x = [4, 0]: row 0 −4 − 1 = −5, row 1 2^62·4 + 5 = 5 (mod 2^64).
    assert_eq!(linear(&Linear::dense(2, 2), &lw, &[4, 0]), vec![neg(-5), 5]);
}

#[test]
fn calibration_reports_the_minimal_k() {
    let (plan, weights) = hand_plan();
    let inputs = [vec![6, neg(-3)], vec![0, 0]];
    let cal = calibrate(&plan, &weights, inputs.iter().map(Vec::as_slice));
    assert_eq!(cal.samples, 2);
    assert_eq!(cal.max_abs, 57);
    assert_eq!(cal.min_k, 7);
    assert!(fits_signed(57, cal.min_k) && !fits_signed(57, cal.min_k - 1));
    assert_eq!(cal.max_abs_real(FIXED), 57.0 / 16.0);
    // The zero input: fc1 gives the biases [9, 11, 35] → [2, 2, 8]; fc2 −8 + 16 + 96 − 3 = 101.
    assert_eq!((cal.output_max_abs, cal.output_min_k), (101, 8));
    for v in [
        0i64,
        1,
        -1,
        63,
        64,
        -64,
        -65,
        1 << 61,
        -(1 << 61) + 1,
        -(1 << 61),
    ] {
        let k = min_bits(v as u64);
        assert!(fits_signed(v as u64, k), "{v}: {k}");
        assert!(k == 1 || !fits_signed(v as u64, k - 1), "{v}: {k}");
    }
    // Beyond what `fits_signed` can check (k ≤ 63): |x| < 2^63 needs 64 bits, −2^63 needs 65.
    assert_eq!(min_bits(i64::MAX as u64), 64);
    assert_eq!(min_bits(1 << 63), 65);
}

/// A 3×3 image 1..9, a 2×2 kernel [[1, 0], [0, −1]] (scale 4), stride 2, padding 1 on
/// every side, bias 3 per output. The four windows, with the taps that fall inside:
///   (0,0): only x(0,0) = 1 under −4            → −4  + 3 = −1
///   (0,1): x(0,1) = 2 under 0, x(0,2) = 3 under −4 → −12 + 3 = −9
///   (1,0): x(1,0) = 4 under 0, x(2,0) = 7 under −4 → −28 + 3 = −25
///   (1,1): 4·5 − 4·9 = −16                      → −16 + 3 = −13
#[test]
fn conv_with_stride_and_padding_by_hand() {
    let layer = Linear {
        pool: None,
        op: LinearOp::Conv {
            input: Image { c: 1, h: 3, w: 3 },
            out_channels: 1,
            window: Window {
                size: [2, 2],
                stride: [2, 2],
                pads: [1; 4],
            },
        },
        residual: None,
    };
    let lw = LinearWeights {
        w: vec![4, 0, 0, neg(-4)],
        bias: vec![3; 4],
    };
    let x: Vec<u64> = (1..=9).collect();
    assert_eq!(
        linear(&layer, &lw, &x),
        vec![neg(-1), neg(-9), neg(-25), neg(-13)]
    );
    // The same image sum-pooled by that window first, then a 1×1 "conv" of weight 1.
    let pooled = Linear {
        pool: Some(SumPool {
            input: Image { c: 1, h: 3, w: 3 },
            window: Window {
                size: [2, 2],
                stride: [2, 2],
                pads: [1; 4],
            },
        }),
        op: LinearOp::Dense { rows: 1, cols: 4 },
        residual: None,
    };
    let ones = LinearWeights {
        w: vec![1, 1, 1, 1],
        bias: vec![0],
    };
    // Window sums 1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9.
    assert_eq!(linear(&pooled, &ones, &x), vec![1 + 5 + 11 + 28]);
}

/// Two channels of 2×3, a 2×2 window of stride 1, f = 2. Channel 0 is all negative (one
/// value is −2^63, one is u64::MAX = −1 as signed): both windows give 0. Channel 1:
/// max{12, −40, 30, 5} = 30 → 30 >> 2 = 7; max{−40, 7, 5, −2} = 7 → 1.
#[test]
fn max_pool_relu_compares_as_signed_and_floors() {
    let input = Image { c: 2, h: 2, w: 3 };
    let x = [
        neg(-5),
        neg(-3),
        1 << 63,
        neg(-2),
        neg(-7),
        u64::MAX,
        12,
        neg(-40),
        7,
        30,
        5,
        neg(-2),
    ];
    let window = Window::new([2, 2], [1, 1]);
    assert_eq!(max_pool_relu(input, window, &x, 2), vec![0, 0, 7, 1]);
}

/// x = [1.5, −0.75] = [6, −3] at f = 2. fc1 W = [[1, 0], [0, −1]] gives z = [24, 12];
/// ReLU and the shift by 2 give h = [6, 3]. fc2 W = [[1, 1], [−1, 0]], b = [1, −2] at 16:
/// [24 + 12 + 1, −24 − 2] = [37, −26]; the residual adds h·4 = [24, 12]: [61, −14], i.e.
/// [3.8125, −0.875], which is also the float result (fc2(h) + h with h = [1.5, 0.75]).
#[test]
fn residual_adds_the_earlier_output_at_double_scale() {
    let layer = |name: &str, kind| PlanLayer {
        name: name.into(),
        kind,
    };
    let mut fc2 = Linear::dense(2, 2);
    fc2.residual = Some(1);
    let plan = Plan {
        model: "skip".into(),
        input_shape: vec![1, 2],
        input_range: (-2.0, 2.0),
        fixed: FIXED,
        backend: veil_plan::Backend::Gmw,
        layers: vec![
            layer("fc1", LayerKind::dense(2, 2)),
            layer("relu", LayerKind::ReluTrunc { len: 2 }),
            layer("fc2", LayerKind::Linear(fc2)),
        ],
    };
    plan.validate().unwrap();
    let weights = Weights {
        linear: vec![
            LinearWeights {
                w: vec![4, 0, 0, neg(-4)],
                bias: vec![0, 0],
            },
            LinearWeights {
                w: vec![4, 4, neg(-4), 0],
                bias: vec![1, neg(-2)],
            },
        ],
    };
    weights.check(&plan).unwrap();
    let out = reference(&plan, &weights, &[6, neg(-3)]);
    assert_eq!(out, vec![61, neg(-14)]);
    assert_eq!(decode_output(&plan, &out), vec![3.8125, -0.875]);
}

/// A 1×1 conv of weight 1 then a max-pool over both values: for x = [25, −25] the
/// max-pool sees z = [100, −100] (7 bits of magnitude: k = 8), but compares
/// 100 − (−100) = 200, which needs k = 9.
#[test]
fn max_pool_differences_raise_min_k() {
    let image = Image { c: 1, h: 1, w: 2 };
    let conv = Linear {
        pool: None,
        op: LinearOp::Conv {
            input: image,
            out_channels: 1,
            window: Window::new([1, 1], [1, 1]),
        },
        residual: None,
    };
    let plan_with = |second| Plan {
        model: "pool".into(),
        input_shape: vec![1, 1, 1, 2],
        input_range: (-8.0, 8.0),
        fixed: FIXED,
        backend: veil_plan::Backend::Gmw,
        layers: vec![
            PlanLayer {
                name: "conv".into(),
                kind: LayerKind::Linear(conv),
            },
            PlanLayer {
                name: "second".into(),
                kind: second,
            },
        ],
    };
    let weights = Weights {
        linear: vec![LinearWeights {
            w: vec![4],
            bias: vec![0, 0],
        }],
    };
    let input = [25, neg(-25)];
    let relu = plan_with(LayerKind::ReluTrunc { len: 2 });
    let cal = calibrate(&relu, &weights, [&input[..]]);
    assert_eq!((cal.max_abs, cal.max_diff, cal.min_k), (100, 0, 8));
    let pool = plan_with(LayerKind::MaxPoolRelu {
        input: image,
        window: Window::new([1, 2], [1, 1]),
    });
    pool.validate().unwrap();
    let cal = calibrate(&pool, &weights, [&input[..]]);
    assert_eq!((cal.max_abs, cal.max_diff, cal.min_k), (100, 200, 9));
    assert!(cal.fits(9) && !cal.fits(8));
    assert_eq!(reference(&pool, &weights, &input), vec![25]);
}
