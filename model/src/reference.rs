//! The plaintext fixed-point reference: the oracle that defines veil's arithmetic.
//!
//! Secure inference must be bit-exact with [`reference`]. It is written plainly and apart
//! from the protocols: a linear layer is the wrapping u64 matrix-vector product plus the
//! bias (W row-major); a ReluTrunc is `0` for a negative value (as signed) and the floor
//! shift `x >> f` otherwise. Also here: decoding outputs, and the calibration of `k`.

use veil_protocol::plan::{LayerKind, LinearWeights, Plan, Weights};
use veil_protocol::ring::{decode_at, truncate, FixedPoint, Ring};

/// `W·x + b` in Z_{2^64}, W row-major `rows × cols`.
///
/// # Panics
/// If `x` does not have `cols` values or the weights are malformed.
pub fn linear(lw: &LinearWeights, x: &[Ring]) -> Vec<Ring> {
    assert_eq!(x.len(), lw.cols, "linear layer input length");
    assert_eq!(lw.w.len(), lw.rows * lw.cols, "linear layer weight length");
    let mut y = Vec::with_capacity(lw.rows);
    for r in 0..lw.rows {
        let row = &lw.w[r * lw.cols..(r + 1) * lw.cols];
        let mut acc: Ring = lw.bias[r];
        for (&w, &v) in row.iter().zip(x) {
            acc = acc.wrapping_add(w.wrapping_mul(v));
        }
        y.push(acc);
    }
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

/// Runs the plan on a fixed-point input (scale 2^f); the output is at scale
/// 2^[`Plan::output_frac`].
///
/// # Panics
/// If `input` does not have `plan.input_len()` values or the weights do not fit the plan
/// (`weights.check(plan)` fails).
pub fn reference(plan: &Plan, weights: &Weights, input: &[Ring]) -> Vec<Ring> {
    run(plan, weights, input, &mut |_, _| {})
}

/// Like [`reference`], calling `observe(layer_index, values)` with the values fed to each
/// ReluTrunc layer (scale 2^(2f), before truncation).
///
/// # Panics
/// As [`reference`].
pub fn reference_observed(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    observe: &mut dyn FnMut(usize, &[Ring]),
) -> Vec<Ring> {
    run(plan, weights, input, observe)
}

fn run(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    observe: &mut dyn FnMut(usize, &[Ring]),
) -> Vec<Ring> {
    assert_eq!(input.len(), plan.input_len(), "model input length");
    let mut linear_weights = weights.linear.iter();
    let mut x = input.to_vec();
    for (index, layer) in plan.layers.iter().enumerate() {
        x = match layer.kind {
            LayerKind::Linear { .. } => {
                let lw = linear_weights.next().expect("weights do not fit the plan");
                linear(lw, &x)
            }
            LayerKind::ReluTrunc { .. } => {
                observe(index, &x);
                x.iter().map(|&v| relu_trunc(v, plan.fixed.f)).collect()
            }
        };
    }
    x
}

/// Decodes the reference's (or the secure protocol's) output to reals.
pub fn decode_output(plan: &Plan, output: &[Ring]) -> Vec<f64> {
    let frac = plan.output_frac();
    output.iter().map(|&v| decode_at(v, frac)).collect()
}

/// The smallest `k` with `fits_signed(x, k)`, i.e. |x| < 2^(k-1) for `x` read as signed.
pub fn min_bits(x: Ring) -> u32 {
    let magnitude = (x as i64).unsigned_abs();
    64 - magnitude.leading_zeros() + 1
}

/// What a calibration run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calibration {
    /// Number of inputs run.
    pub samples: usize,
    /// Largest |x| fed to a ReluTrunc, as a ring integer (scale 2^(2f)).
    pub max_abs: u64,
    /// The minimal `k` such that every value fed to a ReluTrunc fits in `k` signed bits.
    pub min_k: u32,
    /// Largest |y| of the final outputs, as a ring integer (at the plan's output scale);
    /// what a comparison on outputs (argmax) would see.
    pub output_max_abs: u64,
    /// The minimal `k` for the final outputs.
    pub output_min_k: u32,
}

impl Calibration {
    /// [`Calibration::max_abs`] as a real (divided by 2^(2f)).
    pub fn max_abs_real(&self, fixed: FixedPoint) -> f64 {
        self.max_abs as f64 / 2f64.powi(2 * fixed.f as i32)
    }

    /// True if `k` covers every value fed to a ReluTrunc.
    pub fn fits(&self, k: u32) -> bool {
        self.min_k <= k
    }
}

/// Runs the reference on `inputs` and reports the largest pre-activation magnitudes.
///
/// # Panics
/// As [`reference`], for any input.
pub fn calibrate<'a>(
    plan: &Plan,
    weights: &Weights,
    inputs: impl IntoIterator<Item = &'a [Ring]>,
) -> Calibration {
    let mut cal = Calibration {
        min_k: 1,
        output_min_k: 1,
        ..Calibration::default()
    };
    for input in inputs {
        let mut max_abs = cal.max_abs;
        let out = reference_observed(plan, weights, input, &mut |_, values| {
            max_abs = values
                .iter()
                .map(|&v| (v as i64).unsigned_abs())
                .fold(max_abs, u64::max);
        });
        cal.max_abs = max_abs;
        let out_max = out
            .iter()
            .map(|&v| (v as i64).unsigned_abs())
            .max()
            .unwrap_or(0);
        cal.output_max_abs = cal.output_max_abs.max(out_max);
        cal.samples += 1;
    }
    cal.min_k = min_bits(cal.max_abs);
    cal.output_min_k = min_bits(cal.output_max_abs);
    cal
}
