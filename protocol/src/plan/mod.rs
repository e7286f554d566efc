//! The plan: the public shape of a model (layer kinds and sizes, fixed-point parameters).
//!
//! The server derives it from its model and sends it to the client; both present its hash
//! to the dealer, which shapes the correlated randomness after it. Weights are not part of
//! the plan: they never leave the server.

use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Writer};
use crate::ring::{FixedPoint, Ring};

/// Largest vector a plan may describe; a bound on what a peer can make us allocate.
pub const MAX_LEN: usize = 1 << 24;
/// Largest number of layers in a plan.
pub const MAX_LAYERS: usize = 1024;

/// How the non-linear layers run: part of the plan, since it shapes the material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// GMW on XOR shares with the dealer's AND triples (log-depth carry circuit).
    Gmw,
    /// Garbled circuits: the server garbles, the client evaluates; no dealer for them.
    Gc,
}

impl Backend {
    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gmw => "gmw",
            Backend::Gc => "gc",
        }
    }
}

/// One layer's public shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// `y = W·x + b`: W is `rows × cols` at scale 2^f, b at scale 2^(2f); y at scale 2^(2f).
    Linear {
        /// Output length.
        rows: usize,
        /// Input length.
        cols: usize,
    },
    /// `y = ReLU(x) >> f` on `len` values: scale 2^(2f) back to 2^f, exactly.
    ReluTrunc {
        /// Number of values.
        len: usize,
    },
}

impl LayerKind {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Linear { .. } => "linear",
            LayerKind::ReluTrunc { .. } => "relu",
        }
    }

    /// Length of the layer's output.
    pub fn output_len(&self) -> usize {
        match *self {
            LayerKind::Linear { rows, .. } => rows,
            LayerKind::ReluTrunc { len } => len,
        }
    }
}

/// A named layer of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanLayer {
    /// The layer's name (from the ONNX node that produced it).
    pub name: String,
    /// Its kind and shape.
    pub kind: LayerKind,
}

/// The public description of a model that secure inference runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The model's name (the server's name for it).
    pub model: String,
    /// The input tensor's shape; its element count is the first layer's input length.
    pub input_shape: Vec<usize>,
    /// The range that inputs must lie in (from calibration); the client refuses others.
    pub input_range: (f32, f32),
    /// Fixed-point parameters.
    pub fixed: FixedPoint,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// The layers in order.
    pub layers: Vec<PlanLayer>,
}

/// Why a plan is not well formed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("invalid plan: {0}")]
pub struct PlanError(pub String);

impl Plan {
    /// Number of input elements.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        self.layers
            .last()
            .map_or(self.input_len(), |l| l.kind.output_len())
    }

    /// Fraction bits of the output: 2f after a final linear layer, f after a ReLU.
    pub fn output_frac(&self) -> u32 {
        match self.layers.last().map(|l| &l.kind) {
            Some(LayerKind::Linear { .. }) => 2 * self.fixed.f,
            _ => self.fixed.f,
        }
    }

    /// Checks sizes chain from layer to layer and scales alternate as the protocols need:
    /// a linear layer takes scale f, a ReLU takes scale 2f.
    pub fn validate(&self) -> Result<(), PlanError> {
        self.fixed.validate().map_err(|e| PlanError(e.into()))?;
        let err = |m: String| Err(PlanError(m));
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return err(format!("a plan needs 1 to {MAX_LAYERS} layers"));
        }
        let (lo, hi) = self.input_range;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return err("the input range is not a finite interval".into());
        }
        let mut len = self.input_len();
        let mut double_scale = false;
        for layer in &self.layers {
            match layer.kind {
                LayerKind::Linear { rows, cols } => {
                    if cols != len {
                        return err(format!(
                            "layer {} takes {cols} values but receives {len}",
                            layer.name
                        ));
                    }
                    if double_scale {
                        return err(format!(
                            "layer {} follows a linear layer without a ReLU between; \
                             consecutive linear layers are not supported yet",
                            layer.name
                        ));
                    }
                    if rows == 0 || rows > MAX_LEN || rows.saturating_mul(cols) > MAX_LEN * 4 {
                        return err(format!("layer {} has an unsupported size", layer.name));
                    }
                    double_scale = true;
                }
                LayerKind::ReluTrunc { len: n } => {
                    if n != len {
                        return err(format!(
                            "layer {} takes {n} values but receives {len}",
                            layer.name
                        ));
                    }
                    if !double_scale {
                        return err(format!(
                            "layer {} is a ReLU that does not follow a linear layer",
                            layer.name
                        ));
                    }
                    double_scale = false;
                }
            }
            len = layer.kind.output_len();
        }
        if len == 0 || len > MAX_LEN {
            return err("the output is empty or too large".into());
        }
        Ok(())
    }

    /// Canonical encoding: what the hash covers and what the server sends the client.
    pub fn encode(&self, w: &mut Writer) {
        w.str(&self.model);
        w.u32(self.input_shape.len() as u32);
        for d in &self.input_shape {
            w.u64(*d as u64);
        }
        w.u32(self.input_range.0.to_bits());
        w.u32(self.input_range.1.to_bits());
        w.u32(self.fixed.f).u32(self.fixed.k);
        w.u8(match self.backend {
            Backend::Gmw => 0,
            Backend::Gc => 1,
        });
        w.u32(self.layers.len() as u32);
        for l in &self.layers {
            w.str(&l.name);
            match l.kind {
                LayerKind::Linear { rows, cols } => w.u8(0).u64(rows as u64).u64(cols as u64),
                LayerKind::ReluTrunc { len } => w.u8(1).u64(len as u64),
            };
        }
    }

    /// Decodes and validates a plan a peer sent.
    pub fn decode(r: &mut Reader<'_>) -> Result<Plan, DecodeError> {
        let bad = |detail: String| DecodeError::Invalid {
            what: "plan",
            detail,
        };
        let model = r.str(256, "model name")?;
        let dims = r.u32("input rank")? as usize;
        if dims > 8 {
            return Err(bad(format!("input rank {dims} exceeds 8")));
        }
        let input_shape = (0..dims)
            .map(|_| read_len(r, "input dimension"))
            .collect::<Result<Vec<_>, _>>()?;
        let input_range = (
            f32::from_bits(r.u32("input range")?),
            f32::from_bits(r.u32("input range")?),
        );
        let fixed = FixedPoint {
            f: r.u32("f")?,
            k: r.u32("k")?,
        };
        let backend = match r.u8("backend")? {
            0 => Backend::Gmw,
            1 => Backend::Gc,
            t => return Err(bad(format!("unknown backend {t}"))),
        };
        let n = r.u32("layer count")? as usize;
        if n > MAX_LAYERS {
            return Err(bad(format!("{n} layers exceed {MAX_LAYERS}")));
        }
        let mut layers = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str(256, "layer name")?;
            let kind = match r.u8("layer kind")? {
                0 => LayerKind::Linear {
                    rows: read_len(r, "rows")?,
                    cols: read_len(r, "cols")?,
                },
                1 => LayerKind::ReluTrunc {
                    len: read_len(r, "len")?,
                },
                t => return Err(bad(format!("unknown layer kind {t}"))),
            };
            layers.push(PlanLayer { name, kind });
        }
        let plan = Plan {
            model,
            input_shape,
            input_range,
            fixed,
            backend,
            layers,
        };
        plan.validate().map_err(|e| bad(e.0))?;
        Ok(plan)
    }

    /// SHA-256 of the canonical encoding: what the parties present to the dealer.
    pub fn hash(&self) -> [u8; 32] {
        let mut w = Writer::default();
        self.encode(&mut w);
        Sha256::digest(w.into_bytes()).into()
    }
}

fn read_len(r: &mut Reader<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let v = r.u64(what)?;
    if v == 0 || v > MAX_LEN as u64 {
        return Err(DecodeError::Invalid {
            what,
            detail: format!("{v} is outside 1..={MAX_LEN}"),
        });
    }
    Ok(v as usize)
}

/// The server's secret parameters of one linear layer, in fixed point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearWeights {
    /// Output length.
    pub rows: usize,
    /// Input length.
    pub cols: usize,
    /// `rows × cols`, row-major, at scale 2^f.
    pub w: Vec<Ring>,
    /// `rows` values at scale 2^(2f).
    pub bias: Vec<Ring>,
}

/// The server's weights: one entry per linear layer of the plan, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    /// Linear layers' parameters in plan order.
    pub linear: Vec<LinearWeights>,
}

impl Weights {
    /// Checks the weights fit the plan layer by layer.
    pub fn check(&self, plan: &Plan) -> Result<(), PlanError> {
        let shapes: Vec<(usize, usize)> = plan
            .layers
            .iter()
            .filter_map(|l| match l.kind {
                LayerKind::Linear { rows, cols } => Some((rows, cols)),
                LayerKind::ReluTrunc { .. } => None,
            })
            .collect();
        let ok = shapes.len() == self.linear.len()
            && shapes.iter().zip(&self.linear).all(|(&(r, c), lw)| {
                lw.rows == r && lw.cols == c && lw.w.len() == r * c && lw.bias.len() == r
            });
        if ok {
            Ok(())
        } else {
            Err(PlanError("the weights do not fit the plan".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn mlp_plan() -> Plan {
        Plan {
            model: "mlp".into(),
            input_shape: vec![1, 4],
            input_range: (0.0, 1.0),
            fixed: FixedPoint { f: 8, k: 24 },
            backend: Backend::Gmw,
            layers: vec![
                PlanLayer {
                    name: "fc1".into(),
                    kind: LayerKind::Linear { rows: 3, cols: 4 },
                },
                PlanLayer {
                    name: "relu1".into(),
                    kind: LayerKind::ReluTrunc { len: 3 },
                },
                PlanLayer {
                    name: "fc2".into(),
                    kind: LayerKind::Linear { rows: 2, cols: 3 },
                },
            ],
        }
    }

    #[test]
    fn encode_decode_round_trip_and_hash_is_stable() {
        let p = mlp_plan();
        p.validate().unwrap();
        let mut w = Writer::default();
        p.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let q = Plan::decode(&mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(p, q);
        assert_eq!(p.hash(), q.hash());
        let mut other = p.clone();
        other.fixed.f = 9;
        assert_ne!(p.hash(), other.hash());
        let mut gc = p.clone();
        gc.backend = Backend::Gc;
        assert_ne!(
            p.hash(),
            gc.hash(),
            "the backend is part of what the dealer checks"
        );
    }

    #[test]
    fn mismatched_shapes_and_scales_are_refused() {
        let mut p = mlp_plan();
        p.layers[2].kind = LayerKind::Linear { rows: 2, cols: 4 };
        assert!(p.validate().unwrap_err().0.contains("fc2"));
        let mut p = mlp_plan();
        p.layers.remove(1);
        assert!(p.validate().is_err());
    }

    #[test]
    fn decode_refuses_garbage_without_panicking() {
        let p = mlp_plan();
        let mut w = Writer::default();
        p.encode(&mut w);
        let bytes = w.into_bytes();
        for cut in 0..bytes.len() {
            assert!(Plan::decode(&mut Reader::new(&bytes[..cut])).is_err());
        }
        let mut flipped = bytes.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = Plan::decode(&mut Reader::new(&flipped));
            flipped[i] ^= 0xff;
        }
    }
}
