//! The `veil-bench` binary as users and scripts call it: JSON fields of CONTRACT.md, exit
//! codes, the SVG file. Few queries, LAN or loopback, to keep CI quick.

use std::process::{Command, Output};

use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil-bench"))
        .args(args)
        .output()
        .expect("veil-bench runs")
}

/// Runs a command that must succeed and print one JSON object.
fn json(args: &[&str]) -> Value {
    let out = bench(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: bad JSON: {e}"))
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = bench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed on failure");
    stderr
}

fn assert_phase(v: &Value, what: &str) {
    assert!(v["bytes"].is_u64() && v["rounds"].is_u64(), "{what}: {v}");
    assert!(v["ms"].is_number(), "{what}: {v}");
}

#[test]
fn run_json_on_the_lan_has_the_contract_fields_and_the_layers() {
    let args = [
        "run",
        "--model",
        "secureml-mlp",
        "--backend",
        "gmw",
        "--queries",
        "2",
        "--net",
        "lan",
        "--json",
    ];
    let v = json(&args);
    assert_eq!(v["model"], "mnist-mlp");
    assert_eq!(
        (v["backend"].as_str(), v["net"].as_str()),
        (Some("gmw"), Some("lan"))
    );
    assert_eq!(
        (v["dealer"].as_bool(), v["queries"].as_u64()),
        (Some(true), Some(2))
    );
    assert!(
        v.get("linear").is_none() && v.get("ot").is_none(),
        "a dealer's material has no linear path and no kind of OT"
    );
    assert_eq!(v["differ"], 0, "every output is the reference's");
    for phase in ["setup", "offline", "online"] {
        assert_phase(&v[phase], phase);
    }
    let layers = v["layers"].as_array().expect("a layer list");
    let kinds: Vec<&str> = layers.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds, ["linear", "relu", "linear", "relu", "linear"]);
    for l in layers {
        assert!(l["name"].is_string(), "{l}");
        assert_phase(&l["offline"], "layer offline");
        assert_phase(&l["online"], "layer online");
    }
    assert!(layers[1]["and_gates"].as_u64() > Some(0));
    assert_eq!(layers[1]["and_gates"], layers[1]["triples"]);
    // Every byte of a phase is on some link.
    for phase in ["setup", "offline", "online"] {
        let links: u64 = v["links"][phase]
            .as_object()
            .expect("six directions")
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(Some(links), v[phase]["bytes"].as_u64(), "{phase}");
    }
    let e = &v["estimate"]["online"];
    assert!(e["estimate_ms"].as_f64() > Some(0.0), "{e}");
    assert_eq!(v["link"]["rtt_ms"], 0.2);
}

#[test]
fn a_custom_network_runs_garbled_circuits_and_draws_a_well_formed_svg() {
    let dir = std::env::temp_dir().join(format!("veil-bench-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("layers.svg");
    let args = [
        "run",
        "--model",
        "secureml-mlp",
        "--backend",
        "gc",
        "--queries",
        "1",
        "--net",
        "100,10",
        "--json",
        "--svg",
    ];
    let mut all: Vec<&str> = args.to_vec();
    all.push(svg.to_str().unwrap());
    let v = json(&all);
    assert_eq!(
        (v["net"].as_str(), v["backend"].as_str()),
        (Some("100,10"), Some("gc"))
    );
    assert_eq!(v["counts"]["setup"]["ots"], 128);
    assert_eq!(v["differ"], 0, "the GC run's output is the reference's");
    assert!(v["layers"][1]["ots"].as_u64() > Some(0));
    // One garbled ReLU within the budget: at most 3k − 2 ANDs, 4.1 KB in all of
    // which at most 600 B online (CrypTFlow2's analytic GC ReLU: 4,032 B at l = 32).
    let relu = &v["per_relu"];
    let k = relu["k"].as_f64().expect("the plan's k");
    assert_eq!(relu["relus"], 256, "two layers of 128");
    assert!(relu["and_gates"].as_f64() <= Some(3.0 * k - 2.0), "{relu}");
    assert!(relu["online_bytes"].as_f64() <= Some(600.0), "{relu}");
    assert!(relu["total_bytes"].as_f64() <= Some(4_100.0), "{relu}");
    assert!(relu["offline_bytes"].as_f64() > Some(32.0 * relu["and_gates"].as_f64().unwrap()));
    // Ten round trips of 10 ms at least: the shaping is real.
    assert!(v["online"]["ms"].as_f64() >= Some(10.0), "{}", v["online"]);
    let text = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert_well_formed(&text);
    assert!(
        text.contains("GC online bytes") && text.contains("fc1"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A minimal XML check: one root `svg` element, every tag closed in order.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml.trim();
    assert!(rest.starts_with("<svg"), "no svg root");
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("an unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "a '<' inside a tag: {tag}");
        if let Some(end) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(end.trim()), "mismatched </{end}>");
        } else if !tag.ends_with('/') {
            let n = tag.split_whitespace().next().expect("a tag name");
            stack.push(n);
        }
        rest = &rest[close + 1..];
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root: {rest}");
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn bad_networks_models_and_flags_are_usage_errors() {
    let base = ["run", "--model", "secureml-mlp", "--backend", "gmw"];
    for net in ["fast", "0,10", "100", "10,-1"] {
        let mut args = base.to_vec();
        args.extend(["--net", net]);
        let e = fails(&args, 2);
        assert!(e.contains("--net"), "{e}");
    }
    let e = fails(&["run", "--model", "no-such-net", "--backend", "gmw"], 2);
    assert!(e.contains("no model file at no-such-net"), "{e}");
    // --linear says how the two parties make material: without --no-dealer it means
    // nothing, and only he and ot are ways.
    let mut args = base.to_vec();
    args.extend(["--linear", "ot"]);
    let e = fails(&args, 2);
    assert!(e.contains("--no-dealer"), "{e}");
    let mut args = base.to_vec();
    args.extend(["--no-dealer", "--linear", "paillier"]);
    let e = fails(&args, 2);
    assert!(e.contains("he or ot"), "{e}");
}

#[test]
fn no_dealer_runs_two_party_preprocessing() {
    let v = json(&["accuracy", "--no-dealer", "--n", "2", "--json"]);
    assert_eq!(v["dealer"].as_bool(), Some(false));
    assert_eq!(v["linear"].as_str(), Some("he"), "the default: {v}");
    assert_eq!(v["ot"].as_str(), Some("silent"), "the default: {v}");
    assert_eq!(v["differ"].as_u64(), Some(0));
    let v = json(&[
        "run",
        "--model",
        "secureml-mlp",
        "--backend",
        "gc",
        "--no-dealer",
        "--linear",
        "ot",
        "--queries",
        "1",
        "--json",
    ]);
    assert_eq!(v["dealer"].as_bool(), Some(false));
    assert_eq!(v["linear"].as_str(), Some("ot"), "{v}");
    assert!(
        v["offline"]["bytes"].as_u64().unwrap() > 0,
        "the parties' own preprocessing is offline"
    );
}

#[test]
fn the_kind_of_ot_is_silent_or_iknp_and_only_without_a_dealer() {
    for command in [
        &["run", "--model", "secureml-mlp", "--backend", "gmw"][..],
        &["accuracy", "--model", "secureml-mlp", "--n", "1"][..],
    ] {
        // Without --no-dealer the kind of OT means nothing.
        let mut args = command.to_vec();
        args.extend(["--ot", "iknp"]);
        let e = fails(&args, 2);
        assert!(e.contains("--no-dealer"), "{e}");
        let mut args = command.to_vec();
        args.extend(["--no-dealer", "--ot", "bogus"]);
        let e = fails(&args, 2);
        assert!(e.contains("silent or iknp"), "{e}");
    }
}

#[test]
fn no_dealer_names_its_kind_of_ot() {
    let v = json(&[
        "run",
        "--model",
        "secureml-mlp",
        "--backend",
        "gmw",
        "--no-dealer",
        "--ot",
        "iknp",
        "--queries",
        "1",
        "--json",
    ]);
    assert_eq!(v["dealer"].as_bool(), Some(false));
    assert_eq!(
        (v["linear"].as_str(), v["ot"].as_str()),
        (Some("he"), Some("iknp")),
        "{v}"
    );
    assert_eq!(v["differ"].as_u64(), Some(0));
    // The triples and the ReLU pairs are made by OT: two each, and four per candidate.
    let per_query = &v["counts"]["per_query"];
    let (triples, ots) = (per_query["triples"].as_u64(), per_query["ots"].as_u64());
    assert!(ots > triples.map(|t| 2 * t) && triples > Some(0), "{v}");
    assert_eq!(
        v["counts"]["setup"]["ots"], 256,
        "base OTs of two instances"
    );
}

#[test]
fn accuracy_json_has_the_contract_fields_and_no_difference() {
    let v = json(&["accuracy", "--model", "secureml-mlp", "--n", "8", "--json"]);
    assert_eq!(
        (v["model"].as_str(), v["backend"].as_str()),
        (Some("mnist-mlp"), Some("gmw"))
    );
    assert_eq!(
        (v["dealer"].as_bool(), v["n"].as_u64()),
        (Some(true), Some(8))
    );
    for field in ["float_accuracy", "fixed_accuracy", "secure_accuracy"] {
        let a = v[field].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&a), "{field} = {a}");
    }
    assert_eq!(v["differ"], 0);
}

#[test]
fn compare_json_sets_veil_beside_the_published_figures() {
    let v = json(&["compare", "--json"]);
    assert_eq!(v["net"], "lan");
    let networks = v["networks"].as_array().expect("a network list");
    assert_eq!(networks.len(), 4, "every standard network is listed");
    let mlp = &networks[0];
    assert_eq!(
        (mlp["network"].as_str(), mlp["shipped"].as_bool()),
        (Some("secureml-mlp"), Some(true))
    );
    let veil = mlp["veil"].as_array().expect("veil's rows");
    assert_eq!(veil.len(), 2, "both backends");
    assert!(veil.iter().all(|r| r["total_s"].as_f64() > Some(0.0)));
    let published = &mlp["published"][0];
    assert_eq!(published["system"], "SecureML");
    let ratio = published["ratio"]["gmw"]["total_s"]
        .as_f64()
        .expect("a ratio");
    let expected = veil[0]["total_s"].as_f64().unwrap() / 4.88;
    assert!((ratio - expected).abs() < 1e-9, "{ratio} vs {expected}");
    // Per ReLU: veil's, both backends, beside the published per-ReLU costs.
    assert!(veil
        .iter()
        .all(|r| r["per_relu"]["total_bytes"].as_f64() > Some(0.0)));
    let published = v["published_per_relu"]
        .as_array()
        .expect("published per-ReLU costs");
    assert!(published.iter().any(|p| p["bytes"] == 4032));
}
