//! From a decoded ONNX graph to veil's float model.
//!
//! The graph must be a chain: one data input, nodes in order each reading the previous
//! node's output (and constants), one output at the end. One kind of branch is allowed,
//! the identity skip: `Add(y, h)` where `y` is the output of the chain's latest linear
//! layer and `h` an earlier ReLU or max-pool output; it imports as [`Op::Residual`].
//! BatchNormalization folds into the Conv or Gemm before it; a final Softmax or
//! LogSoftmax is dropped (veil returns the logits).

use std::collections::HashMap;
use std::path::Path;

use super::constants::Constants;
use super::ops::norm::fold_batch_norm;
use super::ops::{self, node_label, spatial, unsupported_use};
use super::proto::{Dim, GraphProto, ModelProto, NodeProto};
use super::tensor::data_type;
use crate::error::ModelError;
use crate::ir::{FloatModel, Layer, Op};

/// Lowest default-domain opset veil reads (Gemm and Add broadcast as today since 7).
pub const MIN_OPSET: i64 = 7;

/// The walk along the chain.
struct Walk<'g> {
    constants: Constants<'g>,
    /// The name of the value at the end of the chain so far.
    current: &'g str,
    /// Its shape.
    shape: Vec<usize>,
    layers: Vec<Layer>,
    /// ReLU and max-pool outputs a skip connection may add back: value → (layer, shape).
    skip_sources: HashMap<&'g str, (usize, Vec<usize>)>,
    /// The final Softmax or LogSoftmax once seen (its label): no data node may follow.
    softmax: Option<String>,
}

/// Imports a decoded model; `dir` is its folder (for external weights).
pub fn import_model(
    model: &ModelProto,
    dir: Option<&Path>,
    input_range: (f32, f32),
) -> Result<FloatModel, ModelError> {
    check_opset(model)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Invalid("the model has no graph".into()))?;
    if graph.sparse_initializers > 0 {
        return Err(ModelError::Invalid(
            "sparse initializers are not supported".into(),
        ));
    }
    let mut walk = Walk::start(graph, dir)?;
    let input_shape = walk.shape.clone();
    for node in &graph.node {
        walk.step(node)?;
    }
    walk.finish(graph)?;
    Ok(FloatModel {
        input_shape,
        input_range,
        layers: walk.layers,
    })
}

fn check_opset(model: &ModelProto) -> Result<(), ModelError> {
    let version = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| {
            ModelError::Invalid("the model declares no opset for the default ONNX domain".into())
        })?;
    if version < MIN_OPSET {
        return Err(ModelError::Invalid(format!(
            "opset {version} is too old; veil reads opset {MIN_OPSET} and later"
        )));
    }
    Ok(())
}

/// The input's shape: batch dimension (symbolic or 1) set to 1, every other fixed.
fn input_shape(name: &str, dims: Option<&[Dim]>) -> Result<Vec<usize>, ModelError> {
    let err = |detail: String| ModelError::Shape {
        node: format!("input {name}"),
        detail,
    };
    let dims = dims.ok_or_else(|| err("the graph input has no shape".into()))?;
    let batch = dims.len() >= 2;
    let shape = dims
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Value(1) => Ok(1),
            Dim::Value(v) if i == 0 && batch => Err(err(format!(
                "batch dimension {v}: veil runs one input at a time (batch 1 or symbolic)"
            ))),
            Dim::Value(v) if *v >= 1 => {
                usize::try_from(*v).map_err(|_| err(format!("dimension {v}")))
            }
            Dim::Param(_) | Dim::Unknown if i == 0 && batch => Ok(1),
            Dim::Param(p) => Err(err(format!(
                "dimension {i} is symbolic ({p}); veil needs it fixed"
            ))),
            other => Err(err(format!("dimension {i} is {other:?}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dims_i64: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    super::tensor::checked_dims(&dims_i64).map_err(err)?;
    Ok(shape)
}

impl<'g> Walk<'g> {
    fn start(graph: &'g GraphProto, dir: Option<&'g Path>) -> Result<Self, ModelError> {
        let constants = Constants::new(&graph.initializer, dir);
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains(&i.name))
            .collect();
        let [input] = inputs.as_slice() else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(ModelError::NotAChain(format!(
                "veil needs exactly one data input, the graph has {names:?}"
            )));
        };
        match input.elem_type {
            Some(data_type::FLOAT | data_type::DOUBLE) => {}
            other => {
                return Err(ModelError::Invalid(format!(
                    "input {} has element type {other:?}; float32 or float64 is needed",
                    input.name
                )))
            }
        }
        Ok(Walk {
            constants,
            current: &input.name,
            shape: input_shape(&input.name, input.shape.as_deref())?,
            layers: Vec::new(),
            skip_sources: HashMap::new(),
            softmax: None,
        })
    }

    /// Processes one node.
    fn step(&mut self, node: &'g NodeProto) -> Result<(), ModelError> {
        check_supported(node)?;
        if node.op_type == "Constant" {
            return self.constants.add_node(node);
        }
        let output = single_output(node)?.as_str();
        if self.constants.folds(node) {
            return self.constants.fold(node, output);
        }
        if let Some(softmax) = &self.softmax {
            return Err(ModelError::NotAChain(format!(
                "node {} follows {softmax}; a Softmax or LogSoftmax is supported only as the \
                 last node (veil returns the logits before it)",
                node_label(node)
            )));
        }
        let name = if node.name.is_empty() {
            output.to_string()
        } else {
            node.name.clone()
        };
        let op = if self.is_merge(node) {
            Some(self.residual(node)?)
        } else {
            self.check_chain(node)?;
            self.apply(node)?
        };
        if let Some(op) = op {
            if matches!(op, Op::Relu | Op::MaxPool { .. }) {
                let source = (self.layers.len(), self.shape.clone());
                self.skip_sources.insert(output, source);
            }
            self.layers.push(Layer { name, op });
        }
        self.current = output;
        Ok(())
    }

    /// Checks the node reads the chain's current value, once, and otherwise constants.
    fn check_chain(&self, node: &NodeProto) -> Result<(), ModelError> {
        let dynamic: Vec<&String> = node
            .input
            .iter()
            .filter(|i| !i.is_empty() && !self.constants.contains(i))
            .collect();
        match dynamic.as_slice() {
            [only] if only.as_str() == self.current => Ok(()),
            [] => Err(ModelError::NotAChain(format!(
                "node {} reads only constants (export with constant folding)",
                node_label(node)
            ))),
            _ => Err(ModelError::NotAChain(format!(
                "node {} reads {dynamic:?}, but the chain's value at that point is {}; \
                 branches and merges are not supported",
                node_label(node),
                self.current
            ))),
        }
    }

    /// Applies one data node: the layer it adds, if any; updates the shape.
    fn apply(&mut self, node: &NodeProto) -> Result<Option<Op>, ModelError> {
        let input = |i: usize| node.input.get(i).map(String::as_str).unwrap_or("");
        self.data_first(node)?;
        let (op, shape) = match node.op_type.as_str() {
            "Gemm" => {
                let b = self.constants.get(node, input(1))?;
                let c = self.constants.optional(node, 2)?;
                let (dense, shape) = ops::gemm(node, &self.shape, &b, c.as_ref())?;
                (Op::Dense(dense), shape)
            }
            "MatMul" => {
                let b = self.constants.get(node, input(1))?;
                let (dense, shape) = ops::matmul(node, &self.shape, &b)?;
                (Op::Dense(dense), shape)
            }
            "Conv" => {
                let w = self.constants.get(node, input(1))?;
                let b = self.constants.optional(node, 2)?;
                let (conv, shape) = spatial::conv(node, &self.shape, &w, b.as_ref())?;
                (Op::Conv(conv), shape)
            }
            "MaxPool" => spatial::max_pool(node, &self.shape)?,
            "AveragePool" => spatial::avg_pool(node, &self.shape)?,
            "GlobalAveragePool" => spatial::global_avg_pool(node, &self.shape)?,
            "ReduceMean" => {
                let axes = self.constants.optional(node, 1)?;
                spatial::reduce_mean(node, &self.shape, axes.as_ref())?
            }
            "Flatten" => {
                let shape = ops::flatten(node, &self.shape)?;
                (
                    Op::Flatten {
                        shape: shape.clone(),
                    },
                    shape,
                )
            }
            "Reshape" => {
                let target = self.constants.get(node, input(1))?;
                let shape = ops::reshape(node, &self.shape, &target)?;
                (
                    Op::Reshape {
                        shape: shape.clone(),
                    },
                    shape,
                )
            }
            "Relu" => (Op::Relu, self.shape.clone()),
            "Add" => return self.add_bias(node).map(|()| None),
            "BatchNormalization" => return self.batch_norm(node).map(|()| None),
            "Softmax" | "LogSoftmax" => {
                self.softmax = Some(node_label(node));
                return Ok(None);
            }
            "Identity" => return Ok(None),
            _ => return Err(unsupported_op(node)),
        };
        self.shape = shape;
        Ok(Some(op))
    }

    /// Checks the data is the node's first input (an Add's may be either).
    fn data_first(&self, node: &NodeProto) -> Result<(), ModelError> {
        if node.op_type == "Add" || node.input.first().map(String::as_str) == Some(self.current) {
            Ok(())
        } else {
            Err(unsupported_use(node, "the data must be the first input"))
        }
    }

    /// Add of a constant right after a MatMul, Gemm or Conv: folds into that layer's bias.
    fn add_bias(&mut self, node: &NodeProto) -> Result<(), ModelError> {
        let constant_name = match node.input.as_slice() {
            [a, b] if a.as_str() == self.current => b,
            [a, b] if b.as_str() == self.current => a,
            _ => return Err(unsupported_use(node, "Add needs the data and one constant")),
        };
        let c = self.constants.get(node, constant_name)?;
        let (bias, shape) = ops::add_constant(node, &self.shape, &c)?;
        let (layer_bias, per_channel) = match self.layers.last_mut().map(|l| &mut l.op) {
            Some(Op::Dense(dense)) => (&mut dense.bias, false),
            Some(Op::Conv(conv)) => (&mut conv.bias, true),
            _ => {
                return Err(unsupported_use(
                    node,
                    "an Add of a constant must directly follow a MatMul, Gemm or Conv (a bias)",
                ))
            }
        };
        if per_channel {
            // One value per output element: it must be constant over each channel's plane.
            let plane = bias.len() / layer_bias.len().max(1);
            let uniform = bias
                .chunks(plane.max(1))
                .all(|c| c.iter().all(|&v| v == c[0]));
            if !uniform {
                return Err(unsupported_use(
                    node,
                    "a bias added to a Conv must be one value per channel",
                ));
            }
            let firsts = bias.iter().step_by(plane.max(1));
            layer_bias.iter_mut().zip(firsts).for_each(|(b, v)| *b += v);
        } else {
            layer_bias.iter_mut().zip(bias).for_each(|(b, v)| *b += v);
        }
        self.shape = shape;
        Ok(())
    }

    /// BatchNormalization: folded into the linear layer before it.
    fn batch_norm(&mut self, node: &NodeProto) -> Result<(), ModelError> {
        let mut params = Vec::with_capacity(4);
        for i in 1..=4 {
            let name = node.input.get(i).map(String::as_str).unwrap_or("");
            params.push(self.constants.get(node, name)?);
        }
        let layer = self.layers.last_mut().map(|l| &mut l.op);
        fold_batch_norm(
            node,
            &self.shape,
            layer,
            [&params[0], &params[1], &params[2], &params[3]],
        )
    }

    /// True for an Add of two data values (a skip connection, if anything).
    fn is_merge(&self, node: &NodeProto) -> bool {
        node.op_type == "Add"
            && node.input.len() == 2
            && node.input.iter().all(|i| !self.constants.contains(i))
    }

    /// `Add(y, h)`: `y` the latest linear layer's output, `h` an earlier ReLU or max-pool
    /// output of the same shape.
    fn residual(&self, node: &NodeProto) -> Result<Op, ModelError> {
        let (a, b) = (node.input[0].as_str(), node.input[1].as_str());
        let merge_error = |why: String| {
            ModelError::NotAChain(format!(
                "node {} adds {a} and {b}: {why}; veil supports a merge only as a skip \
                 connection, Add(output of a Conv or Gemm, an earlier Relu or MaxPool output)",
                node_label(node)
            ))
        };
        let other = match (a == self.current, b == self.current) {
            (true, false) => b,
            (false, true) => a,
            _ => {
                return Err(merge_error(format!(
                    "the chain's value at that point is {}",
                    self.current
                )))
            }
        };
        let Some((from, shape)) = self.skip_sources.get(other) else {
            return Err(merge_error(format!(
                "{other} is not the output of an earlier Relu or MaxPool"
            )));
        };
        if !self.layers.last().is_some_and(|l| l.op.is_linear()) {
            return Err(merge_error(format!(
                "{} is not the output of a Conv, Gemm or MatMul",
                self.current
            )));
        }
        if *shape != self.shape {
            return Err(ModelError::Shape {
                node: node_label(node),
                detail: format!("adds {other} of shape {shape:?} to shape {:?}", self.shape),
            });
        }
        Ok(Op::Residual { from: *from })
    }

    /// Checks the chain ends at the graph's only output.
    fn finish(&self, graph: &GraphProto) -> Result<(), ModelError> {
        match graph.output.as_slice() {
            [out] if out.name == self.current => Ok(()),
            [out] => Err(ModelError::NotAChain(format!(
                "the graph output {} is not the end of the chain ({})",
                out.name, self.current
            ))),
            outs => Err(ModelError::NotAChain(format!(
                "veil needs exactly one graph output, the graph has {}",
                outs.len()
            ))),
        }
    }
}

/// The node's only output; optional outputs left empty do not count.
fn single_output(node: &NodeProto) -> Result<&String, ModelError> {
    let outputs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
    match (outputs.as_slice(), node.op_type.as_str()) {
        ([only], _) => Ok(only),
        (_, "MaxPool") => Err(unsupported_use(
            node,
            "a second output (the indices) is not supported",
        )),
        (_, "BatchNormalization") => Err(unsupported_use(
            node,
            "the running mean and variance outputs (training mode) are not supported",
        )),
        (outs, _) => Err(unsupported_use(
            node,
            format!("{} outputs; veil needs one", outs.len()),
        )),
    }
}

const SUPPORTED: [&str; 16] = [
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "Flatten",
    "Reshape",
    "Identity",
    "Constant",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "BatchNormalization",
    "Softmax",
    "LogSoftmax",
];

fn check_supported(node: &NodeProto) -> Result<(), ModelError> {
    let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
    if default_domain && SUPPORTED.contains(&node.op_type.as_str()) {
        Ok(())
    } else {
        Err(unsupported_op(node))
    }
}

fn unsupported_op(node: &NodeProto) -> ModelError {
    let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
    ModelError::UnsupportedOp {
        op: if default_domain {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        },
        node: node_label(node),
    }
}
