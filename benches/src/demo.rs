//! `veil-bench demo`: the dealer and the server in this process on loopback over real
//! QUIC, one client session querying each shipped test image once, and a report of
//! accuracy (secure, fixed-point reference, float), bit-exactness against the reference,
//! and costs per phase and per layer.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use indicatif::ProgressBar;
use serde::Serialize;
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::session::client::AnswerKind;
use veil_server::HostedModel;

use crate::client::{measure, session_plan, Run};
use crate::data::TestSet;
use crate::error::BenchError;
use crate::goals::{goals, Goal};
use crate::inputs::MNIST_LEN;
use crate::oracle::{self, accuracy, label, Expected};
use crate::summary::{summarize, LayerStat, Stat};

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The ONNX model file.
    pub model: PathBuf,
    /// The folder holding the shipped test images.
    pub models_dir: PathBuf,
    /// How many of the test images to query (the first `n`).
    pub n: usize,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// Where the material comes from: a dealer, or the two parties.
    pub material: Preprocessing,
    /// Ask for the label alone.
    pub label_only: bool,
}

/// Fractions of the queried images each model labels right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Accuracy {
    /// Secure inference (argmax of the decoded logits).
    pub secure: f64,
    /// The plaintext fixed-point reference.
    pub fixed: f64,
    /// The float model.
    pub float: f64,
}

/// The demo's findings; its JSON is `veil-bench demo --json`.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    /// The model's name.
    pub model: String,
    /// The non-linear backend: `gmw` or `gc`.
    pub backend: &'static str,
    /// The network: `loopback`.
    pub net: &'static str,
    /// Where the preprocessing material came from.
    #[serde(flatten)]
    pub material: Preprocessing,
    /// True when the answers were the label alone (the plan ends in an argmax).
    pub label_only: bool,
    /// Queries that ran (one per image, all in one session).
    pub queries: usize,
    /// Queries asked for.
    pub requested: usize,
    /// True if Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// The session's setup, once.
    pub setup: Stat,
    /// Per query: dealer material.
    pub offline: Stat,
    /// Per query: input to output.
    pub online: Stat,
    /// Per layer, in model order.
    pub layers: Vec<LayerStat>,
    /// True if every query had the same bytes and rounds (per phase and per layer).
    pub costs_constant: bool,
    /// Queries per second (setup excluded).
    pub throughput_qps: f64,
    /// Accuracy of each model on the queried images.
    pub accuracy: Accuracy,
    /// How many secure outputs are not bit-exact with the fixed-point reference.
    pub differ: usize,
    /// Which images those are (indices into the test set).
    pub differ_images: Vec<usize>,
    /// The goals for the MNIST MLP under GMW, against this run's medians (empty for GC).
    pub goals: Vec<Goal>,
}

/// Runs the demo. `stop` ends it early (between queries) with what was measured so far;
/// `progress` ticks once per query.
pub fn run(
    opts: &DemoOptions,
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<DemoReport, BenchError> {
    let model = veil_model::load(&opts.model)?;
    if model.plan.input_len() != MNIST_LEN {
        return Err(BenchError::Usage(format!(
            "{} takes inputs of shape {:?}, not the {MNIST_LEN} values of an MNIST image; \
             accuracy runs on the shipped MNIST test images only",
            opts.model.display(),
            model.plan.input_shape
        )));
    }
    let set = TestSet::load(&opts.models_dir)?.first(opts.n)?;
    // The session's plan: the model's, under the chosen backend, answering as asked.
    let plan = session_plan(&model.plan, opts.backend, opts.label_only)?;
    let expected = oracle::expected(&plan, &model, &set.images)?;
    let hosted = HostedModel {
        name: model.name.clone(),
        plan: model.plan,
        weights: model.weights,
        card: None,
    };
    progress.set_length(set.len() as u64);
    let run = measure(
        hosted,
        None,
        opts.material,
        AnswerKind::of(&plan),
        &expected.inputs,
        stop,
        progress,
    )?;
    Ok(report(&plan, &set, &expected, &run, opts.material))
}

/// Judges a run against the plaintext answers and summarises its costs.
fn report(
    plan: &Plan,
    set: &TestSet,
    expected: &Expected,
    run: &Run,
    material: Preprocessing,
) -> DemoReport {
    let done = run.outputs.len();
    let labels = &set.labels[..done];
    let secure: Vec<usize> = run.outputs.iter().map(|out| label(plan, out)).collect();
    let differ_images: Vec<usize> = run
        .outputs
        .iter()
        .zip(&expected.fixed)
        .enumerate()
        .filter(|(_, (got, want))| got != want)
        .map(|(i, _)| i)
        .collect();
    let costs = summarize(&run.reports, run.elapsed);
    DemoReport {
        model: plan.model.clone(),
        backend: plan.backend.name(),
        net: "loopback",
        material,
        label_only: plan.label_only(),
        queries: done,
        requested: set.len(),
        interrupted: run.interrupted,
        goals: goals(&plan.model, plan.backend, &costs),
        setup: costs.setup,
        offline: costs.offline,
        online: costs.online,
        layers: costs.layers,
        costs_constant: costs.constant,
        throughput_qps: costs.throughput_qps,
        accuracy: Accuracy {
            secure: accuracy(&secure, labels),
            fixed: accuracy(&expected.fixed_labels[..done], labels),
            float: accuracy(&expected.float_labels[..done], labels),
        },
        differ: differ_images.len(),
        differ_images,
    }
}
