//! Helpers shared by the integration tests: fixture paths, temporary folders, and the
//! fixed-point error bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use veil_model::{Conv, Dense, FloatModel, Op};
use veil_plan::ring::FixedPoint;

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh, empty folder for one test (removed when dropped).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("veil-model-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A linear layer applied with each weight `w` replaced by `f(w)` and no bias.
type MapWith<'a> = dyn Fn(fn(f64) -> f64, &[f64]) -> Vec<f64> + 'a;

/// The error after a linear layer (see [`fixed_error_bound`]).
fn linear_error(apply: &MapWith, x: &[f64], e: f64, area: f64, half_ulp: f64) -> f64 {
    let spread = apply(f64::abs, &vec![e; x.len()]);
    let magnitude: Vec<f64> = x.iter().map(|v| v.abs() + e).collect();
    let rounding = apply(|_| 1.0, &magnitude);
    spread
        .iter()
        .zip(&rounding)
        .map(|(s, r)| s + half_ulp * area * r)
        .fold(0.0, f64::max)
        + half_ulp * half_ulp * 2.0
}

/// A bound on |fixed-point result − real result| for `input`, propagated layer by layer
/// as one worst-case error `e` per layer:
/// - inputs and weights round by at most 2^-(f+1), biases by 2^-(2f+1);
/// - a linear layer (dense or conv) turns an input error `e` into
///   `max_i Σ_j |w_ij|·e + 2^-(f+1)·a·(|x_j| + e)` plus the bias rounding, where `a` is
///   the area of an average pool folded into it (its weights w/a round, times sums of
///   `a` inputs);
/// - an average or max pool keeps `e`; a residual adds the earlier layer's error (the
///   reference adds that layer's fixed-point output exactly);
/// - a ReLU keeps `e` and its floor shift adds less than 2^-f.
pub fn fixed_error_bound(model: &FloatModel, fixed: FixedPoint, input: &[f64]) -> f64 {
    let half_ulp = 2f64.powi(-(fixed.f as i32) - 1);
    let outputs = model.eval_layers(input);
    let mut errors: Vec<f64> = Vec::with_capacity(model.layers.len());
    let mut e = half_ulp;
    let mut area = 1.0;
    for (i, layer) in model.layers.iter().enumerate() {
        let x = if i == 0 { input } else { &outputs[i - 1] };
        let weighted = |apply: &MapWith| linear_error(apply, x, e, area, half_ulp);
        e = match &layer.op {
            Op::Dense(d) => weighted(&|f, v| {
                let map = Dense {
                    weight: d.weight.iter().map(|&w| f(w)).collect(),
                    bias: vec![0.0; d.rows],
                    ..d.clone()
                };
                map.apply(v)
            }),
            Op::Conv(c) => weighted(&|f, v| {
                let map = Conv {
                    weight: c.weight.iter().map(|&w| f(w)).collect(),
                    bias: vec![0.0; c.out_channels],
                    ..c.clone()
                };
                map.apply(v)
            }),
            Op::Relu => e + 2f64.powi(-(fixed.f as i32)),
            Op::Residual { from } => e + errors[*from],
            _ => e,
        };
        area = match &layer.op {
            Op::AvgPool { window, .. } => window.area() as f64,
            op if op.is_linear() => 1.0,
            _ => area,
        };
        errors.push(e);
    }
    e
}

/// Inputs and torch's outputs saved beside a fixture model (`*-outputs.json`).
#[derive(serde::Deserialize)]
pub struct Outputs {
    /// The model's input shape.
    pub input_shape: Vec<usize>,
    /// The saved cases.
    pub cases: Vec<Case>,
}

/// One input and torch's output for it.
#[derive(serde::Deserialize)]
pub struct Case {
    /// The input values, C order.
    pub input: Vec<f32>,
    /// torch's outputs.
    pub output: Vec<f64>,
}

/// Reads the fixture file `file` of torch outputs.
pub fn torch_outputs(file: &str) -> Outputs {
    let text = std::fs::read_to_string(fixture(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Checks the fixed-point reference of `model` on every case against its float evaluation
/// and torch's output, within the derived error bound (which must stay below `loose`, and
/// torch may differ by `torch_slack` more); returns the encoded inputs for calibration.
pub fn check_reference_bound(
    name: &str,
    model: &veil_model::LoadedModel,
    outputs: &Outputs,
    loose: f64,
    torch_slack: f64,
) -> Vec<Vec<veil_plan::ring::Ring>> {
    let mut encoded = Vec::new();
    for case in &outputs.cases {
        let x = veil_model::encode_input(&model.plan, &case.input).unwrap();
        let out = veil_model::reference(&model.plan, &model.weights, &x);
        let fixed_out = veil_model::decode_output(&model.plan, &out);
        let input: Vec<f64> = case.input.iter().map(|&v| f64::from(v)).collect();
        let float_out = model.float.eval(&input);
        let bound = fixed_error_bound(&model.float, model.fixed, &input);
        assert!(bound < loose, "{name}: bound {bound} is uselessly loose");
        for ((fx, fl), torch) in fixed_out.iter().zip(&float_out).zip(&case.output) {
            assert!(
                (fx - fl).abs() <= bound + 1e-9,
                "{name}: {fx} vs {fl}, bound {bound}"
            );
            assert!(
                (fx - torch).abs() <= bound + torch_slack,
                "{name}: {fx} vs torch {torch}"
            );
        }
        encoded.push(x);
    }
    encoded
}
