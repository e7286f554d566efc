//! The convolutional fixtures (made by `make_fixtures.py` with torch 2.15): both torch
//! exporters load to the same plan, the float model matches torch, the fixed-point
//! reference stays within its error bound, and refused models name the node at fault.

mod common;

use common::{check_reference_bound, fixture, torch_outputs};
use veil_model::{calibrate, load, LoadedModel, ModelError};
use veil_plan::ring::FixedPoint;
use veil_plan::{Image, LayerKind, Linear, LinearOp, SumPool, Window};

const CNNS: [&str; 2] = ["cnn-skip", "cnn-pool"];

fn load_fixture(name: &str) -> LoadedModel {
    load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Both exports of a model: legacy (batch norms as nodes) and dynamo (folded by torch).
fn exports(stem: &str) -> [(String, LoadedModel); 2] {
    ["legacy", "dynamo"].map(|exporter| {
        let name = format!("{stem}-{exporter}.onnx");
        let model = load_fixture(&name);
        (name, model)
    })
}

fn kinds(model: &LoadedModel) -> Vec<LayerKind> {
    model.plan.layers.iter().map(|l| l.kind.clone()).collect()
}

fn conv(input: Image, out_channels: usize, window: Window) -> LayerKind {
    LayerKind::Linear(Linear {
        pool: None,
        op: LinearOp::Conv {
            input,
            out_channels,
            window,
        },
        residual: None,
    })
}

const ONE: Window = Window {
    size: [1, 1],
    stride: [1, 1],
    pads: [0; 4],
};

#[test]
fn the_skip_network_lowers_to_conv_relu_residual_and_max_pool() {
    let [(_, legacy), _] = exports("cnn-skip");
    let padded = |stride| Window {
        size: [3, 3],
        stride: [stride, stride],
        pads: [1; 4],
    };
    let block = Image { c: 4, h: 4, w: 3 };
    let mut conv3 = conv(block, 4, ONE);
    if let LayerKind::Linear(l) = &mut conv3 {
        l.residual = Some(1);
    }
    assert_eq!(
        kinds(&legacy),
        vec![
            conv(Image { c: 3, h: 7, w: 5 }, 4, padded(2)),
            LayerKind::ReluTrunc { len: 48 },
            conv(block, 4, padded(1)),
            LayerKind::ReluTrunc { len: 48 },
            conv3,
            LayerKind::MaxPoolRelu {
                input: block,
                window: Window::new([2, 2], [2, 2]),
            },
            LayerKind::dense(5, 8),
        ]
    );
    let names: Vec<_> = legacy.plan.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/conv1/Conv",
            "/Relu",
            "/conv2/Conv",
            "/Relu_1",
            "/conv3/Conv",
            "/pool/MaxPool",
            "/fc/Gemm"
        ]
    );
}

#[test]
fn the_pool_network_folds_average_pools_into_the_next_layer() {
    let [(_, legacy), _] = exports("cnn-pool");
    let small = Image { c: 4, h: 3, w: 2 };
    let avg = SumPool {
        input: small,
        window: Window {
            size: [3, 3],
            stride: [1, 1],
            pads: [1; 4],
        },
    };
    let mut conv3 = conv(small, 4, ONE);
    if let LayerKind::Linear(l) = &mut conv3 {
        l.pool = Some(avg);
    }
    let global = SumPool {
        input: small,
        window: Window::new([3, 2], [1, 1]),
    };
    let fc = LayerKind::Linear(Linear {
        pool: Some(global),
        ..Linear::dense(3, 4)
    });
    assert_eq!(
        kinds(&legacy),
        vec![
            conv(Image { c: 2, h: 9, w: 8 }, 4, Window::new([3, 3], [1, 1])),
            LayerKind::MaxPoolRelu {
                input: Image { c: 4, h: 7, w: 6 },
                window: Window::new([3, 3], [2, 2]),
            },
            conv(small, 4, ONE),
            LayerKind::ReluTrunc { len: 24 },
            conv3,
            LayerKind::ReluTrunc { len: 24 },
            fc,
        ]
    );
}

#[test]
fn both_exporters_give_the_same_plan_and_weights() {
    for stem in CNNS {
        let [(_, legacy), (_, dynamo)] = exports(stem);
        assert_eq!(kinds(&legacy), kinds(&dynamo), "{stem}");
        assert_eq!(legacy.plan.input_shape, dynamo.plan.input_shape, "{stem}");
        assert_eq!(legacy.fixed, FixedPoint { f: 12, k: 40 }, "{stem}");
        assert_eq!(
            (legacy.fixed, legacy.plan.input_range),
            (dynamo.fixed, dynamo.plan.input_range)
        );
        // Batch norms are folded by veil in f64 (legacy) and by torch in f32 (dynamo): an
        // encoded weight may differ by one unit where the two land on either side of a
        // rounding boundary, a bias (at 2^(2f)) by f32's precision; the rest is the same.
        let (mut same, mut total) = (0, 0);
        for (a, b) in legacy.weights.linear.iter().zip(&dynamo.weights.linear) {
            assert_eq!(
                (a.w.len(), a.bias.len()),
                (b.w.len(), b.bias.len()),
                "{stem}"
            );
            for (pairs, tolerance) in [(a.w.iter().zip(&b.w), 1), (a.bias.iter().zip(&b.bias), 32)]
            {
                for (x, y) in pairs {
                    let diff = (*x as i64).wrapping_sub(*y as i64).unsigned_abs();
                    assert!(diff <= tolerance, "{stem}: {x} vs {y}");
                    same += usize::from(diff == 0);
                    total += 1;
                }
            }
        }
        assert!(
            same * 10 >= total * 9,
            "{stem}: only {same} of {total} values agree"
        );
    }
}

#[test]
fn float_outputs_match_torch() {
    for stem in CNNS {
        let outputs = torch_outputs(&format!("{stem}-outputs.json"));
        for (name, model) in exports(stem) {
            assert_eq!(model.float.input_shape, outputs.input_shape, "{name}");
            for case in &outputs.cases {
                let got = model.float.eval_f32(&case.input);
                assert_eq!(got.len(), case.output.len(), "{name}");
                for (g, want) in got.iter().zip(&case.output) {
                    assert!(
                        (f64::from(*g) - want).abs() < 1e-4,
                        "{name}: {got:?} vs {:?}",
                        case.output
                    );
                }
            }
        }
    }
}

#[test]
fn fixed_point_reference_stays_within_the_error_bound() {
    for stem in CNNS {
        let outputs = torch_outputs(&format!("{stem}-outputs.json"));
        for (name, model) in exports(stem) {
            let encoded = check_reference_bound(&name, &model, &outputs, 0.25, 1e-4);
            let cal = calibrate(
                &model.plan,
                &model.weights,
                encoded.iter().map(Vec::as_slice),
            );
            assert!(
                cal.min_k > 2 * model.fixed.f && cal.fits(model.fixed.k),
                "{name}: {cal:?}"
            );
        }
    }
}

/// Loads a refused fixture: the error.
fn refused(name: &str) -> ModelError {
    match load(&fixture(name)) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e,
    }
}

#[test]
fn unsupported_uses_name_the_node() {
    for (name, op, node, detail) in [
        ("err-group.onnx", "Conv", "/conv/Conv", "group = 2"),
        (
            "err-dilation.onnx",
            "Conv",
            "/conv/Conv",
            "dilations [2, 2]",
        ),
        (
            "err-maxpool-pad.onnx",
            "MaxPool",
            "/middle/middle.1/MaxPool",
            "padding",
        ),
        (
            "err-avgpool-count.onnx",
            "AveragePool",
            "/middle/middle.1/AveragePool",
            "count_include_pad",
        ),
    ] {
        let err = refused(name);
        let ModelError::UnsupportedUse {
            op: got_op,
            node: got_node,
            detail: got_detail,
        } = &err
        else {
            panic!("{name}: {err:?}")
        };
        assert_eq!((got_op.as_str(), got_node.as_str()), (op, node), "{name}");
        assert!(got_detail.contains(detail), "{name}: {err}");
        assert!(err.to_string().contains(node), "{name}: {err}");
    }
}

#[test]
fn a_max_pool_without_relu_and_an_unknown_operator_are_refused_by_name() {
    let err = refused("err-maxpool-relu.onnx");
    assert!(
        matches!(&err, ModelError::Invalid(m) if m.contains("max-pool /middle/MaxPool has no ReLU")),
        "{err:?}"
    );
    let err = refused("err-op.onnx");
    assert_eq!(
        err.to_string(),
        "unsupported ONNX operator Tanh in node /middle/Tanh"
    );
}
