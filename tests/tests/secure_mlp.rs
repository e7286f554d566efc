//! The shipped MNIST MLP run securely over QUIC: bit-exact with the plaintext fixed-point
//! reference, within the fixed-point error of torch's float logits, and equal to the
//! fixture's fixed-point logits. The client learns the logits; the server learns nothing
//! (not checked here: the protocol crate's privacy tests own that).

use std::thread;

use serde_json::Value;
use veil_model::ir::{FloatModel, Op};
use veil_protocol::plan::{LayerKind, Plan, Weights};
use veil_protocol::ring::Ring;
use veil_tests::{argmax, mlp, mnist, model_path, reference_output, secure_output, Harness};

/// How many shipped images the long session queries.
const IMAGES: usize = 32;

#[test]
fn one_session_of_32_queries_is_bit_exact_and_as_accurate_as_the_reference() {
    let h = Harness::start();
    let data = mnist();
    let plan = &mlp().plan;
    let mut session = h.open();
    assert_eq!(session.plan(), plan, "the client learns the server's plan");
    let (mut secure_right, mut reference_right) = (0, 0);
    for (i, image) in data.images[..IMAGES].iter().enumerate() {
        let (secure, _) = secure_output(&mut session, image);
        let expected = reference_output(image);
        assert_eq!(
            secure, expected,
            "image {i}: secure logits differ from the reference"
        );
        let label = usize::from(data.labels[i]);
        secure_right += usize::from(argmax(&veil_model::decode_output(plan, &secure)) == label);
        reference_right +=
            usize::from(argmax(&veil_model::decode_output(plan, &expected)) == label);
    }
    session.close();
    assert_eq!(
        secure_right, reference_right,
        "secure and reference accuracy"
    );
    // The model is 97.9 % accurate on the shipped subset: a broken pipeline scores lower.
    assert!(secure_right >= 30, "{secure_right}/{IMAGES} right");
    h.shutdown();
}

#[test]
fn the_garbled_circuit_backend_is_bit_exact_too_and_needs_no_dealer_material_for_relu() {
    let h = Harness::start();
    let data = mnist();
    let opts = veil_tests::Options {
        backend: veil_protocol::plan::Backend::Gc,
        ..h.options()
    };
    let mut session = h
        .open_with(&opts)
        .unwrap_or_else(|e| panic!("opening a GC session: {e}\n{}", h.logs()));
    assert_eq!(session.plan().backend, veil_protocol::plan::Backend::Gc);
    let linear_material: u64 = veil_protocol::engine::correction_len_by_layer(session.plan())
        .iter()
        .map(|&b| b as u64)
        .sum();
    for (i, image) in data.images[..IMAGES].iter().enumerate() {
        let (secure, report) = secure_output(&mut session, image);
        assert_eq!(secure, reference_output(image), "image {i} under GC");
        // The dealer's corrections cover the linear layers only ([UV]_c, 8 B per row).
        assert_eq!(linear_material, 8 * (128 + 128 + 10));
        assert!(
            report.online.rounds <= 6,
            "{} online rounds",
            report.online.rounds
        );
    }
    session.close();
    h.shutdown();
}

#[test]
fn fresh_sessions_side_by_side_and_after_each_other_are_bit_exact() {
    let h = Harness::start();
    let images = &mnist().images;
    thread::scope(|s| {
        let runs: Vec<_> = [40usize, 50]
            .into_iter()
            .map(|first| {
                let h = &h;
                s.spawn(move || {
                    let mut session = h.open();
                    for (i, image) in images[first..first + 3].iter().enumerate() {
                        let (secure, _) = secure_output(&mut session, image);
                        assert_eq!(secure, reference_output(image), "image {}", first + i);
                    }
                    session.close();
                })
            })
            .collect();
        for run in runs {
            run.join().expect("a concurrent session failed");
        }
    });
    for first in [60usize, 70] {
        let mut session = h.open();
        let (secure, _) = secure_output(&mut session, &images[first]);
        assert_eq!(secure, reference_output(&images[first]), "image {first}");
        session.close();
    }
    h.shutdown();
}

/// The torch fixture: `fixtures/mnist-mlp-torch.json`.
struct Fixture {
    indices: Vec<usize>,
    labels: Vec<usize>,
    torch_logits: Vec<Vec<f64>>,
    torch_predictions: Vec<usize>,
    fixed_logits: Vec<Vec<i64>>,
    f: u32,
}

fn fixture() -> Fixture {
    let path = model_path("fixtures/mnist-mlp-torch.json");
    let text = std::fs::read_to_string(&path).expect("the torch fixture");
    let v: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let list = |key: &str| -> Vec<Value> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("fixture field {key}"))
            .clone()
    };
    let usizes = |key: &str| -> Vec<usize> {
        list(key)
            .iter()
            .map(|x| x.as_u64().expect("an index") as usize)
            .collect()
    };
    Fixture {
        indices: usizes("indices"),
        labels: usizes("labels"),
        torch_logits: list("torch_logits")
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect(),
        torch_predictions: usizes("torch_predictions"),
        fixed_logits: list("fixed_logits")
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect()
            })
            .collect(),
        f: v["f"].as_u64().expect("f") as u32,
    }
}

/// Per logit, a bound on |fixed-point logit − exact real logit| of the float model, from
/// a first-order propagation of the fixed-point rounding errors (q = 2^-f):
///
/// - each input and weight is `round(v / q) · q`: an error uniform on [−q/2, q/2] (mean 0,
///   variance q²/12), a bias likewise at q²; each floor shift after a ReLU an error
///   uniform on (−q, 0] (mean −q/2, variance q²/12). The ring arithmetic is otherwise
///   exact (every value fits k bits), so these are the only errors.
/// - a dense layer maps input errors (mean μ, variance σ²) to `W·μ` and `W²·σ²`, plus its
///   own weight errors times the activations (`Σ_j a_j² q²/12`) and its bias error; the
///   products of two errors (≤ `Σ_j q/2 · |e_j|`) go into a worst-case budget `β`
///   propagated with `|W|`.
/// - a ReLU passes its input's error where the fixed or the float pre-activation is
///   positive (it is 1-Lipschitz) and gives exactly 0 where both are ≤ 0.
///
/// Treating the rounding errors as independent, the logit is within `|μ| + β + 6σ`: a
/// six-sigma bound, so the 80 checked logits pass by chance failure with probability
/// below 1e-7 while the errors behave as modelled, and a real fault (a wrong scale, a
/// misplaced weight) is off by far more.
fn fixed_point_error_bounds(
    model: &FloatModel,
    plan: &Plan,
    weights: &Weights,
    x: &[f32],
) -> Vec<f64> {
    let f = plan.fixed.f as i32;
    let q = 2f64.powi(-f);
    let mut fixed_pre = Vec::new();
    let input = veil_model::encode_input(plan, x).expect("a valid image");
    veil_model::reference::reference_observed(plan, weights, &input, &mut |_, z| {
        fixed_pre.push(
            z.iter()
                .map(|&v| (v as i64) as f64 * q * q)
                .collect::<Vec<f64>>(),
        )
    });
    let mut fixed_pre = fixed_pre.into_iter();
    let mut a: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut z_float = Vec::new();
    let mut mean = vec![0.0; a.len()];
    let mut var = vec![q * q / 12.0; a.len()];
    let mut budget = vec![0.0; a.len()];
    for layer in &model.layers {
        match &layer.op {
            Op::Dense(d) => {
                let (mut m, mut v, mut b) = (Vec::new(), Vec::new(), Vec::new());
                for row in d.weight.chunks_exact(d.cols) {
                    let (mut mi, mut vi, mut bi) = (0.0, q * q * q * q / 12.0, 0.0);
                    for (j, w) in row.iter().enumerate() {
                        mi += w * mean[j];
                        vi += w * w * var[j] + a[j] * a[j] * q * q / 12.0;
                        let worst = mean[j].abs() + 6.0 * var[j].sqrt() + budget[j];
                        bi += w.abs() * budget[j] + q / 2.0 * worst;
                    }
                    m.push(mi);
                    v.push(vi);
                    b.push(bi);
                }
                a = d.apply(&a);
                z_float = a.clone();
                (mean, var, budget) = (m, v, b);
            }
            Op::Relu => {
                let z_fixed = fixed_pre.next().expect("one observation per ReLU");
                for (j, v) in a.iter_mut().enumerate() {
                    if z_fixed[j] <= 0.0 && z_float[j] <= 0.0 {
                        (mean[j], var[j], budget[j]) = (0.0, 0.0, 0.0);
                    } else {
                        mean[j] -= q / 2.0;
                        var[j] += q * q / 12.0;
                    }
                    *v = v.max(0.0);
                }
            }
            Op::Flatten { .. } | Op::Reshape { .. } => {}
            other => panic!("the error bound covers MLPs only, not {other:?}"),
        }
    }
    (0..a.len())
        .map(|i| mean[i].abs() + budget[i] + 6.0 * var[i].sqrt())
        .collect()
}

/// How far torch's float32 logits may lie from the exact (f64) evaluation of the same
/// weights: float32 carries 24 bits, ~1e-6 relative to logits of size ~10, and three
/// dot products of at most 785 terms lose a few more bits; the two ONNX exports and
/// PyTorch agree within 7.6e-6 (models/README.md). 1e-4 leaves room and is still far
/// below any fixed-point effect.
const FLOAT32_SLACK: f64 = 1e-4;

#[test]
fn secure_logits_match_the_torch_fixture() {
    let fx = fixture();
    let model = mlp();
    assert_eq!(fx.f, model.plan.fixed.f, "the fixture's f is the model's");
    let h = Harness::start();
    let mut session = h.open();
    let (mut worst_diff, mut worst_bound) = (0.0f64, 0.0f64);
    for (n, &index) in fx.indices.iter().enumerate() {
        let image = &mnist().images[index];
        let (secure, _) = secure_output(&mut session, image);
        let as_i64: Vec<i64> = secure.iter().map(|&v| v as i64).collect();
        assert_eq!(
            as_i64, fx.fixed_logits[n],
            "image {index}: fixture's fixed-point logits"
        );
        let logits = veil_model::decode_output(&model.plan, &secure);
        let exact = model
            .float
            .eval(&image.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let bounds = fixed_point_error_bounds(&model.float, &model.plan, &model.weights, image);
        for j in 0..logits.len() {
            let torch = fx.torch_logits[n][j];
            assert!(
                (torch - exact[j]).abs() <= FLOAT32_SLACK,
                "image {index} logit {j}: torch {torch} vs exact {}",
                exact[j]
            );
            let (diff, bound) = ((logits[j] - torch).abs(), bounds[j] + FLOAT32_SLACK);
            assert!(
                diff <= bound,
                "image {index} logit {j}: secure {} vs torch {torch}: |diff| {diff} > {bound}",
                logits[j]
            );
            (worst_diff, worst_bound) = (worst_diff.max(diff), worst_bound.max(bound));
        }
        assert_eq!(argmax(&logits), fx.torch_predictions[n], "image {index}");
        assert_eq!(fx.torch_predictions[n], fx.labels[n], "image {index}");
    }
    session.close();
    // The bound must mean something: hundredths, against logits of size ~10.
    assert!(
        worst_bound < 0.1,
        "the error bound {worst_bound} is too loose to test anything"
    );
    eprintln!("largest |secure − torch| {worst_diff:.5}, largest bound {worst_bound:.5}");
    h.shutdown();
}

#[test]
fn the_dynamo_export_gives_the_same_plan_weights_and_results() {
    let legacy = mlp();
    let path = model_path("mnist-mlp-dynamo.onnx");
    let dynamo = veil_model::load(&path).expect("the dynamo export (with its .data file)");
    let (a, b) = (&legacy.plan, &dynamo.plan);
    assert_eq!(
        (&a.input_shape, a.input_range, a.fixed),
        (&b.input_shape, b.input_range, b.fixed)
    );
    let kinds = |p: &Plan| -> Vec<LayerKind> { p.layers.iter().map(|l| l.kind.clone()).collect() };
    assert_eq!(kinds(a), kinds(b), "layer kinds and shapes");
    assert_eq!(legacy.weights, dynamo.weights, "fixed-point weights");
    // Host both and query each by name: same results, equal to the reference.
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .model(None, &path)
        .start();
    let results: Vec<Vec<Vec<Ring>>> = ["mnist-mlp", "mnist-mlp-dynamo"]
        .into_iter()
        .map(|name| {
            let mut opts = h.options();
            opts.model = Some(name.into());
            let mut session = h.open_with(&opts).expect("opening a named model");
            assert_eq!(session.plan().model, name);
            let out = mnist().images[..4]
                .iter()
                .map(|image| secure_output(&mut session, image).0)
                .collect();
            session.close();
            out
        })
        .collect();
    for (i, image) in mnist().images[..4].iter().enumerate() {
        let expected = reference_output(image);
        assert_eq!(
            veil_model::reference(
                &dynamo.plan,
                &dynamo.weights,
                &veil_model::encode_input(b, image).unwrap()
            ),
            expected,
            "image {i}: plaintext reference of the dynamo export"
        );
        assert_eq!(results[0][i], expected, "image {i}: legacy export, secure");
        assert_eq!(results[1][i], expected, "image {i}: dynamo export, secure");
    }
    h.shutdown();
}
