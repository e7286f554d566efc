//! The operators veil imports, one function each: shape rules and weight layout.
//!
//! Each function sees the node, the shape of the vector flowing along the chain and the
//! node's constant inputs, and returns what the layer does and the shape after it:
//! matrices ([`dense`]), shape bookkeeping ([`shape`]), convolutions and pools
//! ([`spatial`]) and the batch-norm fold ([`norm`]).

use super::proto::NodeProto;
use crate::error::ModelError;

pub mod dense;
pub mod norm;
pub mod shape;
pub mod spatial;

pub use dense::{add_constant, gemm, matmul};
pub use shape::{flatten, reshape};

/// The node's name for messages: its name, or its op and first output if unnamed.
pub fn node_label(node: &NodeProto) -> String {
    if !node.name.is_empty() {
        return node.name.clone();
    }
    match node.output.first() {
        Some(out) => format!("<{} producing {out}>", node.op_type),
        None => format!("<unnamed {}>", node.op_type),
    }
}

pub(crate) fn unsupported_use(node: &NodeProto, detail: impl Into<String>) -> ModelError {
    ModelError::UnsupportedUse {
        op: node.op_type.clone(),
        node: node_label(node),
        detail: detail.into(),
    }
}

pub(crate) fn shape_error(node: &NodeProto, detail: impl Into<String>) -> ModelError {
    ModelError::Shape {
        node: node_label(node),
        detail: detail.into(),
    }
}

/// An integer attribute, or `default` if absent.
pub fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map_or(default, |a| a.i)
}

/// A float attribute, or `default` if absent.
pub fn attr_float(node: &NodeProto, name: &str, default: f32) -> f32 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map_or(default, |a| a.f)
}

/// An integer-list attribute, if present.
pub fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.as_slice())
}

/// A string attribute, or `default` if absent.
pub fn attr_str(node: &NodeProto, name: &str, default: &str) -> String {
    node.attribute.iter().find(|a| a.name == name).map_or_else(
        || default.into(),
        |a| String::from_utf8_lossy(&a.s).into_owned(),
    )
}

/// Refuses NaN and infinite weights.
pub(crate) fn finite(values: Vec<f64>, name: &str) -> Result<Vec<f64>, ModelError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(values),
        Some(i) => Err(ModelError::Tensor {
            name: name.into(),
            detail: format!("value {} at index {i} is not finite", values[i]),
        }),
    }
}
