//! What a query consumes, derived from the plan and the protocol's own formulas (never
//! counted at run time): AND gates, the dealer's AND triples, oblivious transfers.
//!
//! Per ReLU or max-pool layer of `n` outputs with `m` candidates each, under GMW:
//! `relu::and_gates(fixed, m, n)` ANDs, each spending one AND triple; without a dealer the
//! parties make each triple from two OTs (one each way) and the layer's ring pairs from
//! `4 · m · n` more (`3mn` from the server, `mn` from the client). Under garbled circuits:
//! `n · relu_gc::and_gates(fixed, m)` garbled ANDs and one correlated OT per low bit of the
//! client's share of each candidate (`k · m · n`), no triples. A label-only answer's argmax
//! over `m` outputs: `argmax::and_gates(m)` ANDs under GMW (two OTs each without a
//! dealer), or its garbled circuit with one OT per bit of each output's 64-bit share.
//! Linear layers use the
//! dealer's matrix triple or a homomorphic product (no ANDs, no OTs), or without a dealer
//! by `--linear ot` one OT per bit of each input (`64 · inputs`). Setup runs 128 base OTs
//! per OT-extension instance: one under GC (the input labels), two more without a dealer
//! where layers make material by OT.

use std::ops::Add;

use serde::Serialize;
use veil_protocol::layers::relu_gc::{self, Circuit};
use veil_protocol::layers::{argmax, relu_gmw as relu};
use veil_protocol::material::{LinearPrep, Preprocessing};
use veil_protocol::ot::iknp::BASE_OTS;
use veil_protocol::plan::{Backend, LayerKind, Plan};

/// Gates, triples and OTs of one layer or phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// AND gates evaluated (GMW) or garbled (GC).
    pub and_gates: u64,
    /// Boolean AND triples spent (the dealer's, or made by OT without one).
    pub triples: u64,
    /// Oblivious transfers (correlated OT extension per query; base OTs in setup).
    pub ots: u64,
}

impl Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            and_gates: self.and_gates + o.and_gates,
            triples: self.triples + o.triples,
            ots: self.ots + o.ots,
        }
    }
}

/// Per layer of `plan`, in order, what one query consumes with its material from
/// `source`.
pub fn per_layer(plan: &Plan, source: Preprocessing) -> Vec<Counts> {
    plan.layers
        .iter()
        .map(|layer| match (&layer.kind, layer.kind.windows()) {
            (kind, Some(w)) => nonlinear_counts(plan, source, kind, w.m, w.outputs()),
            (LayerKind::Linear(l), None) if source.linear() == Some(LinearPrep::Ot) => Counts {
                ots: 64 * l.input_len() as u64,
                ..Counts::default()
            },
            // Otherwise a matrix triple or a homomorphic product: no gates, no OTs.
            _ => Counts::default(),
        })
        .collect()
}

/// What one query consumes in all.
pub fn per_query(plan: &Plan, source: Preprocessing) -> Counts {
    per_layer(plan, source)
        .into_iter()
        .fold(Counts::default(), Add::add)
}

/// What a session's setup consumes: the base OTs of each OT-extension instance.
pub fn setup(plan: &Plan, source: Preprocessing) -> Counts {
    let gc = plan.backend == Backend::Gc;
    let by_ot = match source.linear() {
        None => false,
        Some(linear) => !gc || linear == LinearPrep::Ot,
    };
    let instances = u64::from(gc) + 2 * u64::from(by_ot);
    Counts {
        ots: instances * BASE_OTS as u64,
        ..Counts::default()
    }
}

fn nonlinear_counts(
    plan: &Plan,
    source: Preprocessing,
    kind: &LayerKind,
    m: usize,
    n: usize,
) -> Counts {
    match plan.backend {
        Backend::Gmw => {
            // The ReLU's ring pairs: 4 OTs per candidate; an argmax has none.
            let (ands, pairs) = match kind {
                LayerKind::Argmax { .. } => (argmax::and_gates(m) as u64, 0),
                _ => (relu::and_gates(plan.fixed, m, n) as u64, (m * n) as u64),
            };
            let ots = match source {
                Preprocessing::Dealer => 0,
                Preprocessing::TwoParty(..) => 2 * ands + 4 * pairs,
            };
            Counts {
                and_gates: ands,
                triples: ands,
                ots,
            }
        }
        Backend::Gc => {
            let circuit = Circuit::of(kind, plan.fixed);
            Counts {
                and_gates: (n * relu_gc::and_gates(circuit, m)) as u64,
                triples: 0,
                ots: (m * n) as u64 * u64::from(circuit.input_bits()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{repo_models_dir, resolve_model};
    use veil_protocol::material::OtKind;

    fn mlp(backend: Backend) -> Plan {
        let path = resolve_model(None, &repo_models_dir()).expect("shipped");
        let plan = veil_model::load(&path).expect("loads").plan;
        Plan { backend, ..plan }
    }

    #[test]
    fn relu_layers_alone_spend_gates() {
        let plan = mlp(Backend::Gmw);
        let layers = per_layer(&plan, Preprocessing::Dealer);
        let relu_values: u64 = plan
            .layers
            .iter()
            .map(|l| match l.kind {
                LayerKind::ReluTrunc { len } => len as u64,
                _ => 0,
            })
            .sum();
        assert_eq!(relu_values, 256, "two ReLU layers of 128");
        let per_relu = relu::and_gates(plan.fixed, 1, 1) as u64;
        let total = per_query(&plan, Preprocessing::Dealer);
        assert_eq!(total.and_gates, 256 * per_relu);
        assert_eq!((total.triples, total.ots), (total.and_gates, 0));
        assert_eq!(layers[0], Counts::default(), "fc1 is linear");
        assert_eq!(setup(&plan, Preprocessing::Dealer), Counts::default());
    }

    #[test]
    fn garbled_circuits_spend_ots_not_triples() {
        let plan = mlp(Backend::Gc);
        let total = per_query(&plan, Preprocessing::Dealer);
        assert_eq!(total.ots, 256 * u64::from(plan.fixed.k));
        assert_eq!(total.triples, 0);
        assert_eq!(
            total.and_gates,
            256 * relu_gc::and_gates(Circuit::MaxReluShift(plan.fixed), 1) as u64
        );
        assert_eq!(setup(&plan, Preprocessing::Dealer).ots, 128);
    }

    #[test]
    fn without_a_dealer_triples_pairs_and_linear_layers_spend_ots() {
        let plan = mlp(Backend::Gmw);
        let he = Preprocessing::TwoParty(LinearPrep::He, OtKind::Silent);
        let ot = Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Iknp);
        let ands = 256 * relu::and_gates(plan.fixed, 1, 1) as u64;
        let relu_ots = 2 * ands + 4 * 256;
        assert_eq!(per_query(&plan, he).ots, relu_ots);
        let inputs: u64 = plan
            .linear_layers()
            .map(|(_, l)| l.input_len() as u64)
            .sum();
        assert_eq!(per_query(&plan, ot).ots, relu_ots + 64 * inputs);
        assert_eq!(per_query(&plan, he).triples, ands);
        assert_eq!(setup(&plan, he).ots, 256, "two instances");
        let gc = mlp(Backend::Gc);
        assert_eq!(setup(&gc, he).ots, 128, "the labels' alone");
        assert_eq!(setup(&gc, ot).ots, 384);
    }
}
