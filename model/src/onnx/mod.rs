//! ONNX reading without protoc: a checked protobuf wire decoder ([`wire`]), the subset of
//! `onnx.proto` veil needs ([`proto`]), constant tensors embedded or external
//! ([`tensor`]), the supported operators ([`ops`]) and the chain import ([`import`]).
//!
//! Both torch exporters are read: the legacy TorchScript one (`dynamo=False`: Flatten,
//! Gemm, embedded weights) and the dynamo one (Reshape with a constant shape, Gemm or
//! MatMul + Add, weights over 256 bytes in a `X.onnx.data` side file).

pub mod import;
pub mod ops;
pub mod proto;
pub mod tensor;
pub mod wire;
