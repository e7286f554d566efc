//! What a query costs, measured on both ends' meters over QUIC, against the protocol's
//! cost formulas (`veil_protocol::engine::cost`) and the MLP's goals. Bytes and rounds
//! only: timing goals belong to `veil-bench`.

use veil_protocol::engine::correction_len;
use veil_protocol::engine::cost;
use veil_protocol::plan::Plan;
use veil_protocol::session::QueryReport;
use veil_protocol::wire::{FromDealer, ToDealer};
use veil_tests::{mlp, mnist, model_path, secure_output, shipped, Harness};

/// The bytes the dealer link adds around the material itself, per query: each party
/// sends one `Fetch` and gets its material inside one `FromDealer::Material`, whose tag
/// is the only byte it adds. So
/// `offline = cost::dealer_material(plan) + 2 · (|Fetch| + |Material tag|)`.
fn dealer_framing() -> u64 {
    let fetch = ToDealer::Fetch.encode().len();
    let tag = FromDealer::Material(Vec::new()).encode().len();
    2 * (fetch + tag) as u64
}

/// The seed of U the dealer gives the server once per session (setup).
const SESSION_SEED: u64 = 16;

fn check_query(plan: &Plan, q: usize, r: &QueryReport) {
    let online = cost::online(plan);
    assert_eq!(
        r.layers.len(),
        plan.layers.len(),
        "query {q}: one entry per layer"
    );
    for (i, (layer, want)) in r.layers.iter().zip(&online).enumerate() {
        assert_eq!(layer.name, plan.layers[i].name, "query {q} layer {i}");
        assert_eq!(
            (layer.online.bytes, layer.online.rounds),
            (want.bytes, want.rounds),
            "query {q}, layer {i} ({}): online (bytes, rounds) measured vs formula",
            layer.name
        );
    }
    let bytes: u64 = online.iter().map(|c| c.bytes).sum();
    let rounds: u64 = online.iter().map(|c| c.rounds).sum();
    assert_eq!(
        (r.online.bytes, r.online.rounds),
        (bytes, rounds),
        "query {q}: online"
    );
    assert_eq!(
        r.offline.bytes,
        cost::dealer_material(plan) + dealer_framing(),
        "query {q}: offline bytes"
    );
    let by_layer: u64 = r.layers.iter().map(|l| l.offline.bytes).sum();
    assert_eq!(
        by_layer,
        correction_len(plan) as u64,
        "query {q}: material by layer"
    );
    let setup = if q == 0 {
        cost::setup(plan).bytes + SESSION_SEED
    } else {
        0 // setup is reported with the session's first query only
    };
    assert_eq!(r.setup.bytes, setup, "query {q}: setup bytes");
    let setup_rounds = if q == 0 { cost::setup(plan).rounds } else { 0 };
    assert_eq!(r.setup.rounds, setup_rounds, "query {q}: setup rounds");
}

#[test]
fn every_query_costs_what_the_formulas_say() {
    let h = Harness::start();
    let mut session = h.open();
    for (q, image) in mnist().images[..4].iter().enumerate() {
        let (_, report) = secure_output(&mut session, image);
        check_query(&mlp().plan, q, &report);
    }
    session.close();
    // A second session pays setup again.
    let mut session = h.open();
    let (_, report) = secure_output(&mut session, &mnist().images[4]);
    check_query(&mlp().plan, 0, &report);
    session.close();
    h.shutdown();
}

#[test]
fn every_cnn_query_costs_what_the_formulas_say() {
    let file = "mnist-cnn-minionn.onnx";
    let h = Harness::builder().model(None, &model_path(file)).start();
    let mut session = h.open();
    for (q, image) in mnist().images[..2].iter().enumerate() {
        let (_, report) = secure_output(&mut session, image);
        check_query(&shipped(file).plan, q, &report);
    }
    session.close();
    h.shutdown();
}

#[test]
fn the_mlp_meets_its_byte_and_round_goals() {
    let h = Harness::start();
    let mut session = h.open();
    let (_, r) = secure_output(&mut session, &mnist().images[0]);
    session.close();
    eprintln!(
        "setup {} B {} rounds; offline {} B {} rounds; online {} B in {} rounds",
        r.setup.bytes,
        r.setup.rounds,
        r.offline.bytes,
        r.offline.rounds,
        r.online.bytes,
        r.online.rounds
    );
    assert!(
        r.online.rounds <= 20,
        "online rounds {} > 20",
        r.online.rounds
    );
    assert!(
        r.online.bytes <= 64 * 1024,
        "online bytes {} > 64 KB",
        r.online.bytes
    );
    assert!(
        r.offline.bytes <= 16 * 1024,
        "offline bytes {} > 16 KB",
        r.offline.bytes
    );
    h.shutdown();
}
