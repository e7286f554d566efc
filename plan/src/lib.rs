//! The plan: the public shape of a model (layer kinds and sizes, fixed-point parameters),
//! with what both the cryptography and the model side need of it: the ring and fixed
//! point ([`ring`]), the linear maps a plan names ([`linalg`]) and the checked codec that
//! every peer's bytes go through ([`codec`]), and the model's [`card`] (how images become
//! its input, the names of its classes).
//!
//! The server derives the plan from its model and sends it to the client; both present its
//! hash to the dealer, which shapes the correlated randomness after it. Weights are not
//! part of the plan: they never leave the server. Nothing here is secret or random, so
//! ONNX import and the plaintext reference (`veil-model`) use it without the cryptography.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Writer};
use crate::ring::{FixedPoint, Ring};

pub mod card;
pub mod codec;
mod layer;
pub mod linalg;
pub mod ring;

pub use layer::{
    Image, LayerKind, Linear, LinearOp, SumPool, Window, Windows, MAX_CLASSES, MAX_LEN,
};

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
        self.input_shape
            .iter()
            .fold(1, |n: usize, d| n.saturating_mul(*d))
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        self.layers
            .last()
            .map_or(self.input_len(), |l| l.kind.output_len())
    }

    /// Fraction bits of the output: 2f after a final linear layer, f after a ReLU, none
    /// for a label.
    pub fn output_frac(&self) -> u32 {
        match self.layers.last().map(|l| &l.kind) {
            Some(LayerKind::Linear(_)) => 2 * self.fixed.f,
            Some(LayerKind::Argmax { .. }) => 0,
            _ => self.fixed.f,
        }
    }

    /// True when the plan answers with the label alone (it ends in an argmax).
    pub fn label_only(&self) -> bool {
        matches!(
            self.layers.last().map(|l| &l.kind),
            Some(LayerKind::Argmax { .. })
        )
    }

    /// The plan answering with the label alone: an argmax over the outputs appended, if it
    /// has none yet. The plan must end in a linear layer (its outputs are the logits).
    pub fn with_label_only(mut self) -> Result<Plan, PlanError> {
        if !self.label_only() {
            let len = self.output_len();
            self.layers.push(PlanLayer {
                name: "argmax".into(),
                kind: LayerKind::Argmax { len },
            });
            self.validate()?;
        }
        Ok(self)
    }

    /// Checks sizes chain from layer to layer and scales alternate as the protocols need:
    /// a linear layer takes scale f, a ReLU or max-pool takes scale 2f; a residual input
    /// is an earlier non-linear layer's output of the same length.
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
        for (index, layer) in self.layers.iter().enumerate() {
            let name = &layer.name;
            layer.kind.check(name).map_err(PlanError)?;
            let n = layer.kind.input_len();
            if n != len {
                return err(format!("layer {name} takes {n} values but receives {len}"));
            }
            match &layer.kind {
                LayerKind::Linear(linear) => {
                    if double_scale {
                        return err(format!(
                            "layer {name} follows a linear layer without a ReLU between; \
                             consecutive linear layers are not supported"
                        ));
                    }
                    if let Some(r) = linear.residual {
                        let ok = r < index
                            && !self.layers[r].kind.is_linear()
                            && self.layers[r].kind.output_len() == linear.output_len();
                        if !ok {
                            return err(format!(
                                "layer {name} adds a residual that is not an earlier ReLU \
                                 output of its length"
                            ));
                        }
                    }
                    double_scale = true;
                }
                LayerKind::ReluTrunc { .. } | LayerKind::MaxPoolRelu { .. } => {
                    if !double_scale {
                        return err(format!(
                            "layer {name} is a ReLU that does not follow a linear layer"
                        ));
                    }
                    double_scale = false;
                }
                LayerKind::Argmax { .. } => {
                    if !double_scale || index + 1 != self.layers.len() {
                        return err(format!(
                            "layer {name} picks the label: it must be last, after a linear layer"
                        ));
                    }
                }
            }
            len = layer.kind.output_len();
        }
        if len == 0 || len > MAX_LEN {
            return err("the output is empty or too large".into());
        }
        Ok(())
    }

    /// (plan index, shape) of every linear layer, in order.
    pub fn linear_layers(&self) -> impl Iterator<Item = (usize, &Linear)> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.kind {
                LayerKind::Linear(linear) => Some((i, linear)),
                _ => None,
            })
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
            l.kind.encode(w);
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
            .map(|_| layer::read_dim(r, "input dimension"))
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
            let kind = LayerKind::decode(r)?;
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

/// The server's secret parameters of one linear layer, in fixed point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearWeights {
    /// The weights at scale 2^f, laid out as the layer's [`LinearOp`] says.
    pub w: Vec<Ring>,
    /// One value per output at scale 2^(2f).
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
        let shapes: Vec<&Linear> = plan.linear_layers().map(|(_, l)| l).collect();
        let ok = shapes.len() == self.linear.len()
            && shapes
                .iter()
                .zip(&self.linear)
                .all(|(l, lw)| lw.w.len() == l.op.weight_len() && lw.bias.len() == l.output_len());
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
                    kind: LayerKind::dense(3, 4),
                },
                PlanLayer {
                    name: "relu1".into(),
                    kind: LayerKind::ReluTrunc { len: 3 },
                },
                PlanLayer {
                    name: "fc2".into(),
                    kind: LayerKind::dense(2, 3),
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
    fn label_only_appends_one_argmax_that_must_come_last() {
        let plain = mlp_plan();
        let labelled = plain.clone().with_label_only().unwrap();
        assert!(labelled.label_only() && !plain.label_only());
        assert_eq!(labelled.layers.len(), plain.layers.len() + 1);
        assert_eq!((labelled.output_len(), labelled.output_frac()), (1, 0));
        assert_ne!(
            labelled.hash(),
            plain.hash(),
            "the dealer shapes an argmax's material"
        );
        assert_eq!(labelled.clone().with_label_only().unwrap(), labelled);
        let mut w = Writer::default();
        labelled.encode(&mut w);
        let bytes = w.into_bytes();
        assert_eq!(Plan::decode(&mut Reader::new(&bytes)).unwrap(), labelled);
        // Not after a ReLU, not before another layer, not over too many classes.
        let mut p = plain.clone();
        p.layers.truncate(2);
        assert!(p.with_label_only().is_err());
        let mut p = labelled.clone();
        p.layers.push(p.layers[1].clone());
        assert!(p.validate().is_err());
        let mut p = plain;
        p.layers[2].kind = LayerKind::dense(MAX_CLASSES + 1, 3);
        assert!(p.with_label_only().unwrap_err().0.contains("argmax"));
    }

    #[test]
    fn mismatched_shapes_and_scales_are_refused() {
        let mut p = mlp_plan();
        p.layers[2].kind = LayerKind::dense(2, 4);
        assert!(p.validate().unwrap_err().0.contains("fc2"));
        let mut p = mlp_plan();
        p.layers.remove(1);
        assert!(p.validate().is_err());
    }

    #[test]
    fn huge_dimensions_are_refused_without_overflow() {
        let huge = Image {
            c: MAX_LEN,
            h: MAX_LEN,
            w: MAX_LEN,
        };
        let window = Window::new([MAX_LEN, MAX_LEN], [1, 1]);
        let mut p = mlp_plan();
        p.input_shape = vec![MAX_LEN; 8];
        p.layers[0].kind = LayerKind::Linear(Linear {
            pool: Some(SumPool {
                input: huge,
                window,
            }),
            op: LinearOp::Conv {
                input: huge,
                out_channels: MAX_LEN,
                window,
            },
            residual: None,
        });
        p.layers[1].kind = LayerKind::MaxPoolRelu {
            input: huge,
            window,
        };
        // Through the decoder too: what a peer's plan goes through.
        let mut w = Writer::default();
        p.encode(&mut w);
        let bytes = w.into_bytes();
        assert!(Plan::decode(&mut Reader::new(&bytes)).is_err());
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
