//! The garbler: runs a circuit of `veil-circuits` on 0-labels and writes the AND tables.

use rand_core::{CryptoRng, RngCore};
use veil_circuits::{Backend, Bits};

use super::batch::{batch_len, xor_wires, Gates, Scratch, CHUNK};
use super::halfgates::{and_tweak, garble_and, output_tweak, AND_TABLE_BYTES};
use super::hash::{tccr, HashKey, Tccr, GROUP};
use super::SHARE_BYTES;
use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::ot::PoolSender;
use crate::prg::{Prg, Seed};
use crate::simd::{Cipher, Kernel, Lane};
use crate::stored::Stored;

/// The garbling side of half-gates. A wire is the 0-label of one bit position for every
/// element of a layer; the 1-label is the 0-label ⊕ Δ (free XOR).
///
/// What it knows: Δ, every 0-label, hence both labels of every wire. What it gives out:
/// the tables ([`Garbler::take_tables`]), one label per element of each input wire it
/// encodes ([`Garbler::encode`]), colour bits of wires to be opened
/// ([`Garbler::decode_bits`]) and output-share ciphertexts ([`Garbler::share_output`]).
pub struct Garbler {
    /// Δ, the free-XOR offset; `lsb(Δ) = 1` so the two labels of a wire have opposite
    /// colours (point-and-permute).
    delta: Block,
    key: HashKey,
    hash: Tccr,
    /// Fresh labels.
    prg: Prg,
    /// `j` of the next AND: its tweaks are `2j`, `2j + 1`.
    ands: u64,
    /// Index of the next output-share ciphertext pair (its own tweak domain).
    outputs: u64,
    tables: Vec<u8>,
    scratch: Scratch,
}

impl std::fmt::Debug for Garbler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Δ and the label PRG are secrets: show only counters.
        f.debug_struct("Garbler")
            .field("ands", &self.ands)
            .field("outputs", &self.outputs)
            .field("table_bytes", &self.tables.len())
            .finish_non_exhaustive()
    }
}

/// Encodes the garbler's own input bits as labels: holds Δ, so it is as secret as the
/// garbler itself (no `Debug`, never sent).
#[derive(Clone, Copy)]
pub struct Encoder {
    delta: Block,
}

impl Encoder {
    /// The labels of `bits` on the wire with 0-labels `zero`: `zero[e] ⊕ bits[e]·Δ`, one
    /// label per element — what the garbler sends for its own input. Encode each input wire
    /// once: a second encoding with another bit hands out both labels, hence Δ.
    pub fn encode(&self, zero: &[Block], bits: &Bits) -> Result<Vec<Block>, ProtocolError> {
        if bits.len != zero.len() {
            return Err(ProtocolError::Misuse(
                "encode: bits and labels differ in width",
            ));
        }
        Ok(zero
            .iter()
            .enumerate()
            .map(|(e, l)| *l ^ self.delta.select(bits.get(e)))
            .collect())
    }
}

/// Δ as 16 bytes, kept with the garbled layers it encodes for (a query made ahead of time
/// waits on the server's disk); read back only with its low bit set.
impl Stored for Encoder {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.delta.to_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let delta = Block::from_bytes(r.array("Δ")?);
        match delta.lsb() {
            true => Ok(Encoder { delta }),
            false => Err(DecodeError::Invalid {
                what: "Δ",
                detail: "its low bit is not set".into(),
            }),
        }
    }
}

impl Garbler {
    /// A garbling session: Δ (with its low bit set), the session's hash key and the label
    /// PRG's seed all drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R) -> Garbler {
        let mut d = [0u8; 16];
        rng.fill_bytes(&mut d);
        let delta = Block(u128::from_le_bytes(d) | 1);
        let key = HashKey::random(rng);
        Garbler {
            delta,
            key,
            hash: Tccr::new(&key),
            prg: Prg::new(Seed::from_rng(rng)),
            ands: 0,
            outputs: 0,
            tables: Vec::new(),
            scratch: Scratch::new(),
        }
    }

    /// The session's hash key: public, sent to the evaluator once before any table.
    pub fn hash_key(&self) -> HashKey {
        self.key
    }

    /// The OT sender that hands the evaluator its input labels: correlated OT with offset
    /// Δ, set up with the evaluator (128 base OTs). The only way Δ leaves the garbler:
    /// with Δ every label opens.
    pub fn ot_sender<T: Transport + ?Sized>(
        &self,
        ch: &mut Channel<T>,
        kind: OtKind,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<PoolSender, ProtocolError> {
        PoolSender::setup_with_delta(ch, kind, rng, self.delta)
    }

    /// Δ, for tests that check what it must never reach.
    #[cfg(test)]
    pub(crate) fn delta(&self) -> Block {
        self.delta
    }

    /// ANDs garbled so far in this session.
    pub fn and_count(&self) -> u64 {
        self.ands
    }

    /// Fresh 0-labels for one input wire of `n` elements.
    pub fn input(&mut self, n: usize) -> Vec<Block> {
        let mut bytes = vec![0u8; 16 * n];
        self.prg.fill_bytes(&mut bytes);
        bytes
            .chunks_exact(16)
            .map(|c| {
                let mut b = [0u8; 16];
                b.copy_from_slice(c);
                Block::from_bytes(b)
            })
            .collect()
    }

    /// The labels of `bits` on the wire with 0-labels `zero` ([`Encoder::encode`]).
    pub fn encode(&self, zero: &[Block], bits: &Bits) -> Result<Vec<Block>, ProtocolError> {
        self.encoder().encode(zero, bits)
    }

    /// What encoding the garbler's own inputs needs (Δ), apart from the session: kept
    /// with a garbled layer that is stored until its query comes.
    pub fn encoder(&self) -> Encoder {
        Encoder { delta: self.delta }
    }

    /// The colour bits `lsb(zero[e])` that let the evaluator open the wire with 0-labels
    /// `zero` (bit = colour of its label ⊕ this bit). Sending them reveals the wire's value
    /// to the evaluator, and nothing else.
    pub fn decode_bits(&self, zero: &[Block]) -> Bits {
        let mut bits = Bits::zeros(zero.len());
        for (e, l) in zero.iter().enumerate() {
            bits.set(e, l.lsb());
        }
        bits
    }

    /// The tables written since the last call: for each AND batch in order, for each gate
    /// of the batch in order, for each element, `T_G ‖ T_E` (32 bytes).
    pub fn take_tables(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tables)
    }

    /// Hands back a table buffer whose bytes have been sent, so that the next tables are
    /// written into its memory instead of a fresh allocation (which costs a page fault
    /// per 4 KiB). Its contents are discarded; it is simply dropped if tables are pending
    /// or it is smaller than the current buffer.
    pub fn recycle(&mut self, mut spent: Vec<u8>) {
        if self.tables.is_empty() && spent.capacity() > self.tables.capacity() {
            spent.clear();
            self.tables = spent;
        }
    }

    /// Converts a k-bit output (`wires[i]` = 0-labels of bit `i`, `k ≤ 64`) to additive
    /// shares in Z_2^64. For each bit `i` and element `e` the garbler draws `ρ` and sends
    /// two 8-byte ciphertexts; the one at index `colour(L_b)` is `(b·2^i − ρ) ⊕ H(L_b, t)`
    /// (low 64 bits, `t` an output-domain tweak), so the evaluator holding `L_b` learns
    /// `b·2^i − ρ`, a uniform value, and nothing about `L_{1−b}`. Returns the garbler's
    /// shares `Σ_i ρ` per element and the message: bit-major, then element, each
    /// `slot₀ ‖ slot₁` as little-endian u64 (16 bytes per output bit per element).
    pub fn share_output<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        wires: &[Vec<Block>],
        rng: &mut R,
    ) -> Result<(Vec<u64>, Vec<u8>), ProtocolError> {
        let n = output_width(wires)?;
        if self.outputs.checked_add((wires.len() * n) as u64).is_none() {
            return Err(ProtocolError::Misuse(
                "output counter of the session exhausted",
            ));
        }
        let mut shares = vec![0u64; n];
        let mut msg = Vec::with_capacity(SHARE_BYTES * wires.len() * n);
        for (i, wire) in wires.iter().enumerate() {
            for (c, part) in wire.chunks(CHUNK).enumerate() {
                let shares = &mut shares[c * CHUNK..];
                self.share_chunk(part, 1u64 << i, shares, &mut msg, rng);
            }
        }
        Ok((shares, msg))
    }

    /// Output-share ciphertexts for up to [`CHUNK`] elements of one output bit of weight
    /// `weight`: adds each `ρ` to `shares`, appends `slot₀ ‖ slot₁` to `msg`.
    fn share_chunk<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        zero: &[Block],
        weight: u64,
        shares: &mut [u64],
        msg: &mut Vec<u8>,
        rng: &mut R,
    ) {
        let n = zero.len();
        let delta = self.delta;
        let first = self.outputs;
        let Scratch { xs, tweaks, pads } = &mut self.scratch;
        let (xs, tweaks, pads) = (&mut xs[..2 * n], &mut tweaks[..2 * n], &mut pads[..2 * n]);
        for (e, l0) in zero.iter().enumerate() {
            xs[2 * e..2 * e + 2].copy_from_slice(&[*l0, *l0 ^ delta]);
            let t = Block(output_tweak(first + e as u64));
            tweaks[2 * e..2 * e + 2].copy_from_slice(&[t, t]);
        }
        self.hash.hash_batch(xs, tweaks, pads);
        for ((l0, pad), share) in zero.iter().zip(pads.chunks_exact(2)).zip(shares) {
            let rho = rng.next_u64();
            *share = share.wrapping_add(rho);
            let c0 = rho.wrapping_neg() ^ pad[0].0 as u64;
            let c1 = weight.wrapping_sub(rho) ^ pad[1].0 as u64;
            let (slot0, slot1) = if l0.lsb() { (c1, c0) } else { (c0, c1) };
            msg.extend_from_slice(&slot0.to_le_bytes());
            msg.extend_from_slice(&slot1.to_le_bytes());
        }
        self.outputs += n as u64;
    }
}

/// ANDs garbled per [`Group`]: four hashes each.
const ANDS_PER_GROUP: usize = GROUP / 4;

/// The garbling loop of one AND batch, run inside [`Tccr::run`]: per group of
/// [`ANDS_PER_GROUP`] ANDs it hashes `A₀, A₁, B₀, B₁` of each, appends the tables straight
/// to the session's table buffer and each output 0-label to its gate's wire.
struct GarbleBatch<'a> {
    gates: &'a Gates<'a>,
    delta: Lane,
    /// `j` of the batch's first AND.
    first: u64,
    tables: &'a mut Vec<u8>,
    outs: &'a mut [Vec<Block>],
}

impl Kernel for GarbleBatch<'_> {
    #[inline(always)]
    fn run(self, aes: &impl Cipher) {
        let delta = self.delta;
        let mut j = self.first;
        for ((a, b), out) in self.gates.iter().zip(self.outs.iter_mut()) {
            for (a, b) in a.chunks(ANDS_PER_GROUP).zip(b.chunks(ANDS_PER_GROUP)) {
                // A short last group hashes zeros in its empty slots and drops them.
                let mut x = [Lane::zero(); GROUP];
                let mut tweaks = [Lane::zero(); GROUP];
                for (t, (a0, b0)) in a.iter().zip(b).enumerate() {
                    let (a0, b0) = (Lane::from(*a0), Lane::from(*b0));
                    x[4 * t..4 * t + 4].copy_from_slice(&[a0, a0 ^ delta, b0, b0 ^ delta]);
                    let j = j + t as u64;
                    let (ta, tb) = (and_tweak(j, 0), and_tweak(j, 1));
                    tweaks[4 * t..4 * t + 4].copy_from_slice(&[ta, ta, tb, tb]);
                }
                let h = tccr(aes, &x, &tweaks);
                let mut bytes = [0u8; AND_TABLE_BYTES * ANDS_PER_GROUP];
                for (t, (a0, b0)) in a.iter().zip(b).enumerate() {
                    let h = [h[4 * t], h[4 * t + 1], h[4 * t + 2], h[4 * t + 3]];
                    let (c0, [t_g, t_e]) = garble_and(Lane::from(*a0), Lane::from(*b0), delta, &h);
                    let table = &mut bytes[AND_TABLE_BYTES * t..AND_TABLE_BYTES * (t + 1)];
                    t_g.write(&mut table[..16]);
                    t_e.write(&mut table[16..]);
                    out.push(Block::from(c0));
                }
                // A full group's length is a constant: its copy is inlined, not a memmove.
                if a.len() == ANDS_PER_GROUP {
                    self.tables.extend_from_slice(&bytes);
                } else {
                    self.tables
                        .extend_from_slice(&bytes[..AND_TABLE_BYTES * a.len()]);
                }
                j += a.len() as u64;
            }
        }
    }
}

/// The common width of a k-bit output's wires (`1 ≤ k ≤ 64`).
pub(crate) fn output_width(wires: &[Vec<Block>]) -> Result<usize, ProtocolError> {
    let Some(first) = wires.first() else {
        return Err(ProtocolError::Misuse(
            "output shares need at least one wire",
        ));
    };
    if wires.len() > 64 {
        return Err(ProtocolError::Misuse("output shares take at most 64 bits"));
    }
    if let Some(w) = wires.iter().find(|w| w.len() != first.len()) {
        return Err(veil_circuits::CircuitError::WidthMismatch(first.len(), w.len()).into());
    }
    Ok(first.len())
}

impl Backend for Garbler {
    type Wire = Vec<Block>;
    type Error = ProtocolError;

    fn xor(&mut self, a: &Vec<Block>, b: &Vec<Block>) -> Result<Vec<Block>, ProtocolError> {
        Ok(xor_wires(a, b)?)
    }

    /// NOT flips the meaning of the labels: the new 0-label is the old 1-label.
    fn not(&mut self, a: &Vec<Block>) -> Result<Vec<Block>, ProtocolError> {
        Ok(a.iter().map(|l| *l ^ self.delta).collect())
    }

    fn and_batch(
        &mut self,
        gates: &[(&Vec<Block>, &Vec<Block>)],
    ) -> Result<Vec<Vec<Block>>, ProtocolError> {
        let total = batch_len(gates)?;
        if self.ands.checked_add(total as u64).is_none() {
            return Err(ProtocolError::Misuse(
                "AND counter of the session exhausted",
            ));
        }
        self.tables.reserve(total * AND_TABLE_BYTES);
        let mut outs: Vec<Vec<Block>> = gates
            .iter()
            .map(|(a, _)| Vec::with_capacity(a.len()))
            .collect();
        self.hash.run(GarbleBatch {
            gates,
            delta: Lane::from(self.delta),
            first: self.ands,
            tables: &mut self.tables,
            outs: &mut outs,
        });
        self.ands += total as u64;
        Ok(outs)
    }
}
