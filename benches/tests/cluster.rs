//! The in-process dealer and server: a client session runs, then everything shuts down.

use std::sync::atomic::AtomicBool;

use indicatif::ProgressBar;
use veil_bench::client::run_session;
use veil_bench::cluster::Cluster;
use veil_bench::paths::{repo_models_dir, resolve_model};
use veil_protocol::material::Preprocessing;
use veil_server::HostedModel;

#[test]
fn a_session_ends_and_the_dealer_forgets_it() {
    let path = resolve_model(None, &repo_models_dir()).expect("the shipped model");
    let model = veil_model::load(&path).expect("loads");
    let input = vec![0; model.plan.input_len()];
    let want = veil_model::reference(&model.plan, &model.weights, &input);
    let cluster = Cluster::start(
        vec![HostedModel {
            name: "m".into(),
            plan: model.plan,
            weights: model.weights,
            card: None,
        }],
        None,
        Preprocessing::Dealer,
    )
    .expect("starts");
    let dealer = cluster.dealer().expect("a dealer runs");
    assert_ne!(dealer.addr, cluster.server().addr);
    assert!(dealer.addr.ip().is_loopback());
    let stop = AtomicBool::new(false);
    let run = run_session(
        &cluster,
        Some("m".into()),
        veil_protocol::session::client::AnswerKind {
            backend: veil_protocol::plan::Backend::Gmw,
            label_only: false,
        },
        &[input.clone(), input],
        &stop,
        &ProgressBar::hidden(),
    )
    .expect("two queries");
    assert_eq!(run.outputs, vec![want.clone(), want]);
    assert_eq!(run.reports.len(), 2);
    assert!(run.reports[0].setup.bytes > 0);
    assert_eq!(
        run.reports[1].setup.bytes, 0,
        "setup is paid once per session"
    );
    assert!(cluster.shutdown(), "the server closed its dealer session");
}
