use super::*;
use crate::ir::{Conv, Dense};

const FIXED: FixedPoint = FixedPoint { f: 8, k: 24 };

fn layer(name: &str, op: Op) -> Layer {
    Layer {
        name: name.into(),
        op,
    }
}

fn dense(rows: usize, cols: usize) -> Op {
    Op::Dense(Dense {
        rows,
        cols,
        weight: (0..rows * cols).map(|i| i as f64 / 8.0 - 0.5).collect(),
        bias: (0..rows).map(|i| i as f64 / 4.0).collect(),
    })
}

fn mlp() -> FloatModel {
    FloatModel {
        input_shape: vec![1, 1, 2, 2],
        input_range: (0.0, 1.0),
        layers: vec![
            layer("flatten", Op::Flatten { shape: vec![1, 4] }),
            layer("fc1", dense(3, 4)),
            layer("relu", Op::Relu),
            layer("fc2", dense(2, 3)),
        ],
    }
}

#[test]
fn lowers_to_linear_and_relu_trunc() {
    let (plan, weights) = lower(&mlp(), "tiny", FIXED).unwrap();
    let kinds: Vec<_> = plan.layers.iter().map(|l| l.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            LayerKind::dense(3, 4),
            LayerKind::ReluTrunc { len: 3 },
            LayerKind::dense(2, 3),
        ]
    );
    assert_eq!(plan.layers[0].name, "fc1");
    assert_eq!(weights.linear[0].w[0], FIXED.encode(-0.5));
    assert_eq!(weights.linear[0].bias[1], FIXED.encode_double(0.25));
    assert_eq!(weights.linear[0].bias[1], 1 << 14);
}

#[test]
fn refuses_bad_names_huge_weights_and_bad_plans() {
    assert!(lower(&mlp(), "", FIXED).is_err());
    assert!(lower(&mlp(), &"m".repeat(300), FIXED).is_err());
    let mut m = mlp();
    if let Op::Dense(d) = &mut m.layers[1].op {
        d.weight[0] = 1e300;
    }
    assert!(matches!(
        lower(&m, "m", FIXED),
        Err(ModelError::Tensor { .. })
    ));
    let mut m = mlp();
    m.layers.remove(2);
    assert!(matches!(lower(&m, "m", FIXED), Err(ModelError::Plan(_))));
    assert!(matches!(
        lower(&mlp(), "m", FixedPoint { f: 8, k: 10 }),
        Err(ModelError::FixedPoint { .. })
    ));
    assert_eq!(clip(&"é".repeat(200)).len(), 256);
}

const IMAGE: Image = Image { c: 1, h: 4, w: 4 };
const HALF: Image = Image { c: 2, h: 2, w: 2 };

fn conv(input: Image, out_channels: usize, window: Window, bias: &[f64]) -> Op {
    let n = out_channels * input.c * window.area();
    Op::Conv(Conv {
        input,
        out_channels,
        window,
        weight: (0..n).map(|i| i as f64 / 16.0).collect(),
        bias: bias.to_vec(),
    })
}

/// conv 3×3 pad 1 → relu → max-pool 2×2 → conv 1×1 → + max-pool output → relu →
/// global average pool → dense.
fn cnn() -> FloatModel {
    let padded = Window {
        size: [3, 3],
        stride: [1, 1],
        pads: [1; 4],
    };
    let one = Window::new([1, 1], [1, 1]);
    FloatModel {
        input_shape: vec![1, 1, 4, 4],
        input_range: (0.0, 1.0),
        layers: vec![
            layer("conv1", conv(IMAGE, 2, padded, &[0.5, -0.25])),
            layer("relu1", Op::Relu),
            layer(
                "pool1",
                Op::MaxPool {
                    input: Image { c: 2, ..IMAGE },
                    window: Window::new([2, 2], [2, 2]),
                },
            ),
            layer("conv2", conv(HALF, 2, one, &[0.0, 1.0])),
            layer("add", Op::Residual { from: 2 }),
            layer("relu2", Op::Relu),
            layer(
                "gap",
                Op::AvgPool {
                    input: HALF,
                    window: Window::new([2, 2], [1, 1]),
                },
            ),
            layer("flatten", Op::Flatten { shape: vec![1, 2] }),
            layer("fc", dense(3, 2)),
        ],
    }
}

#[test]
fn lowers_a_cnn_to_conv_max_pool_relu_residual_and_pooled_dense() {
    let (plan, weights) = lower(&cnn(), "cnn", FIXED).unwrap();
    let names: Vec<_> = plan.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["conv1", "pool1", "conv2", "relu2", "fc"]);
    let LayerKind::Linear(conv1) = &plan.layers[0].kind else {
        panic!("{:?}", plan.layers[0])
    };
    assert!(matches!(
        conv1.op,
        LinearOp::Conv {
            out_channels: 2,
            ..
        }
    ));
    assert_eq!(
        plan.layers[1].kind,
        LayerKind::MaxPoolRelu {
            input: Image { c: 2, h: 4, w: 4 },
            window: Window::new([2, 2], [2, 2]),
        }
    );
    let LayerKind::Linear(conv2) = &plan.layers[2].kind else {
        panic!()
    };
    assert_eq!(conv2.residual, Some(1));
    assert_eq!(plan.layers[3].kind, LayerKind::ReluTrunc { len: 8 });
    let LayerKind::Linear(fc) = &plan.layers[4].kind else {
        panic!()
    };
    assert_eq!(
        fc.pool,
        Some(SumPool {
            input: HALF,
            window: Window::new([2, 2], [1, 1]),
        })
    );
    // The conv bias is one value per output element: 16 per channel.
    let bias = &weights.linear[0].bias;
    assert_eq!(bias.len(), 32);
    assert!(bias[..16].iter().all(|&b| b == FIXED.encode_double(0.5)));
    assert!(bias[16..].iter().all(|&b| b == FIXED.encode_double(-0.25)));
    // The average pool's 1/4 is in the dense weights: (i/8 − 0.5)/4.
    let fc_w: Vec<_> = (0..6)
        .map(|i| FIXED.encode((i as f64 / 8.0 - 0.5) / 4.0))
        .collect();
    assert_eq!(weights.linear[2].w, fc_w);
    // Relu before or after the max-pool gives the same plan.
    let mut swapped = cnn();
    swapped.layers.swap(1, 2);
    if let Op::MaxPool { input, .. } = &mut swapped.layers[1].op {
        input.c = 2;
    }
    let (plan2, _) = lower(&swapped, "cnn", FIXED).unwrap();
    assert_eq!(plan2.layers[1].kind, plan.layers[1].kind);
    assert_eq!(plan2.layers[1].name, "relu1");
}

fn message(model: &FloatModel) -> String {
    lower(model, "m", FIXED).unwrap_err().to_string()
}

#[test]
fn refuses_what_the_plan_cannot_hold_naming_the_layer() {
    let mut m = cnn();
    m.layers.remove(1);
    assert!(
        message(&m).contains("max-pool pool1 has no ReLU"),
        "{}",
        message(&m)
    );
    let mut m = cnn();
    m.layers.truncate(7);
    assert!(message(&m).contains("average pool gap is not followed"));
    let mut m = cnn();
    m.layers.remove(5);
    assert!(message(&m).contains("average pool gap directly follows linear layer conv2"));
    let mut m = cnn();
    m.layers[4].op = Op::Residual { from: 1 };
    assert!(message(&m).contains("no plan layer"), "{}", message(&m));
    let mut m = cnn();
    m.layers.swap(4, 5);
    assert!(message(&m).contains("add does not directly follow a linear layer"));
}
