//! ONNX reading without protoc: a checked protobuf wire decoder ([`wire`]), the subset of
//! `onnx.proto` veil needs ([`proto`]), constant tensors embedded or external
//! ([`tensor`]) and the graph's constants ([`constants`]), the supported operators
//! ([`ops`]) and the chain import ([`import`]).
//!
//! Both torch exporters are read: the legacy TorchScript one (`dynamo=False`: Flatten,
//! Gemm, GlobalAveragePool, embedded weights; BatchNormalization when exported without
//! constant folding) and the dynamo one (Reshape with a constant shape, Gemm or MatMul +
//! Add, ReduceMean for a global average pool, batch norms already folded, weights over
//! 256 bytes in a `X.onnx.data` side file).

pub mod constants;
pub mod import;
pub mod ops;
pub mod proto;
pub mod tensor;
pub mod wire;
