//! `veil-bench accuracy`: the demo's run (every image in one session, each secure output
//! checked bit for bit against the fixed-point reference) for any MNIST model and either
//! backend, reported as CONTRACT.md's accuracy JSON.

use serde::Serialize;
use veil_protocol::material::Preprocessing;

use crate::demo::DemoReport;

/// The findings of `accuracy`; its JSON is `veil-bench accuracy --json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccuracyReport {
    /// The model's name.
    pub model: String,
    /// `gmw` or `gc`.
    pub backend: &'static str,
    /// Where the preprocessing material came from.
    #[serde(flatten)]
    pub material: Preprocessing,
    /// True when the answers were the label alone (the plan ends in an argmax).
    pub label_only: bool,
    /// Images queried.
    pub n: usize,
    /// Images asked for.
    pub requested: usize,
    /// True if Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// The float model's accuracy on the n images.
    pub float_accuracy: f64,
    /// The fixed-point reference's.
    pub fixed_accuracy: f64,
    /// Secure inference's.
    pub secure_accuracy: f64,
    /// Secure outputs not bit-exact with the reference.
    pub differ: usize,
    /// Which images those are.
    pub differ_images: Vec<usize>,
}

impl From<&DemoReport> for AccuracyReport {
    fn from(r: &DemoReport) -> AccuracyReport {
        AccuracyReport {
            model: r.model.clone(),
            backend: r.backend,
            material: r.material,
            label_only: r.label_only,
            n: r.queries,
            requested: r.requested,
            interrupted: r.interrupted,
            float_accuracy: r.accuracy.float,
            fixed_accuracy: r.accuracy.fixed,
            secure_accuracy: r.accuracy.secure,
            differ: r.differ,
            differ_images: r.differ_images.clone(),
        }
    }
}
