//! What both roles share around an AND batch: its gates, its width check, free XOR, and
//! the scratch the output-share ciphertexts are hashed in.

use veil_circuits::CircuitError;

use crate::block::Block;

/// Output-share ciphertexts hashed per chunk: enough to keep AES-NI's pipeline full, few
/// enough that the scratch stays in L1.
pub(crate) const CHUNK: usize = 256;

/// The gates of an AND batch: pairs of wires of equal width.
pub(crate) type Gates<'a> = [(&'a Vec<Block>, &'a Vec<Block>)];

/// Scratch of one role for the output-share ciphertexts of one chunk: hash inputs,
/// tweaks and pads, two per element (the garbler hashes both labels). Allocated once per
/// session.
pub(crate) struct Scratch {
    pub xs: Vec<Block>,
    pub tweaks: Vec<Block>,
    pub pads: Vec<Block>,
}

impl Scratch {
    /// Room for one chunk.
    pub fn new() -> Scratch {
        Scratch {
            xs: vec![Block::ZERO; 2 * CHUNK],
            tweaks: vec![Block::ZERO; 2 * CHUNK],
            pads: vec![Block::ZERO; 2 * CHUNK],
        }
    }
}

/// The number of ANDs in a batch (sum of the gates' widths), checking that each gate's
/// two operands have the same width.
pub(crate) fn batch_len(gates: &Gates<'_>) -> Result<usize, CircuitError> {
    gates.iter().try_fold(0usize, |sum, (a, b)| {
        if a.len() != b.len() {
            return Err(CircuitError::WidthMismatch(a.len(), b.len()));
        }
        Ok(sum + a.len())
    })
}

/// `a ⊕ b`, label by label (free XOR).
pub(crate) fn xor_wires(a: &[Block], b: &[Block]) -> Result<Vec<Block>, CircuitError> {
    if a.len() != b.len() {
        return Err(CircuitError::WidthMismatch(a.len(), b.len()));
    }
    Ok(a.iter().zip(b).map(|(x, y)| *x ^ *y).collect())
}
