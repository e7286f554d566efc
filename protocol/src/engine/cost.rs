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

use crate::layers::{linear, relu, relu_gc};
use crate::material::correction_len;
use crate::plan::{Backend, LayerKind, Plan};

/// Bytes (both directions) and rounds of one layer or phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Payload bytes, both directions.
    pub bytes: u64,
    /// Rounds: the advance of the deeper of the two clocks.
    pub rounds: u64,
}

/// The two parties' round clocks.
#[derive(Clone, Copy, Default)]
struct Clocks {
    server: u64,
    client: u64,
}

impl Clocks {
    fn depth(&self) -> u64 {
        self.server.max(self.client)
    }
    fn client_to_server(&mut self) {
        self.server = self.server.max(self.client + 1);
    }
    fn server_to_client(&mut self) {
        self.client = self.client.max(self.server + 1);
    }
    fn exchange(&mut self) {
        let before = *self;
        self.server = before.server.max(before.client + 1);
        self.client = before.client.max(before.server + 1);
    }
}

/// Online cost of every layer of `plan`, in order.
pub fn online(plan: &Plan) -> Vec<Cost> {
    let mut clocks = Clocks::default();
    let last = plan.layers.len().saturating_sub(1);
    plan.layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let start = clocks.depth();
            let mut bytes = match (&layer.kind, layer.kind.windows()) {
                (LayerKind::Linear(linear), _) => {
                    clocks.client_to_server();
                    linear::online_bytes(linear) as u64
                }
                (_, Some(w)) if plan.backend == Backend::Gc => {
                    clocks.server_to_client();
                    relu_gc::online_bytes(plan.fixed, w.index.len()) as u64
                }
                (_, Some(w)) => {
                    (0..relu::rounds(plan.fixed, w.m)).for_each(|_| clocks.exchange());
                    2 * relu::bytes_sent(plan.fixed, w.m, w.outputs()) as u64
                }
                (_, None) => unreachable!("every non-linear layer has windows"),
            };
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

/// Setup cost: E = W − U for every linear layer, sent at once in answer to the client's
/// hello: two rounds counted from the hello, as a client reports them.
pub fn setup(plan: &Plan) -> Cost {
    let bytes = plan
        .linear_layers()
        .map(|(_, l)| 8 * l.op.weight_len() as u64)
        .sum();
    Cost { bytes, rounds: 2 }
}

/// Per-query material from the dealer: two 16-byte seeds and the client's corrections.
pub fn dealer_material(plan: &Plan) -> u64 {
    32 + correction_len(plan) as u64
}
