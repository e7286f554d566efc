//! The issues' targets per query (medians), for the models that have them: the SecureML
//! MNIST MLP under GMW (online at most 20 rounds, 64 KB and 10 ms; offline at most 16 KB)
//! and MiniONN's MNIST CNN (GMW with a dealer: online at most 20 ms, 1.5 MB and 40 rounds,
//! offline + online at most 60 ms; GC: online at most 6 MB, offline + online at most
//! 0.5 s). 1 KB here is 1,000 bytes, the stricter reading.

use std::fmt;

use serde::Serialize;
use veil_protocol::plan::Backend;

use crate::summary::CostSummary;

/// Bytes in a KB, as the goals count them.
pub const KB: f64 = 1000.0;

/// One target and how the run measured up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Goal {
    /// What is measured.
    pub what: &'static str,
    /// Its unit (`rounds`, `KB`, `ms`).
    pub unit: &'static str,
    /// The measured value (a median per query).
    pub value: f64,
    /// The target: at most this much.
    pub limit: f64,
    /// True if `value <= limit`.
    pub met: bool,
}

impl Goal {
    fn new(what: &'static str, unit: &'static str, value: f64, limit: f64) -> Goal {
        Goal {
            what,
            unit,
            value,
            limit,
            met: value <= limit,
        }
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.met { "✓" } else { "✗ MISSED" };
        let value = match self.unit {
            "rounds" => format!("{:.0}", self.value),
            "ms" | "s" => format!("{:.2}", self.value),
            _ => format!("{:.1}", self.value),
        };
        write!(
            f,
            "{} {value} ≤ {} {} {mark}",
            self.what, self.limit, self.unit
        )
    }
}

/// The goals of `model` (a shipped file's stem) under `backend`, checked against a run's
/// medians; none for other models.
pub fn goals(model: &str, backend: Backend, s: &CostSummary) -> Vec<Goal> {
    let total_ms = s.offline.ms + s.online.ms;
    match (model, backend) {
        ("mnist-mlp", Backend::Gmw) => mlp_goals(s),
        ("mnist-cnn-minionn", Backend::Gmw) => vec![
            Goal::new("online", "ms", s.online.ms, 20.0),
            Goal::new("online", "KB", s.online.bytes as f64 / KB, 1500.0),
            Goal::new("online", "rounds", s.online.rounds as f64, 40.0),
            Goal::new("offline + online", "ms", total_ms, 60.0),
        ],
        ("mnist-cnn-minionn", Backend::Gc) => vec![
            Goal::new("online", "KB", s.online.bytes as f64 / KB, 6000.0),
            Goal::new("offline + online", "s", total_ms / 1000.0, 0.5),
        ],
        _ => Vec::new(),
    }
}

/// The MLP's goals checked against a run's medians.
fn mlp_goals(s: &CostSummary) -> Vec<Goal> {
    vec![
        Goal::new("online", "rounds", s.online.rounds as f64, 20.0),
        Goal::new("online", "KB", s.online.bytes as f64 / KB, 64.0),
        Goal::new("online", "ms", s.online.ms, 10.0),
        Goal::new("offline", "KB", s.offline.bytes as f64 / KB, 16.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_compare_medians_with_limits() {
        let mut s = CostSummary::default();
        s.online.rounds = 20;
        s.online.bytes = 64_001;
        s.online.ms = 1.234;
        s.offline.bytes = 16_000;
        let g = mlp_goals(&s);
        assert_eq!(
            g.iter().map(|g| g.met).collect::<Vec<_>>(),
            [true, false, true, true]
        );
        assert_eq!(g[0].to_string(), "online 20 ≤ 20 rounds ✓");
        assert_eq!(g[1].to_string(), "online 64.0 ≤ 64 KB ✗ MISSED");
        assert_eq!(g[2].to_string(), "online 1.23 ≤ 10 ms ✓");
    }

    #[test]
    fn each_model_and_backend_has_its_own_goals() {
        let mut s = CostSummary::default();
        s.offline.ms = 300.0;
        s.online.ms = 250.0;
        s.online.bytes = 5_000_000;
        let gc = goals("mnist-cnn-minionn", Backend::Gc, &s);
        assert_eq!(gc.iter().map(|g| g.met).collect::<Vec<_>>(), [true, false]);
        assert_eq!(gc[1].to_string(), "offline + online 0.55 ≤ 0.5 s ✗ MISSED");
        assert_eq!(goals("mnist-cnn-minionn", Backend::Gmw, &s).len(), 4);
        assert!(goals("mnist-mlp", Backend::Gc, &s).is_empty());
        assert!(goals("my-model", Backend::Gmw, &s).is_empty());
    }
}
