//! The network a bench runs on: plain loopback, or every link shaped to a bandwidth and a
//! round-trip time (`--net lan|wan|MBPS,RTT_MS`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use veil_net::LinkShape;

/// Bytes in a megabyte, as bandwidths are given (MB/s, not Mbit/s).
pub const MB: f64 = 1e6;

/// The LAN of the published tables (SecureNN): 625 MB/s, 0.2 ms round trip.
pub const LAN: LinkShape = LinkShape {
    bandwidth: 625.0 * MB,
    rtt: Duration::from_micros(200),
};

/// The WAN of the published tables: 40 MB/s, 60 ms round trip.
pub const WAN: LinkShape = LinkShape {
    bandwidth: 40.0 * MB,
    rtt: Duration::from_millis(60),
};

/// Where the parties' links run.
#[derive(Clone, Debug, PartialEq)]
pub enum Network {
    /// Loopback QUIC as it is, unshaped.
    Loopback,
    /// Every link shaped; `name` is how the user asked for it (`lan`, `wan`, `100,10`).
    Shaped {
        /// `lan`, `wan`, or the user's `MBPS,RTT_MS`.
        name: String,
        /// The shape of each link.
        shape: LinkShape,
    },
}

impl Network {
    /// The shape of every link, if shaped.
    pub fn shape(&self) -> Option<LinkShape> {
        match self {
            Network::Loopback => None,
            Network::Shaped { shape, .. } => Some(*shape),
        }
    }

    /// The name in reports: `loopback`, `lan`, `wan` or `MBPS,RTT_MS`.
    pub fn name(&self) -> &str {
        match self {
            Network::Loopback => "loopback",
            Network::Shaped { name, .. } => name,
        }
    }

    /// The link's figures for JSON (`None` on loopback).
    pub fn link(&self) -> Option<LinkJson> {
        self.shape().map(|s| LinkJson {
            bandwidth_mb_s: s.bandwidth / MB,
            rtt_ms: s.rtt.as_secs_f64() * 1e3,
        })
    }
}

/// A shaped link's figures, as JSON reports them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinkJson {
    /// Bandwidth each way, MB/s (10^6 bytes per second).
    pub bandwidth_mb_s: f64,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Loopback => write!(f, "loopback (unshaped)"),
            Network::Shaped { name, shape } => write!(
                f,
                "{name} ({} MB/s, {} ms round trip, shaped on every link)",
                shape.bandwidth / MB,
                shape.rtt.as_secs_f64() * 1e3
            ),
        }
    }
}

/// Why a `--net` value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "--net {0:?}: give lan, wan, or MBPS,RTT_MS with a bandwidth above 0 in MB/s and a \
     round-trip time of 0 or more in ms (e.g. 100,10)"
)]
pub struct BadNetwork(String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(s: &str) -> Result<Network, BadNetwork> {
        let bad = || BadNetwork(s.to_string());
        let (name, shape) = match s {
            "loopback" => return Ok(Network::Loopback),
            "lan" | "wan" => (s, if s == "lan" { LAN } else { WAN }),
            _ => {
                let (mbps, rtt) = s.split_once(',').ok_or_else(bad)?;
                let mbps: f64 = mbps.trim().parse().map_err(|_| bad())?;
                let rtt: f64 = rtt.trim().parse().map_err(|_| bad())?;
                if !(mbps.is_finite() && mbps > 0.0 && rtt.is_finite() && rtt >= 0.0) {
                    return Err(bad());
                }
                let rtt = Duration::try_from_secs_f64(rtt / 1e3).map_err(|_| bad())?;
                let shape = LinkShape {
                    bandwidth: mbps * MB,
                    rtt,
                };
                (s, shape)
            }
        };
        Ok(Network::Shaped {
            name: name.to_string(),
            shape,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_custom_links_parse() {
        assert_eq!("loopback".parse(), Ok(Network::Loopback));
        let lan: Network = "lan".parse().unwrap();
        assert_eq!((lan.name(), lan.shape()), ("lan", Some(LAN)));
        assert_eq!("wan".parse::<Network>().unwrap().shape(), Some(WAN));
        let custom: Network = "100,10".parse().unwrap();
        assert_eq!(custom.name(), "100,10");
        let shape = custom.shape().unwrap();
        assert_eq!(shape.bandwidth, 100e6);
        assert_eq!(shape.rtt, Duration::from_millis(10));
        assert_eq!(custom.link().unwrap().rtt_ms, 10.0);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "", "fast", "100", "0,10", "-5,10", "100,-1", "100,x", "nan,1", "1,inf",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?} parsed");
        }
    }
}
