//! What one ReLU costs in a run: the plain ReLU layers' measured bytes (offline and online)
//! and their AND gates, divided by the ReLUs they compute. Max-pool layers, which fold
//! a ReLU into each window's maximum, are left out: their cost per output is not a ReLU's.
//! The published per-ReLU figures of `anchors.json` are set beside it by `compare`.

use serde::Serialize;
use veil_protocol::plan::{LayerKind, Plan};

/// What one layer of a run cost per query: what [`ReluCost::of`] reads of it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerCost {
    /// AND gates it consumes.
    pub and_gates: u64,
    /// Bytes before the input is known.
    pub offline_bytes: u64,
    /// Bytes once the input is known.
    pub online_bytes: u64,
}

/// One ReLU's cost, averaged over the model's plain ReLU layers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReluCost {
    /// Signed bit width of the values compared (CrypTFlow2's `l`).
    pub k: u32,
    /// ReLUs per query.
    pub relus: u64,
    /// AND gates per ReLU.
    pub and_gates: f64,
    /// Bytes per ReLU before the input is known: the dealer's material, or the parties'
    /// own OTs and garbled tables.
    pub offline_bytes: f64,
    /// Bytes per ReLU once the input is known.
    pub online_bytes: f64,
    /// Both.
    pub total_bytes: f64,
}

impl ReluCost {
    /// The cost per ReLU of a run's layers, in `plan` order, each given as its
    /// [`LayerCost`]; `None` if the plan has no plain ReLU layer.
    pub fn of(plan: &Plan, layers: impl IntoIterator<Item = LayerCost>) -> Option<ReluCost> {
        let (mut relus, mut ands, mut offline, mut online) = (0u64, 0u64, 0u64, 0u64);
        for (layer, run) in plan.layers.iter().zip(layers) {
            if let LayerKind::ReluTrunc { len } = layer.kind {
                relus += len as u64;
                ands += run.and_gates;
                offline += run.offline_bytes;
                online += run.online_bytes;
            }
        }
        let per = |x: u64| x as f64 / relus as f64;
        (relus > 0).then(|| ReluCost {
            k: plan.fixed.k,
            relus,
            and_gates: per(ands),
            offline_bytes: per(offline),
            online_bytes: per(online),
            total_bytes: per(offline + online),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_protocol::plan::PlanLayer;
    use veil_protocol::ring::FixedPoint;

    fn layer(kind: LayerKind) -> PlanLayer {
        PlanLayer {
            name: kind.name().into(),
            kind,
        }
    }

    fn run(offline_bytes: u64, online_bytes: u64, and_gates: u64) -> LayerCost {
        LayerCost {
            and_gates,
            offline_bytes,
            online_bytes,
        }
    }

    fn plan(layers: Vec<PlanLayer>) -> Plan {
        Plan {
            model: "m".into(),
            input_shape: vec![4],
            input_range: (0.0, 1.0),
            fixed: FixedPoint { f: 12, k: 32 },
            backend: veil_protocol::plan::Backend::Gc,
            layers,
        }
    }

    #[test]
    fn divides_the_relu_layers_costs_by_their_outputs_only() {
        let p = plan(vec![
            layer(LayerKind::dense(10, 4)),
            layer(LayerKind::ReluTrunc { len: 10 }),
            layer(LayerKind::dense(6, 10)),
            layer(LayerKind::ReluTrunc { len: 6 }),
        ]);
        let runs = [
            run(7_000, 900, 0),
            run(40_000, 4_000, 1_000),
            run(5_000, 100, 0),
            run(24_000, 2_400, 600),
        ];
        let c = ReluCost::of(&p, runs).expect("two relu layers");
        assert_eq!((c.k, c.relus), (32, 16));
        assert_eq!(c.and_gates, 100.0);
        assert_eq!(c.offline_bytes, 4_000.0);
        assert_eq!(c.online_bytes, 400.0);
        assert_eq!(c.total_bytes, 4_400.0);
        assert_eq!(
            ReluCost::of(&plan(vec![layer(LayerKind::dense(2, 2))]), runs),
            None
        );
    }
}
