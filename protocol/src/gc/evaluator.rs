//! The evaluator: runs the same circuit on active labels, spending the garbler's tables.

use veil_circuits::{Backend, Bits};

use super::batch::{batch_len, xor_wires, Gates, Scratch, CHUNK};
use super::garbler::output_width;
use super::halfgates::{and_tweak, evaluate_and, output_tweak, AND_TABLE_BYTES};
use super::hash::{tccr, HashKey, Tccr, GROUP};
use super::SHARE_BYTES;
use crate::block::Block;
use crate::codec::{DecodeError, Reader};
use crate::error::ProtocolError;
use crate::simd::{Cipher, Kernel, Lane};

/// The evaluating side of half-gates. A wire is the active label of one bit position for
/// every element of a layer: one of its two labels, whose colour (low bit) is uniform
/// and says nothing about the bit.
///
/// What it learns: the tables, one label per wire and element, and only the values the
/// garbler opens with colour bits ([`Evaluator::decode`]) or turns into uniform shares
/// ([`Evaluator::receive_output_shares`]). Table bytes are peer data: running out is a
/// [`DecodeError::Truncated`] before any of the batch is evaluated, and bytes left at
/// [`Evaluator::finish`] are [`DecodeError::Trailing`].
pub struct Evaluator {
    hash: Tccr,
    tables: Vec<u8>,
    /// Bytes of `tables` already spent.
    pos: usize,
    /// `j` of the next AND, in step with the garbler's.
    ands: u64,
    /// Index of the next output-share ciphertext pair, in step with the garbler's.
    outputs: u64,
    scratch: Scratch,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("ands", &self.ands)
            .field("outputs", &self.outputs)
            .field("unread_table_bytes", &self.remaining())
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// An evaluator for the session whose hash key is `key`, spending `tables` (the
    /// garbler's [`super::Garbler::take_tables`] output) in order.
    pub fn new(key: HashKey, tables: Vec<u8>) -> Evaluator {
        Evaluator {
            hash: Tccr::new(&key),
            tables,
            pos: 0,
            ands: 0,
            outputs: 0,
            scratch: Scratch::new(),
        }
    }

    /// An evaluator that takes up the session at AND `ands` and output pair `outputs`
    /// (the garbler's counters when it garbled `tables`): for a layer evaluated apart from
    /// the session's others, e.g. one stored until its query comes.
    pub fn resume(key: HashKey, tables: Vec<u8>, ands: u64, outputs: u64) -> Evaluator {
        Evaluator {
            ands,
            outputs,
            ..Evaluator::new(key, tables)
        }
    }

    /// Appends tables that arrived later (the next layer's), dropping the bytes spent.
    pub fn extend_tables(&mut self, more: &[u8]) {
        self.tables.drain(..self.pos);
        self.pos = 0;
        self.tables.extend_from_slice(more);
    }

    /// Appends tables that arrived later, taking the buffer: when every table so far is
    /// spent (the usual case, one layer after another) it becomes the table buffer as it
    /// is, with no copy.
    pub fn push_tables(&mut self, more: Vec<u8>) {
        if self.remaining() == 0 {
            self.tables = more;
            self.pos = 0;
        } else {
            self.extend_tables(&more);
        }
    }

    /// ANDs evaluated so far in this session.
    pub fn and_count(&self) -> u64 {
        self.ands
    }

    /// Table bytes not yet spent.
    pub fn remaining(&self) -> usize {
        self.tables.len() - self.pos
    }

    /// Ends the session: table bytes left over mean the garbler garbled another circuit.
    pub fn finish(self) -> Result<(), ProtocolError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n).into()),
        }
    }

    /// Opens a wire: bit `e` is `colour(wire[e]) ⊕ colours[e]`, the colour bits coming from
    /// the garbler's [`super::Garbler::decode_bits`].
    pub fn decode(&self, wire: &[Block], colours: &Bits) -> Result<Bits, ProtocolError> {
        if colours.len != wire.len() {
            return Err(DecodeError::Invalid {
                what: "output colour bits",
                detail: format!("{} bits for a wire of {}", colours.len, wire.len()),
            }
            .into());
        }
        let mut bits = Bits::zeros(wire.len());
        for (e, l) in wire.iter().enumerate() {
            bits.set(e, l.lsb() ^ colours.get(e));
        }
        Ok(bits)
    }

    /// This party's additive shares (in Z_2^64) of the k-bit output whose bit `i` is
    /// `wires[i]`, from the garbler's [`super::Garbler::share_output`] message: for bit `i`
    /// and element `e` it reads the slot at its label's colour and removes the pad,
    /// getting `b·2^i − ρ`. The message must be exactly 16 bytes per bit per element.
    pub fn receive_output_shares(
        &mut self,
        wires: &[Vec<Block>],
        message: &[u8],
    ) -> Result<Vec<u64>, ProtocolError> {
        let n = output_width(wires)?;
        if self.outputs.checked_add((wires.len() * n) as u64).is_none() {
            return Err(ProtocolError::Misuse(
                "output counter of the session exhausted",
            ));
        }
        let mut reader = Reader::new(message);
        let body = reader.take(SHARE_BYTES * wires.len() * n, "output-share ciphertexts")?;
        reader.finish()?;
        let mut shares = vec![0u64; n];
        for (wire, bytes) in wires.iter().zip(body.chunks_exact(SHARE_BYTES * n)) {
            let parts = wire.chunks(CHUNK).zip(bytes.chunks(SHARE_BYTES * CHUNK));
            for (c, (part, bytes)) in parts.enumerate() {
                self.open_share_chunk(part, bytes, &mut shares[c * CHUNK..]);
            }
        }
        Ok(shares)
    }

    /// Removes the pads from one output bit's ciphertexts for up to [`CHUNK`] elements
    /// (`bytes` holds exactly 16 per label) and adds the values to `shares`.
    fn open_share_chunk(&mut self, labels: &[Block], bytes: &[u8], shares: &mut [u64]) {
        let n = labels.len();
        let first = self.outputs;
        let Scratch { tweaks, pads, .. } = &mut self.scratch;
        let (tweaks, pads) = (&mut tweaks[..n], &mut pads[..n]);
        for (c, t) in tweaks.iter_mut().enumerate() {
            *t = Block(output_tweak(first + c as u64));
        }
        self.hash.hash_batch(labels, tweaks, pads);
        let cts = bytes.chunks_exact(SHARE_BYTES);
        for (((l, pad), ct), share) in labels.iter().zip(pads.iter()).zip(cts).zip(shares) {
            let slot = if l.lsb() { &ct[8..] } else { &ct[..8] };
            let mut b = [0u8; 8];
            b.copy_from_slice(slot);
            *share = share.wrapping_add(u64::from_le_bytes(b) ^ pad.0 as u64);
        }
        self.outputs += n as u64;
    }
}

/// ANDs evaluated per [`Group`]: two hashes each.
const ANDS_PER_GROUP: usize = GROUP / 2;

/// The evaluation loop of one AND batch, run inside [`Tccr::run`]: per group of
/// [`ANDS_PER_GROUP`] ANDs it hashes `A, B` of each, reads their tables in order and
/// appends each output label to its gate's wire.
struct EvaluateBatch<'a> {
    gates: &'a Gates<'a>,
    /// `j` of the batch's first AND.
    first: u64,
    /// Exactly the batch's tables (the caller checked they are all there).
    tables: &'a [u8],
    outs: &'a mut [Vec<Block>],
}

impl Kernel for EvaluateBatch<'_> {
    #[inline(always)]
    fn run(self, aes: &impl Cipher) {
        let mut j = self.first;
        let mut pos = 0;
        for ((a, b), out) in self.gates.iter().zip(self.outs.iter_mut()) {
            for (a, b) in a.chunks(ANDS_PER_GROUP).zip(b.chunks(ANDS_PER_GROUP)) {
                // A short last group hashes zeros in its empty slots and drops them.
                let mut x = [Lane::zero(); GROUP];
                let mut tweaks = [Lane::zero(); GROUP];
                for (t, (a, b)) in a.iter().zip(b).enumerate() {
                    x[2 * t..2 * t + 2].copy_from_slice(&[Lane::from(*a), Lane::from(*b)]);
                    let j = j + t as u64;
                    tweaks[2 * t..2 * t + 2].copy_from_slice(&[and_tweak(j, 0), and_tweak(j, 1)]);
                }
                let h = tccr(aes, &x, &tweaks);
                let bytes = &self.tables[pos..pos + AND_TABLE_BYTES * a.len()];
                pos += bytes.len();
                for (t, ((a, b), ct)) in a
                    .iter()
                    .zip(b)
                    .zip(bytes.chunks_exact(AND_TABLE_BYTES))
                    .enumerate()
                {
                    let table = [Lane::read(&ct[..16]), Lane::read(&ct[16..])];
                    let h = [h[2 * t], h[2 * t + 1]];
                    out.push(Block::from(evaluate_and(
                        Lane::from(*a),
                        Lane::from(*b),
                        &h,
                        &table,
                    )));
                }
                j += a.len() as u64;
            }
        }
    }
}

impl Backend for Evaluator {
    type Wire = Vec<Block>;
    type Error = ProtocolError;

    fn xor(&mut self, a: &Vec<Block>, b: &Vec<Block>) -> Result<Vec<Block>, ProtocolError> {
        Ok(xor_wires(a, b)?)
    }

    /// NOT is free and local to the garbler: the active label stays, its meaning flips.
    fn not(&mut self, a: &Vec<Block>) -> Result<Vec<Block>, ProtocolError> {
        Ok(a.clone())
    }

    fn and_batch(
        &mut self,
        gates: &[(&Vec<Block>, &Vec<Block>)],
    ) -> Result<Vec<Vec<Block>>, ProtocolError> {
        let total = batch_len(gates)?;
        let needed = total.saturating_mul(AND_TABLE_BYTES);
        if self.remaining() < needed {
            return Err(DecodeError::Truncated {
                needed: needed - self.remaining(),
                what: "garbled AND tables",
            }
            .into());
        }
        if self.ands.checked_add(total as u64).is_none() {
            return Err(ProtocolError::Misuse(
                "AND counter of the session exhausted",
            ));
        }
        let mut outs: Vec<Vec<Block>> = gates
            .iter()
            .map(|(a, _)| Vec::with_capacity(a.len()))
            .collect();
        let end = self.pos + needed;
        self.hash.run(EvaluateBatch {
            gates,
            first: self.ands,
            tables: &self.tables[self.pos..end],
            outs: &mut outs,
        });
        self.pos = end;
        self.ands += total as u64;
        Ok(outs)
    }
}
