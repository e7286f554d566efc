//! The constant values of a graph: initializers and `Constant` nodes, converted lazily
//! (an unused initializer is never read), and shape no-ops on them folded.

use std::collections::HashMap;
use std::path::Path;

use super::ops::{self, unsupported_use};
use super::proto::{AttributeProto, NodeProto, TensorProto};
use super::tensor::{tensor_from_proto, Tensor, TensorData};
use crate::error::ModelError;

/// A constant value: an initializer not yet read, or a tensor.
enum Constant<'g> {
    Proto(&'g TensorProto),
    Ready(Tensor),
}

/// The graph's constants by name.
pub struct Constants<'g> {
    dir: Option<&'g Path>,
    values: HashMap<&'g str, Constant<'g>>,
}

impl<'g> Constants<'g> {
    /// The initializers; `dir` is the model's folder (for external data).
    pub fn new(initializers: &'g [TensorProto], dir: Option<&'g Path>) -> Self {
        let values = initializers
            .iter()
            .map(|t| (t.name.as_str(), Constant::Proto(t)))
            .collect();
        Constants { dir, values }
    }

    /// True if `name` is a constant.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Reads the constant input `name` of `node` (converting an initializer the first time).
    pub fn get(&mut self, node: &NodeProto, name: &str) -> Result<Tensor, ModelError> {
        let Some(entry) = self.values.get_mut(name) else {
            return Err(unsupported_use(
                node,
                format!("input {name} must be a constant (an initializer or Constant)"),
            ));
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

    /// The optional constant input `i` of `node`: `None` if absent or empty.
    pub fn optional(&mut self, node: &NodeProto, i: usize) -> Result<Option<Tensor>, ModelError> {
        match node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self.get(node, name).map(Some),
        }
    }

    /// True for a shape no-op whose data input is a constant (e.g. `Identity` of a
    /// weight): it is folded, not applied to the chain.
    pub fn folds(&self, node: &NodeProto) -> bool {
        matches!(node.op_type.as_str(), "Identity" | "Reshape" | "Flatten")
            && node.input.first().is_some_and(|i| self.contains(i))
    }

    /// Folds a shape no-op on a constant into a new constant named after its output.
    pub fn fold(&mut self, node: &NodeProto, output: &'g str) -> Result<(), ModelError> {
        let input = |i: usize| node.input.get(i).map(String::as_str).unwrap_or("");
        let mut tensor = self.get(node, input(0))?;
        tensor.dims = match node.op_type.as_str() {
            "Reshape" => {
                let target = self.get(node, input(1))?;
                ops::reshape(node, &tensor.dims, &target)?
            }
            "Flatten" => ops::flatten(node, &tensor.dims)?,
            _ => tensor.dims,
        };
        tensor.name = output.into();
        self.values.insert(output, Constant::Ready(tensor));
        Ok(())
    }

    /// A `Constant` node: its value joins the constants.
    pub fn add_node(&mut self, node: &'g NodeProto) -> Result<(), ModelError> {
        let [output] = node.output.as_slice() else {
            return Err(unsupported_use(node, "a Constant needs exactly one output"));
        };
        let [attr] = node.attribute.as_slice() else {
            return Err(unsupported_use(
                node,
                "a Constant needs exactly one value attribute",
            ));
        };
        let tensor = constant_value(attr, output, self.dir).map_err(|e| match e {
            Some(err) => err,
            None => unsupported_use(node, format!("attribute {} is not supported", attr.name)),
        })?;
        self.values.insert(output, Constant::Ready(tensor));
        Ok(())
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
