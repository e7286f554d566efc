//! Fixed-point parameters and input range from the model's `veil.*` metadata.
//!
//! The training script writes `veil.f`, `veil.k`, `veil.input_min` and `veil.input_max`
//! into the ONNX `metadata_props`. Absent keys take the defaults below; the caller may
//! override `f` and `k`.

use veil_plan::ring::FixedPoint;

use crate::error::ModelError;

/// Default fraction bits.
pub const DEFAULT_F: u32 = 12;
/// Default signed bit width of pre-truncation values.
pub const DEFAULT_K: u32 = 40;
/// Default input range.
pub const DEFAULT_INPUT_RANGE: (f32, f32) = (-64.0, 64.0);

/// Metadata key for the fraction bits.
pub const KEY_F: &str = "veil.f";
/// Metadata key for the bit width.
pub const KEY_K: &str = "veil.k";
/// Metadata key for the lower end of the input range.
pub const KEY_INPUT_MIN: &str = "veil.input_min";
/// Metadata key for the upper end of the input range.
pub const KEY_INPUT_MAX: &str = "veil.input_max";

/// What the caller overrides when loading a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Fraction bits to use instead of the model's `veil.f`.
    pub f: Option<u32>,
    /// Bit width to use instead of the model's `veil.k`.
    pub k: Option<u32>,
}

/// The model's numeric parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelParams {
    /// Fixed-point parameters, validated.
    pub fixed: FixedPoint,
    /// The range inputs must lie in.
    pub input_range: (f32, f32),
}

/// Reads the parameters from `metadata_props`, applies defaults and overrides, validates.
pub fn params_from_metadata(
    props: &[(String, String)],
    options: &LoadOptions,
) -> Result<ModelParams, ModelError> {
    let f = match options.f {
        Some(f) => f,
        None => lookup(props, KEY_F)?.unwrap_or(DEFAULT_F),
    };
    let k = match options.k {
        Some(k) => k,
        None => lookup(props, KEY_K)?.unwrap_or(DEFAULT_K),
    };
    let fixed = FixedPoint { f, k };
    fixed
        .validate()
        .map_err(|reason| ModelError::FixedPoint { f, k, reason })?;
    let lo = lookup::<f32>(props, KEY_INPUT_MIN)?.unwrap_or(DEFAULT_INPUT_RANGE.0);
    let hi = lookup::<f32>(props, KEY_INPUT_MAX)?.unwrap_or(DEFAULT_INPUT_RANGE.1);
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(ModelError::Metadata {
            key: format!("{KEY_INPUT_MIN}, {KEY_INPUT_MAX}"),
            value: format!("{lo}, {hi}"),
            reason: "the input range must be a finite interval with min <= max".into(),
        });
    }
    Ok(ModelParams {
        fixed,
        input_range: (lo, hi),
    })
}

/// The last value of `key`, parsed.
fn lookup<T: std::str::FromStr>(
    props: &[(String, String)],
    key: &str,
) -> Result<Option<T>, ModelError> {
    let Some((_, value)) = props.iter().rev().find(|(k, _)| k == key) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| ModelError::Metadata {
            key: key.into(),
            value: value.clone(),
            reason: format!("not a valid {}", std::any::type_name::<T>()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_metadata_and_overrides() {
        let p = params_from_metadata(&[], &LoadOptions::default()).unwrap();
        assert_eq!(p.fixed, FixedPoint { f: 12, k: 40 });
        assert_eq!(p.input_range, (-64.0, 64.0));
        let m = props(&[
            ("veil.f", "10"),
            ("veil.k", "36"),
            ("veil.input_min", "0"),
            ("veil.input_max", "1"),
        ]);
        let p = params_from_metadata(&m, &LoadOptions::default()).unwrap();
        assert_eq!(
            (p.fixed, p.input_range),
            (FixedPoint { f: 10, k: 36 }, (0.0, 1.0))
        );
        let o = LoadOptions {
            f: Some(14),
            k: Some(44),
        };
        assert_eq!(
            params_from_metadata(&m, &o).unwrap().fixed,
            FixedPoint { f: 14, k: 44 }
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = params_from_metadata(&props(&[("veil.f", "twelve")]), &LoadOptions::default());
        assert!(e.unwrap_err().to_string().contains("veil.f"));
        let e = params_from_metadata(&props(&[("veil.k", "20")]), &LoadOptions::default());
        assert!(matches!(
            e,
            Err(ModelError::FixedPoint { f: 12, k: 20, .. })
        ));
        let m = props(&[("veil.input_min", "1"), ("veil.input_max", "0")]);
        assert!(params_from_metadata(&m, &LoadOptions::default()).is_err());
        let m = props(&[("veil.input_max", "inf")]);
        assert!(params_from_metadata(&m, &LoadOptions::default()).is_err());
    }
}
