//! Calibration of `k`: how many signed bits the values the circuits see need.
//!
//! The non-linear circuits work on the low `k` bits of the shares, so every value fed to
//! a ReluTrunc or MaxPoolRelu (scale 2^(2f), before truncation) must fit, and so must
//! every difference of two values in one max-pool window, which the circuits compare
//! ("plus one bit where differences are compared").

use veil_plan::ring::{FixedPoint, Ring};
use veil_plan::{LayerKind, Plan, Weights};

use super::reference_observed;
use crate::kernels;

/// The smallest `k` with `fits_signed(x, k)`, i.e. |x| < 2^(k-1) for `x` read as signed.
pub fn min_bits(x: Ring) -> u32 {
    bits_for((x as i64).unsigned_abs())
}

/// The smallest `k` with `magnitude < 2^(k-1)`.
fn bits_for(magnitude: u64) -> u32 {
    64 - magnitude.leading_zeros() + 1
}

/// What a calibration run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calibration {
    /// Number of inputs run.
    pub samples: usize,
    /// Largest |x| fed to a ReluTrunc or MaxPoolRelu, as a ring integer (scale 2^(2f)).
    pub max_abs: u64,
    /// Largest |a − b| of two values in one max-pool window (scale 2^(2f)).
    pub max_diff: u64,
    /// The minimal `k` such that every value fed to a non-linear layer, and every
    /// difference a max-pool compares, fits in `k` signed bits.
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

    /// True if `k` covers every value (and difference) the non-linear layers see.
    pub fn fits(&self, k: u32) -> bool {
        self.min_k <= k
    }
}

/// Runs the reference on `inputs` and reports the largest magnitudes the circuits see.
///
/// # Panics
/// As [`super::reference()`], for any input.
pub fn calibrate<'a>(
    plan: &Plan,
    weights: &Weights,
    inputs: impl IntoIterator<Item = &'a [Ring]>,
) -> Calibration {
    let mut cal = Calibration::default();
    for input in inputs {
        let (mut max_abs, mut max_diff) = (cal.max_abs, cal.max_diff);
        let out = reference_observed(plan, weights, input, &mut |index, values| {
            max_abs = values.iter().map(|&v| magnitude(v)).fold(max_abs, u64::max);
            if let LayerKind::MaxPoolRelu { input, window } = plan.layers[index].kind {
                let spreads = kernels::pool(input, window, values, spread);
                max_diff = spreads.into_iter().fold(max_diff, u64::max);
            }
        });
        (cal.max_abs, cal.max_diff) = (max_abs, max_diff);
        let out_max = out.iter().map(|&v| magnitude(v)).max().unwrap_or(0);
        cal.output_max_abs = cal.output_max_abs.max(out_max);
        cal.samples += 1;
    }
    cal.min_k = bits_for(cal.max_abs).max(bits_for(cal.max_diff));
    cal.output_min_k = min_bits(cal.output_max_abs);
    cal
}

fn magnitude(v: Ring) -> u64 {
    (v as i64).unsigned_abs()
}

/// The largest difference of two values of a window as signed numbers, `max − min`
/// (at most 2^64 − 1, so it fits).
fn spread(window: &[Ring]) -> Ring {
    let signed = window.iter().map(|&v| v as i64);
    match (signed.clone().max(), signed.min()) {
        (Some(hi), Some(lo)) => (i128::from(hi) - i128::from(lo)) as u64,
        _ => 0,
    }
}
