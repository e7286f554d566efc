//! A server without a dealer, over real QUIC: the client and the server make each query's
//! material with each other, the linear layers' by homomorphic encryption or by
//! oblivious transfer. The shipped MLP and MNIST CNNs (MiniONN's, Chameleon's, the
//! residual network) are bit-exact with the plaintext reference under both backends and
//! both linear paths, and under either kind of OT (silent or IKNP); each layer's offline bytes equal the two-party formula and its
//! online bytes the dealer path's; setup holds the base OTs (and the client's public key)
//! and no E = W − U. A client that names a dealer is refused with a usage error, and a
//! misbehaving client does not stop the server.

use std::time::Duration;

use veil_protocol::engine::cost;
use veil_protocol::he::PUBLIC_KEY_BYTES;
use veil_protocol::material::{LinearPrep, OtKind, Preprocessing};
use veil_protocol::ot::pool::bootstraps;
use veil_protocol::ot::PoolSender;
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::session::{QueryReport, SessionError, Usage};
use veil_protocol::wire::{ToClient, ToServer};
use veil_tests::Options;
use veil_tests::{mnist, model_path, secure_output, Harness};

const MINIONN: &str = "mnist-cnn-minionn.onnx";

/// A dealer-free server hosting `file`, its linear layers' material made as `linear` says.
fn start(file: &str, linear: LinearPrep) -> Harness {
    Harness::builder()
        .model(None, &model_path(file))
        .no_dealer_with(linear)
        .start()
}

fn options(h: &Harness, backend: Backend) -> Options {
    Options {
        backend,
        ..h.options()
    }
}

/// Checks one query's report against the formulas: per layer, the two-party offline
/// bytes under OTs of kind `ot` (under GC the linear layers alone: a garbled layer's own
/// OTs and tables share its scope; a silent pool's growth is the phase's) and the online
/// cost; setup (first query only) holds the client's public key under `LinearPrep::He`,
/// and no E.
fn check_costs(plan: &Plan, (linear, ot): (LinearPrep, OtKind), q: usize, r: &QueryReport) {
    let offline = cost::two_party(plan, linear, ot).expect("a valid plan");
    // The OTs' bytes are charged by use: rented from IKNP (as its formula counts them) or
    // a silent extension's share, a fraction of that.
    let iknp = cost::two_party(plan, linear, OtKind::Iknp).expect("a valid plan");
    let online = cost::online(plan);
    for (i, layer) in r.layers.iter().enumerate() {
        if plan.backend == Backend::Gmw || plan.layers[i].kind.is_linear() {
            let charged = layer.offline.bytes.checked_sub(offline[i]);
            let most = iknp[i] - offline[i] + 2048;
            assert!(
                charged.is_some_and(|c| c <= most),
                "offline bytes of {}: {} against the formula's {} (+ at most {most})",
                layer.name,
                layer.offline.bytes,
                offline[i]
            );
        }
        assert_eq!(
            layer.online.bytes, online[i].bytes,
            "online bytes of {}",
            layer.name
        );
    }
    let layers: u64 = r.layers.iter().map(|l| l.offline.bytes).sum();
    assert_eq!(r.offline.bytes, layers, "the layers add up to the phase");
    // Made ahead (GMW, RLWE, silent OT), a query's material is a flight each way and the
    // server's replies, whatever the number of layers.
    if (plan.backend, linear, ot) == (Backend::Gmw, LinearPrep::He, OtKind::Silent) {
        assert!(r.offline.rounds <= 2, "{} offline rounds", r.offline.rounds);
    }
    // Each layer's making is timed, within the phase's time.
    let made: f64 = r.layers.iter().map(|l| l.offline.ms).sum();
    assert!(
        r.layers.iter().all(|l| l.offline.ms > 0.0),
        "{:?}",
        r.layers
    );
    assert!(made <= r.offline.ms, "{made} ms of {} ms", r.offline.ms);
    let weights: u64 = plan
        .linear_layers()
        .map(|(_, l)| 8 * l.op.weight_len() as u64)
        .sum();
    // OT instances: one each way where a layer makes material by OT, and one for GC's
    // input labels; a silent one bootstraps at set-up where queries call for it.
    let gmw = plan.backend == Backend::Gmw;
    let key = match linear {
        LinearPrep::He => PUBLIC_KEY_BYTES as u64,
        LinearPrep::Ot => 0,
    };
    let by_ot = gmw || linear == LinearPrep::Ot;
    let boot = |per_query| u64::from(bootstraps(ot, per_query)) * PoolSender::bootstrap_bytes();
    let least = key
        + u64::from(by_ot) * 2 * (4128 + boot(cost::ots_each_way(plan, linear).unwrap()))
        + u64::from(!gmw) * (4128 + boot(cost::label_ots(plan)));
    match q {
        0 => assert!(
            r.setup.bytes >= least && r.setup.bytes < least + weights,
            "setup: base OTs (and silent pools' bootstrap) and key, no E ({} bytes)",
            r.setup.bytes
        ),
        _ => assert_eq!(r.setup.bytes, 0, "setup is paid once"),
    }
}

/// One session of `images` queries of `file` under `backend`, the linear layers' material
/// made as `linear` says: bit-exact, at the formulas.
fn run(file: &str, backend: Backend, linear: LinearPrep, images: usize) {
    let h = start(file, linear);
    let model = veil_model::load(&model_path(file)).expect("a shipped model");
    let mut session = h
        .open_with(&options(&h, backend))
        .unwrap_or_else(|e| panic!("opening a dealer-free session: {e}\n{}", h.logs()));
    assert!(!session.has_dealer());
    let plan = session.plan().clone();
    for (q, image) in mnist().images[..images].iter().enumerate() {
        let (secure, report) = secure_output(&mut session, image);
        let input = veil_model::encode_input(&model.plan, image).expect("a valid image");
        let want = veil_model::reference(&model.plan, &model.weights, &input);
        assert_eq!(secure, want, "{file} {backend:?}, image {q}");
        check_costs(&plan, (linear, OtKind::default()), q, &report);
    }
    session.close();
    h.shutdown();
}

#[test]
fn the_mlp_is_bit_exact_without_a_dealer_under_gmw_by_either_linear_path() {
    run("mnist-mlp.onnx", Backend::Gmw, LinearPrep::He, 3);
    run("mnist-mlp.onnx", Backend::Gmw, LinearPrep::Ot, 2);
}

#[test]
fn the_mlp_is_bit_exact_without_a_dealer_under_gc() {
    run("mnist-mlp.onnx", Backend::Gc, LinearPrep::He, 3);
}

#[test]
fn minionn_is_bit_exact_without_a_dealer_under_gmw() {
    run(MINIONN, Backend::Gmw, LinearPrep::He, 2);
}

#[test]
fn minionn_is_bit_exact_without_a_dealer_under_gc() {
    run(MINIONN, Backend::Gc, LinearPrep::Ot, 1);
}

#[test]
fn chameleons_cnn_is_bit_exact_without_a_dealer_under_both_backends() {
    run("mnist-cnn-chameleon.onnx", Backend::Gmw, LinearPrep::He, 2);
    run("mnist-cnn-chameleon.onnx", Backend::Gc, LinearPrep::He, 2);
}

#[test]
fn the_resnet_is_bit_exact_without_a_dealer_under_both_backends() {
    run("mnist-resnet.onnx", Backend::Gmw, LinearPrep::Ot, 2);
    run("mnist-resnet.onnx", Backend::Gc, LinearPrep::He, 2);
}

/// One session of `images` queries of `file` under `backend` on a server started with
/// `linear` and `ot`: the client learns both from the welcome, every output is bit-exact
/// with the plaintext fixed-point reference, and the costs are the formulas' for that kind:
/// the kind the server was started with is the one the session ran.
fn run_with_ot(file: &str, backend: Backend, linear: LinearPrep, ot: OtKind, images: usize) {
    let h = Harness::builder()
        .model(None, &model_path(file))
        .no_dealer_with_ot(linear, ot)
        .start();
    let model = veil_model::load(&model_path(file)).expect("a shipped model");
    let mut session = h
        .open_with(&options(&h, backend))
        .unwrap_or_else(|e| panic!("opening a dealer-free session: {e}\n{}", h.logs()));
    let plan = session.plan().clone();
    let source = session.open_session().map(|o| o.source());
    assert_eq!(source, Some(Preprocessing::TwoParty(linear, ot)));
    for (q, image) in mnist().images[..images].iter().enumerate() {
        let (secure, report) = secure_output(&mut session, image);
        let input = veil_model::encode_input(&model.plan, image).expect("a valid image");
        let want = veil_model::reference(&model.plan, &model.weights, &input);
        assert_eq!(secure, want, "{file} {backend:?} {linear} {ot}, image {q}");
        check_costs(&plan, (linear, ot), q, &report);
    }
    session.close();
    h.shutdown();
}

/// Both kinds of OT, where the session makes OTs: GMW's material, and under GC the linear
/// layers' by OT.
#[test]
fn the_mlp_is_bit_exact_without_a_dealer_under_either_kind_of_ot() {
    for ot in OtKind::ALL {
        run_with_ot("mnist-mlp.onnx", Backend::Gmw, LinearPrep::He, ot, 2);
        run_with_ot("mnist-mlp.onnx", Backend::Gc, LinearPrep::Ot, ot, 1);
    }
}

#[test]
fn a_client_that_names_a_dealer_is_told_the_server_runs_without_one() {
    let h = start("mnist-mlp.onnx", LinearPrep::He);
    let opts = Options {
        dealer: Some("127.0.0.1:9".into()),
        ..h.options()
    };
    match h.open_with(&opts) {
        Err(e @ SessionError::Usage(Usage::DealerUnused { .. })) => {
            assert_eq!(e.exit_code(), 2, "a usage error");
            assert!(e.to_string().contains("without --dealer"), "{e}");
        }
        Err(e) => panic!("expected DealerUnused, got {e}"),
        Ok(_) => panic!("a dealer-free server accepted a client's dealer"),
    }
    h.abandon();
}

#[test]
fn a_client_that_breaks_off_preprocessing_does_not_stop_the_server() {
    let h = start("mnist-mlp.onnx", LinearPrep::He);
    let mut raw = h.raw_server();
    let hello = ToServer::Hello {
        model: None,
        backend: Backend::Gmw,
        label_only: false,
        card: false,
    };
    raw.send(&hello.encode()).unwrap();
    match ToClient::decode(&raw.recv().unwrap()).unwrap() {
        ToClient::WelcomeTwoParty { plan, .. } => assert!(!plan.layers.is_empty()),
        other => panic!("expected a dealer-free welcome, got {other:?}"),
    }
    // Garbage where the base OTs belong.
    raw.send(&[7; 5]).unwrap();
    assert!(
        h.wait_for_log("client session failed", Duration::from_secs(10)),
        "the server reports the broken session\n{}",
        h.logs()
    );
    raw.hang_up();
    let mut session = h.open();
    let (secure, _) = secure_output(&mut session, &mnist().images[0]);
    assert_eq!(secure, veil_tests::reference_output(&mnist().images[0]));
    session.close();
    h.shutdown();
}
