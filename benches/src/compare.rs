//! `veil-bench compare`: veil's figures for each standard network shipped in this build,
//! under each backend on the LAN of the published tables, next to the published figures
//! ([`crate::anchors`]) with the ratio veil / published.
//!
//! The published figures are for one query, preprocessing included, so veil's "offline"
//! here is the session's setup plus one query's offline phase: what a single query costs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use serde::Serialize;
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::Backend;

use crate::anchors::{Anchors, PerRelu, Published};
use crate::error::BenchError;
use crate::network::{Network, LAN, MB};
use crate::paths::{standard_model, STANDARD_MODELS};
use crate::per_relu::ReluCost;
use crate::run::{run, RunOptions, RunReport};

/// Queries per network and backend: enough for a median, few enough to stay quick.
pub const QUERIES: usize = 3;

/// The setting compared: the LAN of the published tables.
pub const SETTING: &str = "lan";

/// Both backends, in report order.
pub const BACKENDS: [Backend; 2] = [Backend::Gmw, Backend::Gc];

/// veil's single-query figures for one network and backend.
#[derive(Clone, Debug, Serialize)]
pub struct VeilFigures {
    /// `gmw` or `gc`.
    pub backend: &'static str,
    /// Setup plus one query's offline phase, seconds.
    pub offline_s: f64,
    /// One query's online phase, seconds.
    pub online_s: f64,
    /// Both, seconds.
    pub total_s: f64,
    /// Setup plus offline, MB (10^6 bytes).
    pub offline_mb: f64,
    /// Online, MB.
    pub online_mb: f64,
    /// Both, MB.
    pub total_mb: f64,
    /// One ReLU's cost in this run (`None` if the network has no plain ReLU layer).
    pub per_relu: Option<ReluCost>,
}

/// A published row with veil's ratios against it.
#[derive(Clone, Debug, Serialize)]
pub struct Compared {
    /// The published figures.
    #[serde(flatten)]
    pub published: Published,
    /// Per backend, veil / published for every figure both give (`total_s`, …).
    pub ratio: BTreeMap<&'static str, BTreeMap<&'static str, f64>>,
}

/// One network: veil's figures (if shipped) and the published ones.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkComparison {
    /// The bench name.
    pub network: String,
    /// False if this build does not ship the model file.
    pub shipped: bool,
    /// veil, per backend (empty if not shipped).
    pub veil: Vec<VeilFigures>,
    /// The published figures in the same setting.
    pub published: Vec<Compared>,
}

/// The comparison; its JSON is `veil-bench compare --json`.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The setting: `lan`.
    pub net: &'static str,
    /// Queries veil ran per network and backend.
    pub queries: usize,
    /// True if Ctrl-C stopped the runs early.
    pub interrupted: bool,
    /// Per standard network.
    pub networks: Vec<NetworkComparison>,
    /// Published costs of one ReLU, set beside veil's `per_relu`.
    pub published_per_relu: Vec<PerRelu>,
    /// veil's full run reports, per network and backend (for `--svg`).
    #[serde(skip)]
    pub runs: Vec<RunReport>,
}

/// Runs every shipped standard network under each backend and sets the results beside
/// the published ones.
pub fn compare(
    models_dir: &Path,
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<Comparison, BenchError> {
    let anchors = Anchors::shipped().map_err(|_| BenchError::Internal("anchors.json"))?;
    let mut out = Comparison {
        net: SETTING,
        queries: QUERIES,
        interrupted: false,
        networks: Vec::new(),
        published_per_relu: anchors.per_relu.clone(),
        runs: Vec::new(),
    };
    for (name, _) in STANDARD_MODELS {
        let file = standard_model(name, models_dir).filter(|p| p.is_file());
        let mut veil = Vec::new();
        if let Some(model) = &file {
            for backend in BACKENDS {
                let report = run_one(model, models_dir, backend, stop, progress)?;
                out.interrupted |= report.interrupted || stop.load(Ordering::SeqCst);
                veil.push(figures(&report));
                out.runs.push(report);
            }
        }
        let published = anchors
            .results_for(name, SETTING)
            .map(|p| compared(p, &veil))
            .collect();
        out.networks.push(NetworkComparison {
            network: name.to_string(),
            shipped: file.is_some(),
            veil,
            published,
        });
    }
    Ok(out)
}

fn run_one(
    model: &Path,
    models_dir: &Path,
    backend: Backend,
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<RunReport, BenchError> {
    let opts = RunOptions {
        label_only: false,
        model: PathBuf::from(model),
        models_dir: models_dir.to_path_buf(),
        backend,
        queries: QUERIES,
        net: Network::Shaped {
            name: SETTING.into(),
            shape: LAN,
        },
        estimate: false,
        material: Preprocessing::Dealer,
    };
    progress.reset();
    run(&opts, stop, progress)
}

/// A run's single-query figures: setup and one query's offline phase as "offline".
fn figures(r: &RunReport) -> VeilFigures {
    let offline_ms = r.setup.ms + r.offline.ms;
    let offline_bytes = r.setup.bytes + r.offline.bytes;
    VeilFigures {
        backend: r.backend,
        offline_s: offline_ms / 1e3,
        online_s: r.online.ms / 1e3,
        total_s: (offline_ms + r.online.ms) / 1e3,
        offline_mb: offline_bytes as f64 / MB,
        online_mb: r.online.bytes as f64 / MB,
        total_mb: (offline_bytes + r.online.bytes) as f64 / MB,
        per_relu: r.per_relu,
    }
}

fn compared(p: &Published, veil: &[VeilFigures]) -> Compared {
    let ratio = veil
        .iter()
        .map(|v| {
            let pairs = [
                ("offline_s", v.offline_s, p.offline_s),
                ("online_s", v.online_s, p.online_s),
                ("total_s", v.total_s, p.total_s),
                ("offline_mb", v.offline_mb, p.offline_mb),
                ("online_mb", v.online_mb, p.online_mb),
                ("total_mb", v.total_mb, p.total_mb),
            ];
            let ratios = pairs
                .into_iter()
                .filter_map(|(k, ours, theirs)| theirs.filter(|&t| t > 0.0).map(|t| (k, ours / t)))
                .collect();
            (v.backend, ratios)
        })
        .collect();
    Compared {
        published: p.clone(),
        ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_cover_the_figures_both_sides_give() {
        let p = Published {
            network: "secureml-mlp".into(),
            system: "SecureML".into(),
            setting: "lan".into(),
            offline_s: Some(4.7),
            online_s: Some(0.18),
            total_s: Some(4.88),
            offline_mb: None,
            online_mb: None,
            total_mb: None,
            source: "x".into(),
        };
        let v = VeilFigures {
            backend: "gmw",
            offline_s: 0.047,
            online_s: 0.018,
            total_s: 0.0488,
            offline_mb: 1.0,
            online_mb: 0.1,
            total_mb: 1.1,
            per_relu: None,
        };
        let c = compared(&p, &[v]);
        let r = &c.ratio["gmw"];
        assert_eq!(r.len(), 3, "no MB ratio without published MB");
        assert!((r["total_s"] - 0.01).abs() < 1e-12);
        assert!((r["online_s"] - 0.1).abs() < 1e-12);
    }
}
