//! A backend that only counts: AND gates and AND depth (batches), per wire of width one.

use crate::backend::{Backend, CircuitError};

/// What a circuit costs per element of a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateCount {
    /// AND gates.
    pub ands: usize,
    /// AND batches (rounds in GMW).
    pub batches: usize,
}

/// Runs a gadget symbolically and counts its ANDs and batches. Wires carry their AND
/// depth, so [`Counter::depth`] is the circuit's multiplicative depth.
#[derive(Debug, Default)]
pub struct Counter {
    count: GateCount,
    depth: usize,
    sizes: Vec<usize>,
}

impl Counter {
    /// A fresh counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been counted.
    pub fn count(&self) -> GateCount {
        self.count
    }

    /// The number of gates in each AND batch, in order.
    pub fn batch_sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The deepest AND depth of any wire produced so far.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// A fresh input wire (depth zero).
    pub fn input(&self) -> usize {
        0
    }
}

impl Backend for Counter {
    /// A wire's AND depth.
    type Wire = usize;
    type Error = CircuitError;

    fn xor(&mut self, a: &usize, b: &usize) -> Result<usize, CircuitError> {
        Ok(*a.max(b))
    }

    fn not(&mut self, a: &usize) -> Result<usize, CircuitError> {
        Ok(*a)
    }

    fn and_batch(&mut self, gates: &[(&usize, &usize)]) -> Result<Vec<usize>, CircuitError> {
        if gates.is_empty() {
            return Ok(Vec::new());
        }
        self.count.ands += gates.len();
        self.count.batches += 1;
        self.sizes.push(gates.len());
        let out: Vec<usize> = gates.iter().map(|(a, b)| *a.max(b) + 1).collect();
        self.depth = self.depth.max(out.iter().copied().max().unwrap_or(0));
        Ok(out)
    }
}
