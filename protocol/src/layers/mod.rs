//! The protocols of one layer each: linear on shares with matrix triples, ReLU by GMW
//! or by garbled circuits.

pub mod linear;
pub mod relu;
pub mod relu_gc;
