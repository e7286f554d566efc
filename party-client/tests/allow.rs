//! `veil-client id` and a server's allow list, through the binary: `id` prints the same
//! fingerprint every time and it is the key the server sees: listed, the client is
//! answered; removed from the file and the list reloaded, it is refused with exit code 1
//! and "not allowed"; put back and reloaded, it is answered again. A key listed for one
//! model sees and queries that model alone.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{infer, sample, veil_client, Run};
use veil_net::cli::{read_allow, reload_allow};
use veil_protocol::session::access::AllowList;
use veil_tests::{model_path, Harness};

/// `veil-client id` in `home`, checked: one line of 64 hex digits.
fn id(home: &Path) -> String {
    let run = veil_client(home, &["id"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let key = run
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(key.len(), 64, "{run:?}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{run:?}");
    key.to_string()
}

fn assert_not_allowed(run: &Run) {
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("not allowed"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    for secret in ["mnist", ".onnx", "hosts"] {
        assert!(
            !run.stderr.contains(secret),
            "the refusal tells {secret:?}: {run:?}"
        );
    }
}

#[test]
fn the_key_id_prints_is_let_in_refused_and_let_in_again() {
    let home = tempfile::tempdir().unwrap();
    let key = id(home.path());
    assert_eq!(id(home.path()), key, "the same key twice");
    let lists = tempfile::tempdir().unwrap();
    let file = lists.path().join("allowed.txt");
    let other = "d".repeat(64);
    std::fs::write(&file, format!("# the team\n{key}\n{other}\n")).unwrap();
    let list = Arc::new(AllowList::new(read_allow(&file, true).unwrap()));
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .allow(list.clone())
        .start();
    let run = infer(&h, home.path(), &sample(0), &["--json"]);
    assert_eq!(run.code(), Some(0), "{run:?}");

    std::fs::write(&file, format!("{other}\n")).unwrap();
    assert_eq!(reload_allow(&file, true, &list).unwrap(), 1);
    assert_not_allowed(&infer(&h, home.path(), &sample(0), &[]));
    let server = h.server_name();
    assert_not_allowed(&veil_client(home.path(), &["models", "--server", &server]));

    std::fs::write(&file, format!("{other}\n{key} mnist-mlp\n")).unwrap();
    assert_eq!(reload_allow(&file, true, &list).unwrap(), 2);
    let run = infer(&h, home.path(), &sample(0), &["--json"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    h.shutdown();
}

#[test]
fn a_key_listed_for_one_model_sees_and_queries_it_alone() {
    let home = tempfile::tempdir().unwrap();
    let key = id(home.path());
    let lists = tempfile::tempdir().unwrap();
    let file = lists.path().join("allowed.txt");
    std::fs::write(&file, format!("{key} first # not second\n")).unwrap();
    let list = Arc::new(AllowList::new(read_allow(&file, true).unwrap()));
    let mlp = model_path("mnist-mlp.onnx");
    let h = Harness::builder()
        .model(Some("first"), &mlp)
        .model(Some("second"), &mlp)
        .allow(list)
        .start();
    let server = h.server_name();
    let run = veil_client(home.path(), &["models", "--server", &server, "--json"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let names: Vec<&str> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first"], "{run:?}");
    let run = infer(&h, home.path(), &sample(0), &["--model", "second"]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("not allowed"), "{run:?}");
    // Its only model is picked without naming it.
    let run = infer(&h, home.path(), &sample(0), &[]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    h.shutdown();
}
