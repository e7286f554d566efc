//! `veil-bench run`: one model, one backend, Q queries in one session over real QUIC on
//! loopback, optionally shaped as a LAN or WAN; costs per phase, per link and per layer,
//! with the gates, triples and OTs the plan says each layer consumes.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use indicatif::ProgressBar;
use serde::Serialize;
use veil_model::{reference, LoadedModel};
use veil_net::LinkShape;
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::session::client::AnswerKind;
use veil_protocol::session::{LinkBytes, Links, QueryReport};
use veil_server::HostedModel;

use crate::client::{measure, session_plan, Run};
use crate::counts::{self, Counts};
use crate::error::BenchError;
use crate::estimate::Estimate;
use crate::inputs::{query_inputs, Source};
use crate::network::{LinkJson, Network};
use crate::per_relu::{LayerCost, ReluCost};
use crate::stats::Spread;
use crate::summary::{summarize, CostSummary, LayerStat, Stat};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The ONNX model file.
    pub model: PathBuf,
    /// The folder of shipped models and test images.
    pub models_dir: PathBuf,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// Queries in the session.
    pub queries: usize,
    /// Where the links run.
    pub net: Network,
    /// On a shaped network, first run the same queries unshaped to estimate the time.
    pub estimate: bool,
    /// Where the material comes from: a dealer, or the two parties.
    pub material: Preprocessing,
    /// Ask for the label alone.
    pub label_only: bool,
}

/// One layer's costs per query (medians) and what it consumes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunLayer {
    /// Name, kind, offline and online costs.
    #[serde(flatten)]
    pub cost: LayerStat,
    /// Gates, triples and OTs it consumes per query.
    #[serde(flatten)]
    pub counts: Counts,
}

impl RunLayer {
    /// What [`ReluCost::of`] reads of the layer.
    fn relu_cost(&self) -> LayerCost {
        LayerCost {
            and_gates: self.counts.and_gates,
            offline_bytes: self.cost.offline.bytes,
            online_bytes: self.cost.online.bytes,
        }
    }
}

/// A phase's bytes, rounds and time together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Total {
    /// Payload bytes.
    pub bytes: u64,
    /// Rounds.
    pub rounds: u64,
    /// Milliseconds.
    pub ms: f64,
}

/// What the session's setup and each query consume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Consumed {
    /// The session's setup, once.
    pub setup: Counts,
    /// Each query.
    pub per_query: Counts,
}

/// The findings of `run`; its JSON is `veil-bench run --json` (CONTRACT.md).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The model's name.
    pub model: String,
    /// `gmw` or `gc`.
    pub backend: &'static str,
    /// `loopback`, `lan`, `wan` or `MBPS,RTT_MS`.
    pub net: String,
    /// The shaped link's bandwidth and round trip (`null` on loopback).
    pub link: Option<LinkJson>,
    /// Where the preprocessing material came from.
    #[serde(flatten)]
    pub material: Preprocessing,
    /// True when the answers were the label alone (the plan ends in an argmax).
    pub label_only: bool,
    /// Where the inputs came from.
    pub inputs: &'static str,
    /// Queries that ran, in one session.
    pub queries: usize,
    /// Queries asked for.
    pub requested: usize,
    /// True if Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// The session's setup, once.
    pub setup: Stat,
    /// Per query: preprocessing.
    pub offline: Stat,
    /// Per query: input to output.
    pub online: Stat,
    /// Per query: offline and online together (medians added; setup left out).
    pub total: Total,
    /// Per phase, bytes each way on each link (setup once, the others per query).
    pub links: Links,
    /// Gates, triples and OTs consumed.
    pub counts: Consumed,
    /// Per layer, in model order.
    pub layers: Vec<RunLayer>,
    /// One ReLU's cost, over the plain ReLU layers (`None` if the model has none).
    pub per_relu: Option<ReluCost>,
    /// True if every query had the same bytes and rounds (per phase and per layer).
    pub costs_constant: bool,
    /// How many of the queries' outputs are not bit-exact with the plaintext fixed-point
    /// reference (0: a benchmark of a wrong answer would be worthless).
    pub differ: usize,
    /// Queries per second (setup excluded).
    pub throughput_qps: f64,
    /// On a shaped network, the analytic estimate beside the measured time.
    pub estimate: Option<Estimate>,
}

/// Runs the queries. `stop` ends the run early (between queries) with what was measured
/// so far; `progress` ticks once per query (of each pass, on a shaped network).
pub fn run(
    opts: &RunOptions,
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<RunReport, BenchError> {
    let model = veil_model::load(&opts.model)?;
    let plan = session_plan(&model.plan, opts.backend, opts.label_only)?;
    let inputs = query_inputs(&plan, &opts.models_dir, opts.queries)?;
    let shape = opts.net.shape().filter(|_| opts.estimate);
    let passes = if shape.is_some() { 2 } else { 1 };
    progress.set_length((passes * inputs.len()) as u64);
    let pass = |shape: Option<LinkShape>| {
        measure(
            hosted(&model),
            shape,
            opts.material,
            AnswerKind::of(&plan),
            &inputs,
            stop,
            progress,
        )
    };
    let unshaped = shape.map(|_| pass(None)).transpose()?;
    let shaped = pass(opts.net.shape())?;
    let differ = shaped
        .outputs
        .iter()
        .zip(&inputs)
        .filter(|(output, input)| **output != reference(&plan, &model.weights, input))
        .count();
    Ok(report(opts, &plan, &shaped, unshaped.as_ref(), differ))
}

/// A copy of the model for one cluster's server.
fn hosted(model: &LoadedModel) -> HostedModel {
    HostedModel {
        name: model.name.clone(),
        plan: model.plan.clone(),
        weights: model.weights.clone(),
        card: None,
    }
}

fn report(
    opts: &RunOptions,
    plan: &Plan,
    run: &Run,
    unshaped: Option<&Run>,
    differ: usize,
) -> RunReport {
    let costs = summarize(&run.reports, run.elapsed);
    let layer_counts = counts::per_layer(plan, opts.material);
    let layers: Vec<RunLayer> = costs
        .layers
        .iter()
        .zip(layer_counts)
        .map(|(cost, counts)| RunLayer {
            cost: cost.clone(),
            counts,
        })
        .collect();
    let estimate = opts.net.shape().zip(unshaped).map(|(shape, u)| {
        let u = summarize(&u.reports, u.elapsed);
        Estimate::of(shape, phases(&costs), phases(&u))
    });
    RunReport {
        model: plan.model.clone(),
        backend: plan.backend.name(),
        net: opts.net.name().to_string(),
        link: opts.net.link(),
        material: opts.material,
        label_only: plan.label_only(),
        inputs: Source::for_plan(plan).name(),
        queries: run.reports.len(),
        requested: opts.queries,
        interrupted: run.interrupted,
        setup: costs.setup,
        offline: costs.offline,
        online: costs.online,
        total: Total {
            bytes: costs.offline.bytes + costs.online.bytes,
            rounds: costs.offline.rounds + costs.online.rounds,
            ms: costs.offline.ms + costs.online.ms,
        },
        links: median_links(&run.reports),
        counts: Consumed {
            setup: counts::setup(plan, opts.material),
            per_query: counts::per_query(plan, opts.material),
        },
        per_relu: ReluCost::of(plan, layers.iter().map(RunLayer::relu_cost)),
        layers,
        costs_constant: costs.constant,
        differ,
        throughput_qps: costs.throughput_qps,
        estimate,
    }
}

fn phases(c: &CostSummary) -> [&Stat; 3] {
    [&c.setup, &c.offline, &c.online]
}

/// Setup's links from the first query (which carries it); the offline and online links
/// as medians over the queries, direction by direction.
fn median_links(reports: &[QueryReport]) -> Links {
    let median = |pick: fn(&Links) -> LinkBytes| {
        let field = |f: fn(&LinkBytes) -> u64| {
            let values: Vec<u64> = reports.iter().map(|r| f(&pick(&r.links))).collect();
            Spread::of_counts(&values).median.round() as u64
        };
        LinkBytes {
            client_to_server: field(|l| l.client_to_server),
            server_to_client: field(|l| l.server_to_client),
            client_to_dealer: field(|l| l.client_to_dealer),
            dealer_to_client: field(|l| l.dealer_to_client),
            server_to_dealer: field(|l| l.server_to_dealer),
            dealer_to_server: field(|l| l.dealer_to_server),
        }
    };
    Links {
        setup: reports.first().map(|r| r.links.setup).unwrap_or_default(),
        offline: median(|l| l.offline),
        online: median(|l| l.online),
    }
}
