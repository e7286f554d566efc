//! veil's own float model: a sequential list of layers, and its float evaluator.
//!
//! This is what an ONNX graph imports to and what [`crate::lower`] turns into a
//! fixed-point plan. Values flow as one flat vector in C order; shape layers only record
//! the shape the exporter gave the vector and do not move values.

/// A fully connected layer `y = W·x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Output length.
    pub rows: usize,
    /// Input length.
    pub cols: usize,
    /// `rows × cols`, row-major (out × in).
    pub weight: Vec<f64>,
    /// `rows` values.
    pub bias: Vec<f64>,
}

impl Dense {
    /// `W·x + b` in f64.
    ///
    /// # Panics
    /// If `x` does not have `cols` values.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.cols, "dense layer input length");
        self.weight
            .chunks_exact(self.cols)
            .zip(&self.bias)
            .map(|(row, b)| row.iter().zip(x).map(|(w, v)| w * v).sum::<f64>() + b)
            .collect()
    }
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A fully connected layer.
    Dense(Dense),
    /// `max(x, 0)` elementwise.
    Relu,
    /// An ONNX Flatten: the values stay, the shape becomes `shape`.
    Flatten {
        /// The shape after the layer.
        shape: Vec<usize>,
    },
    /// An ONNX Reshape: the values stay, the shape becomes `shape`.
    Reshape {
        /// The shape after the layer.
        shape: Vec<usize>,
    },
}

impl Op {
    /// True for layers that do not change the values (shape bookkeeping only).
    pub fn is_shape_only(&self) -> bool {
        matches!(self, Op::Flatten { .. } | Op::Reshape { .. })
    }
}

/// A named layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The name of the ONNX node it came from.
    pub name: String,
    /// What it computes.
    pub op: Op,
}

/// A float model: input shape, calibrated input range and layers in order.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// The input shape, batch dimension included (and set to 1).
    pub input_shape: Vec<usize>,
    /// The range inputs are expected in (`veil.input_min`, `veil.input_max`).
    pub input_range: (f32, f32),
    /// The layers in order.
    pub layers: Vec<Layer>,
}

impl FloatModel {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of output values.
    pub fn output_len(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|l| match &l.op {
                Op::Dense(d) => Some(d.rows),
                _ => None,
            })
            .unwrap_or_else(|| self.input_len())
    }

    /// Evaluates the model in f64.
    ///
    /// # Panics
    /// If `input` does not have [`FloatModel::input_len`] values.
    pub fn eval(&self, input: &[f64]) -> Vec<f64> {
        assert_eq!(input.len(), self.input_len(), "model input length");
        let mut x = input.to_vec();
        for layer in &self.layers {
            match &layer.op {
                Op::Dense(d) => x = d.apply(&x),
                Op::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                Op::Flatten { .. } | Op::Reshape { .. } => {}
            }
        }
        x
    }

    /// Evaluates the model on f32 inputs, in f64, rounding the outputs to f32.
    ///
    /// # Panics
    /// If `input` does not have [`FloatModel::input_len`] values.
    pub fn eval_f32(&self, input: &[f32]) -> Vec<f32> {
        let x: Vec<f64> = input.iter().map(|&v| f64::from(v)).collect();
        self.eval(&x).into_iter().map(|v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_applies_dense_and_relu() {
        let model = FloatModel {
            input_shape: vec![1, 2],
            input_range: (-1.0, 1.0),
            layers: vec![
                Layer {
                    name: "fc".into(),
                    op: Op::Dense(Dense {
                        rows: 2,
                        cols: 2,
                        weight: vec![1.0, -1.0, 0.5, 0.5],
                        bias: vec![0.0, -1.0],
                    }),
                },
                Layer {
                    name: "relu".into(),
                    op: Op::Relu,
                },
            ],
        };
        assert_eq!(model.eval(&[1.0, 0.5]), vec![0.5, 0.0]);
        assert_eq!(model.eval(&[-1.0, 1.0]), vec![0.0, 0.0]);
        assert_eq!(model.output_len(), 2);
    }
}
