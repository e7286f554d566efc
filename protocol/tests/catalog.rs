//! What a server tells of its models, in memory: `List` answered by the catalog (each
//! model's shape, outputs, backends, material source and card), and the card sent just
//! before the welcome to every session's hello, with the session running on as before.

mod common;

use veil_protocol::engine::LinearPrep;
use veil_protocol::material::{OtKind, Preprocessing};
use veil_protocol::plan::card::{Card, Channels, ImagePrep, Layout};
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::session::client::{self, Options};
use veil_protocol::session::mem::{MemNet, DEALER, SERVER};
use veil_protocol::session::server::{Dealing, HostedModel, Hosting};
use veil_protocol::session::MemStore;
use veil_protocol::wire::ModelInfo;

use common::{mlp, plain, FIXED};

/// A 4-input, 2-output model's card: a 2×2 grey image, two class names.
fn card() -> Card {
    Card {
        image: Some(ImagePrep {
            height: 2,
            width: 2,
            channels: Channels::Gray,
            scale: 255.0,
            mean: vec![0.0],
            std: vec![1.0],
            layout: Layout::Chw,
        }),
        classes: Some(vec!["left".into(), "right".into()]),
    }
}

/// A net hosting `carded` (with [`card`]) and `bare` (without), dealing as said.
fn net(dealing: Dealing, label_only: bool) -> (MemNet, Plan) {
    let (plan, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    card().fits(&plan).expect("the card fits the model");
    let model = |name: &str, card| HostedModel {
        name: name.into(),
        plan: Plan {
            model: name.into(),
            ..plan.clone()
        },
        weights: weights.clone(),
        card,
    };
    let hosting: Hosting<MemStore> = Hosting {
        models: vec![model("carded", Some(card())), model("bare", None)],
        dealing,
        precomputed: None,
        label_only,
        allow: None,
    };
    (MemNet::new(hosting), plan)
}

fn listed(net: &MemNet) -> Vec<ModelInfo> {
    let mut dial = net.dialer("client", "client-key", Prg::new(Seed([1; 16])));
    let models = client::list(&mut dial, SERVER).expect("the catalog");
    let outcomes = net.finish();
    assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    models
}

#[test]
fn a_list_is_answered_with_every_model_and_its_card() {
    let (net, plan) = net(Dealing::TwoParty(LinearPrep::Ot, OtKind::Iknp), false);
    let models = listed(&net);
    let expect = |name: &str, card| ModelInfo {
        name: name.into(),
        input_shape: plan.input_shape.clone(),
        outputs: 2,
        label_only: false,
        backends: vec![Backend::Gmw, Backend::Gc],
        source: Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
        card,
    };
    assert_eq!(
        models,
        vec![expect("carded", Some(card())), expect("bare", None)]
    );
    // Nothing but the list and the catalog went over the link: no dealer was dialled.
    let transcript = net.transcript();
    assert_eq!(transcript.len(), 2, "{:?}", transcript.keys());
}

#[test]
fn the_catalog_says_a_dealer_and_label_only() {
    let (net, _) = net(Dealing::Dealer(DEALER.into()), true);
    for m in listed(&net) {
        assert_eq!((m.source, m.label_only), (Preprocessing::Dealer, true));
    }
}

#[test]
fn every_session_learns_its_models_card_and_queries_as_before() {
    for dealing in [
        Dealing::Dealer(DEALER.into()),
        Dealing::TwoParty(LinearPrep::He, OtKind::Silent),
    ] {
        let (net, plan) = net(dealing.clone(), false);
        for (name, card) in [("carded", Some(card())), ("bare", None)] {
            let opts = Options {
                server: SERVER.into(),
                model: Some(name.into()),
                backend: Backend::Gc,
                dealer: None,
                label_only: false,
            };
            let mut top = Prg::new(Seed([7; 16]));
            let mut dial = net.dialer("client", "client-key", top.split());
            let (open, _) = client::open(&mut dial, &opts, &mut top).expect("open");
            assert_eq!(open.card(), card.as_ref(), "{name} under {dealing:?}");
            let input: Vec<u64> = [0.0, 0.25, 0.5, 1.0]
                .iter()
                .map(|&v| plan.fixed.encode(v))
                .collect();
            let (open, answer) = open.query(&input, &mut top).expect("a query");
            let (_, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
            assert_eq!(answer.output, plain(&plan, &weights, &input));
            open.close();
        }
        let outcomes = net.finish();
        assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    }
}
