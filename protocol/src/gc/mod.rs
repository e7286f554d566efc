//! Garbled circuits: half-gates garbling ([`Garbler`]) and evaluation ([`Evaluator`]).
//!
//! Both implement [`veil_circuits::Backend`], so the circuits that GMW and [`Plain`] run
//! are garbled and evaluated unchanged. Wires are bit-sliced: a wire is one label per
//! element of a layer (`Vec<Block>`), and each `and_batch` of m gates × n elements is
//! hashed with a few large AES batches rather than four blocks at a time.
//!
//! # Scheme
//! Half-gates (Zahur–Rosulek–Evans, EUROCRYPT 2015) with free XOR (Kolesnikov–Schneider
//! 2008) and point-and-permute. The garbler draws Δ with `lsb(Δ) = 1`, so the two labels
//! of a wire, `L₀` and `L₁ = L₀ ⊕ Δ`, have opposite colours (low bits): the evaluator
//! picks a table row by its label's colour, and since the 0-label's colour is uniform the
//! colour says nothing about the bit. XOR is `⊕` of labels, NOT is `⊕ Δ` on the garbler's
//! 0-label and nothing for the evaluator. The AND with global index `j` (counted over the
//! session, gates × elements) hashes with tweaks `2j` and `2j + 1` and costs two
//! ciphertexts: 4 hash calls to garble, 2 to evaluate, 2 AES calls per hash.
//!
//! The hash is `TCCR(x, i) = π(π(x) ⊕ i) ⊕ π(x)`, `π` = AES-128 under a fresh per-session
//! key (Guo–Katz–Wang–Yu, IEEE S&P 2020, which proves half-gates secure with it); see
//! [`hash`] for why a per-session key. Never plain `AES(x ⊕ i)`: invertible, it leaks Δ.
//!
//! # Message flow (server garbles, client evaluates)
//! 1. garbler → evaluator, once per session: the [`HashKey`] (16 bytes, public).
//! 2. garbler → evaluator, offline: the tables, [`AND_TABLE_BYTES`] = 32 bytes per AND.
//!    Layout: for each `and_batch` call in order, for each gate of the batch in order, for
//!    each element `e`, `T_G ‖ T_E`, each 16 little-endian bytes. So the table of gate `g`,
//!    element `e` of a batch of equal widths `n` starts at `32·(g·n + e)` past the batch.
//! 3. the evaluator's own input labels come by correlated OT with offset
//!    Δ ([`Garbler::ot_sender`]); the garbler's by [`Garbler::encode`] (16 bytes per input
//!    bit per element).
//! 4. outputs: either the colour bits of [`Garbler::decode_bits`] (1 bit per output bit per
//!    element; the evaluator learns the bit) or the ciphertexts of
//!    [`Garbler::share_output`] (16 bytes per output bit per element; each party gets an
//!    additive share in Z_2^64 and nobody learns the value).
//!
//! # Who learns what
//! The garbler learns nothing from the evaluator (it receives nothing in this module). The
//! evaluator sees the hash key, the tables and one label per wire and element; under the
//! TCCR assumption these are indistinguishable from random, except for the wires the
//! garbler chooses to open. It must never see Δ or both labels of a wire: encode each
//! input wire once, and never resend labels after an abort.
//!
//! [`Plain`]: veil_circuits::Plain

mod batch;
mod evaluator;
mod garbler;
mod halfgates;
pub mod hash;

pub use evaluator::Evaluator;
pub use garbler::{Encoder, Garbler};
pub use halfgates::AND_TABLE_BYTES;
pub use hash::{HashKey, Tccr};

#[cfg(test)]
use crate::block::Block;
#[cfg(test)]
use batch::CHUNK;

/// Bytes of one output bit of one element in an output-share message: two 8-byte slots.
pub const SHARE_BYTES: usize = 16;

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
