//! The `veil-client` binary against an in-process dealer and server (`veil-tests`'s
//! harness), each run with its own state folder (`VEIL_HOME`): CONTRACT.md's command,
//! JSON, exit codes and messages.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{infer, phase, sample, veil_client, Run};
use serde_json::Value;
use veil_protocol::engine::cost;
use veil_protocol::he::PUBLIC_KEY_BYTES;
use veil_protocol::material::{LinearPrep, OtKind};
use veil_protocol::prep::PrepSession;
use veil_tests::{black_hole, mlp, model_path, reference_output, wait_until, Harness};

/// The trust notice's words (CONTRACT.md: said once on stderr).
const NOTICE: &str = "trusting the dealer at";

#[test]
fn infer_json_has_the_contract_fields_and_the_samples_labels() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let plan = &mlp().plan;
    // models/samples/README.md
    for (i, label) in [7u64, 2, 1, 0, 4].into_iter().enumerate() {
        let run = infer(&h, home.path(), &sample(i), &["--json"]);
        assert_eq!(run.code(), Some(0), "{run:?}");
        let json: Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"));
        assert_eq!(json["model"], "mnist-mlp", "{json}");
        assert_eq!(json["backend"], "gmw", "{json}");
        assert_eq!(json["dealer"], true, "{json}");
        assert_eq!(json["label"].as_u64(), Some(label), "sample {i}: {json}");
        let logits: Vec<f64> = json["logits"]
            .as_array()
            .expect("logits")
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect();
        let image = veil_model::read_npy(&sample(i)).unwrap().data;
        let expected = veil_model::decode_output(plan, &reference_output(&image));
        assert_eq!(logits.len(), expected.len());
        for (got, want) in logits.iter().zip(&expected) {
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        let (setup_bytes, _) = phase(&json, "setup");
        let (offline_bytes, _) = phase(&json, "offline");
        let (online_bytes, online_rounds) = phase(&json, "online");
        assert_eq!(setup_bytes, cost::setup(plan).bytes + 16, "{json}");
        assert!(offline_bytes > cost::dealer_material(plan), "{json}");
        let online = cost::online(plan);
        assert_eq!(online_bytes, online.iter().map(|c| c.bytes).sum::<u64>());
        assert_eq!(online_rounds, online.iter().map(|c| c.rounds).sum::<u64>());
        // QUIC's count holds every payload byte plus framing, TLS and the handshakes.
        let wire = json["wire_bytes"].as_u64().expect("wire_bytes");
        assert!(
            wire > setup_bytes + offline_bytes + online_bytes,
            "wire {wire} bytes: {json}"
        );
    }
    h.shutdown();
}

#[test]
fn without_json_the_label_is_printed_as_text() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let run = infer(&h, home.path(), &sample(1), &[]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(run.stdout.contains("label 2"), "{run:?}");
    h.shutdown();
}

/// Asserts a usage or input error: exit 2, nothing on stdout, and `needle` in a short
/// message on stderr.
fn expect_bad_input(run: &Run, needle: &str) {
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("veil-client: ") && !l.contains(NOTICE))
        .unwrap_or_else(|| panic!("no error line: {run:?}"));
    assert!(error.contains(needle), "expected {needle:?} in {error:?}");
    assert!(error.len() < 400, "a long message: {error:?}");
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npy = |name: &str, shape: &[usize], data: &[f32]| -> PathBuf {
        let path = dir.path().join(name);
        veil_model::write_npy_f32(&path, shape, data).unwrap();
        path
    };
    let with = |index: usize, value: f32| {
        let mut image = vec![0.5f32; 784];
        image[index] = value;
        image
    };
    let cases: Vec<(PathBuf, String)> = vec![
        (
            npy("short.npy", &[1, 100], &[0.5; 100]),
            "expected 784 values (shape [1, 784]), got 100".into(),
        ),
        (
            npy("nan.npy", &[1, 784], &with(17, f32::NAN)),
            "value NaN at index 17 is not a finite number".into(),
        ),
        (
            npy("inf.npy", &[1, 784], &with(3, f32::INFINITY)),
            "value inf at index 3 is not a finite number".into(),
        ),
        (
            npy("big.npy", &[1, 784], &with(700, 3.5)),
            "value 3.5 at index 700 is outside the model's input range [0, 1]".into(),
        ),
        (
            {
                let path = dir.path().join("text.npy");
                std::fs::write(&path, "0.5, 0.5, 0.5\n").unwrap();
                path
            },
            "not a .npy file".into(),
        ),
        (dir.path().join("missing.npy"), "missing.npy".into()),
    ];
    for (path, needle) in &cases {
        let run = infer(&h, home.path(), path, &["--json"]);
        expect_bad_input(&run, needle);
    }
    // Any shape with 784 elements is fine (C order), and so is float64.
    let image = veil_model::read_npy(&sample(0)).unwrap().data;
    let square = npy("square.npy", &[28, 28], &image);
    let wide = dir.path().join("f64.npy");
    std::fs::write(&wide, npy_f64(&[784], &image)).unwrap();
    for path in [square, wide] {
        let run = infer(&h, home.path(), &path, &["--json"]);
        assert_eq!(run.code(), Some(0), "{run:?}");
        let json: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(json["label"].as_u64(), Some(7), "{json}");
    }
    // The rejected runs may leave their server sessions to the idle timeout: that bug
    // has its own test (`the_client_closes_its_connections_when_it_exits`).
    h.abandon();
}

/// A float64 `.npy` file (format 1.0), written by hand: the model crate writes float32 only.
fn npy_f64(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(" ")
    );
    // Magic (6) + version (2) + length (2) + header + newline: a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in data {
        bytes.extend_from_slice(&f64::from(v).to_le_bytes());
    }
    bytes
}

#[test]
fn an_unknown_model_exits_2_listing_the_hosted_ones() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let run = infer(&h, home.path(), &sample(0), &["--model", "nope"]);
    expect_bad_input(&run, "mnist-mlp");
    h.shutdown();
}

#[test]
fn the_gc_backend_gives_the_references_answer_at_its_own_cost() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let mut plan = mlp().plan.clone();
    plan.backend = veil_protocol::plan::Backend::Gc;
    let run = infer(&h, home.path(), &sample(0), &["--backend", "gc", "--json"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let json: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"));
    assert_eq!(json["backend"], "gc", "{json}");
    assert_eq!(json["label"].as_u64(), Some(7), "{json}");
    let image = veil_model::read_npy(&sample(0)).unwrap().data;
    let expected = veil_model::decode_output(&plan, &reference_output(&image));
    let logits: Vec<f64> = json["logits"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    // Bit-exact with the reference, up to the JSON's decimal rendering of the floats.
    assert_eq!(logits.len(), expected.len());
    for (got, want) in logits.iter().zip(&expected) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
    let (online_bytes, online_rounds) = phase(&json, "online");
    let online = cost::online(&plan);
    assert_eq!(online_bytes, online.iter().map(|c| c.bytes).sum::<u64>());
    assert_eq!(online_rounds, online.iter().map(|c| c.rounds).sum::<u64>());
    h.shutdown();
}

#[test]
fn an_unreachable_server_exits_1_within_seconds() {
    let home = tempfile::tempdir().unwrap();
    let (_silent, addr) = black_hole();
    let server = addr.to_string();
    let input = sample(0);
    let run = veil_client(
        home.path(),
        &[
            "infer",
            "--server",
            &server,
            "--input",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(10), "{run:?}");
    assert!(run.stderr.contains("could not reach"), "{run:?}");
}

/// An address the client cannot even parse is the user's mistake (exit 2, CONTRACT.md),
/// not a network failure.
#[test]
fn a_malformed_server_address_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let input = sample(0);
    for server in ["127.0.0.1", "not an address"] {
        let run = veil_client(
            home.path(),
            &[
                "infer",
                "--server",
                server,
                "--input",
                input.to_str().unwrap(),
            ],
        );
        expect_bad_input(&run, "host:port");
    }
}

#[test]
fn the_dealer_trust_notice_is_said_once() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let first = infer(&h, home.path(), &sample(0), &["--json"]);
    assert_eq!(first.code(), Some(0), "{first:?}");
    assert_eq!(first.stderr.matches(NOTICE).count(), 1, "{first:?}");
    assert!(first.stderr.contains(&h.dealer_name()), "{first:?}");
    let second = infer(&h, home.path(), &sample(0), &["--json"]);
    assert_eq!(second.code(), Some(0), "{second:?}");
    assert!(!second.stderr.contains(NOTICE), "said again: {second:?}");
    // A client that names its dealer is not told.
    let other = tempfile::tempdir().unwrap();
    let named = infer(
        &h,
        other.path(),
        &sample(0),
        &["--dealer", &h.dealer_name()],
    );
    assert_eq!(named.code(), Some(0), "{named:?}");
    assert!(!named.stderr.contains(NOTICE), "{named:?}");
    h.shutdown();
}

#[test]
fn against_a_dealer_free_server_the_json_says_no_dealer_and_counts_its_preprocessing() {
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .no_dealer()
        .start();
    let home = tempfile::tempdir().unwrap();
    let plan = &mlp().plan;
    let run = infer(&h, home.path(), &sample(0), &["--json"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(!run.stderr.contains(NOTICE), "no dealer to trust: {run:?}");
    let json: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"));
    assert_eq!(json["dealer"], false, "{json}");
    assert_eq!(json["linear"], "he", "the default linear path: {json}");
    assert_eq!(json["ot"], "silent", "the default kind of OT: {json}");
    assert_eq!(json["label"].as_u64(), Some(7), "{json}");
    let (setup_bytes, _) = phase(&json, "setup");
    let (offline_bytes, _) = phase(&json, "offline");
    let (online_bytes, _) = phase(&json, "online");
    // Setup: the base OTs both ways (and the silent pools' bootstrap if the model's queries
    // call for it) and the client's public key, and no E = W − U.
    assert_eq!(
        setup_bytes,
        PrepSession::setup_bytes(
            OtKind::Silent,
            cost::ots_each_way(plan, LinearPrep::He).unwrap()
        ) + PUBLIC_KEY_BYTES as u64,
        "{json}"
    );
    // The formula's, and what the query's OTs cost: rented from IKNP or a silent
    // extension's share, at most IKNP's.
    let prep = |ot| -> u64 {
        cost::two_party(plan, LinearPrep::He, ot)
            .unwrap()
            .iter()
            .sum()
    };
    let (silent, iknp) = (prep(OtKind::Silent), prep(OtKind::Iknp));
    assert!(
        offline_bytes >= silent && offline_bytes <= iknp + 2048,
        "{json}"
    );
    let online = cost::online(plan);
    assert_eq!(online_bytes, online.iter().map(|c| c.bytes).sum::<u64>());
    // A client that names a dealer is told the server has none: a usage error.
    let named = infer(&h, home.path(), &sample(0), &["--dealer", "127.0.0.1:9"]);
    assert_eq!(named.code(), Some(2), "{named:?}");
    assert!(named.stderr.contains("without --dealer"), "{named:?}");
    assert!(named.stdout.is_empty(), "{named:?}");
    h.abandon();
}

#[test]
fn a_changed_server_key_exits_1_naming_the_known_hosts_file() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(veil_net::KNOWN_HOSTS);
    std::fs::write(&file, format!("{} {}\n", h.server_name(), "ab".repeat(32))).unwrap();
    let run = infer(&h, home.path(), &sample(0), &[]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains(&file.display().to_string()), "{run:?}");
    h.shutdown();
}

/// What the dealer logs when a party's connection ends.
const PARTY_GONE: [&str; 2] = ["party connection ended", "party connection failed"];

/// A client that exits, after a query or after refusing its input, leaves nothing
/// behind: its server session and both of its connections end at once, not after the
/// peers' 30 s idle timeout.
#[test]
fn the_client_closes_its_connections_when_it_exits() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nan = dir.path().join("nan.npy");
    let mut image = vec![0.5f32; 784];
    image[3] = f32::NAN;
    veil_model::write_npy_f32(&nan, &[1, 784], &image).unwrap();
    let gone = || -> usize {
        let logs = h.logs();
        PARTY_GONE.iter().map(|p| logs.matches(p).count()).sum()
    };
    for n in 0..12 {
        let (input, code) = if n % 2 == 0 {
            (sample(0), 0)
        } else {
            (nan.clone(), 2)
        };
        let run = infer(&h, home.path(), &input, &[]);
        assert_eq!(run.code(), Some(code), "{run:?}");
        // Each run has two dealer connections: the server's and the client's.
        let ended = wait_until(Duration::from_secs(5), || {
            h.dealer_sessions().is_empty() && gone() == 2 * (n + 1)
        });
        assert!(
            ended,
            "run {n} (exit {code}): 5 s after veil-client exited, {} server session(s) are \
             open and the dealer saw {} of {} party connections end: the client exits \
             without closing its QUIC connections, and its peers wait for the idle timeout",
            h.dealer_sessions().len(),
            gone(),
            2 * (n + 1)
        );
    }
    h.shutdown();
}

#[test]
fn help_works() {
    let home = tempfile::tempdir().unwrap();
    let run = veil_client(home.path(), &["--help"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(run.stdout.contains("infer"), "{run:?}");
    let run = veil_client(home.path(), &["infer", "--help"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    for flag in [
        "--server",
        "--input",
        "--model",
        "--backend",
        "--dealer",
        "--json",
    ] {
        assert!(run.stdout.contains(flag), "{flag} missing: {run:?}");
    }
    let run = veil_client(home.path(), &["precompute", "--help"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    for flag in [
        "--server",
        "--queries",
        "--model",
        "--backend",
        "--dealer",
        "--json",
    ] {
        assert!(run.stdout.contains(flag), "{flag} missing: {run:?}");
    }
    let run = veil_client(home.path(), &["infer"]);
    assert_eq!(
        run.code(),
        Some(2),
        "missing flags are a usage error: {run:?}"
    );
}
