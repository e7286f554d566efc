//! `veil-server` with a model card beside its model: a card that is malformed, or does
//! not fit its model, stops the server at start with exit 2 and a message naming the
//! card's file and the field.

use std::process::{Command, Stdio};

use veil_tests::model_path;

/// Starts `veil-server --model DIR/m.onnx` with `card` as `DIR/m.card.json`; the server
/// must exit on its own. Its exit code and stderr.
fn start_with_card(card: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(model_path("mnist-mlp.onnx"), &onnx).unwrap();
    std::fs::write(dir.path().join("m.card.json"), card).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veil-server"))
        .args(["--listen", "127.0.0.1:0", "--model"])
        .arg(&onnx)
        .env("VEIL_HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("running veil-server");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_card_fails_the_start_with_exit_2_naming_the_file_and_field() {
    for (card, field) in [
        ("{\"image\": ", "card: not valid JSON"),
        (
            r#"{"image": {"height": 28, "width": 28, "channels": "grey"}}"#,
            "image.channels",
        ),
        (r#"{"classes": ["yes", "no"]}"#, "classes: names 2 classes"),
        (r#"{"classes": ["a"], "colour": 1}"#, "colour"),
    ] {
        let (code, stderr) = start_with_card(card);
        assert_eq!(code, Some(2), "{card}: {stderr}");
        assert!(
            stderr.contains(&format!("m.card.json: {field}")),
            "{card}: {stderr}"
        );
    }
}
