//! The published figures veil is held against: `benches/data/anchors.json`, a copy of the
//! project's table of two-party inference results (single query, as quoted by the papers
//! named in each entry), built into the binary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The table, as shipped.
const ANCHORS_JSON: &str = include_str!("../data/anchors.json");

/// The published table.
#[derive(Clone, Debug, Deserialize)]
pub struct Anchors {
    /// Where the figures come from and the settings they were measured in.
    pub about: String,
    /// Each standard network's architecture, by bench name.
    pub networks: BTreeMap<String, String>,
    /// Whole-network results.
    pub results: Vec<Published>,
    /// Per-ReLU costs of other protocols.
    pub per_relu: Vec<PerRelu>,
}

/// One published whole-network result. Times in seconds, communication in MB as the
/// source gives it; a figure the source does not give is absent.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Published {
    /// The bench name of the network.
    pub network: String,
    /// The system measured.
    pub system: String,
    /// `lan` or `wan`.
    pub setting: String,
    /// Offline seconds.
    pub offline_s: Option<f64>,
    /// Online seconds.
    pub online_s: Option<f64>,
    /// Total seconds.
    pub total_s: Option<f64>,
    /// Offline MB.
    pub offline_mb: Option<f64>,
    /// Online MB.
    pub online_mb: Option<f64>,
    /// Total MB.
    pub total_mb: Option<f64>,
    /// The paper and table quoted.
    pub source: String,
}

/// One published per-ReLU cost.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PerRelu {
    /// The protocol.
    pub protocol: String,
    /// Bytes per ReLU.
    pub bytes: u64,
    /// Rounds, where given.
    pub rounds: Option<u64>,
    /// The paper and table quoted.
    pub source: String,
}

impl Anchors {
    /// The shipped table.
    pub fn shipped() -> Result<Anchors, serde_json::Error> {
        serde_json::from_str(ANCHORS_JSON)
    }

    /// The results for `network` in `setting`, in table order.
    pub fn results_for<'a>(
        &'a self,
        network: &'a str,
        setting: &'a str,
    ) -> impl Iterator<Item = &'a Published> + 'a {
        self.results
            .iter()
            .filter(move |r| r.network == network && r.setting == setting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::STANDARD_MODELS;

    #[test]
    fn the_shipped_table_parses_and_names_the_standard_networks() {
        let a = Anchors::shipped().expect("benches/data/anchors.json parses");
        for (name, _) in STANDARD_MODELS {
            assert!(a.networks.contains_key(name), "{name} is described");
        }
        assert!(a
            .results
            .iter()
            .all(|r| a.networks.contains_key(&r.network)));
        let mlp: Vec<_> = a.results_for("secureml-mlp", "lan").collect();
        assert_eq!(mlp.len(), 1);
        assert_eq!(
            (mlp[0].system.as_str(), mlp[0].total_s),
            ("SecureML", Some(4.88))
        );
        assert!(a.per_relu.iter().any(|p| p.bytes == 4032));
    }
}
