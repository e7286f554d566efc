//! What a query or a precompute returns, and the one JSON shape of each
//! (CONTRACT.md: `veil-client infer --json`, `veil-client precompute --json`), shared by
//! the binary and the Python package; and the JSON of `veil-client models --json`.

use serde::Serialize;
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::Plan;
use veil_protocol::session::{LayerCost, PhaseCost, QueryReport, SessionError};
use veil_protocol::wire::ModelInfo;

/// One answered query: the plan it ran, its decoded output, its costs, whether a dealer
/// made the material, whether it was made ahead of time.
pub struct Answered {
    /// The model's public plan, as the server described it.
    pub plan: Plan,
    /// The model's outputs decoded to floats (before any softmax); `None` when the answer
    /// is the label alone.
    pub logits: Option<Vec<f64>>,
    /// The index of the largest logit (the first one on ties).
    pub label: usize,
    /// The label's name, when the model's card names its classes.
    pub class: Option<String>,
    /// What the query cost.
    pub report: QueryReport,
    /// Where the query's material came from.
    pub material: Preprocessing,
    /// True if the query was made ahead of time (`precompute`).
    pub precomputed: bool,
}

impl Answered {
    /// Decodes `output` (the opened ring elements) for `plan`: the logits and their
    /// label, or the label alone (a label-only plan's one output).
    pub(crate) fn new(
        plan: Plan,
        output: &[u64],
        report: QueryReport,
        material: Preprocessing,
        precomputed: bool,
    ) -> Result<Answered, SessionError> {
        let (label, logits) = match (plan.label_only(), output) {
            (true, [label]) => (*label as usize, None),
            (true, _) => return Err(SessionError::local("a label-only answer holds one value")),
            (false, _) => {
                let logits = veil_model::decode_output(&plan, output);
                (veil_model::argmax(output), Some(logits))
            }
        };
        Ok(Answered {
            label,
            class: None,
            plan,
            logits,
            report,
            material,
            precomputed,
        })
    }

    /// The answer as `veil-client infer --json` prints it.
    pub fn json(&self) -> InferJson<'_> {
        let report = &self.report;
        InferJson {
            input: None,
            model: &self.plan.model,
            backend: self.plan.backend.name(),
            material: self.material,
            precomputed: self.precomputed,
            label: self.label,
            class: self.class.as_deref(),
            logits: self.logits.as_deref(),
            setup: report.setup,
            offline: report.offline,
            online: report.online,
            layers: &report.layers,
            wire_bytes: report.wire_bytes,
        }
    }
}

/// What a precompute made: for which plan, with or without a dealer, how many, at what
/// cost (the offline phases' bytes and time summed, rounds per query), and how many now
/// wait.
pub struct Made {
    /// The model's public plan.
    pub plan: Plan,
    /// Where the material came from.
    pub material: Preprocessing,
    /// How many queries were made.
    pub queries: u32,
    /// The session's setup, if this precompute opened the session (zero otherwise).
    pub setup: PhaseCost,
    /// The offline phases of all the queries made: bytes and ms summed, rounds per query.
    pub offline: PhaseCost,
    /// Queries now waiting for this server, model and backend (these and earlier ones).
    pub waiting: usize,
}

impl Made {
    /// The result as `veil-client precompute --json` prints it.
    pub fn json(&self) -> PrecomputeJson<'_> {
        PrecomputeJson {
            model: &self.plan.model,
            backend: self.plan.backend.name(),
            material: self.material,
            queries: self.queries,
            setup: self.setup,
            offline: self.offline,
            waiting: self.waiting,
        }
    }
}

/// The JSON of CONTRACT.md, plus the per-layer costs.
#[derive(Serialize)]
pub struct InferJson<'a> {
    /// The input answered, when one command answers several.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    model: &'a str,
    backend: &'static str,
    /// `"dealer"`, and without a dealer `"linear"` and `"ot"`.
    #[serde(flatten)]
    material: Preprocessing,
    /// True if the query was made ahead of time (`precompute`): its offline costs are
    /// those measured then, and setup is zero.
    precomputed: bool,
    label: usize,
    /// The label's name; absent when the model's card names no classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    /// Absent when the answer is the label alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    logits: Option<&'a [f64]>,
    setup: PhaseCost,
    offline: PhaseCost,
    online: PhaseCost,
    layers: &'a [LayerCost],
    /// QUIC's own count of the bytes on the wire (both ways, framing and TLS included),
    /// apart from the protocol bytes above.
    #[serde(skip_serializing_if = "Option::is_none")]
    wire_bytes: Option<u64>,
}

impl<'a> InferJson<'a> {
    /// The same, naming the input it answers (one of several).
    pub fn for_input(self, input: &'a str) -> InferJson<'a> {
        InferJson {
            input: Some(input),
            ..self
        }
    }
}

/// `precompute --json`: what was made, and what it cost.
#[derive(Serialize)]
pub struct PrecomputeJson<'a> {
    model: &'a str,
    backend: &'static str,
    #[serde(flatten)]
    material: Preprocessing,
    queries: u32,
    setup: PhaseCost,
    /// The offline phases of all the queries made: bytes and ms summed, rounds per query.
    offline: PhaseCost,
    /// Queries now waiting for this server, model and backend (these and earlier ones).
    waiting: usize,
}

/// `models --json`: the server asked, and what it hosts.
#[derive(Serialize)]
pub struct ModelsJson<'a> {
    server: &'a str,
    models: Vec<ModelJson<'a>>,
}

/// One hosted model in `models --json`.
#[derive(Serialize)]
struct ModelJson<'a> {
    name: &'a str,
    input_shape: &'a [usize],
    outputs: usize,
    label_only: bool,
    backends: Vec<&'static str>,
    /// `"dealer"`, and without a dealer `"linear"` and `"ot"`.
    #[serde(flatten)]
    source: Preprocessing,
    /// The class names; absent when the model's card names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    classes: Option<&'a [String]>,
    /// How an image becomes the input, as the card file writes it; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    preprocessing: Option<serde_json::Value>,
}

/// What `server` hosts as `veil-client models --json` prints it.
pub fn models_json<'a>(server: &'a str, models: &'a [ModelInfo]) -> ModelsJson<'a> {
    let model = |m: &'a ModelInfo| {
        let card = m.card.as_ref();
        ModelJson {
            name: &m.name,
            input_shape: &m.input_shape,
            outputs: m.outputs,
            label_only: m.label_only,
            backends: m.backends.iter().map(|b| b.name()).collect(),
            source: m.source,
            classes: card.and_then(|c| c.classes.as_deref()),
            preprocessing: card
                .and_then(|c| c.image.as_ref())
                .map(veil_model::card::image_json),
        }
    };
    ModelsJson {
        server,
        models: models.iter().map(model).collect(),
    }
}

/// `value` as one line of JSON.
pub fn to_json(value: &impl Serialize) -> Result<String, SessionError> {
    serde_json::to_string(value).map_err(SessionError::local)
}
