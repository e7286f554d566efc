//! The protocols of one layer each: linear on shares with matrix triples, ReLU by GMW.

pub mod linear;
pub mod relu;
