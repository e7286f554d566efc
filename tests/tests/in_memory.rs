//! The same session in memory and over QUIC costs the same: every byte and round of every
//! phase, layer and link that a client reports, for the shipped MLP, with a dealer and
//! without, under both backends. So the in-memory session tests (`veil-protocol`'s
//! `tests/sessions.rs`) speak for the real binaries' figures.

use veil_protocol::material::{LinearPrep, OtKind, Preprocessing};
use veil_protocol::plan::Backend;
use veil_protocol::prg::Prg;
use veil_protocol::session::client::{self, Options};
use veil_protocol::session::mem::{MemNet, DEALER, SERVER};
use veil_protocol::session::server::{Dealing, HostedModel, Hosting};
use veil_protocol::session::{PhaseCost, QueryReport};
use veil_tests::{mlp, mnist, secure_output, Harness};

/// A report's bytes and rounds, without its times and the transport's own wire count.
fn counted(r: &QueryReport) -> QueryReport {
    let strip = |c: PhaseCost| PhaseCost { ms: 0.0, ..c };
    let mut r = r.clone();
    r.setup = strip(r.setup);
    r.offline = strip(r.offline);
    r.online = strip(r.online);
    for layer in &mut r.layers {
        layer.offline = strip(layer.offline);
        layer.online = strip(layer.online);
    }
    r.wire_bytes = None;
    r
}

/// Two queries of the MLP in memory.
fn in_memory(backend: Backend, source: Preprocessing) -> Vec<QueryReport> {
    let model = mlp();
    let net = MemNet::new(Hosting {
        models: vec![HostedModel {
            name: model.plan.model.clone(),
            plan: model.plan.clone(),
            weights: model.weights.clone(),
            card: None,
        }],
        dealing: match source {
            Preprocessing::Dealer => Dealing::Dealer(DEALER.to_string()),
            Preprocessing::TwoParty(linear, ot) => Dealing::TwoParty(linear, ot),
        },
        precomputed: None,
        label_only: false,
        allow: None,
    });
    let mut rng = Prg::from_os();
    let mut dial = net.dialer("client", "client-key", rng.split());
    let opts = Options {
        server: SERVER.into(),
        model: None,
        backend,
        dealer: None,
        label_only: false,
    };
    let (mut open, _) = client::open(&mut dial, &opts, &mut rng).expect("open");
    let mut reports = Vec::new();
    for image in &mnist().images[..2] {
        let input = veil_model::encode_input(open.plan(), image).unwrap();
        let (next, answer) = open.query(&input, &mut rng).expect("a query");
        reports.push(answer.report);
        open = next;
    }
    open.close();
    net.finish();
    reports
}

/// Two queries of the MLP over QUIC.
fn over_quic(backend: Backend, source: Preprocessing) -> Vec<QueryReport> {
    let builder = Harness::builder().model(None, &veil_tests::model_path("mnist-mlp.onnx"));
    let h = match source {
        Preprocessing::Dealer => builder,
        Preprocessing::TwoParty(linear, ot) => builder.no_dealer_with_ot(linear, ot),
    }
    .start();
    let opts = Options {
        backend,
        ..h.options()
    };
    let mut session = h.open_with(&opts).expect("open");
    let reports = mnist().images[..2]
        .iter()
        .map(|image| secure_output(&mut session, image).1)
        .collect();
    session.close();
    h.shutdown();
    reports
}

#[test]
fn a_session_in_memory_counts_what_it_counts_over_quic() {
    for (backend, source) in [
        (Backend::Gmw, Preprocessing::Dealer),
        (
            Backend::Gc,
            Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
        ),
        (
            Backend::Gmw,
            Preprocessing::TwoParty(LinearPrep::He, OtKind::Silent),
        ),
    ] {
        let memory = in_memory(backend, source);
        let quic = over_quic(backend, source);
        for (q, (m, n)) in memory.iter().zip(&quic).enumerate() {
            assert!(m.online.bytes > 0);
            assert_eq!(
                counted(m),
                counted(n),
                "{backend:?}, {source:?}, query {q}: in memory vs over QUIC"
            );
        }
    }
}
