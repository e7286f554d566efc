//! Lowering the float model to veil's public plan and the server's fixed-point weights.
//!
//! Each Dense becomes `Linear { rows, cols }` with W at scale 2^f and the bias at
//! 2^(2f); each ReLU becomes `ReluTrunc { len }` (ReLU, then the floor shift by f that
//! brings products back to scale 2^f); shape layers vanish.

use veil_protocol::plan::{LayerKind, LinearWeights, Plan, PlanLayer, Weights};
use veil_protocol::ring::FixedPoint;

use crate::error::ModelError;
use crate::ir::{Dense, FloatModel, Op};

/// Longest model or layer name a plan carries (what `Plan::decode` accepts).
pub const MAX_NAME: usize = 256;

/// Largest magnitude an encoded parameter may have: far below 2^63, where encoding
/// would saturate.
const MAX_ENCODED: f64 = (1u64 << 62) as f64;

/// Lowers `model` to a plan named `name` and its weights, and checks both.
pub fn lower(
    model: &FloatModel,
    name: &str,
    fixed: FixedPoint,
) -> Result<(Plan, Weights), ModelError> {
    fixed.validate().map_err(|reason| ModelError::FixedPoint {
        f: fixed.f,
        k: fixed.k,
        reason,
    })?;
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(ModelError::Invalid(format!(
            "the model name must have 1 to {MAX_NAME} bytes, {name:?} has {}",
            name.len()
        )));
    }
    let mut layers = Vec::new();
    let mut linear = Vec::new();
    let mut len = model.input_len();
    for layer in &model.layers {
        let kind = match &layer.op {
            Op::Dense(dense) => {
                linear.push(encode_dense(dense, fixed, &layer.name)?);
                LayerKind::Linear {
                    rows: dense.rows,
                    cols: dense.cols,
                }
            }
            Op::Relu => LayerKind::ReluTrunc { len },
            Op::Flatten { .. } | Op::Reshape { .. } => continue,
        };
        len = kind.output_len();
        layers.push(PlanLayer {
            name: clip(&layer.name),
            kind,
        });
    }
    let plan = Plan {
        model: name.into(),
        input_shape: model.input_shape.clone(),
        input_range: model.input_range,
        fixed,
        backend: veil_protocol::plan::Backend::Gmw,
        layers,
    };
    plan.validate()?;
    let weights = Weights { linear };
    weights.check(&plan)?;
    Ok((plan, weights))
}

/// Encodes one dense layer: W at 2^f, bias at 2^(2f); refuses values that would saturate.
fn encode_dense(dense: &Dense, fixed: FixedPoint, name: &str) -> Result<LinearWeights, ModelError> {
    let check = |values: &[f64], frac: u32, what: &str| -> Result<(), ModelError> {
        let scale = 2f64.powi(frac as i32);
        match values.iter().find(|&&v| (v * scale).abs() >= MAX_ENCODED) {
            None => Ok(()),
            Some(v) => Err(ModelError::Tensor {
                name: name.into(),
                detail: format!("{what} {v} is too large for {frac} fraction bits"),
            }),
        }
    };
    check(&dense.weight, fixed.f, "weight")?;
    check(&dense.bias, 2 * fixed.f, "bias")?;
    Ok(LinearWeights {
        rows: dense.rows,
        cols: dense.cols,
        w: dense.weight.iter().map(|&v| fixed.encode(v)).collect(),
        bias: dense.bias.iter().map(|&v| fixed.encode_double(v)).collect(),
    })
}

/// Cuts a layer name to [`MAX_NAME`] bytes at a character boundary.
fn clip(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Layer;

    fn model() -> FloatModel {
        let dense = |rows, cols| {
            Op::Dense(Dense {
                rows,
                cols,
                weight: (0..rows * cols).map(|i| i as f64 / 8.0 - 0.5).collect(),
                bias: (0..rows).map(|i| i as f64 / 4.0).collect(),
            })
        };
        let layer = |name: &str, op| Layer {
            name: name.into(),
            op,
        };
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
        let fixed = FixedPoint { f: 8, k: 24 };
        let (plan, weights) = lower(&model(), "tiny", fixed).unwrap();
        let kinds: Vec<_> = plan.layers.iter().map(|l| l.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                LayerKind::Linear { rows: 3, cols: 4 },
                LayerKind::ReluTrunc { len: 3 },
                LayerKind::Linear { rows: 2, cols: 3 },
            ]
        );
        assert_eq!(plan.layers[0].name, "fc1");
        assert_eq!(weights.linear[0].w[0], fixed.encode(-0.5));
        assert_eq!(weights.linear[0].bias[1], fixed.encode_double(0.25));
        assert_eq!(weights.linear[0].bias[1], 1 << 14);
    }

    #[test]
    fn refuses_bad_names_huge_weights_and_bad_plans() {
        let fixed = FixedPoint { f: 8, k: 24 };
        assert!(lower(&model(), "", fixed).is_err());
        assert!(lower(&model(), &"m".repeat(300), fixed).is_err());
        let mut m = model();
        if let Op::Dense(d) = &mut m.layers[1].op {
            d.weight[0] = 1e300;
        }
        assert!(matches!(
            lower(&m, "m", fixed),
            Err(ModelError::Tensor { .. })
        ));
        let mut m = model();
        m.layers.remove(2);
        assert!(matches!(lower(&m, "m", fixed), Err(ModelError::Plan(_))));
        assert!(matches!(
            lower(&model(), "m", FixedPoint { f: 8, k: 10 }),
            Err(ModelError::FixedPoint { .. })
        ));
        assert_eq!(clip(&"é".repeat(200)).len(), 256);
    }
}
