//! Whole sessions in memory: client, server and dealer over in-memory pipes
//! (`session::mem`), every wire message included. A session replays from its seeds frame
//! for frame; every flow (queries with and without a dealer, both backends, queries made
//! ahead of time and spent later) is bit-exact with the plain definition and costs what
//! the formulas say; the precompute rules hold with the store in memory.

mod common;

use veil_protocol::engine::cost;
use veil_protocol::engine::LinearPrep;
use veil_protocol::material::OtKind;
use veil_protocol::plan::{Backend, Plan, Weights};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::ring::Ring;
use veil_protocol::session::client::{self, AnswerKind, Kept, Options, Spent};
use veil_protocol::session::mem::{MemDialer, MemNet, Transcript, DEALER, SERVER};
use veil_protocol::session::server::{Dealing, HostedModel, Hosting, Precomputed};
use veil_protocol::session::{KeptBatch, MemStore, QueryReport, SessionError, Usage};
use veil_protocol::wire::BatchId;

use common::{mlp, plain, unit, TestSeed, FIXED, SIZES};

/// The client's key on every net of these tests.
const CLIENT_KEY: &str = "client-key";

/// The server's dealer on every net of these tests.
fn dealer() -> Dealing {
    Dealing::Dealer(DEALER.into())
}

/// No dealer, the linear layers by RLWE (the default) or by OT, with silent OT (the
/// default); or the linear layers by OT with IKNP's.
const HE: Dealing = Dealing::TwoParty(LinearPrep::He, OtKind::Silent);
const OT: Dealing = Dealing::TwoParty(LinearPrep::Ot, OtKind::Silent);
const OT_IKNP: Dealing = Dealing::TwoParty(LinearPrep::Ot, OtKind::Iknp);

/// A net hosting `plan` as `model`, dealing as `dealing` says, keeping at most `kept`
/// queries per client (0: none).
fn net(plan: &Plan, weights: &Weights, dealing: Dealing, kept: usize) -> MemNet {
    MemNet::new(hosting(plan, weights, dealing, kept))
}

/// What [`net`] hosts.
fn hosting(plan: &Plan, weights: &Weights, dealing: Dealing, kept: usize) -> Hosting<MemStore> {
    Hosting {
        models: vec![HostedModel {
            name: plan.model.clone(),
            plan: plan.clone(),
            weights: weights.clone(),
            card: None,
        }],
        dealing,
        precomputed: (kept > 0).then(|| Precomputed {
            store: MemStore::new(),
            max_per_client: kept,
        }),
        label_only: false,
        allow: None,
    }
}

fn options(backend: Backend) -> Options {
    Options {
        server: SERVER.into(),
        model: None,
        backend,
        dealer: None,
        label_only: false,
    }
}

/// `n` encoded inputs of uniform values in [0, 1].
fn inputs(plan: &Plan, n: usize, rng: &mut Prg) -> Vec<Vec<Ring>> {
    (0..n)
        .map(|_| {
            (0..plan.input_len())
                .map(|_| plan.fixed.encode(unit(rng)))
                .collect()
        })
        .collect()
}

/// One session of `inputs` on `net` from the seed `seed`: the outputs and reports.
fn session(
    net: &MemNet,
    backend: Backend,
    seed: Seed,
    inputs: &[Vec<Ring>],
) -> Vec<(Vec<Ring>, QueryReport)> {
    session_as(net, &options(backend), seed, inputs)
}

/// One session of `inputs` on `net` asked for as `opts` says.
fn session_as(
    net: &MemNet,
    opts: &Options,
    seed: Seed,
    inputs: &[Vec<Ring>],
) -> Vec<(Vec<Ring>, QueryReport)> {
    let mut top = Prg::new(seed);
    let mut dial = net.dialer("client", CLIENT_KEY, top.split());
    let (mut open, _) = client::open(&mut dial, opts, &mut top).expect("open");
    let mut answers = Vec::new();
    for input in inputs {
        let (next, answer) = open.query(input, &mut top).expect("a query");
        answers.push((answer.output, answer.report));
        open = next;
    }
    open.close();
    answers
}

/// Runs one session from `seed` on a fresh net, dealing as said: its transcript and
/// outputs.
fn replay(
    plan: &Plan,
    weights: &Weights,
    (backend, dealing): &(Backend, Dealing),
    seed: Seed,
) -> (Transcript, Vec<Vec<Ring>>) {
    let net = net(plan, weights, dealing.clone(), 0);
    let inputs = inputs(plan, 2, &mut Prg::new(Seed([3; 16])));
    let outputs = session(&net, *backend, seed, &inputs)
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    let outcomes = net.finish();
    assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    (net.transcript(), outputs)
}

#[test]
fn a_whole_session_replays_from_one_seed_frame_for_frame() {
    let seed = TestSeed::new();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut seed.prg());
    let modes = [
        (Backend::Gmw, dealer()),
        (Backend::Gc, dealer()),
        (Backend::Gmw, HE),
        (Backend::Gc, HE),
        (Backend::Gmw, OT),
        (Backend::Gmw, OT_IKNP),
    ];
    for mode in &modes {
        let mut plan = plan.clone();
        plan.backend = mode.0;
        let (a, outputs) = replay(&plan, &weights, mode, Seed([1; 16]));
        let (b, again) = replay(&plan, &weights, mode, Seed([1; 16]));
        assert_eq!(outputs, again);
        assert_eq!(
            outputs,
            inputs_plain(&plan, &weights),
            "{mode:?}: bit-exact"
        );
        let links: Vec<&str> = a.keys().map(String::as_str).collect();
        let with_dealer = [
            "client/0←server",
            "client/0→server",
            "client/0→server/0←dealer",
            "client/0→server/0→dealer",
            "client/1←dealer",
            "client/1→dealer",
        ];
        let wanted = if mode.1.dealer().is_some() {
            &with_dealer[..]
        } else {
            &with_dealer[..2]
        };
        assert_eq!(
            links, wanted,
            "{mode:?}: every link of the session, both ways"
        );
        for (link, frames) in &a {
            assert_eq!(Some(frames), b.get(link), "{mode:?}: link {link} replays");
        }
        assert_eq!(a, b, "{mode:?}: the same transcript twice");
        let (c, _) = replay(&plan, &weights, mode, Seed([2; 16]));
        assert_ne!(a, c, "{mode:?}: another seed, another transcript");
    }
}

/// The plain outputs of the inputs [`replay`] queries.
fn inputs_plain(plan: &Plan, weights: &Weights) -> Vec<Vec<Ring>> {
    let inputs = inputs(plan, 2, &mut Prg::new(Seed([3; 16])));
    inputs.iter().map(|x| plain(plan, weights, x)).collect()
}

/// Checks one session's answers: bit-exact with the plain definition, online costs by
/// the formula per layer, setup with the first query only.
fn check_answers(
    plan: &Plan,
    weights: &Weights,
    inputs: &[Vec<Ring>],
    answers: &[(Vec<Ring>, QueryReport)],
    what: &str,
) {
    let online = cost::online(plan);
    for (q, ((output, report), input)) in answers.iter().zip(inputs).enumerate() {
        assert_eq!(*output, plain(plan, weights, input), "{what}, query {q}");
        for (i, (layer, want)) in report.layers.iter().zip(&online).enumerate() {
            assert_eq!(
                (layer.online.bytes, layer.online.rounds),
                (want.bytes, want.rounds),
                "{what}, query {q}, layer {i}: online bytes and rounds"
            );
        }
        assert_eq!(report.setup.bytes > 0, q == 0, "{what}, query {q}: setup");
        assert!(report.offline.bytes > 0, "{what}, query {q}: offline");
    }
}

#[test]
fn every_flow_runs_in_memory_bit_exact_at_the_formulas_cost() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        for dealing in [dealer(), HE, OT, OT_IKNP] {
            let mut plan = plan.clone();
            plan.backend = backend;
            let with_dealer = dealing.dealer().is_some();
            let what = format!("{backend:?}, {dealing:?}");
            let net = net(&plan, &weights, dealing, 0);
            let inputs = inputs(&plan, 3, &mut rng);
            let answers = session(&net, backend, Seed::from_rng(&mut rng), &inputs);
            check_answers(&plan, &weights, &inputs, &answers, &what);
            if with_dealer && backend == Backend::Gmw {
                let first = &answers[0].1;
                // E = W − U, and the dealer's 16-byte seed of U (GC adds its own setup).
                assert_eq!(first.setup.bytes, cost::setup(&plan).bytes + 16, "{what}");
            }
            let outcomes = net.finish();
            assert!(outcomes.values().all(Result::is_ok), "{what}: {outcomes:?}");
            assert!(
                net.sessions().is_empty(),
                "{what}: the dealer forgot the session"
            );
        }
    }
}

/// A client of `net` with its own store of kept queries, asking for the label alone or
/// not.
struct Client {
    kept: Kept<MemStore>,
    rng: Prg,
    label_only: bool,
}

impl Client {
    fn new(seed: Seed) -> Client {
        Client {
            kept: Kept::new(MemStore::new()),
            rng: Prg::new(seed),
            label_only: false,
        }
    }

    fn options(&self, backend: Backend) -> Options {
        Options {
            label_only: self.label_only,
            ..options(backend)
        }
    }

    fn dialer(&mut self, net: &MemNet) -> MemDialer {
        net.dialer("client", CLIENT_KEY, self.rng.split())
    }

    /// Makes `count` queries ahead of time in one session; the session's result.
    fn stash(&mut self, net: &MemNet, backend: Backend, count: u32) -> Result<(), SessionError> {
        let mut dial = self.dialer(net);
        let (open, _) = client::open(&mut dial, &self.options(backend), &mut self.rng)?;
        let batch = self
            .kept
            .create(SERVER, &open, BatchId::from_rng(&mut self.rng))?;
        let mut made = 0;
        let open = open.stash(&batch, (0, count), &mut self.rng, &mut |_, _| made += 1)?;
        open.close();
        assert_eq!(made, count);
        Ok(())
    }

    /// Spends the next kept query on `input`.
    fn spend(&mut self, net: &MemNet, backend: Backend, input: &[Ring]) -> Spent {
        let found = self.kept.find(SERVER, None, self.options(backend).answer());
        let found = found.unwrap().expect("a kept batch");
        let mut dial = self.dialer(net);
        let opts = self.options(backend);
        client::spend(&mut dial, &opts, &found, input).expect("a spend")
    }
}

#[test]
fn kept_queries_are_spent_once_and_bit_exact() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    for (backend, dealing) in [
        (Backend::Gmw, dealer()),
        (Backend::Gc, HE),
        (Backend::Gmw, HE),
    ] {
        let mut plan = plan.clone();
        plan.backend = backend;
        let net = net(&plan, &weights, dealing.clone(), 10);
        let mut client = Client::new(Seed::from_rng(&mut rng));
        client
            .stash(&net, backend, 3)
            .expect("three queries made ahead");
        let server_store = net.store().expect("a store");
        let kept_at_server = |store: &MemStore| -> usize {
            use veil_protocol::session::KeptStore;
            let batches = store.batches(CLIENT_KEY).unwrap();
            batches.iter().map(|b| b.pieces().unwrap().len()).sum()
        };
        assert_eq!(kept_at_server(server_store), 3);
        let online = cost::online(&plan);
        for (n, input) in inputs(&plan, 3, &mut rng).iter().enumerate() {
            let what = format!("{backend:?}, {dealing:?}, kept query {n}");
            match client.spend(&net, backend, input) {
                Spent::Answered(output, report) => {
                    assert_eq!(output, plain(&plan, &weights, input), "{what}");
                    assert_eq!(report.setup.bytes, 0, "{what}: no setup");
                    let want: u64 = online.iter().map(|c| c.bytes).sum();
                    assert_eq!(report.online.bytes, want, "{what}");
                    assert!(report.offline.bytes > 0, "{what}: the cost made then");
                }
                Spent::Unusable(why) => panic!("{what}: {why}"),
            }
            assert_eq!(
                kept_at_server(server_store),
                2 - n,
                "{what}: gone at the server"
            );
        }
        assert!(
            client
                .kept
                .find(
                    SERVER,
                    None,
                    AnswerKind {
                        backend,
                        label_only: false,
                    }
                )
                .unwrap()
                .is_none(),
            "every piece is gone at the client too"
        );
        let outcomes = net.finish();
        assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    }
}

#[test]
fn label_only_answers_open_the_plain_label_alone_at_the_formulas_cost() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    for backend in [Backend::Gmw, Backend::Gc] {
        for dealing in [dealer(), HE] {
            // Asked for by the client, or imposed by the server on a client that did not.
            for by_server in [false, true] {
                let mut plan = plan.clone();
                plan.backend = backend;
                let what = format!("{backend:?}, {dealing:?}, by the server: {by_server}");
                let mut hosting = hosting(&plan, &weights, dealing.clone(), 0);
                hosting.label_only = by_server;
                let net = MemNet::new(hosting);
                let opts = Options {
                    label_only: !by_server,
                    ..options(backend)
                };
                let inputs = inputs(&plan, 3, &mut rng);
                let answers = session_as(&net, &opts, Seed::from_rng(&mut rng), &inputs);
                let labelled = plan.clone().with_label_only().unwrap();
                check_answers(&labelled, &weights, &inputs, &answers, &what);
                for ((output, _), input) in answers.iter().zip(&inputs) {
                    let logits = plain(&plan, &weights, input);
                    let first_max = (0..logits.len()).fold(0, |b, i| {
                        if (logits[i] as i64) > (logits[b] as i64) {
                            i
                        } else {
                            b
                        }
                    });
                    assert_eq!(*output, vec![first_max as Ring], "{what}");
                }
                let outcomes = net.finish();
                assert!(outcomes.values().all(Result::is_ok), "{what}: {outcomes:?}");
            }
        }
    }
}

/// Shifting every logit by the same amount moves no label: under label-only answers the
/// client's whole view (every frame it receives, from the server and the dealer) stays
/// the same frame for frame, so nothing in it follows the logits; a plain answer (the
/// server's share of the logits) shows the shift. GMW, with and without a dealer.
#[test]
fn a_label_only_client_sees_nothing_that_moves_with_the_logits() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let mut shifted = weights.clone();
    let last = shifted.linear.last_mut().expect("a final layer");
    last.bias
        .iter_mut()
        .for_each(|b| *b = b.wrapping_add(0x2d_5a5a << 12));
    let inputs = inputs(&plan, 2, &mut rng);
    let session_seed = Seed::from_rng(&mut rng);
    for dealing in [dealer(), HE] {
        let view = |weights: &Weights, label_only: bool| {
            let net = net(&plan, weights, dealing.clone(), 0);
            let opts = Options {
                label_only,
                ..options(Backend::Gmw)
            };
            let answers = session_as(&net, &opts, session_seed, &inputs);
            let received: Transcript = net
                .transcript()
                .into_iter()
                .filter(|(link, _)| link.starts_with("client/") && link.contains('←'))
                .collect();
            assert!(!received.is_empty());
            (
                answers.into_iter().map(|(o, _)| o).collect::<Vec<_>>(),
                received,
            )
        };
        let (labels, seen) = view(&weights, true);
        let (labels_shifted, seen_shifted) = view(&shifted, true);
        assert_eq!(
            labels, labels_shifted,
            "{dealing:?}: the labels did not move"
        );
        assert!(
            seen == seen_shifted,
            "{dealing:?}: the label-only view moved"
        );
        let (_, plain_seen) = view(&weights, false);
        let (_, plain_seen_shifted) = view(&shifted, false);
        assert!(
            plain_seen != plain_seen_shifted,
            "{dealing:?}: the test can tell: logits move a plain answer's view"
        );
    }
}

#[test]
fn label_only_queries_made_ahead_are_kept_apart_and_spent_as_labels() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    for (backend, dealing) in [(Backend::Gmw, dealer()), (Backend::Gc, HE)] {
        let mut plan = plan.clone();
        plan.backend = backend;
        let net = net(&plan, &weights, dealing, 10);
        let mut client = Client::new(Seed::from_rng(&mut rng));
        client.label_only = true;
        client.stash(&net, backend, 2).expect("made ahead");
        assert!(
            client
                .kept
                .find(
                    SERVER,
                    None,
                    AnswerKind {
                        backend,
                        label_only: false,
                    }
                )
                .unwrap()
                .is_none(),
            "a query for logits never spends a label-only piece"
        );
        let labelled = plan.clone().with_label_only().unwrap();
        for input in inputs(&plan, 2, &mut rng) {
            match client.spend(&net, backend, &input) {
                Spent::Answered(output, _) => {
                    assert_eq!(output, plain(&labelled, &weights, &input), "{backend:?}");
                    assert_eq!(output.len(), 1);
                }
                Spent::Unusable(why) => panic!("{backend:?}: {why}"),
            }
        }
        let outcomes = net.finish();
        assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    }
}

#[test]
fn the_server_keeps_no_more_than_its_allowance_per_client() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let net = net(&plan, &weights, dealer(), 4);
    let mut client = Client::new(Seed::from_rng(&mut rng));
    client
        .stash(&net, Backend::Gmw, 3)
        .expect("within the allowance");
    let err = client
        .stash(&net, Backend::Gmw, 2)
        .expect_err("over the allowance");
    assert!(
        matches!(
            &err,
            SessionError::Peer(veil_protocol::session::PeerError::Refused { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("at most 4"), "{err}");
    assert!(err.to_string().contains("holds 3"), "{err}");
    // A server that keeps nothing refuses at once.
    let none = self::net(&plan, &weights, dealer(), 0);
    let err = Client::new(Seed::from_rng(&mut rng))
        .stash(&none, Backend::Gmw, 1)
        .expect_err("no store");
    assert!(
        err.to_string().contains("does not keep precomputed"),
        "{err}"
    );
    net.finish();
    none.finish();
}

#[test]
fn a_piece_taken_at_the_server_is_refused_when_asked_again() {
    let seed = TestSeed::new();
    let mut rng = seed.prg();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut rng);
    let net = net(&plan, &weights, dealer(), 10);
    let mut client = Client::new(Seed::from_rng(&mut rng));
    client
        .stash(&net, Backend::Gmw, 1)
        .expect("one query made ahead");
    // Another client (another key) cannot spend it: the server keeps pieces by key.
    let found = client
        .kept
        .find(
            SERVER,
            None,
            AnswerKind {
                backend: Backend::Gmw,
                label_only: false,
            },
        )
        .unwrap()
        .unwrap();
    let input = &inputs(&plan, 1, &mut rng)[0];
    let mut stranger = net.dialer("stranger", "stranger-key", Prg::new(Seed([9; 16])));
    match client::spend(&mut stranger, &options(Backend::Gmw), &found, input).unwrap() {
        Spent::Unusable(why) => assert!(why.contains("already spent"), "{why}"),
        Spent::Answered(..) => panic!("a stranger spent another client's piece"),
    }
    // The client's own piece went with that attempt (taken before use): nothing is left.
    assert!(client
        .kept
        .find(
            SERVER,
            None,
            AnswerKind {
                backend: Backend::Gmw,
                label_only: false,
            }
        )
        .unwrap()
        .is_none());
    net.finish();
}

#[test]
fn a_dealer_free_server_refuses_a_dealer_the_client_names() {
    let seed = TestSeed::new();
    let (plan, weights) = mlp(&SIZES, FIXED, &mut seed.prg());
    let net = net(&plan, &weights, HE, 0);
    let mut dial = net.dialer("client", CLIENT_KEY, seed.prg());
    let opts = Options {
        dealer: Some(DEALER.into()),
        ..options(Backend::Gmw)
    };
    let err = client::open(&mut dial, &opts, &mut seed.prg())
        .err()
        .expect("refused");
    assert!(
        matches!(err, SessionError::Usage(Usage::DealerUnused { .. })),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 2);
    drop(dial);
    net.finish();
}

#[test]
fn a_server_without_a_dealer_refuses_at_load_a_model_beyond_the_homomorphic_bounds() {
    let seed = TestSeed::new();
    let hosting = |plan: &Plan, weights: &Weights, dealing: Dealing| Hosting::<MemStore> {
        models: vec![HostedModel {
            name: "m".into(),
            plan: plan.clone(),
            weights: weights.clone(),
            card: None,
        }],
        dealing,
        precomputed: None,
        label_only: false,
        allow: None,
    };
    let (plan, mut weights) = mlp(&SIZES, FIXED, &mut seed.prg());
    for dealing in [dealer(), HE, OT] {
        assert!(hosting(&plan, &weights, dealing).check().is_ok());
    }
    // One weight of 2^40: beyond what the flooding covers, whatever its sign.
    weights.linear[1].w[3] = (1u64 << 40).wrapping_neg();
    let refused = hosting(&plan, &weights, HE).check().expect_err("refused");
    assert_eq!(refused.exit_code(), 2, "a usage error: {refused}");
    let message = refused.to_string();
    for needle in ["m ", "fc1", "2^40.0", "--linear ot"] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    for dealing in [dealer(), OT] {
        let what = format!("{dealing:?}");
        assert!(hosting(&plan, &weights, dealing).check().is_ok(), "{what}");
    }
    // More outputs per query than 2^20: a dense layer of 2^20 + 1 outputs.
    let (wide, wide_weights) = mlp(&[1, (1 << 20) + 1], FIXED, &mut seed.prg());
    let refused = hosting(&wide, &wide_weights, HE)
        .check()
        .expect_err("refused");
    assert!(refused.to_string().contains("1048577 outputs"), "{refused}");
}
