//! Lowering the float model to veil's public plan and the server's fixed-point weights.
//!
//! - Dense and Conv become `Linear` layers, W at scale 2^f and the bias at 2^(2f), one
//!   bias value per output element.
//! - A ReLU becomes `ReluTrunc` (ReLU, then the floor shift by f back to scale 2^f); a
//!   ReLU next to a max-pool (either order: they commute) becomes one `MaxPoolRelu`.
//! - An average pool becomes the sum-`pool` of the next linear layer, whose float
//!   weights take the divisor before encoding.
//! - A residual Add becomes the `residual` of the linear layer it follows, naming the
//!   plan layer of the earlier ReLU or max-pool; shape layers vanish.

use veil_plan::ring::FixedPoint;
use veil_plan::{
    Backend, Image, LayerKind, Linear, LinearOp, LinearWeights, Plan, PlanLayer, SumPool, Weights,
    Window, MAX_LEN,
};

use crate::error::ModelError;
use crate::ir::{FloatModel, Layer, Op};

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
    let mut lowering = Lowering {
        fixed,
        model,
        layers: Vec::new(),
        linear: Vec::new(),
        plan_index: vec![None; model.layers.len()],
        pool: None,
        len: model.input_len(),
    };
    let steps: Vec<usize> = (0..model.layers.len())
        .filter(|&i| !model.layers[i].op.is_shape_only())
        .collect();
    let mut rest = steps.as_slice();
    while let [index, tail @ ..] = rest {
        let consumed = lowering.step(*index, tail.first().copied())?;
        rest = &rest[consumed..];
    }
    if let Some(pool) = lowering.pool {
        return Err(no_linear_after(&model.layers[pool.0]));
    }
    let plan = Plan {
        model: name.into(),
        input_shape: model.input_shape.clone(),
        input_range: model.input_range,
        fixed,
        backend: Backend::Gmw,
        layers: lowering.layers,
    };
    plan.validate()?;
    let weights = Weights {
        linear: lowering.linear,
    };
    weights.check(&plan)?;
    Ok((plan, weights))
}

/// The state of a lowering pass.
struct Lowering<'m> {
    fixed: FixedPoint,
    model: &'m FloatModel,
    layers: Vec<PlanLayer>,
    linear: Vec<LinearWeights>,
    /// For each IR layer, the plan layer holding its output (ReLU and max-pool layers).
    plan_index: Vec<Option<usize>>,
    /// An average pool waiting for its linear layer: (IR index, input, window).
    pool: Option<(usize, Image, Window)>,
    /// Length of the value flowing at this point.
    len: usize,
}

impl Lowering<'_> {
    /// Lowers IR layer `index` (`next` is the following non-shape layer); returns how many
    /// IR layers it consumed.
    fn step(&mut self, index: usize, next: Option<usize>) -> Result<usize, ModelError> {
        let model = self.model;
        let layer = &model.layers[index];
        if let Some((pool, ..)) = self.pool.filter(|_| !layer.op.is_linear()) {
            return Err(no_linear_after(&model.layers[pool]));
        }
        let next_op = next.map(|n| &model.layers[n].op);
        match (&layer.op, next_op) {
            (Op::Dense(_) | Op::Conv(_), _) => self.linear_layer(layer)?,
            (Op::Relu, Some(Op::MaxPool { input, window }))
            | (Op::MaxPool { input, window }, Some(Op::Relu)) => {
                let fused = next.unwrap_or(index);
                let name = &model.layers[fused].name;
                let kind = LayerKind::MaxPoolRelu {
                    input: *input,
                    window: *window,
                };
                self.plan_index[fused] = Some(self.push(name, kind));
                return Ok(2);
            }
            (Op::Relu, _) => {
                let kind = LayerKind::ReluTrunc { len: self.len };
                self.plan_index[index] = Some(self.push(&layer.name, kind));
            }
            (Op::MaxPool { .. }, _) => {
                return Err(ModelError::Invalid(format!(
                    "max-pool {} has no ReLU next to it; veil runs a max-pool only fused \
                     with a ReLU before or after it",
                    layer.name
                )))
            }
            (Op::AvgPool { input, window }, _) => self.avg_pool(index, *input, *window)?,
            (Op::Residual { from }, _) => self.residual(layer, *from)?,
            (Op::Flatten { .. } | Op::Reshape { .. }, _) => {}
        }
        Ok(1)
    }

    /// Appends a plan layer; returns its index.
    fn push(&mut self, name: &str, kind: LayerKind) -> usize {
        self.len = kind.output_len();
        self.layers.push(PlanLayer {
            name: clip(name),
            kind,
        });
        self.layers.len() - 1
    }

    /// A Dense or Conv, taking the pending average pool.
    fn linear_layer(&mut self, layer: &Layer) -> Result<(), ModelError> {
        let pool = self
            .pool
            .take()
            .map(|(_, input, window)| SumPool { input, window });
        let divisor = pool.map_or(1.0, |p| p.window.area() as f64);
        let (op, weight, bias) = match &layer.op {
            Op::Dense(d) => (
                LinearOp::Dense {
                    rows: d.rows,
                    cols: d.cols,
                },
                &d.weight,
                d.bias.clone(),
            ),
            Op::Conv(c) => {
                let out = c.output();
                if out.len() > MAX_LEN {
                    return Err(ModelError::Invalid(format!(
                        "convolution {} has {} outputs; a plan holds at most {MAX_LEN}",
                        layer.name,
                        out.len()
                    )));
                }
                let plane = out.h * out.w;
                let bias = c.bias.iter().flat_map(|&b| std::iter::repeat_n(b, plane));
                let op = LinearOp::Conv {
                    input: c.input,
                    out_channels: c.out_channels,
                    window: c.window,
                };
                (op, &c.weight, bias.collect())
            }
            _ => return Err(ModelError::Invalid("internal: not a linear layer".into())),
        };
        let weight: Vec<f64> = weight.iter().map(|w| w / divisor).collect();
        let lw = encode(&weight, &bias, self.fixed, &layer.name)?;
        self.linear.push(lw);
        let linear = Linear {
            pool,
            op,
            residual: None,
        };
        self.push(&layer.name, LayerKind::Linear(linear));
        Ok(())
    }

    /// An average pool: held for the next linear layer, which cannot be right behind.
    fn avg_pool(&mut self, index: usize, input: Image, window: Window) -> Result<(), ModelError> {
        if let Some(prev) = self.layers.last().filter(|l| l.kind.is_linear()) {
            return Err(ModelError::Invalid(format!(
                "average pool {} directly follows linear layer {}; veil folds an average \
                 pool into the next linear layer, so a ReLU or max-pool must come between",
                self.model.layers[index].name, prev.name
            )));
        }
        self.pool = Some((index, input, window));
        Ok(())
    }

    /// A skip connection: the residual of the linear layer just lowered.
    fn residual(&mut self, layer: &Layer, from: usize) -> Result<(), ModelError> {
        let source = self.plan_index.get(from).copied().flatten();
        let from_name = self.model.layers.get(from).map_or("?", |l| l.name.as_str());
        let Some(PlanLayer {
            kind: LayerKind::Linear(linear),
            ..
        }) = self.layers.last_mut()
        else {
            return Err(ModelError::Invalid(format!(
                "the skip connection {} does not directly follow a linear layer",
                layer.name
            )));
        };
        match (source, linear.residual) {
            (Some(j), None) => {
                linear.residual = Some(j);
                Ok(())
            }
            (None, _) => Err(ModelError::Invalid(format!(
                "the skip connection {} adds the output of {from_name}, which no plan layer \
                 holds (a value inside a fused max-pool and ReLU, or not a ReLU output)",
                layer.name
            ))),
            (Some(_), Some(_)) => Err(ModelError::Invalid(format!(
                "the skip connection {} adds a second residual to one linear layer",
                layer.name
            ))),
        }
    }
}

fn no_linear_after(pool: &Layer) -> ModelError {
    ModelError::Invalid(format!(
        "average pool {} is not followed by a Conv or Gemm, into which veil folds it",
        pool.name
    ))
}

/// Encodes one layer: W at 2^f, bias at 2^(2f); refuses values that would saturate.
fn encode(
    weight: &[f64],
    bias: &[f64],
    fixed: FixedPoint,
    name: &str,
) -> Result<LinearWeights, ModelError> {
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
    check(weight, fixed.f, "weight")?;
    check(bias, 2 * fixed.f, "bias")?;
    Ok(LinearWeights {
        w: weight.iter().map(|&v| fixed.encode(v)).collect(),
        bias: bias.iter().map(|&v| fixed.encode_double(v)).collect(),
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
mod tests;
