//! Who may connect, in memory: a server with an allow list refuses a key not listed
//! ("not allowed", and nothing else of what it hosts), refuses a listed key a model it may
//! not query, lists and picks only the models a key may query, and answers a listed key
//! bit for bit as a server without a list.

mod common;

use std::sync::Arc;

use veil_protocol::channel::{Channel, MemTransport};
use veil_protocol::engine::LinearPrep;
use veil_protocol::material::OtKind;
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::session::access::{Access, AllowList};
use veil_protocol::session::client::{self, Kept, Options, Spent};
use veil_protocol::session::dealer::{self, Sessions};
use veil_protocol::session::mem::{MemNet, SERVER};
use veil_protocol::session::server::{Dealing, HostedModel, Hosting, Precomputed};
use veil_protocol::session::{MemStore, SessionError};
use veil_protocol::wire::{BatchId, FromDealer, ToDealer};

use common::{mlp, plain, FIXED};

/// The key every model may be queried with.
const ALL: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The key that may query `alpha` alone.
const ALPHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// A key not listed.
const STRANGER: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// A net hosting `alpha` and `beta` (the same small model), with the allow list `allow`.
fn net(allow: Option<&str>) -> (MemNet, Plan) {
    let (plan, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    let model = |name: &str| HostedModel {
        name: name.into(),
        plan: Plan {
            model: name.into(),
            ..plan.clone()
        },
        weights: weights.clone(),
        card: None,
    };
    let allow = allow.map(|text| Arc::new(AllowList::new(Access::parse(text).unwrap())));
    let hosting: Hosting<MemStore> = Hosting {
        models: vec![model("alpha"), model("beta")],
        dealing: Dealing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
        precomputed: None,
        label_only: false,
        allow,
    };
    (MemNet::new(hosting), plan)
}

fn list() -> String {
    format!("# the team\n{ALL}\n{ALPHA} alpha # alpha only\n")
}

fn options(model: Option<&str>) -> Options {
    Options {
        server: SERVER.into(),
        model: model.map(str::to_string),
        backend: Backend::Gmw,
        dealer: None,
        label_only: false,
    }
}

/// Opens a session as `key`, queries once, returns the output.
fn query(
    net: &MemNet,
    plan: &Plan,
    key: &str,
    model: Option<&str>,
) -> Result<Vec<u64>, SessionError> {
    let mut top = Prg::new(Seed([7; 16]));
    let mut dial = net.dialer("client", key, top.split());
    let (open, _) = client::open(&mut dial, &options(model), &mut top)?;
    let input: Vec<u64> = [0.0, 0.25, 0.5, 1.0]
        .iter()
        .map(|&v| plan.fixed.encode(v))
        .collect();
    let (open, answer) = open.query(&input, &mut top)?;
    open.close();
    Ok(answer.output)
}

/// Asserts `err` is the bare refusal: "not allowed", exit code 1, no model named.
fn assert_not_allowed(err: &SessionError) {
    let text = err.to_string();
    assert!(text.contains("not allowed"), "{text}");
    assert_eq!(err.exit_code(), 1, "{text}");
    for secret in ["alpha", "beta", "hosts", "model"] {
        assert!(
            !text.contains(secret),
            "the refusal tells {secret:?}: {text}"
        );
    }
}

#[test]
fn a_key_not_listed_is_refused_and_told_nothing_else() {
    let (net, plan) = net(Some(&list()));
    for model in [None, Some("alpha"), Some("nothing")] {
        let err = query(&net, &plan, STRANGER, model).unwrap_err();
        assert_not_allowed(&err);
    }
    let mut dial = net.dialer("client", STRANGER, Prg::new(Seed([1; 16])));
    assert_not_allowed(&client::list(&mut dial, SERVER).unwrap_err());
    let outcomes = net.finish();
    assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
}

#[test]
fn a_key_listed_for_one_model_cannot_query_another() {
    let (net, plan) = net(Some(&list()));
    let err = query(&net, &plan, ALPHA, Some("beta")).unwrap_err();
    assert_not_allowed(&err);
    // Its only model is picked without naming it; an unknown name lists only that one.
    query(&net, &plan, ALPHA, None).expect("alpha, the key's only model");
    let err = query(&net, &plan, ALPHA, Some("gamma"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("alpha") && !err.contains("beta"), "{err}");
    // The key of every model must name one, and is told both.
    let err = query(&net, &plan, ALL, None).unwrap_err().to_string();
    assert!(err.contains("alpha, beta"), "{err}");
}

#[test]
fn a_listed_key_queries_bit_exactly_as_without_a_list() {
    let (open_net, plan) = net(None);
    let (_, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    let expect = query(&open_net, &plan, STRANGER, Some("beta")).unwrap();
    let (net, _) = net(Some(&list()));
    for (key, model) in [(ALL, "beta"), (ALL, "alpha"), (ALPHA, "alpha")] {
        let output = query(&net, &plan, key, Some(model)).unwrap();
        assert_eq!(output, expect, "{key} {model}");
    }
    let input: Vec<u64> = [0.0, 0.25, 0.5, 1.0]
        .iter()
        .map(|&v| plan.fixed.encode(v))
        .collect();
    assert_eq!(expect, plain(&plan, &weights, &input));
}

#[test]
fn the_catalog_shows_only_the_models_a_key_may_query() {
    let (net, _) = net(Some(&list()));
    let names = |key: &str| {
        let mut dial = net.dialer("client", key, Prg::new(Seed([1; 16])));
        let models = client::list(&mut dial, SERVER).expect("the catalog");
        models.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };
    assert_eq!(names(ALPHA), ["alpha"]);
    assert_eq!(names(ALL), ["alpha", "beta"]);
}

#[test]
fn a_reloaded_list_applies_to_the_next_connection() {
    let list = Arc::new(AllowList::new(Access::parse(ALL).unwrap()));
    let (plan, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    let net = MemNet::new(Hosting::<MemStore> {
        models: vec![HostedModel {
            name: plan.model.clone(),
            plan: plan.clone(),
            weights,
            card: None,
        }],
        dealing: Dealing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
        precomputed: None,
        label_only: false,
        allow: Some(list.clone()),
    });
    query(&net, &plan, ALL, None).expect("listed");
    list.replace(Access::parse(ALPHA).unwrap());
    assert_not_allowed(&query(&net, &plan, ALL, None).unwrap_err());
    list.replace(Access::parse(&format!("{ALPHA}\n{ALL}")).unwrap());
    query(&net, &plan, ALL, None).expect("listed again");
}

/// The dealer's answer to a party of key `key` that opens a session, under `allow`.
fn dealer_answers(allow: Option<&Access>, key: &str) -> (FromDealer, usize) {
    let sessions = Sessions::new();
    let (near, far) = MemTransport::pair();
    let mut party = Channel::new(far);
    let (plan, _) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    party.send(&ToDealer::Open { plan }.encode()).unwrap();
    std::thread::scope(|s| {
        let dealer = s.spawn(|| {
            let mut rng = Prg::new(Seed([9; 16]));
            dealer::serve_as(near, key, allow, &sessions, &mut rng)
        });
        let answer = FromDealer::decode(&party.recv().unwrap()).unwrap();
        if matches!(answer, FromDealer::Opened { .. }) {
            party.recv().expect("the session's seed");
        }
        drop(party);
        let dealt = dealer.join().unwrap().expect("served");
        (answer, usize::from(dealt.bound.is_some()))
    })
}

#[test]
fn the_dealer_refuses_a_key_not_listed() {
    let access = Access::parse(ALL).unwrap();
    let (answer, bound) = dealer_answers(Some(&access), STRANGER);
    let FromDealer::Refused { reason } = answer else {
        panic!("expected a refusal, got {answer:?}");
    };
    assert!(reason.contains("not allowed"), "{reason}");
    assert_eq!(bound, 0, "no session opened for a stranger");
    for (allow, key) in [(Some(&access), ALL), (None, STRANGER)] {
        let (answer, bound) = dealer_answers(allow, key);
        assert!(matches!(answer, FromDealer::Opened { .. }), "{answer:?}");
        assert_eq!(bound, 1);
    }
}

#[test]
fn a_kept_query_for_a_model_no_longer_allowed_is_refused_and_kept() {
    let (plan, weights) = mlp(&[4, 3, 2], FIXED, &mut Prg::new(Seed([5; 16])));
    let list = Arc::new(AllowList::new(Access::parse(ALL).unwrap()));
    let net = MemNet::new(Hosting {
        models: vec![HostedModel {
            name: "alpha".into(),
            plan: Plan {
                model: "alpha".into(),
                ..plan.clone()
            },
            weights: weights.clone(),
            card: None,
        }],
        dealing: Dealing::TwoParty(LinearPrep::Ot, OtKind::Iknp),
        precomputed: Some(Precomputed {
            store: MemStore::new(),
            max_per_client: 10,
        }),
        label_only: false,
        allow: Some(list.clone()),
    });
    let mut rng = Prg::new(Seed([3; 16]));
    let kept = Kept::new(MemStore::new());
    let mut dial = net.dialer("client", ALL, rng.split());
    let (open, _) = client::open(&mut dial, &options(None), &mut rng).unwrap();
    let batch = kept
        .create(SERVER, &open, BatchId::from_rng(&mut rng))
        .unwrap();
    open.stash(&batch, (0, 2), &mut rng, &mut |_, _| {})
        .unwrap()
        .close();
    let input: Vec<u64> = [0.0, 0.25, 0.5, 1.0]
        .iter()
        .map(|&v| plan.fixed.encode(v))
        .collect();
    let spend = |rng: &mut Prg| {
        let found = kept.find(SERVER, None, options(None).answer()).unwrap();
        let mut dial = net.dialer("client", ALL, rng.split());
        client::spend(&mut dial, &options(None), &found.expect("a piece"), &input).unwrap()
    };
    list.replace(Access::parse(&format!("{ALL} beta")).unwrap());
    match spend(&mut rng) {
        Spent::Unusable(why) => assert!(why.contains("not allowed"), "{why}"),
        Spent::Answered(..) => panic!("a model not allowed answered a kept query"),
    }
    list.replace(Access::parse(ALL).unwrap());
    match spend(&mut rng) {
        Spent::Answered(output, _) => assert_eq!(output, plain(&plan, &weights, &input)),
        Spent::Unusable(why) => panic!("the kept piece was lost: {why}"),
    }
}
