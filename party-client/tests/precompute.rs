//! `veil-client precompute` and the `infer` runs that spend what it made, as a user runs
//! them: the binary against an in-process server that keeps precomputed queries, each
//! run with its own state folder. A client killed mid-query never uses that piece again.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{infer, phase, sample, spawn_client, veil_client};
use serde_json::Value;
use veil_protocol::engine::cost;
use veil_tests::{mlp, model_path, reference_output, wait_until, Harness};

/// `precompute --server ADDR --queries Q` plus `extra`.
fn precompute(h: &Harness, home: &Path, queries: u32, extra: &[&str]) -> common::Run {
    let server = h.server_name();
    let q = queries.to_string();
    let mut args = vec!["precompute", "--server", &server, "--queries", &q];
    args.extend_from_slice(extra);
    veil_client(home, &args)
}

/// The client's kept pieces, as files under its state folder.
fn pieces(home: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "piece") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&home.join("precomputed"), &mut out);
    out.sort();
    out
}

fn json(run: &common::Run) -> Value {
    assert_eq!(run.code(), Some(0), "{run:?}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"))
}

#[test]
fn infer_spends_the_precomputed_queries_first() {
    let store = tempfile::tempdir().unwrap();
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .keep_precomputed(store.path())
        .start();
    let home = tempfile::tempdir().unwrap();
    let plan = &mlp().plan;

    let made = json(&precompute(&h, home.path(), 2, &["--json"]));
    assert_eq!(made["model"], "mnist-mlp", "{made}");
    assert_eq!(made["backend"], "gmw", "{made}");
    assert_eq!(made["dealer"], true, "{made}");
    assert_eq!(made["queries"], 2, "{made}");
    assert_eq!(made["waiting"], 2, "{made}");
    let (setup, _) = phase(&made, "setup");
    assert_eq!(setup, cost::setup(plan).bytes + 16, "{made}");
    let (offline, _) = phase(&made, "offline");
    assert_eq!(pieces(home.path()).len(), 2);

    // A bad input is refused before a piece is taken.
    let bad = home.path().join("bad.npy");
    std::fs::write(&bad, b"not a npy file").unwrap();
    assert_eq!(infer(&h, home.path(), &bad, &[]).code(), Some(2));
    assert_eq!(pieces(home.path()).len(), 2);

    let online = cost::online(plan);
    for (i, label) in [(0, 7), (1, 2)] {
        let run = json(&infer(&h, home.path(), &sample(i), &["--json"]));
        assert_eq!(run["precomputed"], true, "{run}");
        assert_eq!(run["label"], label, "{run}");
        let logits: Vec<f64> = serde_json::from_value(run["logits"].clone()).unwrap();
        let image = veil_model::read_npy(&sample(i)).unwrap().data;
        let want = veil_model::decode_output(plan, &reference_output(&image));
        assert_eq!(logits.len(), want.len());
        for (got, want) in logits.iter().zip(&want) {
            // The reference's exact values, as far as JSON's decimal floats carry them.
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        assert_eq!(phase(&run, "setup"), (0, 0), "no setup: {run}");
        assert_eq!(2 * phase(&run, "offline").0, offline, "as made: {run}");
        let (bytes, rounds) = phase(&run, "online");
        assert_eq!(bytes, online.iter().map(|c| c.bytes).sum::<u64>());
        assert_eq!(rounds, online.iter().map(|c| c.rounds).sum::<u64>());
    }
    assert!(pieces(home.path()).is_empty());
    // None left: a fresh query, as before precompute existed.
    let run = json(&infer(&h, home.path(), &sample(2), &["--json"]));
    assert_eq!(run["precomputed"], false, "{run}");
    assert_eq!(run["label"], 1, "{run}");
    assert_eq!(2 * phase(&run, "offline").0, offline, "{run}");

    // Text, and a server that keeps none.
    let text = precompute(&h, home.path(), 1, &[]);
    assert_eq!(text.code(), Some(0), "{text:?}");
    assert!(text.stdout.contains("1 now waiting"), "{text:?}");
    h.shutdown();
    let h = Harness::start();
    let none = precompute(&h, home.path(), 1, &[]);
    assert_eq!(none.code(), Some(1), "{none:?}");
    assert!(
        none.stderr.contains("does not keep precomputed"),
        "{none:?}"
    );
    assert_eq!(
        precompute(&h, home.path(), 0, &[]).code(),
        Some(2),
        "zero queries is a usage error"
    );
    h.shutdown();
}

#[test]
fn a_client_killed_mid_query_never_uses_that_piece_again() {
    let store = tempfile::tempdir().unwrap();
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .keep_precomputed(store.path())
        .no_dealer()
        .start();
    let home = tempfile::tempdir().unwrap();
    json(&precompute(&h, home.path(), 2, &["--json"]));
    let (addr, server) = (h.server_addr(), h.server_name());
    h.shutdown();
    // The server's address now answers nothing: a query started there hangs in its
    // handshake, after the client has taken its piece.
    let _silent = UdpSocket::bind(addr).expect("rebinding the server's port");
    let kept = pieces(home.path());
    assert_eq!(kept.len(), 2);
    for piece in &kept {
        let input = sample(0);
        let args = [
            "infer",
            "--server",
            &server,
            "--input",
            input.to_str().unwrap(),
        ];
        let mut child = spawn_client(home.path(), &args);
        assert!(
            wait_until(Duration::from_secs(20), || !piece.exists()),
            "the client never took {piece:?}"
        );
        let running = child.try_wait().expect("polling the client").is_none();
        assert!(running, "the client must be killed mid-query, not after");
        child.kill().expect("killing the client");
        let _ = child.wait();
        assert!(!piece.exists(), "{piece:?} came back after the kill");
    }
    assert!(pieces(home.path()).is_empty(), "each piece was taken once");
}
