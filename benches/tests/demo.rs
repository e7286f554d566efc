//! `veil-bench demo` through the library: real QUIC on loopback, a few images.

use std::sync::atomic::AtomicBool;

use indicatif::ProgressBar;
use serde_json::Value;
use veil_bench::demo::{run, DemoOptions, DemoReport};
use veil_bench::paths::{repo_models_dir, resolve_model};
use veil_bench::report::{demo_text, to_json};
use veil_protocol::material::{LinearPrep, OtKind, Preprocessing};
use veil_protocol::plan::Backend;

fn options(n: usize) -> DemoOptions {
    let dir = repo_models_dir();
    DemoOptions {
        model: resolve_model(None, &dir).expect("the shipped model"),
        models_dir: dir,
        n,
        backend: Backend::Gmw,
        material: Preprocessing::Dealer,
        label_only: false,
    }
}

/// The label alone, both backends, with and without a dealer: every secure label is the
/// fixed-point reference's argmax (the secure output is compared with the label-only
/// plan's reference bit for bit), so secure accuracy equals the reference's, and the
/// argmax shows as a layer of its own.
#[test]
fn label_only_answers_are_the_references_labels() {
    for (backend, material) in [
        (Backend::Gmw, Preprocessing::Dealer),
        (Backend::Gc, Preprocessing::Dealer),
        (
            Backend::Gmw,
            Preprocessing::TwoParty(Default::default(), Default::default()),
        ),
        (
            Backend::Gc,
            Preprocessing::TwoParty(Default::default(), Default::default()),
        ),
    ] {
        let opts = DemoOptions {
            backend,
            material,
            label_only: true,
            ..options(24)
        };
        let r =
            run(&opts, &AtomicBool::new(false), &ProgressBar::hidden()).expect("a label-only run");
        let what = format!("{backend:?}, {material:?}");
        assert_eq!((r.queries, r.differ, r.label_only), (24, 0, true), "{what}");
        assert_eq!(r.accuracy.secure, r.accuracy.fixed, "{what}");
        assert!(r.accuracy.secure > 0.8, "{what}: {:?}", r.accuracy);
        let last = r.layers.last().expect("layers");
        assert_eq!(last.kind, "argmax", "{what}");
        assert!(last.online.bytes > 0, "{what}: the argmax costs bytes");
    }
}

fn demo(n: usize, stop: bool) -> DemoReport {
    run(&options(n), &AtomicBool::new(stop), &ProgressBar::hidden()).expect("the demo runs")
}

#[test]
fn five_images_are_bit_exact_under_garbled_circuits_too() {
    let opts = DemoOptions {
        backend: Backend::Gc,
        ..options(5)
    };
    let r = run(&opts, &AtomicBool::new(false), &ProgressBar::hidden()).expect("GC demo runs");
    assert_eq!((r.backend, r.queries, r.differ), ("gc", 5, 0));
}

#[test]
fn without_a_dealer_the_two_parties_make_the_material_and_stay_exact() {
    for (backend, linear, ot) in [
        (Backend::Gmw, LinearPrep::He, OtKind::Silent),
        (Backend::Gc, LinearPrep::Ot, OtKind::Iknp),
    ] {
        let opts = DemoOptions {
            backend,
            material: Preprocessing::TwoParty(linear, ot),
            ..options(3)
        };
        let r = run(&opts, &AtomicBool::new(false), &ProgressBar::hidden())
            .expect("a dealer-free demo runs");
        assert_eq!(
            (r.queries, r.differ, r.material),
            (3, 0, Preprocessing::TwoParty(linear, ot)),
            "{backend:?}"
        );
    }
}

#[test]
fn five_images_are_bit_exact_with_the_reference() {
    let r = demo(5, false);
    assert_eq!((r.queries, r.requested, r.interrupted), (5, 5, false));
    assert_eq!(r.differ, 0, "differing images: {:?}", r.differ_images);
    // The first five images (7 2 1 0 4) are labelled right by every model (fixtures).
    assert_eq!(
        (r.accuracy.secure, r.accuracy.fixed, r.accuracy.float),
        (1.0, 1.0, 1.0)
    );
    assert!(
        r.costs_constant,
        "bytes and rounds are the same for every query"
    );
    assert_eq!(r.layers.len(), 5);
    let layer_online: u64 = r.layers.iter().map(|l| l.online.bytes).sum();
    let layer_rounds: u64 = r.layers.iter().map(|l| l.online.rounds).sum();
    assert_eq!(layer_online, r.online.bytes);
    assert_eq!(layer_rounds, r.online.rounds);
    let layer_offline: u64 = r.layers.iter().map(|l| l.offline.bytes).sum();
    assert!(layer_offline > 0 && layer_offline <= r.offline.bytes);
    assert!(
        r.setup.bytes > r.online.bytes,
        "setup sends the masked weights"
    );
    assert!(r.throughput_qps > 0.0);
    let text = demo_text(&r);
    assert!(text.contains("5 queries in one session"), "{text}");
    assert!(text.contains("(0 differ)"), "{text}");
    check_json(&r);
}

fn check_json(r: &DemoReport) {
    let json = to_json(r).expect("serialisable");
    let v: Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["model"], "mnist-mlp");
    assert_eq!(v["backend"], "gmw");
    assert_eq!(v["net"], "loopback");
    assert_eq!(v["dealer"], true);
    assert_eq!(v["queries"], 5);
    assert_eq!(v["differ"], 0);
    for phase in ["setup", "offline", "online"] {
        for field in ["bytes", "rounds"] {
            assert!(v[phase][field].is_u64(), "{phase}.{field} in {json}");
        }
        assert!(v[phase]["ms"].is_f64(), "{phase}.ms in {json}");
    }
    let layers = v["layers"].as_array().expect("layers is a list");
    assert_eq!(layers.len(), 5);
    for l in layers {
        assert!(l["name"].is_string() && l["kind"].is_string(), "{l}");
        assert!(
            l["online"]["bytes"].is_u64() && l["offline"]["bytes"].is_u64(),
            "{l}"
        );
    }
    assert_eq!(layers[0]["kind"], "linear");
    assert_eq!(layers[1]["kind"], "relu");
    for model in ["secure", "fixed", "float"] {
        assert_eq!(v["accuracy"][model], 1.0, "accuracy.{model}");
    }
}

#[test]
fn a_stop_before_the_first_query_reports_nothing() {
    let r = demo(3, true);
    assert_eq!((r.queries, r.requested, r.interrupted), (0, 3, true));
    assert_eq!(r.differ, 0);
    assert!(demo_text(&r).contains("no query finished"));
}

#[test]
fn a_missing_model_is_bad_usage() {
    let mut opts = options(1);
    opts.model = "/nonexistent/model.onnx".into();
    let e = run(&opts, &AtomicBool::new(false), &ProgressBar::hidden()).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    opts = options(1);
    opts.n = 1001;
    let e = run(&opts, &AtomicBool::new(false), &ProgressBar::hidden()).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
}
