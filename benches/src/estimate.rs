//! The analytic estimate of a phase's time on a shaped network, printed beside the
//! measured time: `compute + rounds · RTT/2 + bytes / bandwidth`.
//!
//! A round (CONTRACT.md) is one message in a chain of dependent messages: it costs a
//! one-way trip, half a round trip, so a request and its answer are two rounds and one
//! RTT. `compute` is the phase's median time in an unshaped run of the same queries on
//! loopback, just before the shaped one. The transfer term charges every byte of every
//! link to one link's bandwidth, so where both directions or several links carry data at
//! once the estimate runs high; where computing overlaps waiting, it runs high too.

use serde::Serialize;
use veil_net::LinkShape;

use crate::summary::Stat;

/// What `compute` is, as reports say it.
pub const COMPUTE_SOURCE: &str = "median of an unshaped run of the same queries";

/// One phase: measured, and estimated from its unshaped time, rounds and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PhaseEstimate {
    /// Measured on the shaped network (median ms).
    pub measured_ms: f64,
    /// The unshaped run's time (median ms).
    pub compute_ms: f64,
    /// `rounds · RTT/2`, ms.
    pub latency_ms: f64,
    /// `bytes / bandwidth`, ms.
    pub transfer_ms: f64,
    /// `compute + latency + transfer`, ms.
    pub estimate_ms: f64,
}

impl PhaseEstimate {
    /// The estimate of a phase measured as `shaped`, which took `unshaped` on loopback.
    pub fn of(shape: LinkShape, shaped: &Stat, unshaped: &Stat) -> PhaseEstimate {
        let latency_ms = shaped.rounds as f64 * shape.rtt.as_secs_f64() * 1e3 / 2.0;
        let transfer_ms = shaped.bytes as f64 / shape.bandwidth * 1e3;
        PhaseEstimate {
            measured_ms: shaped.ms,
            compute_ms: unshaped.ms,
            latency_ms,
            transfer_ms,
            estimate_ms: unshaped.ms + latency_ms + transfer_ms,
        }
    }
}

/// The estimate of each phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Where `compute_ms` comes from.
    pub compute: &'static str,
    /// The session's setup.
    pub setup: PhaseEstimate,
    /// Per query, offline.
    pub offline: PhaseEstimate,
    /// Per query, online.
    pub online: PhaseEstimate,
}

impl Estimate {
    /// Each phase of a shaped run `shaped` against the unshaped run `unshaped`, both as
    /// (setup, offline, online).
    pub fn of(shape: LinkShape, shaped: [&Stat; 3], unshaped: [&Stat; 3]) -> Estimate {
        Estimate {
            compute: COMPUTE_SOURCE,
            setup: PhaseEstimate::of(shape, shaped[0], unshaped[0]),
            offline: PhaseEstimate::of(shape, shaped[1], unshaped[1]),
            online: PhaseEstimate::of(shape, shaped[2], unshaped[2]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn compute_plus_half_an_rtt_per_round_plus_bytes_over_bandwidth() {
        let shape = LinkShape {
            bandwidth: 10e6,
            rtt: Duration::from_millis(20),
        };
        let shaped = Stat {
            bytes: 1_000_000,
            rounds: 20,
            ms: 320.0,
            ..Stat::default()
        };
        let unshaped = Stat { ms: 5.0, ..shaped };
        let e = PhaseEstimate::of(shape, &shaped, &unshaped);
        assert_eq!((e.latency_ms, e.transfer_ms), (200.0, 100.0));
        assert_eq!((e.estimate_ms, e.measured_ms), (305.0, 320.0));
    }
}
