//! `veil-client models --server ADDR [--json]` through the binary: what a server hosts,
//! with and without a dealer, cards included; an unreachable server is exit 1.

mod common;

use common::{infer, phase, sample, veil_client, Run};
use serde_json::{json, Value};
use veil_protocol::engine::LinearPrep;
use veil_protocol::material::OtKind;
use veil_tests::{black_hole, model_path, Harness};

fn models(h: &Harness, home: &std::path::Path, extra: &[&str]) -> Run {
    let server = h.server_name();
    let mut args = vec!["models", "--server", &server];
    args.extend_from_slice(extra);
    veil_client(home, &args)
}

fn json_of(run: &Run) -> Value {
    assert_eq!(run.code(), Some(0), "{run:?}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"))
}

#[test]
fn the_json_lists_every_model_with_its_card() {
    let dir = tempfile::tempdir().unwrap();
    let no_card = dir.path().join("plain.onnx");
    std::fs::copy(model_path("mnist-cnn-chameleon.onnx"), &no_card).unwrap();
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .model(None, &no_card)
        .start();
    let home = tempfile::tempdir().unwrap();
    let json = json_of(&models(&h, home.path(), &["--json"]));
    assert_eq!(json["server"], h.server_name());
    let classes = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    assert_eq!(
        json["models"],
        json!([
            {"name": "mnist-mlp", "input_shape": [1, 784], "outputs": 10, "label_only": false,
             "backends": ["gmw", "gc"], "dealer": true, "classes": classes,
             "preprocessing": {"height": 28, "width": 28, "channels": "gray", "scale": 255.0,
                               "mean": [0.0], "std": [1.0], "layout": "chw"}},
            {"name": "plain", "input_shape": [1, 1, 28, 28], "outputs": 10,
             "label_only": false, "backends": ["gmw", "gc"], "dealer": true},
        ])
    );
    let text = models(&h, home.path(), &[]);
    assert_eq!(text.code(), Some(0), "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(
        lines[1].starts_with("mnist-mlp: input [1, 784], 10 outputs"),
        "{text:?}"
    );
    assert!(lines[1].contains("images 28x28 gray") && lines[1].contains("seven"));
    assert!(lines[2].starts_with("plain: ") && lines[2].contains(".npy inputs only"));
    // Each name listed is one a query can ask for.
    for m in json["models"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let answer = json_of(&infer(
            &h,
            home.path(),
            &sample(0),
            &["--model", name, "--json"],
        ));
        assert_eq!(
            (answer["model"].as_str(), answer["label"].as_u64()),
            (Some(name), Some(7))
        );
        assert!(phase(&answer, "online").0 > 0, "{answer}");
    }
    h.shutdown();
}

#[test]
fn a_dealer_free_label_only_server_says_so() {
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .no_dealer_with_ot(LinearPrep::Ot, OtKind::Iknp)
        .label_only()
        .start();
    let home = tempfile::tempdir().unwrap();
    let json = json_of(&models(&h, home.path(), &["--json"]));
    let m = &json["models"][0];
    assert_eq!(
        (&m["dealer"], &m["linear"], &m["ot"], &m["label_only"]),
        (&json!(false), &json!("ot"), &json!("iknp"), &json!(true)),
        "{json}"
    );
    h.shutdown();
}

#[test]
fn an_unreachable_server_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let (_silent, addr) = black_hole();
    let run = veil_client(home.path(), &["models", "--server", &addr.to_string()]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}
