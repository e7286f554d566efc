//! Boolean circuits written once and run by every backend.
//!
//! A gadget is a free function generic over [`Backend`]: the plaintext evaluator
//! ([`Plain`]), the gate counter ([`Counter`]), and the secure backends of the protocol
//! crate (GMW today, garbled circuits next) all run the same code. Wires are *bit-sliced*:
//! one wire carries the same bit position of every element of a layer, so one call to
//! [`Backend::and_batch`] is one batch of ANDs for the whole layer — one round in GMW.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod argmax;
mod backend;
mod carry;
mod counter;
mod plain;
mod relu;
mod select;

pub use argmax::{argmax, label_bits, label_width};
pub use backend::{Backend, CircuitError};
pub use carry::{sign, sign_and_carries, SignCarries};
pub use counter::{Counter, GateCount};
pub use plain::{Bits, Plain};
pub use relu::{add, less_than, max_relu_shift, Operands};
pub use select::{pair_index, pairs, select_first_max, select_max};
