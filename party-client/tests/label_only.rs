//! `veil-client infer --label-only` and a `--label-only` server, through the binary: the
//! answer is the reference's label with no logits anywhere in the output, at the cost the
//! label-only plan's formula gives.

mod common;

use common::{infer, phase, sample};
use serde_json::Value;
use veil_protocol::engine::cost;
use veil_protocol::plan::Backend;
use veil_tests::{mlp, model_path, reference_output, Harness};

/// The reference's label of shipped sample `i`: the first largest of its logits.
fn reference_label(i: usize) -> u64 {
    let image = veil_model::read_npy(&sample(i)).unwrap().data;
    veil_model::argmax(&reference_output(&image)) as u64
}

fn json_of(run: &common::Run) -> Value {
    assert_eq!(run.code(), Some(0), "{run:?}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"))
}

#[test]
fn the_label_alone_is_the_references_under_both_backends() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    for backend in [Backend::Gmw, Backend::Gc] {
        let plan = veil_protocol::plan::Plan {
            backend,
            ..mlp().plan.clone()
        }
        .with_label_only()
        .unwrap();
        for i in 0..4 {
            let args = ["--label-only", "--json", "--backend", backend.name()];
            let json = json_of(&infer(&h, home.path(), &sample(i), &args));
            assert_eq!(json["label"].as_u64(), Some(reference_label(i)), "{json}");
            assert!(json.get("logits").is_none(), "no logits: {json}");
            let layers = json["layers"].as_array().expect("layers");
            assert_eq!(layers.last().unwrap()["kind"], "argmax", "{json}");
            let online = cost::online(&plan);
            let (bytes, rounds) = phase(&json, "online");
            assert_eq!(bytes, online.iter().map(|c| c.bytes).sum::<u64>(), "{json}");
            assert_eq!(
                rounds,
                online.iter().map(|c| c.rounds).sum::<u64>(),
                "{json}"
            );
        }
    }
    h.shutdown();
}

#[test]
fn a_label_only_server_answers_a_plain_query_with_the_label_and_a_note() {
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .label_only()
        .start();
    let home = tempfile::tempdir().unwrap();
    let run = infer(&h, home.path(), &sample(0), &["--json"]);
    let json = json_of(&run);
    assert_eq!(json["label"].as_u64(), Some(reference_label(0)), "{json}");
    assert!(json.get("logits").is_none(), "no logits: {json}");
    assert!(run.stderr.contains("label alone"), "{run:?}");
    let text = infer(&h, home.path(), &sample(1), &[]);
    assert_eq!(text.code(), Some(0), "{text:?}");
    let label = format!("label {}", reference_label(1));
    assert!(text.stdout.contains(&label), "{text:?}");
    assert!(!text.stdout.contains("logits ["), "{text:?}");
    // Asked for, it says nothing.
    let asked = infer(&h, home.path(), &sample(2), &["--label-only"]);
    assert_eq!(asked.code(), Some(0), "{asked:?}");
    assert!(!asked.stderr.contains("label alone"), "{asked:?}");
    h.shutdown();
}
