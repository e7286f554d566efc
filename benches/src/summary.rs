//! Costs over many queries: per phase and per layer, the median and 90th percentile of
//! bytes, rounds and milliseconds, and whether bytes and rounds were the same every time.

use std::time::Duration;

use serde::Serialize;
use veil_protocol::session::{PhaseCost, QueryReport};

use crate::stats::Spread;

/// One phase's (or one layer's) cost per query over a run. `bytes`, `rounds` and `ms`
/// are medians, so the first three fields read as CONTRACT.md's `{bytes, rounds, ms}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stat {
    /// Payload bytes, median.
    pub bytes: u64,
    /// Rounds, median.
    pub rounds: u64,
    /// Milliseconds at the client, median.
    pub ms: f64,
    /// Payload bytes, 90th percentile.
    pub bytes_p90: u64,
    /// Rounds, 90th percentile.
    pub rounds_p90: u64,
    /// Milliseconds, 90th percentile.
    pub ms_p90: f64,
}

impl Stat {
    /// The statistics of `costs` (zeros for none).
    pub fn of(costs: &[PhaseCost]) -> Stat {
        let bytes = Spread::of_counts(&costs.iter().map(|c| c.bytes).collect::<Vec<_>>());
        let rounds = Spread::of_counts(&costs.iter().map(|c| c.rounds).collect::<Vec<_>>());
        let ms = Spread::of(&costs.iter().map(|c| c.ms).collect::<Vec<_>>());
        Stat {
            bytes: bytes.median.round() as u64,
            rounds: rounds.median.round() as u64,
            ms: to_micros(ms.median),
            bytes_p90: bytes.p90.round() as u64,
            rounds_p90: rounds.p90.round() as u64,
            ms_p90: to_micros(ms.p90),
        }
    }
}

/// Milliseconds rounded to the microsecond: finer digits are timer noise.
fn to_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// One layer's costs over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerStat {
    /// The layer's name.
    pub name: String,
    /// Its kind (`linear`, `relu`).
    pub kind: String,
    /// Its share of the per-query dealer material.
    pub offline: Stat,
    /// Its online cost.
    pub online: Stat,
}

/// The costs of a run of queries in one session.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostSummary {
    /// Queries measured.
    pub queries: usize,
    /// The session's setup (once, reported with the first query).
    pub setup: Stat,
    /// Per query: the material from the dealer.
    pub offline: Stat,
    /// Per query: from the client's input to its output.
    pub online: Stat,
    /// Per layer, in plan order.
    pub layers: Vec<LayerStat>,
    /// True if every query had the same bytes and rounds, per phase and per layer.
    pub constant: bool,
    /// Queries per second over the run (setup excluded).
    pub throughput_qps: f64,
}

/// Summarises the reports of one session's queries, which took `elapsed` in all.
pub fn summarize(reports: &[QueryReport], elapsed: Duration) -> CostSummary {
    let Some(first) = reports.first() else {
        return CostSummary::default();
    };
    let phase = |pick: fn(&QueryReport) -> PhaseCost| {
        Stat::of(&reports.iter().map(pick).collect::<Vec<_>>())
    };
    let layers = first
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let costs = |pick: fn(&veil_protocol::session::LayerCost) -> PhaseCost| {
                let costs: Vec<PhaseCost> = reports
                    .iter()
                    .filter_map(|r| r.layers.get(i).map(pick))
                    .collect();
                Stat::of(&costs)
            };
            LayerStat {
                name: layer.name.clone(),
                kind: layer.kind.clone(),
                offline: costs(|l| l.offline),
                online: costs(|l| l.online),
            }
        })
        .collect();
    let secs = elapsed.as_secs_f64();
    CostSummary {
        queries: reports.len(),
        setup: Stat::of(&[first.setup]),
        offline: phase(|r| r.offline),
        online: phase(|r| r.online),
        layers,
        constant: reports.iter().all(|r| counts(r) == counts(first)),
        throughput_qps: if secs > 0.0 {
            reports.len() as f64 / secs
        } else {
            0.0
        },
    }
}

/// A query's bytes and rounds, per phase and per layer (its times left out).
fn counts(r: &QueryReport) -> Vec<(u64, u64)> {
    let pair = |c: PhaseCost| (c.bytes, c.rounds);
    let mut v = vec![pair(r.offline), pair(r.online)];
    for l in &r.layers {
        v.push(pair(l.offline));
        v.push(pair(l.online));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_protocol::session::{LayerCost, Links};

    fn cost(bytes: u64, rounds: u64, ms: f64) -> PhaseCost {
        PhaseCost { bytes, rounds, ms }
    }

    fn report(online_bytes: u64, ms: f64) -> QueryReport {
        QueryReport {
            setup: cost(1000, 3, 50.0),
            offline: cost(200, 1, ms / 2.0),
            online: cost(online_bytes, 7, ms),
            layers: vec![LayerCost {
                name: "fc1".into(),
                kind: "linear".into(),
                offline: cost(200, 0, 0.0),
                online: cost(online_bytes, 1, ms),
            }],
            links: Links::default(),
            wire_bytes: None,
        }
    }

    #[test]
    fn medians_percentiles_and_constancy() {
        let reports: Vec<QueryReport> = (1..=10).map(|i| report(500, f64::from(i))).collect();
        let s = summarize(&reports, Duration::from_secs(2));
        assert_eq!(s.queries, 10);
        assert_eq!((s.setup.bytes, s.setup.rounds, s.setup.ms), (1000, 3, 50.0));
        assert_eq!((s.online.bytes, s.online.rounds), (500, 7));
        assert_eq!((s.online.bytes_p90, s.online.rounds_p90), (500, 7));
        assert_eq!(s.online.ms, 5.5);
        assert!((s.online.ms_p90 - 9.1).abs() < 1e-12);
        assert_eq!(s.layers[0].online.ms, 5.5);
        assert_eq!(s.layers[0].offline.bytes, 200);
        assert!(s.constant);
        assert_eq!(s.throughput_qps, 5.0);
    }

    #[test]
    fn a_changing_byte_count_is_noticed() {
        let reports = vec![report(500, 1.0), report(501, 1.0)];
        assert!(!summarize(&reports, Duration::from_secs(1)).constant);
        assert_eq!(summarize(&[], Duration::ZERO), CostSummary::default());
    }
}
