//! The targets for the SecureML MNIST MLP, per query: online at most 20 rounds,
//! 64 KB and 10 ms (median); offline at most 16 KB. 1 KB here is 1,000 bytes, the
//! stricter reading.

use std::fmt;

use serde::Serialize;

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
            "ms" => format!("{:.2}", self.value),
            _ => format!("{:.1}", self.value),
        };
        write!(
            f,
            "{} {value} ≤ {} {} {mark}",
            self.what, self.limit, self.unit
        )
    }
}

/// The MLP's goals checked against a run's medians.
pub fn mlp_goals(s: &CostSummary) -> Vec<Goal> {
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
}
