//! The committed fixtures (made by `fixtures/make_fixtures.py` with torch 2.15) load,
//! agree with each other and with torch, and malformed files give errors, never panics.

mod common;

use common::{check_reference_bound, fixture, torch_outputs, TempDir};
use veil_model::{
    calibrate, load, load_bytes, load_with, Dense, FloatModel, LoadOptions, LoadedModel,
    ModelError, Op,
};
use veil_plan::ring::FixedPoint;
use veil_plan::LayerKind;

const MLPS: [&str; 4] = [
    "mlp-legacy.onnx",
    "mlp-dynamo.onnx",
    "mlp-matmul.onnx",
    "mlp-f64.onnx",
];

/// The arithmetic of a model: dense layers and ReLUs, shape bookkeeping and names left out.
#[derive(Debug, PartialEq)]
enum Step {
    Dense(Dense),
    Relu,
}

fn arithmetic(model: &FloatModel) -> Vec<Step> {
    model
        .layers
        .iter()
        .filter_map(|l| match &l.op {
            Op::Dense(d) => Some(Step::Dense(d.clone())),
            Op::Relu => Some(Step::Relu),
            _ => None,
        })
        .collect()
}

fn load_fixture(name: &str) -> LoadedModel {
    load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_export_loads_to_the_same_model() {
    let legacy = load_fixture("mlp-legacy.onnx");
    assert_eq!(legacy.name, "mlp-legacy");
    assert_eq!(legacy.float.input_shape, vec![1, 1, 4, 4]);
    let kinds: Vec<_> = legacy.plan.layers.iter().map(|l| l.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            LayerKind::dense(12, 16),
            LayerKind::ReluTrunc { len: 12 },
            LayerKind::dense(8, 12),
            LayerKind::ReluTrunc { len: 8 },
            LayerKind::dense(3, 8),
        ]
    );
    for name in &MLPS[1..] {
        let other = load_fixture(name);
        assert_eq!(other.float.input_shape, legacy.float.input_shape, "{name}");
        assert!(
            arithmetic(&other.float) == arithmetic(&legacy.float),
            "{name} differs"
        );
        let other_kinds: Vec<_> = other.plan.layers.iter().map(|l| l.kind.clone()).collect();
        assert_eq!(other_kinds, kinds, "{name}");
    }
}

#[test]
fn shape_layers_and_names_come_from_each_exporter() {
    let legacy = load_fixture("mlp-legacy.onnx");
    assert_eq!(
        legacy.float.layers[0].op,
        Op::Flatten { shape: vec![1, 16] }
    );
    let names: Vec<_> = legacy.plan.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["/fc1/Gemm", "/Relu", "/fc2/Gemm", "/Relu_1", "/fc3/Gemm"]
    );
    let dynamo = load_fixture("mlp-dynamo.onnx");
    assert_eq!(
        dynamo.float.layers[0].op,
        Op::Reshape { shape: vec![1, 16] }
    );
    let names: Vec<_> = dynamo.plan.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "node_linear",
            "node_relu",
            "node_linear_1",
            "node_relu_1",
            "node_linear_2"
        ]
    );
}

#[test]
fn metadata_sets_fixed_point_and_range_and_defaults_apply() {
    let legacy = load_fixture("mlp-legacy.onnx");
    assert_eq!(legacy.fixed, FixedPoint { f: 12, k: 40 });
    assert_eq!(legacy.plan.input_range, (-64.0, 64.0));
    let dynamo = load_fixture("mlp-dynamo.onnx");
    assert_eq!(dynamo.fixed, FixedPoint { f: 10, k: 36 });
    assert_eq!(dynamo.plan.fixed, dynamo.fixed);
    assert_eq!(dynamo.plan.input_range, (-2.0, 2.0));
    let options = LoadOptions {
        f: Some(14),
        k: None,
    };
    let overridden = load_with(&fixture("mlp-dynamo.onnx"), &options).unwrap();
    assert_eq!(overridden.fixed, FixedPoint { f: 14, k: 36 });
    let bad = LoadOptions {
        f: Some(20),
        k: None,
    };
    let err = load_with(&fixture("mlp-dynamo.onnx"), &bad).unwrap_err();
    assert!(
        matches!(err, ModelError::FixedPoint { f: 20, k: 36, .. }),
        "{err}"
    );
}

#[test]
fn float_outputs_match_torch() {
    let outputs = torch_outputs("mlp-outputs.json");
    for name in MLPS {
        let model = load_fixture(name);
        assert_eq!(model.float.input_shape, outputs.input_shape);
        for case in &outputs.cases {
            let got = model.float.eval_f32(&case.input);
            for (g, want) in got.iter().zip(&case.output) {
                assert!(
                    (f64::from(*g) - want).abs() < 1e-5,
                    "{name}: {got:?} vs {:?}",
                    case.output
                );
            }
        }
    }
}

#[test]
fn fixed_point_reference_stays_within_the_error_bound() {
    let outputs = torch_outputs("mlp-outputs.json");
    for name in MLPS {
        let model = load_fixture(name);
        let encoded = check_reference_bound(name, &model, &outputs, 0.05, 1e-5);
        let cal = calibrate(
            &model.plan,
            &model.weights,
            encoded.iter().map(Vec::as_slice),
        );
        assert_eq!(cal.samples, outputs.cases.len());
        assert!(
            cal.min_k > 2 * model.fixed.f && cal.fits(model.fixed.k),
            "{name}: {cal:?}"
        );
        assert!(cal.max_abs_real(model.fixed) < 64.0);
    }
}

#[test]
fn a_residual_graph_is_not_a_chain() {
    let err = load(&fixture("residual.onnx")).unwrap_err();
    assert!(matches!(err, ModelError::NotAChain(_)), "{err:?}");
    assert!(err.to_string().contains("/Add"), "{err}");
}

#[test]
fn every_truncation_of_a_model_is_an_error() {
    let bytes = std::fs::read(fixture("mlp-legacy.onnx")).unwrap();
    for cut in 0..bytes.len() {
        let result = load_bytes(&bytes[..cut], "m", None, &LoadOptions::default());
        assert!(
            result.is_err(),
            "a model cut at {cut} of {} bytes loaded",
            bytes.len()
        );
    }
}

#[test]
fn corrupted_models_never_panic() {
    let dir = fixture("");
    let names = [
        "mlp-legacy.onnx",
        "mlp-dynamo.onnx",
        "mlp-matmul.onnx",
        "cnn-skip-legacy.onnx",
        "cnn-pool-legacy.onnx",
    ];
    for name in names {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in 0..bytes.len() {
            let _ = load_bytes(&bytes[..cut], "m", Some(&dir), &LoadOptions::default());
        }
        let mut corrupted = bytes.clone();
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                corrupted[i] ^= flip;
                let _ = load_bytes(&corrupted, "m", Some(&dir), &LoadOptions::default());
                corrupted[i] ^= flip;
            }
        }
    }
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(load_bytes(&garbage, "m", None, &LoadOptions::default()).is_err());
}

#[test]
fn external_data_problems_are_errors() {
    let tmp = TempDir::new("external");
    let model = std::fs::read(fixture("mlp-dynamo.onnx")).unwrap();
    let data = std::fs::read(fixture("mlp-dynamo.onnx.data")).unwrap();
    let path = tmp.path("mlp-dynamo.onnx");
    std::fs::write(&path, &model).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(&err, ModelError::Io { path, .. } if path.ends_with("mlp-dynamo.onnx.data")),
        "{err:?}"
    );
    std::fs::write(tmp.path("mlp-dynamo.onnx.data"), &data[..data.len() - 1]).unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.to_string().contains("runs past the end"), "{err}");
    std::fs::write(tmp.path("mlp-dynamo.onnx.data"), &data).unwrap();
    assert!(load(&path).is_ok());
    // Point the location outside the model's folder (same length keeps the protobuf valid).
    let escaped = replace(&model, b"mlp-dynamo.onnx.data", b"../dynamo.onnx.data_");
    let err = load_bytes(&escaped, "m", Some(&tmp.0), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("inside the model's folder"),
        "{err}"
    );
    let err = load_bytes(&model, "m", None, &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not loaded from a file"), "{err}");
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut found = 0;
    for i in 0..=out.len() - from.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            found += 1;
        }
    }
    assert!(found > 0);
    out
}

#[test]
fn missing_files_report_their_path() {
    let err = load(&fixture("no-such-model.onnx")).unwrap_err();
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
    let tmp = TempDir::new("not-onnx");
    let path = tmp.path("junk.onnx");
    std::fs::write(&path, b"\x0a\xff\xff\xff\xff\x0f").unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(&err, ModelError::Decode { path: Some(p), .. } if p.ends_with("junk.onnx")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("junk.onnx is not a valid ONNX model"),
        "{err}"
    );
}
