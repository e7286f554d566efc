//! From a decoded ONNX graph to veil's float model.
//!
//! The graph must be a chain: one data input, nodes in order each reading the previous
//! node's output (and constants), one output at the end. Constants are initializers and
//! `Constant` nodes; they are converted lazily, so unused ones are never read.

use std::collections::HashMap;
use std::path::Path;

use super::ops::{self, node_label};
use super::proto::{AttributeProto, Dim, GraphProto, ModelProto, NodeProto, TensorProto};
use super::tensor::{data_type, tensor_from_proto, Tensor, TensorData};
use crate::error::ModelError;
use crate::ir::{FloatModel, Layer, Op};

/// Lowest default-domain opset veil reads (Gemm and Add broadcast as today since 7).
pub const MIN_OPSET: i64 = 7;

/// A constant value: an initializer not yet read, or a tensor.
enum Constant<'g> {
    Proto(&'g TensorProto),
    Ready(Tensor),
}

/// The walk along the chain.
struct Walk<'g> {
    dir: Option<&'g Path>,
    constants: HashMap<&'g str, Constant<'g>>,
    /// The name of the value at the end of the chain so far.
    current: &'g str,
    /// Its shape.
    shape: Vec<usize>,
    layers: Vec<Layer>,
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
        let constants: HashMap<&str, Constant<'_>> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), Constant::Proto(t)))
            .collect();
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(i.name.as_str()))
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
            dir,
            constants,
            current: &input.name,
            shape: input_shape(&input.name, input.shape.as_deref())?,
            layers: Vec::new(),
        })
    }

    fn is_constant(&self, name: &str) -> bool {
        self.constants.contains_key(name)
    }

    /// Reads a constant input (converting an initializer the first time).
    fn constant(&mut self, node: &NodeProto, name: &str) -> Result<Tensor, ModelError> {
        let Some(entry) = self.constants.get_mut(name) else {
            return Err(ModelError::UnsupportedUse {
                op: node.op_type.clone(),
                node: node_label(node),
                detail: format!("input {name} must be a constant (an initializer or Constant)"),
            });
        };
        if let Constant::Proto(proto) = *entry {
            *entry = Constant::Ready(tensor_from_proto(proto, self.dir)?);
        }
        match entry {
            Constant::Ready(t) => Ok(t.clone()),
            Constant::Proto(_) => Err(ModelError::Invalid(
                "internal: constant not converted".into(),
            )),
        }
    }

    /// Processes one node.
    fn step(&mut self, node: &'g NodeProto) -> Result<(), ModelError> {
        check_supported(node)?;
        if node.op_type == "Constant" {
            return self.constant_node(node);
        }
        let [output] = node.output.as_slice() else {
            return Err(unsupported(
                node,
                format!("{} outputs; veil needs one", node.output.len()),
            ));
        };
        if self.folds(node) {
            return self.fold_constant(node, output);
        }
        self.check_chain(node)?;
        let name = if node.name.is_empty() {
            output.clone()
        } else {
            node.name.clone()
        };
        let op = self.apply(node)?;
        if let Some(op) = op {
            self.layers.push(Layer { name, op });
        }
        self.current = output;
        Ok(())
    }

    /// True for a shape no-op whose data input is a constant (e.g. `Identity` of a weight):
    /// it is folded, not applied to the chain.
    fn folds(&self, node: &NodeProto) -> bool {
        matches!(node.op_type.as_str(), "Identity" | "Reshape" | "Flatten")
            && node.input.first().is_some_and(|i| self.is_constant(i))
    }

    /// Folds a shape no-op on a constant into a new constant named after its output.
    fn fold_constant(&mut self, node: &NodeProto, output: &'g str) -> Result<(), ModelError> {
        let input = |i: usize| node.input.get(i).map(String::as_str).unwrap_or("");
        let mut tensor = self.constant(node, input(0))?;
        tensor.dims = match node.op_type.as_str() {
            "Reshape" => {
                let target = self.constant(node, input(1))?;
                ops::reshape(node, &tensor.dims, &target)?
            }
            "Flatten" => ops::flatten(node, &tensor.dims)?,
            _ => tensor.dims,
        };
        tensor.name = output.into();
        self.constants.insert(output, Constant::Ready(tensor));
        Ok(())
    }

    /// Checks the node reads the chain's current value, once, and otherwise constants.
    fn check_chain(&self, node: &NodeProto) -> Result<(), ModelError> {
        let dynamic: Vec<&String> = node
            .input
            .iter()
            .filter(|i| !i.is_empty() && !self.is_constant(i))
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
        match node.op_type.as_str() {
            "Gemm" => {
                self.data_first(node)?;
                let b = self.constant(node, input(1))?;
                let c = match input(2) {
                    "" => None,
                    name => Some(self.constant(node, name)?),
                };
                let (dense, shape) = ops::gemm(node, &self.shape, &b, c.as_ref())?;
                self.shape = shape;
                Ok(Some(Op::Dense(dense)))
            }
            "MatMul" => {
                self.data_first(node)?;
                let b = self.constant(node, input(1))?;
                let (dense, shape) = ops::matmul(node, &self.shape, &b)?;
                self.shape = shape;
                Ok(Some(Op::Dense(dense)))
            }
            "Add" => self.add_bias(node).map(|()| None),
            "Relu" | "Identity" => {
                self.data_first(node)?;
                Ok((node.op_type == "Relu").then_some(Op::Relu))
            }
            "Flatten" => {
                self.data_first(node)?;
                self.shape = ops::flatten(node, &self.shape)?;
                Ok(Some(Op::Flatten {
                    shape: self.shape.clone(),
                }))
            }
            "Reshape" => {
                self.data_first(node)?;
                let target = self.constant(node, input(1))?;
                self.shape = ops::reshape(node, &self.shape, &target)?;
                Ok(Some(Op::Reshape {
                    shape: self.shape.clone(),
                }))
            }
            _ => Err(unsupported_op(node)),
        }
    }

    fn data_first(&self, node: &NodeProto) -> Result<(), ModelError> {
        if node.input.first().map(String::as_str) == Some(self.current) {
            Ok(())
        } else {
            Err(unsupported(node, "the data must be the first input"))
        }
    }

    /// Add of a constant right after a MatMul or Gemm: folds into that layer's bias.
    fn add_bias(&mut self, node: &NodeProto) -> Result<(), ModelError> {
        let constant_name = match node.input.as_slice() {
            [a, b] if a.as_str() == self.current => b,
            [a, b] if b.as_str() == self.current => a,
            _ => return Err(unsupported(node, "Add needs the data and one constant")),
        };
        let c = self.constant(node, constant_name)?;
        let Some(Layer {
            op: Op::Dense(dense),
            ..
        }) = self.layers.last_mut()
        else {
            return Err(unsupported(
                node,
                "an Add of a constant must directly follow a MatMul or Gemm (a bias)",
            ));
        };
        let (bias, shape) = ops::add_constant(node, &self.shape, &c)?;
        dense.bias.iter_mut().zip(bias).for_each(|(b, v)| *b += v);
        self.shape = shape;
        Ok(())
    }

    /// A `Constant` node: its value joins the constants.
    fn constant_node(&mut self, node: &'g NodeProto) -> Result<(), ModelError> {
        let [output] = node.output.as_slice() else {
            return Err(unsupported(node, "a Constant needs exactly one output"));
        };
        let [attr] = node.attribute.as_slice() else {
            return Err(unsupported(
                node,
                "a Constant needs exactly one value attribute",
            ));
        };
        let tensor = constant_value(attr, output, self.dir).map_err(|e| match e {
            Some(err) => err,
            None => unsupported(node, format!("attribute {} is not supported", attr.name)),
        })?;
        self.constants.insert(output, Constant::Ready(tensor));
        Ok(())
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

/// The tensor a Constant's attribute holds; `Err(None)` for an attribute veil does not read.
fn constant_value(
    attr: &AttributeProto,
    name: &str,
    dir: Option<&Path>,
) -> Result<Tensor, Option<ModelError>> {
    let tensor = |dims: Vec<usize>, data| Tensor {
        name: name.into(),
        dims,
        data,
    };
    match attr.name.as_str() {
        "value" => {
            let proto = attr.t.as_ref().ok_or(None)?;
            let mut t = tensor_from_proto(proto, dir).map_err(Some)?;
            t.name = name.into();
            Ok(t)
        }
        "value_float" => Ok(tensor(vec![], TensorData::F32(vec![attr.f]))),
        "value_floats" => Ok(tensor(
            vec![attr.floats.len()],
            TensorData::F32(attr.floats.clone()),
        )),
        "value_int" => Ok(tensor(vec![], TensorData::I64(vec![attr.i]))),
        "value_ints" => Ok(tensor(
            vec![attr.ints.len()],
            TensorData::I64(attr.ints.clone()),
        )),
        _ => Err(None),
    }
}

const SUPPORTED: [&str; 8] = [
    "Gemm", "MatMul", "Add", "Relu", "Flatten", "Reshape", "Identity", "Constant",
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

fn unsupported(node: &NodeProto, detail: impl Into<String>) -> ModelError {
    ModelError::UnsupportedUse {
        op: node.op_type.clone(),
        node: node_label(node),
        detail: detail.into(),
    }
}
