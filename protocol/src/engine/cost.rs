//! The protocol's cost formula: bytes and rounds of every layer, derived from its message
//! pattern and the round clock of CONTRACT.md, without running it.
//!
//! Online, per layer: a linear layer is one message from the client (`8 · inputs` bytes,
//! plus `8 · outputs` with a residual input); a ReLU or max-pool layer is
//! `rounds(fixed, m)` simultaneous exchanges (`bytes_sent` each way) under GMW, or one
//! message of the server's input labels (`16 · k` bytes per candidate) under GC;
//! the last layer adds the server's output share (`8 · len` bytes). A message adds a round
//! only when its sender's clock is not already behind the receiver's, so a layer's
//! rounds depend on how the previous one left the two clocks: the model replays them.

use super::correction_len;
use crate::error::ProtocolError;
use crate::layers::relu_gc::Circuit;
use crate::layers::{Clocks, Stack};
use crate::material::{LinearPrep, OtKind};
use crate::plan::Plan;

/// Bytes (both directions) and rounds of one layer or phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Payload bytes, both directions.
    pub bytes: u64,
    /// Rounds: the advance of the deeper of the two clocks.
    pub rounds: u64,
}

/// Online cost of every layer of `plan`, in order.
pub fn online(plan: &Plan) -> Vec<Cost> {
    let mut clocks = Clocks::default();
    let last = plan.layers.len().saturating_sub(1);
    Stack::of(plan)
        .iter()
        .zip(&plan.layers)
        .enumerate()
        .map(|(i, (protocol, layer))| {
            let start = clocks.depth();
            let mut bytes = protocol.online_cost(&mut clocks);
            if i == last {
                clocks.server_to_client();
                bytes += 8 * layer.kind.output_len() as u64;
            }
            Cost {
                bytes,
                rounds: clocks.depth() - start,
            }
        })
        .collect()
}

/// Setup cost with a dealer: E = W − U for every linear layer, sent at once in answer to
/// the client's hello: two rounds counted from the hello, as a client reports them.
pub fn setup(plan: &Plan) -> Cost {
    let bytes = Stack::of(plan).iter().map(|l| l.setup_bytes()).sum();
    Cost { bytes, rounds: 2 }
}

/// Per-query material from the dealer: two 16-byte seeds and the client's corrections.
pub fn dealer_material(plan: &Plan) -> u64 {
    32 + correction_len(plan) as u64
}

/// Payload bytes of each layer's two-party preprocessing, both directions, in plan order,
/// the linear layers' made as `linear` says (0 for the non-linear layers under garbled
/// circuits: their offline step's OTs and tables are the engine's, counted apart).
pub fn two_party(plan: &Plan, linear: LinearPrep, ot: OtKind) -> Result<Vec<u64>, ProtocolError> {
    Stack::of(plan)
        .iter()
        .map(|l| l.two_party_bytes(linear, ot))
        .collect()
}

/// About how many OTs a dealer-free query spends each way on two-party material: what
/// IKNP's formula counts for them (16 bytes an OT) beyond the silent one's, halved.
pub fn ots_each_way(plan: &Plan, linear: LinearPrep) -> Result<usize, ProtocolError> {
    let iknp: u64 = two_party(plan, linear, OtKind::Iknp)?.iter().sum();
    let silent: u64 = two_party(plan, linear, OtKind::Silent)?.iter().sum();
    Ok(((iknp - silent) / 32) as usize)
}

/// The input-label OTs of a garbled query: one per bit its circuit reads of each
/// candidate of every non-linear layer.
pub fn label_ots(plan: &Plan) -> usize {
    plan.layers
        .iter()
        .filter_map(|l| {
            let bits = Circuit::of(&l.kind, plan.fixed).input_bits() as usize;
            Some(l.kind.windows()?.index.len() * bits)
        })
        .sum()
}
