//! Encoding a client's input for a plan: checked count, finiteness and range.
//!
//! The client refuses NaN, infinities and values outside the model's calibrated input
//! range rather than letting them wrap silently in the ring.

use veil_plan::ring::Ring;
use veil_plan::Plan;

use crate::error::InputError;

/// How far outside the input range (relative to the range's bounds, at least absolute
/// 1e-6) a value may lie and still be accepted.
pub const RANGE_TOLERANCE: f32 = 1e-6;

/// Checks `values` against the plan's input (count, finite, range) without encoding.
pub fn check_input(plan: &Plan, values: &[f32]) -> Result<(), InputError> {
    if values.len() != plan.input_len() {
        return Err(InputError::Count {
            expected: plan.input_len(),
            shape: plan.input_shape.clone(),
            got: values.len(),
        });
    }
    let (lo, hi) = plan.input_range;
    let slack = |bound: f32| RANGE_TOLERANCE * bound.abs().max(1.0);
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(InputError::NotFinite { value, index });
        }
        if value < lo - slack(lo) || value > hi + slack(hi) {
            return Err(InputError::OutOfRange {
                value,
                index,
                lo,
                hi,
            });
        }
    }
    Ok(())
}

/// Encodes `values` at scale 2^f for the plan, after [`check_input`].
pub fn encode_input(plan: &Plan, values: &[f32]) -> Result<Vec<Ring>, InputError> {
    check_input(plan, values)?;
    Ok(values
        .iter()
        .map(|&v| plan.fixed.encode(f64::from(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use veil_plan::ring::FixedPoint;
    use veil_plan::{LayerKind, PlanLayer};

    use super::*;

    fn plan() -> Plan {
        Plan {
            model: "m".into(),
            input_shape: vec![1, 1, 28, 28],
            input_range: (0.0, 1.0),
            fixed: FixedPoint { f: 12, k: 40 },
            backend: veil_plan::Backend::Gmw,
            layers: vec![PlanLayer {
                name: "fc".into(),
                kind: LayerKind::dense(10, 784),
            }],
        }
    }

    #[test]
    fn messages_name_what_was_expected() {
        let p = plan();
        let e = encode_input(&p, &[0.5; 100]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected 784 values (shape [1, 1, 28, 28]), got 100"
        );
        let mut x = vec![0.5; 784];
        x[17] = 3.2;
        let e = encode_input(&p, &x).unwrap_err();
        assert_eq!(
            e.to_string(),
            "value 3.2 at index 17 is outside the model's input range [0, 1]"
        );
        x[17] = f32::NAN;
        assert_eq!(
            encode_input(&p, &x).unwrap_err().to_string(),
            "value NaN at index 17 is not a finite number"
        );
        x[17] = f32::NEG_INFINITY;
        assert!(matches!(
            encode_input(&p, &x),
            Err(InputError::NotFinite { index: 17, .. })
        ));
    }

    #[test]
    fn encodes_with_a_small_tolerance() {
        let p = plan();
        let mut x = vec![0.0; 784];
        x[0] = 1.0 + 5e-7;
        x[1] = -5e-7;
        x[2] = 0.5;
        let enc = encode_input(&p, &x).unwrap();
        assert_eq!((enc[0], enc[1], enc[2]), (4096, 0, 2048));
        x[0] = 1.0 + 1e-5;
        assert!(encode_input(&p, &x).is_err());
    }
}
