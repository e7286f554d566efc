//! The interface a circuit is written against.

use thiserror::Error;

/// A circuit was asked for something its wires cannot do.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitError {
    /// Two operands had different widths.
    #[error("operand widths differ: {0} and {1}")]
    WidthMismatch(usize, usize),
    /// A gadget got fewer input bits than it needs.
    #[error("a gadget needs {needed} input bits, got {got}")]
    TooFewBits {
        /// Bits needed.
        needed: usize,
        /// Bits given.
        got: usize,
    },
}

/// What a circuit runs on. XOR and NOT are local (free); ANDs come in batches of gates
/// that do not depend on each other, so a backend can evaluate a batch in one step (GMW:
/// one round; garbling: one pass of batched AES).
pub trait Backend {
    /// A wire: one bit position for every element of the layer.
    type Wire: Clone;
    /// What can go wrong while evaluating (a channel failure, a malformed peer message...).
    type Error: From<CircuitError>;

    /// `a ⊕ b`.
    fn xor(&mut self, a: &Self::Wire, b: &Self::Wire) -> Result<Self::Wire, Self::Error>;
    /// `¬a`.
    fn not(&mut self, a: &Self::Wire) -> Result<Self::Wire, Self::Error>;
    /// `a ∧ b` for every pair, all at once.
    fn and_batch(
        &mut self,
        gates: &[(&Self::Wire, &Self::Wire)],
    ) -> Result<Vec<Self::Wire>, Self::Error>;
}
