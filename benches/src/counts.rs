//! What a query consumes, derived from the plan and the protocol's own formulas (never
//! counted at run time): AND gates, the dealer's AND triples, oblivious transfers.
//!
//! Per ReLU or max-pool layer of `n` outputs with `m` candidates each, under GMW:
//! `relu::and_gates(fixed, m, n)` ANDs, each spending one dealer triple. Under garbled
//! circuits: `n · relu_gc::and_gates(fixed, m)` garbled ANDs and one correlated OT per low
//! bit of the client's share of each candidate (`k · m · n`), no triples. Linear layers
//! use the dealer's matrix triple (no ANDs, no OTs). Setup under GC runs the base OTs of
//! the OT extension once per session.

use std::ops::Add;

use serde::Serialize;
use veil_protocol::layers::{relu_gc, relu_gmw as relu};
use veil_protocol::ot::iknp::BASE_OTS;
use veil_protocol::plan::{Backend, Plan};

/// Gates, triples and OTs of one layer or phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// AND gates evaluated (GMW) or garbled (GC).
    pub and_gates: u64,
    /// Boolean AND triples taken from the dealer.
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

/// Per layer of `plan`, in order, what one query consumes.
pub fn per_layer(plan: &Plan) -> Vec<Counts> {
    plan.layers
        .iter()
        .map(|layer| match layer.kind.windows() {
            Some(w) => relu_counts(plan, w.m, w.outputs()),
            // Linear layers spend a matrix triple: no gates, no OTs.
            None => Counts::default(),
        })
        .collect()
}

/// What one query consumes in all.
pub fn per_query(plan: &Plan) -> Counts {
    per_layer(plan)
        .into_iter()
        .fold(Counts::default(), Add::add)
}

/// What a session's setup consumes: the base OTs under GC, nothing under GMW.
pub fn setup(plan: &Plan) -> Counts {
    match plan.backend {
        Backend::Gc => Counts {
            ots: BASE_OTS as u64,
            ..Counts::default()
        },
        Backend::Gmw => Counts::default(),
    }
}

fn relu_counts(plan: &Plan, m: usize, n: usize) -> Counts {
    match plan.backend {
        Backend::Gmw => {
            let ands = relu::and_gates(plan.fixed, m, n) as u64;
            Counts {
                and_gates: ands,
                triples: ands,
                ots: 0,
            }
        }
        Backend::Gc => Counts {
            and_gates: (n * relu_gc::and_gates(plan.fixed, m)) as u64,
            triples: 0,
            ots: (m * n) as u64 * u64::from(plan.fixed.k),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{repo_models_dir, resolve_model};
    use veil_protocol::plan::LayerKind;

    fn mlp(backend: Backend) -> Plan {
        let path = resolve_model(None, &repo_models_dir()).expect("shipped");
        let plan = veil_model::load(&path).expect("loads").plan;
        Plan { backend, ..plan }
    }

    #[test]
    fn relu_layers_alone_spend_gates() {
        let plan = mlp(Backend::Gmw);
        let layers = per_layer(&plan);
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
        let total = per_query(&plan);
        assert_eq!(total.and_gates, 256 * per_relu);
        assert_eq!((total.triples, total.ots), (total.and_gates, 0));
        assert_eq!(layers[0], Counts::default(), "fc1 is linear");
        assert_eq!(setup(&plan), Counts::default());
    }

    #[test]
    fn garbled_circuits_spend_ots_not_triples() {
        let plan = mlp(Backend::Gc);
        let total = per_query(&plan);
        assert_eq!(total.ots, 256 * u64::from(plan.fixed.k));
        assert_eq!(total.triples, 0);
        assert_eq!(
            total.and_gates,
            256 * relu_gc::and_gates(plan.fixed, 1) as u64
        );
        assert_eq!(setup(&plan).ots, 128);
    }
}
