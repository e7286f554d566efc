//! Errors of model loading and of input reading, split by what went wrong.
//!
//! Both kinds are faults of a file or value the caller supplied (a model, an input, a
//! data set), never of a peer: the binaries map them to exit code 2.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use veil_plan::card::CardError;
use veil_plan::PlanError;

use crate::onnx::wire::WireError;

/// Why a model could not be loaded, lowered or checked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model or weights file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a well-formed ONNX protobuf.
    #[error("{} is not a valid ONNX model: {source}", describe(path.as_deref()))]
    Decode {
        /// The file, if the model came from one.
        path: Option<PathBuf>,
        /// What was malformed.
        #[source]
        source: WireError,
    },
    /// The graph uses an operator veil cannot run.
    #[error("unsupported ONNX operator {op} in node {node}")]
    UnsupportedOp {
        /// The operator type (with its domain if not the default one).
        op: String,
        /// The node's name.
        node: String,
    },
    /// A supported operator is used in a way veil cannot run (attribute, input layout).
    #[error("node {node} ({op}) is not supported as written: {detail}")]
    UnsupportedUse {
        /// The operator type.
        op: String,
        /// The node's name.
        node: String,
        /// What is unsupported.
        detail: String,
    },
    /// The graph is not a single chain from one input to one output.
    #[error("the graph is not a simple chain of layers: {0}")]
    NotAChain(String),
    /// Tensor shapes do not fit together.
    #[error("shape mismatch at {node}: {detail}")]
    Shape {
        /// The node (or value) where the mismatch shows.
        node: String,
        /// What did not fit.
        detail: String,
    },
    /// A constant tensor is malformed or has a type veil does not read.
    #[error("tensor {name}: {detail}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The model is well formed protobuf but not a usable ONNX model.
    #[error("invalid model: {0}")]
    Invalid(String),
    /// A `veil.*` metadata entry has a value that cannot be used.
    #[error("metadata {key} = {value:?} is invalid: {reason}")]
    Metadata {
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The fixed-point parameters are out of range.
    #[error("fixed-point parameters f = {f}, k = {k} are invalid: {reason}")]
    FixedPoint {
        /// Fraction bits.
        f: u32,
        /// Bit width.
        k: u32,
        /// What `FixedPoint::validate` said.
        reason: &'static str,
    },
    /// The lowered plan or weights are not well formed.
    #[error("the model cannot run in veil: {0}")]
    Plan(#[from] PlanError),
    /// The model's card (`<stem>.card.json`) is malformed or does not fit the model.
    #[error("the model card {}: {source}", path.display())]
    Card {
        /// The card's file.
        path: PathBuf,
        /// The field and what is wrong with it.
        #[source]
        source: CardError,
    },
}

fn describe(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "the input".into(),
    }
}

/// Why an input (a `.npy` array, an IDX data set, or values to encode) was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a `.npy` array veil reads.
    #[error("not a .npy file ({0})")]
    NotNpy(String),
    /// A `.npy` file holds something veil does not read (dtype, order).
    #[error("unsupported .npy array: {0}")]
    NpyUnsupported(String),
    /// The bytes are not a valid IDX file.
    #[error("not a valid IDX file: {0}")]
    Idx(String),
    /// The bytes are not a PNG or JPEG image veil reads.
    #[error("not a readable {format} image ({detail})")]
    Image {
        /// The format it was read as (`PNG`, `JPEG`).
        format: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// The input has the wrong number of values.
    #[error("expected {expected} values (shape {shape:?}), got {got}")]
    Count {
        /// The model's input length.
        expected: usize,
        /// The model's input shape.
        shape: Vec<usize>,
        /// Values given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("value {value} at index {index} is not a finite number")]
    NotFinite {
        /// The value.
        value: f32,
        /// Its index in C order.
        index: usize,
    },
    /// A value lies outside the model's calibrated input range.
    #[error("value {value} at index {index} is outside the model's input range [{lo}, {hi}]")]
    OutOfRange {
        /// The value.
        value: f32,
        /// Its index in C order.
        index: usize,
        /// Lower end of the range.
        lo: f32,
        /// Upper end of the range.
        hi: f32,
    },
}
