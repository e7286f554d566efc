//! veil's own float model: a sequential list of layers, and its float evaluator.
//!
//! This is what an ONNX graph imports to and what [`crate::lower()`] turns into a
//! fixed-point plan. Values flow as one flat vector in C order (images `c × h × w`);
//! shape layers only record the shape the exporter gave the vector and do not move
//! values. A skip connection is a back-reference: [`Op::Residual`] adds the output of an
//! earlier layer, as the plan's `Linear::residual` does.

use veil_plan::{Image, Window};

use crate::kernels;

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
        let mut y = kernels::dense(&self.weight, self.rows, self.cols, x);
        y.iter_mut().zip(&self.bias).for_each(|(v, b)| *v += b);
        y
    }
}

/// A 2-D convolution (ONNX Conv: cross-correlation, zero padding, no dilation, one group).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// The input image.
    pub input: Image,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size, stride and padding.
    pub window: Window,
    /// `out × in × kh × kw` in C order.
    pub weight: Vec<f64>,
    /// One value per output channel.
    pub bias: Vec<f64>,
}

impl Conv {
    /// The output image.
    pub fn output(&self) -> Image {
        kernels::out_image(self.input, self.window, self.out_channels)
    }

    /// `W ⋆ x + b` in f64.
    ///
    /// # Panics
    /// If `x` does not hold the input image.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        let mut y = kernels::conv2d(&self.weight, self.out_channels, self.input, self.window, x);
        let plane = self.output().h * self.output().w;
        for (chunk, b) in y.chunks_mut(plane.max(1)).zip(&self.bias) {
            chunk.iter_mut().for_each(|v| *v += b);
        }
        y
    }
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A fully connected layer.
    Dense(Dense),
    /// A convolution.
    Conv(Conv),
    /// `max(x, 0)` elementwise.
    Relu,
    /// The maximum over each window (no padding).
    MaxPool {
        /// The input image.
        input: Image,
        /// The window.
        window: Window,
    },
    /// The mean over each window, zero padding counted (a global pool is the whole image).
    AvgPool {
        /// The input image.
        input: Image,
        /// The window.
        window: Window,
    },
    /// Adds the output of the earlier layer `from` (an index into the layers).
    Residual {
        /// The layer whose output is added.
        from: usize,
    },
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

    /// True for the layers with weights.
    pub fn is_linear(&self) -> bool {
        matches!(self, Op::Dense(_) | Op::Conv(_))
    }

    /// Number of output values given `len` input values.
    pub fn output_len(&self, len: usize) -> usize {
        match self {
            Op::Dense(d) => d.rows,
            Op::Conv(c) => c.output().len(),
            Op::MaxPool { input, window } | Op::AvgPool { input, window } => {
                kernels::out_image(*input, *window, input.c).len()
            }
            Op::Relu | Op::Residual { .. } | Op::Flatten { .. } | Op::Reshape { .. } => len,
        }
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
            .fold(self.input_len(), |len, l| l.op.output_len(len))
    }

    /// Evaluates the model in f64.
    ///
    /// # Panics
    /// If `input` does not have [`FloatModel::input_len`] values, or a layer does not fit
    /// its input (an imported model always fits).
    pub fn eval(&self, input: &[f64]) -> Vec<f64> {
        self.eval_layers(input)
            .pop()
            .unwrap_or_else(|| input.to_vec())
    }

    /// Evaluates the model in f64 and returns every layer's output, in order.
    ///
    /// # Panics
    /// As [`FloatModel::eval`].
    pub fn eval_layers(&self, input: &[f64]) -> Vec<Vec<f64>> {
        assert_eq!(input.len(), self.input_len(), "model input length");
        let mut outputs: Vec<Vec<f64>> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let x = outputs.last().map_or(input, Vec::as_slice);
            let y = match &layer.op {
                Op::Dense(d) => d.apply(x),
                Op::Conv(c) => c.apply(x),
                Op::Relu => x.iter().map(|v| v.max(0.0)).collect(),
                Op::MaxPool { input, window } => kernels::max_pool(*input, *window, x),
                Op::AvgPool { input, window } => {
                    let count = (window.size[0] * window.size[1]) as f64;
                    let sums = kernels::sum_pool(*input, *window, x);
                    sums.into_iter().map(|s| s / count).collect()
                }
                Op::Residual { from } => {
                    let earlier = &outputs[*from];
                    assert_eq!(earlier.len(), x.len(), "residual length");
                    x.iter().zip(earlier).map(|(a, b)| a + b).collect()
                }
                Op::Flatten { .. } | Op::Reshape { .. } => x.to_vec(),
            };
            outputs.push(y);
        }
        outputs
    }

    /// Evaluates the model on f32 inputs, in f64, rounding the outputs to f32.
    ///
    /// # Panics
    /// As [`FloatModel::eval`].
    pub fn eval_f32(&self, input: &[f32]) -> Vec<f32> {
        let x: Vec<f64> = input.iter().map(|&v| f64::from(v)).collect();
        self.eval(&x).into_iter().map(|v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, op: Op) -> Layer {
        Layer {
            name: name.into(),
            op,
        }
    }

    #[test]
    fn eval_applies_dense_and_relu() {
        let model = FloatModel {
            input_shape: vec![1, 2],
            input_range: (-1.0, 1.0),
            layers: vec![
                layer(
                    "fc",
                    Op::Dense(Dense {
                        rows: 2,
                        cols: 2,
                        weight: vec![1.0, -1.0, 0.5, 0.5],
                        bias: vec![0.0, -1.0],
                    }),
                ),
                layer("relu", Op::Relu),
            ],
        };
        assert_eq!(model.eval(&[1.0, 0.5]), vec![0.5, 0.0]);
        assert_eq!(model.eval(&[-1.0, 1.0]), vec![0.0, 0.0]);
        assert_eq!(model.output_len(), 2);
    }

    #[test]
    fn eval_runs_conv_pools_and_the_skip() {
        let image = Image { c: 1, h: 2, w: 2 };
        let model = FloatModel {
            input_shape: vec![1, 1, 2, 2],
            input_range: (-1.0, 1.0),
            layers: vec![
                layer("relu0", Op::Relu),
                layer(
                    "conv",
                    Op::Conv(Conv {
                        input: image,
                        out_channels: 1,
                        window: Window::new([1, 1], [1, 1]),
                        weight: vec![-2.0],
                        bias: vec![0.5],
                    }),
                ),
                layer("add", Op::Residual { from: 0 }),
                layer("relu1", Op::Relu),
                layer(
                    "avg",
                    Op::AvgPool {
                        input: image,
                        window: Window::new([2, 2], [1, 1]),
                    },
                ),
            ],
        };
        // relu0 = [1, 0, 3, 0]; conv = [-1.5, 0.5, -5.5, 0.5]; + relu0 = [-0.5, 0.5, -2.5, 0.5];
        // relu1 = [0, 0.5, 0, 0.5]; mean = 0.25.
        assert_eq!(model.eval(&[1.0, -1.0, 3.0, -2.0]), vec![0.25]);
        assert_eq!(model.output_len(), 1);
    }
}
