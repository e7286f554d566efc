//! The public shape of one layer: what it computes and on how many values.
//!
//! Tensors flow as flat vectors in C order; images are `channels × height × width`.
//! A linear layer is a map bilinear in the server's weights and the shared input
//! ([`Linear::apply`]), which is all the matrix-triple protocol needs: a dense layer, a
//! convolution, either one after a sum-pool (an average pool whose divisor the weights
//! carry), with an optional residual input added on shares.

use crate::codec::{DecodeError, Reader, Writer};
use crate::linalg;
use crate::ring::Ring;

/// Largest vector a plan may describe; a bound on what a peer can make us allocate.
pub const MAX_LEN: usize = 1 << 24;

/// An image's shape: `c × h × w` values in C order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Image {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Image {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.c.saturating_mul(self.h).saturating_mul(self.w)
    }

    /// True when the image holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encode(&self, w: &mut Writer) {
        w.u64(self.c as u64).u64(self.h as u64).u64(self.w as u64);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Image, DecodeError> {
        Ok(Image {
            c: read_dim(r, "channels")?,
            h: read_dim(r, "height")?,
            w: read_dim(r, "width")?,
        })
    }
}

/// A sliding window over an image's two spatial dimensions (no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel height and width.
    pub size: [usize; 2],
    /// Vertical and horizontal stride.
    pub stride: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Window {
    /// A window of `size` moved by `stride`, without padding.
    pub fn new(size: [usize; 2], stride: [usize; 2]) -> Window {
        Window {
            size,
            stride,
            pads: [0; 4],
        }
    }

    /// Output height and width over an `h × w` input, or `None` if the window does not
    /// fit or a stride is zero.
    pub fn out_dims(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let dim = |n: usize, lo: usize, hi: usize, k: usize, s: usize| {
            let padded = n + lo + hi;
            (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        Some((
            dim(h, self.pads[0], self.pads[2], self.size[0], self.stride[0])?,
            dim(w, self.pads[1], self.pads[3], self.size[1], self.stride[1])?,
        ))
    }

    /// Number of positions in the window.
    pub fn area(&self) -> usize {
        self.size[0].saturating_mul(self.size[1])
    }

    fn encode(&self, w: &mut Writer) {
        for v in self.size.iter().chain(&self.stride).chain(&self.pads) {
            w.u64(*v as u64);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Window, DecodeError> {
        let mut v = [0usize; 8];
        for (i, x) in v.iter_mut().enumerate() {
            *x = if i < 4 {
                read_dim(r, "window size or stride")?
            } else {
                read_small(r, "window padding")?
            };
        }
        Ok(Window {
            size: [v[0], v[1]],
            stride: [v[2], v[3]],
            pads: [v[4], v[5], v[6], v[7]],
        })
    }
}

/// The weighted part of a linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinearOp {
    /// `W·x`, W row-major `rows × cols`.
    Dense {
        /// Output length.
        rows: usize,
        /// Input length.
        cols: usize,
    },
    /// A 2-D convolution (cross-correlation, as ONNX), W as `out × in × kh × kw`.
    Conv {
        /// The input image.
        input: Image,
        /// Output channels.
        out_channels: usize,
        /// Kernel size, stride and zero padding.
        window: Window,
    },
}

impl LinearOp {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        match *self {
            LinearOp::Dense { cols, .. } => cols,
            LinearOp::Conv { input, .. } => input.len(),
        }
    }

    /// The output image of a convolution.
    fn conv_output(input: Image, out_channels: usize, window: Window) -> Option<Image> {
        let (h, w) = window.out_dims(input.h, input.w)?;
        Some(Image {
            c: out_channels,
            h,
            w,
        })
    }

    /// Number of output values (0 if the shape does not work out).
    pub fn output_len(&self) -> usize {
        match *self {
            LinearOp::Dense { rows, .. } => rows,
            LinearOp::Conv {
                input,
                out_channels,
                window,
            } => Self::conv_output(input, out_channels, window).map_or(0, |o| o.len()),
        }
    }

    /// Number of weights.
    pub fn weight_len(&self) -> usize {
        match *self {
            LinearOp::Dense { rows, cols } => rows.saturating_mul(cols),
            LinearOp::Conv {
                input,
                out_channels,
                window,
            } => out_channels
                .saturating_mul(input.c)
                .saturating_mul(window.area()),
        }
    }

    /// Multiply-accumulates of one application (what the layer costs to compute).
    pub fn macs(&self) -> usize {
        match *self {
            LinearOp::Dense { rows, cols } => rows.saturating_mul(cols),
            LinearOp::Conv { input, window, .. } => self
                .output_len()
                .saturating_mul(input.c)
                .saturating_mul(window.area()),
        }
    }

    /// `W ⋆ x` in Z_{2^64}.
    pub fn apply(&self, w: &[Ring], x: &[Ring]) -> Vec<Ring> {
        match *self {
            LinearOp::Dense { rows, cols } => linalg::matvec(w, rows, cols, x),
            LinearOp::Conv {
                input,
                out_channels,
                window,
            } => linalg::conv2d(w, out_channels, input, window, x),
        }
    }
}

/// A sum over each window of an image (zero padding counts as zeros): an average pool
/// whose divisor the next weights carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SumPool {
    /// The input image.
    pub input: Image,
    /// The pooling window.
    pub window: Window,
}

impl SumPool {
    /// The pooled image.
    pub fn output(&self) -> Option<Image> {
        let (h, w) = self.window.out_dims(self.input.h, self.input.w)?;
        Some(Image {
            c: self.input.c,
            h,
            w,
        })
    }
}

/// A linear layer: `op(W, pool(x)) + b`, plus `2^f ·` an earlier layer's output when
/// `residual` names one. W at scale 2^f, b and the output at 2^(2f).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Linear {
    /// A sum-pool applied to the input first.
    pub pool: Option<SumPool>,
    /// The weighted map.
    pub op: LinearOp,
    /// Index of an earlier layer (a ReLU or max-pool, scale 2^f) added to the output.
    pub residual: Option<usize>,
}

impl Linear {
    /// A plain dense layer.
    pub fn dense(rows: usize, cols: usize) -> Linear {
        Linear {
            pool: None,
            op: LinearOp::Dense { rows, cols },
            residual: None,
        }
    }

    /// Number of input values.
    pub fn input_len(&self) -> usize {
        match &self.pool {
            Some(p) => p.input.len(),
            None => self.op.input_len(),
        }
    }

    /// Number of output values.
    pub fn output_len(&self) -> usize {
        self.op.output_len()
    }

    /// `op(W, pool(x))` in Z_{2^64}: bilinear in W and x, without bias or residual.
    pub fn apply(&self, w: &[Ring], x: &[Ring]) -> Vec<Ring> {
        match &self.pool {
            Some(p) => self.op.apply(w, &linalg::sum_pool(p.input, p.window, x)),
            None => self.op.apply(w, x),
        }
    }

    fn check(&self, name: &str) -> Result<(), String> {
        let op_in = self.op.input_len();
        if let Some(p) = &self.pool {
            let out = p
                .output()
                .ok_or_else(|| format!("the pooling window of layer {name} does not fit"))?;
            if out.len() != op_in {
                return Err(format!(
                    "layer {name} pools to {} values but its weights take {op_in}",
                    out.len()
                ));
            }
        }
        if let LinearOp::Conv {
            input,
            out_channels,
            window,
        } = self.op
        {
            if Self::conv_fits(input, out_channels, window).is_none() {
                return Err(format!("the kernel of layer {name} does not fit its input"));
            }
        }
        let (n_in, n_out) = (self.input_len(), self.output_len());
        if n_in == 0 || n_in > MAX_LEN || n_out == 0 || n_out > MAX_LEN {
            return Err(format!("layer {name} has an unsupported size"));
        }
        if self.op.weight_len() > MAX_LEN * 4 || self.op.macs() > MAX_LEN * 64 {
            return Err(format!("layer {name} has too many weights"));
        }
        Ok(())
    }

    fn conv_fits(input: Image, out_channels: usize, window: Window) -> Option<Image> {
        let out = LinearOp::conv_output(input, out_channels, window)?;
        (window.pads[0] < window.size[0]
            && window.pads[2] < window.size[0]
            && window.pads[1] < window.size[1]
            && window.pads[3] < window.size[1])
            .then_some(out)
    }

    fn encode(&self, w: &mut Writer) {
        match &self.pool {
            None => {
                w.u8(0);
            }
            Some(p) => {
                w.u8(1);
                p.input.encode(w);
                p.window.encode(w);
            }
        }
        match self.op {
            LinearOp::Dense { rows, cols } => {
                w.u8(0).u64(rows as u64).u64(cols as u64);
            }
            LinearOp::Conv {
                input,
                out_channels,
                window,
            } => {
                w.u8(1);
                input.encode(w);
                w.u64(out_channels as u64);
                window.encode(w);
            }
        }
        match self.residual {
            None => w.u8(0),
            Some(i) => w.u8(1).u64(i as u64),
        };
    }

    fn decode(r: &mut Reader<'_>) -> Result<Linear, DecodeError> {
        let pool = match r.u8("pool flag")? {
            0 => None,
            1 => Some(SumPool {
                input: Image::decode(r)?,
                window: Window::decode(r)?,
            }),
            t => return Err(invalid("pool flag", t)),
        };
        let op = match r.u8("linear op")? {
            0 => LinearOp::Dense {
                rows: read_dim(r, "rows")?,
                cols: read_dim(r, "cols")?,
            },
            1 => LinearOp::Conv {
                input: Image::decode(r)?,
                out_channels: read_dim(r, "output channels")?,
                window: Window::decode(r)?,
            },
            t => return Err(invalid("linear op", t)),
        };
        let residual = match r.u8("residual flag")? {
            0 => None,
            1 => Some(read_small(r, "residual layer")?),
            t => return Err(invalid("residual flag", t)),
        };
        Ok(Linear { pool, op, residual })
    }
}

/// The inputs a non-linear layer compares: for each output, `m` candidate input indices;
/// the output is the ReLU of their maximum, shifted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Candidates per output.
    pub m: usize,
    /// `m` input indices per output, output-major.
    pub index: Vec<usize>,
}

impl Windows {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.index.len() / self.m
    }

    /// The candidates' values, candidate-major: candidate `i` of output `o` at `i·n + o`,
    /// so that each candidate position is one contiguous run of `n` values.
    pub fn gather(&self, x: &[Ring]) -> Vec<Ring> {
        let n = self.outputs();
        (0..self.m)
            .flat_map(|i| (0..n).map(move |o| x[self.index[o * self.m + i]]))
            .collect()
    }
}

/// One layer's public shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// A linear layer (scale 2^f in, 2^(2f) out).
    Linear(Linear),
    /// `y = ReLU(x) >> f` on `len` values: scale 2^(2f) back to 2^f, exactly.
    ReluTrunc {
        /// Number of values.
        len: usize,
    },
    /// `y = ReLU(max over each window of x) >> f`: a max-pool with the following (or
    /// preceding) ReLU folded in, scale 2^(2f) to 2^f. No padding.
    MaxPoolRelu {
        /// The input image.
        input: Image,
        /// The pooling window.
        window: Window,
    },
    /// The index of the first largest of `len` values (scale 2^(2f), read as signed): the
    /// label alone, for answers that reveal nothing else of the outputs. Last in a plan.
    Argmax {
        /// Number of values (classes).
        len: usize,
    },
}

/// Most classes a label-only answer compares: its one-stage circuit compares every pair.
pub const MAX_CLASSES: usize = 256;

impl LayerKind {
    /// A dense linear layer.
    pub fn dense(rows: usize, cols: usize) -> LayerKind {
        LayerKind::Linear(Linear::dense(rows, cols))
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Linear(l) => match l.op {
                LinearOp::Dense { .. } => "linear",
                LinearOp::Conv { .. } => "conv",
            },
            LayerKind::ReluTrunc { .. } => "relu",
            LayerKind::MaxPoolRelu { .. } => "maxpool-relu",
            LayerKind::Argmax { .. } => "argmax",
        }
    }

    /// Length of the layer's input.
    pub fn input_len(&self) -> usize {
        match self {
            LayerKind::Linear(l) => l.input_len(),
            LayerKind::ReluTrunc { len } => *len,
            LayerKind::MaxPoolRelu { input, .. } => input.len(),
            LayerKind::Argmax { len } => *len,
        }
    }

    /// Length of the layer's output.
    pub fn output_len(&self) -> usize {
        match self {
            LayerKind::Linear(l) => l.output_len(),
            LayerKind::ReluTrunc { len } => *len,
            LayerKind::MaxPoolRelu { input, window } => window
                .out_dims(input.h, input.w)
                .map_or(0, |(h, w)| input.c.saturating_mul(h).saturating_mul(w)),
            LayerKind::Argmax { .. } => 1,
        }
    }

    /// True for the layers that compute on the server's weights.
    pub fn is_linear(&self) -> bool {
        matches!(self, LayerKind::Linear(_))
    }

    /// The non-linear layer's windows; `None` for a linear layer. A ReLU is the case of
    /// one candidate per output; an argmax, of one output with every value a candidate.
    pub fn windows(&self) -> Option<Windows> {
        match *self {
            LayerKind::Linear(_) => None,
            LayerKind::Argmax { len } => Some(Windows {
                m: len,
                index: (0..len).collect(),
            }),
            LayerKind::ReluTrunc { len } => Some(Windows {
                m: 1,
                index: (0..len).collect(),
            }),
            LayerKind::MaxPoolRelu { input, window } => {
                let (oh, ow) = window.out_dims(input.h, input.w)?;
                let mut index = Vec::with_capacity(input.c * oh * ow * window.area());
                for c in 0..input.c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for dy in 0..window.size[0] {
                                for dx in 0..window.size[1] {
                                    let (y, x) =
                                        (oy * window.stride[0] + dy, ox * window.stride[1] + dx);
                                    index.push((c * input.h + y) * input.w + x);
                                }
                            }
                        }
                    }
                }
                Some(Windows {
                    m: window.area(),
                    index,
                })
            }
        }
    }

    /// Checks the layer's own shape; `name` is for messages.
    pub(super) fn check(&self, name: &str) -> Result<(), String> {
        match self {
            LayerKind::Linear(l) => l.check(name),
            LayerKind::ReluTrunc { len } => (*len > 0 && *len <= MAX_LEN)
                .then_some(())
                .ok_or_else(|| format!("layer {name} has an unsupported size")),
            LayerKind::MaxPoolRelu { input, window } => {
                if window.pads != [0; 4] {
                    return Err(format!("max-pool layer {name} has padding"));
                }
                let n = self.output_len();
                let m = window.area();
                if n == 0 || input.len() > MAX_LEN || m > 64 || n.saturating_mul(m) > MAX_LEN {
                    return Err(format!("max-pool layer {name} has an unsupported size"));
                }
                Ok(())
            }
            LayerKind::Argmax { len } => {
                (2..=MAX_CLASSES)
                    .contains(len)
                    .then_some(())
                    .ok_or_else(|| {
                        format!(
                            "layer {name} picks the label among {len} values; \
                         2 to {MAX_CLASSES} can be"
                        )
                    })
            }
        }
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        match self {
            LayerKind::Linear(l) => {
                w.u8(0);
                l.encode(w);
            }
            LayerKind::ReluTrunc { len } => {
                w.u8(1).u64(*len as u64);
            }
            LayerKind::MaxPoolRelu { input, window } => {
                w.u8(2);
                input.encode(w);
                window.encode(w);
            }
            LayerKind::Argmax { len } => {
                w.u8(3).u64(*len as u64);
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<LayerKind, DecodeError> {
        Ok(match r.u8("layer kind")? {
            0 => LayerKind::Linear(Linear::decode(r)?),
            1 => LayerKind::ReluTrunc {
                len: read_dim(r, "len")?,
            },
            2 => LayerKind::MaxPoolRelu {
                input: Image::decode(r)?,
                window: Window::decode(r)?,
            },
            3 => LayerKind::Argmax {
                len: read_dim(r, "classes")?,
            },
            t => return Err(invalid("layer kind", t)),
        })
    }
}

fn invalid(what: &'static str, tag: u8) -> DecodeError {
    DecodeError::Invalid {
        what,
        detail: format!("unknown tag {tag}"),
    }
}

/// A dimension: 1 to [`MAX_LEN`].
pub(super) fn read_dim(r: &mut Reader<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let v = r.u64(what)?;
    if v == 0 || v > MAX_LEN as u64 {
        return Err(DecodeError::Invalid {
            what,
            detail: format!("{v} is outside 1..={MAX_LEN}"),
        });
    }
    Ok(v as usize)
}

/// A count that may be zero: 0 to [`MAX_LEN`].
fn read_small(r: &mut Reader<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let v = r.u64(what)?;
    if v > MAX_LEN as u64 {
        return Err(DecodeError::Invalid {
            what,
            detail: format!("{v} exceeds {MAX_LEN}"),
        });
    }
    Ok(v as usize)
}
