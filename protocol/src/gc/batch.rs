//! How an AND batch is cut into chunks for hashing, and the scratch buffers both roles
//! hash in.

use veil_circuits::CircuitError;

use crate::block::Block;

/// ANDs hashed per chunk: 1,024 AES blocks per pass for the garbler, enough to keep
/// AES-NI's pipeline full, few enough that the scratch stays in L1/L2.
pub(crate) const CHUNK: usize = 256;

/// A run of one gate's elements inside a chunk: `(gate, first element, count)`.
pub(crate) type Segment = (usize, usize, usize);

/// The gates of an AND batch: pairs of wires of equal width.
pub(crate) type Gates<'a> = [(&'a Vec<Block>, &'a Vec<Block>)];

/// Scratch of one role: AES blocks of the two hash passes and table bytes of one chunk.
/// Allocated once per session.
pub(crate) struct Scratch {
    /// Hash inputs, then `π(x)`.
    pub u: Vec<aes::Block>,
    /// `π(π(x) ⊕ i)`.
    pub v: Vec<aes::Block>,
    /// The chunk's table bytes (garbler).
    pub bytes: Vec<u8>,
}

impl Scratch {
    /// Room for `blocks_per_and` hashes per AND of a chunk.
    pub fn new(blocks_per_and: usize) -> Scratch {
        Scratch {
            u: vec![aes::Block::default(); blocks_per_and * CHUNK],
            v: vec![aes::Block::default(); blocks_per_and * CHUNK],
            bytes: vec![0; super::AND_TABLE_BYTES * CHUNK],
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

/// Cuts the batch into chunks of at most [`CHUNK`] ANDs, in table order (gate by gate,
/// element by element), and calls `f(segments, ands)` for each.
pub(crate) fn for_each_chunk(gates: &Gates<'_>, mut f: impl FnMut(&[Segment], usize)) {
    let mut segments = Vec::new();
    let mut filled = 0;
    for (g, (a, _)) in gates.iter().enumerate() {
        let mut start = 0;
        while start < a.len() {
            let len = (a.len() - start).min(CHUNK - filled);
            segments.push((g, start, len));
            filled += len;
            start += len;
            if filled == CHUNK {
                f(&segments, filled);
                segments.clear();
                filled = 0;
            }
        }
    }
    if filled > 0 {
        f(&segments, filled);
    }
}

/// `a ⊕ b`, label by label (free XOR).
pub(crate) fn xor_wires(a: &[Block], b: &[Block]) -> Result<Vec<Block>, CircuitError> {
    if a.len() != b.len() {
        return Err(CircuitError::WidthMismatch(a.len(), b.len()));
    }
    Ok(a.iter().zip(b).map(|(x, y)| *x ^ *y).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_and_once_in_order() {
        let widths = [0usize, 1, CHUNK - 1, 2, 3 * CHUNK + 5, 0, 7];
        let wires: Vec<Vec<Block>> = widths.iter().map(|n| vec![Block::ZERO; *n]).collect();
        let gates: Vec<_> = wires.iter().map(|w| (w, w)).collect();
        let mut seen = Vec::new();
        for_each_chunk(&gates, |segments, n| {
            assert!(n <= CHUNK);
            assert_eq!(segments.iter().map(|s| s.2).sum::<usize>(), n);
            for &(g, start, len) in segments {
                seen.extend((start..start + len).map(|e| (g, e)));
            }
        });
        let want: Vec<_> = widths
            .iter()
            .enumerate()
            .flat_map(|(g, n)| (0..*n).map(move |e| (g, e)))
            .collect();
        assert_eq!(seen, want);
        assert_eq!(batch_len(&gates), Ok(widths.iter().sum()));
    }
}
