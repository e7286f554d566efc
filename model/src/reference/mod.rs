//! The plaintext fixed-point reference: the oracle that defines veil's arithmetic.
//!
//! Secure inference must be bit-exact with [`reference()`]. It is written plainly and apart
//! from the protocols (model/'s own loops in [`crate::kernels`], never the protocol's
//! `linalg` or `Linear::apply`), in wrapping Z_{2^64}:
//! - a linear layer is `op(W, pool(x)) + b`, plus `2^f ·` an earlier layer's output for a
//!   residual (the sum-pool, dense product and convolution are naive loops);
//! - a ReluTrunc is `0` for a negative value (as signed) and the floor shift `x >> f`
//!   otherwise; a MaxPoolRelu is that of each window's maximum as a signed number.
//!
//! Also here: decoding outputs, and the calibration of `k` ([`calibrate`]).

mod calibrate;

use veil_plan::ring::{decode_at, truncate, Ring};
use veil_plan::{Image, LayerKind, Linear, LinearOp, LinearWeights, Plan, Weights, Window};

use crate::kernels;

pub use calibrate::{calibrate, min_bits, Calibration};

/// `op(W, pool(x)) + b` in Z_{2^64}: the layer without its residual.
///
/// # Panics
/// If `x` or the weights do not fit the layer's shape.
pub fn linear(layer: &Linear, lw: &LinearWeights, x: &[Ring]) -> Vec<Ring> {
    let pooled;
    let x = match &layer.pool {
        Some(p) => {
            pooled = kernels::sum_pool(p.input, p.window, x);
            &pooled
        }
        None => x,
    };
    let mut y = match layer.op {
        LinearOp::Dense { rows, cols } => kernels::dense(&lw.w, rows, cols, x),
        LinearOp::Conv {
            input,
            out_channels,
            window,
        } => kernels::conv2d(&lw.w, out_channels, input, window, x),
    };
    assert_eq!(y.len(), lw.bias.len(), "one bias per output");
    y.iter_mut()
        .zip(&lw.bias)
        .for_each(|(v, b)| *v = v.wrapping_add(*b));
    y
}

/// ReLU then the floor shift by `f`: `0` if `x` is negative as signed, else `x >> f`.
pub fn relu_trunc(x: Ring, f: u32) -> Ring {
    if (x as i64) < 0 {
        0
    } else {
        truncate(x, f)
    }
}

/// For each window, [`relu_trunc`] of its maximum as a signed number.
///
/// # Panics
/// If `x` does not hold `input`.
pub fn max_pool_relu(input: Image, window: Window, x: &[Ring], f: u32) -> Vec<Ring> {
    kernels::max_pool(input, window, x)
        .into_iter()
        .map(|v| relu_trunc(v, f))
        .collect()
}

/// Runs the plan on a fixed-point input (scale 2^f); the output is at scale
/// 2^[`Plan::output_frac`].
///
/// # Panics
/// If `input` does not have `plan.input_len()` values or the weights do not fit the plan
/// (`plan.validate()` or `weights.check(plan)` fails).
pub fn reference(plan: &Plan, weights: &Weights, input: &[Ring]) -> Vec<Ring> {
    reference_observed(plan, weights, input, &mut |_, _| {})
}

/// Like [`reference()`], calling `observe(layer_index, values)` with the values fed to each
/// ReluTrunc and MaxPoolRelu layer (scale 2^(2f), before pooling and truncation).
///
/// # Panics
/// As [`reference()`].
pub fn reference_observed(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    observe: &mut dyn FnMut(usize, &[Ring]),
) -> Vec<Ring> {
    assert_eq!(input.len(), plan.input_len(), "model input length");
    let f = plan.fixed.f;
    let mut kept: Vec<Option<Vec<Ring>>> = vec![None; plan.layers.len()];
    for (_, l) in plan.linear_layers() {
        if let Some(j) = l.residual {
            kept[j] = Some(Vec::new());
        }
    }
    let mut linear_weights = weights.linear.iter();
    let mut x = input.to_vec();
    for (index, layer) in plan.layers.iter().enumerate() {
        x = match &layer.kind {
            LayerKind::Linear(l) => {
                let lw = linear_weights.next().expect("weights do not fit the plan");
                let mut y = linear(l, lw, &x);
                if let Some(j) = l.residual {
                    let earlier = kept[j].as_ref().expect("a residual names an earlier layer");
                    assert_eq!(earlier.len(), y.len(), "residual length");
                    for (v, e) in y.iter_mut().zip(earlier) {
                        *v = v.wrapping_add(e << f);
                    }
                }
                y
            }
            LayerKind::ReluTrunc { .. } => {
                observe(index, &x);
                x.iter().map(|&v| relu_trunc(v, f)).collect()
            }
            LayerKind::MaxPoolRelu { input, window } => {
                observe(index, &x);
                max_pool_relu(*input, *window, &x, f)
            }
            LayerKind::Argmax { .. } => vec![argmax(&x) as Ring],
        };
        if let Some(slot) = kept[index].as_mut() {
            slot.clone_from(&x);
        }
    }
    x
}

/// The index of the first largest value, read as signed (the label of logits in fixed
/// point); 0 for no values.
pub fn argmax(x: &[Ring]) -> usize {
    let signed = |i: usize| x[i] as i64;
    (0..x.len()).fold(0, |best, i| if signed(i) > signed(best) { i } else { best })
}

/// Decodes the reference's (or the secure protocol's) output to reals.
pub fn decode_output(plan: &Plan, output: &[Ring]) -> Vec<f64> {
    let frac = plan.output_frac();
    output.iter().map(|&v| decode_at(v, frac)).collect()
}
