//! The client's states, each sent what does not belong there.

use super::*;
use veil_protocol::session::client::AnswerKind;

/// Says hello with `opts` to a fake server that answers with `reply`; checks the hello.
fn client_hello(
    opts: &Options,
    reply: &Frame,
) -> (
    Result<Welcomed<MemTransport>, SessionError>,
    Channel<MemTransport>,
) {
    let (near, far) = MemTransport::pair();
    let mut server = Channel::new(far);
    put(&mut server, reply);
    let welcomed = quick("hello", || {
        ExpectWelcome::new(dialed(near, SERVER_KEY)).hello(opts)
    });
    let hello = recv_to_server(&mut server);
    assert_eq!(
        hello,
        ToServer::Hello {
            model: opts.model.clone(),
            backend: opts.backend,
            label_only: opts.label_only,
            card: true,
        }
    );
    (welcomed, server)
}

#[test]
fn client_hello_answered_out_of_turn() {
    let (plan, _) = model();
    for reply in [
        ToClient::Ready,
        ToClient::WelcomeKept { plan: plan.clone() },
        stats(),
    ] {
        let (r, _server) = client_hello(&options(None), &payload(reply.encode()));
        let e = failed(r, &format!("hello answered with {reply:?}"));
        assert!(is_out_of_turn(&e, Party::Server), "{reply:?}: {e:?}");
    }
}

#[test]
fn client_hello_refused() {
    let opts = options(None);
    let (r, _server) = client_hello(&opts, &payload(refusal(true).encode()));
    let e = failed(r, "a refusal of a bad request");
    assert!(
        matches!(&e, SessionError::Usage(Usage::Refused(reason)) if reason == "no thanks"),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2, "{e}");

    let (r, _server) = client_hello(&opts, &payload(refusal(false).encode()));
    let e = failed(r, "a refusal");
    assert!(
        matches!(
            &e,
            SessionError::Peer(PeerError::Refused { who: Party::Server, reason }) if reason == "no thanks"
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1, "{e}");
}

#[test]
fn client_with_a_dealer_refuses_a_dealer_free_server() {
    let (plan, _) = model();
    let two_party = payload(
        ToClient::WelcomeTwoParty {
            plan: plan.clone(),
            linear: LinearPrep::He,
            ot: OtKind::default(),
        }
        .encode(),
    );
    let (r, _server) = client_hello(&options(Some("mine.test:1")), &two_party);
    let e = failed(r, "a dealer-free welcome with --dealer");
    assert!(
        matches!(
            &e,
            SessionError::Usage(Usage::DealerUnused { dealer, server })
                if dealer == "mine.test:1" && server == SERVER
        ),
        "{e:?}"
    );
    // Without a dealer of its own, the client takes the same welcome.
    let (r, _server) = client_hello(&options(None), &two_party);
    match r {
        Ok(Welcomed::TwoParty(setup)) => assert_eq!(setup.plan(), &plan),
        Ok(Welcomed::Dealer(_)) => panic!("a dealer-free welcome gave a dealer"),
        Err(e) => panic!("a dealer-free welcome without --dealer: {e:?}"),
    }
    // And a client with a dealer of its own takes a welcome with one.
    let (r, _server) = client_hello(
        &options(Some("mine.test:1")),
        &payload(welcome(&plan).encode()),
    );
    match r {
        Ok(Welcomed::Dealer(join)) => {
            assert_eq!(
                join.dealer_name(&options(Some("mine.test:1"))),
                "mine.test:1"
            )
        }
        Ok(Welcomed::TwoParty(_)) => panic!("a welcome with a dealer gave none"),
        Err(e) => panic!("a welcome with --dealer: {e:?}"),
    }
}

#[test]
fn client_hello_answered_with_junk() {
    for j in junk(&refusal(false).encode()) {
        let (r, _server) = client_hello(&options(None), &j.frame);
        let e = failed(r, j.name);
        assert!(is_junk_error(&j.frame, &e), "{}: {e:?}", j.name);
    }
    // A server that hangs up instead of answering.
    let (near, far) = MemTransport::pair();
    drop(far);
    let e = failed(
        quick("hang-up", || {
            ExpectWelcome::new(dialed(near, SERVER_KEY)).hello(&options(None))
        }),
        "a server that hung up",
    );
    assert!(
        matches!(
            e,
            SessionError::Peer(PeerError::Protocol(ProtocolError::Channel(
                ChannelError::Closed
            )))
        ),
        "{e:?}"
    );
}

/// What [`client::JoinDealer::join`] gives.
type Joined = Result<(client::ExpectSetup<MemTransport>, Option<String>), SessionError>;

/// Welcomed with a dealer session, joins the dealer over a fake dealer that answers
/// with `reply` (if any) and presents `key`. Returns the result and the dealer's end.
fn client_join(
    opts: &Options,
    key: &str,
    newly_pinned: bool,
    reply: Option<&Frame>,
) -> (Joined, Channel<MemTransport>) {
    let (plan, _) = model();
    let (r, _server) = client_hello(opts, &payload(welcome(&plan).encode()));
    let join = match r {
        Ok(Welcomed::Dealer(join)) => join,
        Ok(Welcomed::TwoParty(_)) => panic!("a welcome with a dealer gave none"),
        Err(e) => panic!("the welcome: {e:?}"),
    };
    assert_eq!(join.plan(), &plan);
    let (near, far) = MemTransport::pair();
    let mut dealer = Channel::new(far);
    if let Some(reply) = reply {
        put(&mut dealer, reply);
    }
    let dealer_key = Dialed {
        transport: near,
        key: key.into(),
        newly_pinned,
    };
    let joined = quick("join", || join.join(dealer_key, opts));
    (joined, dealer)
}

/// Checks that the fake dealer was asked to join the test session for the test plan.
fn assert_join_sent(dealer: &mut Channel<MemTransport>) {
    let (plan, _) = model();
    assert_eq!(
        recv_to_dealer(dealer),
        ToDealer::Join {
            session: SESSION,
            plan_hash: plan.hash()
        }
    );
}

#[test]
fn client_join_answered_out_of_turn() {
    for reply in [
        FromDealer::Opened { session: SESSION },
        FromDealer::Material(vec![0; 16]),
    ] {
        let frame = payload(reply.encode());
        let (r, mut dealer) = client_join(&options(None), DEALER_KEY, false, Some(&frame));
        let e = failed(r, &format!("join answered with {reply:?}"));
        assert!(is_out_of_turn(&e, Party::Dealer), "{reply:?}: {e:?}");
        assert_join_sent(&mut dealer);
    }
}

#[test]
fn client_join_refused() {
    let reply = payload(
        FromDealer::Refused {
            reason: "no such session".into(),
        }
        .encode(),
    );
    let (r, mut dealer) = client_join(&options(None), DEALER_KEY, false, Some(&reply));
    let e = failed(r, "a refused join");
    assert!(
        matches!(
            &e,
            SessionError::Peer(PeerError::Refused { who: Party::Dealer, reason })
                if reason == "no such session"
        ),
        "{e:?}"
    );
    assert_join_sent(&mut dealer);
}

#[test]
fn client_join_answered_with_junk() {
    for j in junk(&FromDealer::Opened { session: SESSION }.encode()) {
        let (r, mut dealer) = client_join(&options(None), DEALER_KEY, false, Some(&j.frame));
        let e = failed(r, j.name);
        assert!(is_junk_error(&j.frame, &e), "{}: {e:?}", j.name);
        assert_join_sent(&mut dealer);
    }
}

#[test]
fn client_refuses_a_dealer_other_than_the_announced_one() {
    let joined = payload(FromDealer::Joined.encode());
    let (r, mut dealer) = client_join(&options(None), "0bad", false, Some(&joined));
    let e = failed(r, "an impostor dealer");
    assert!(
        matches!(
            &e,
            SessionError::Peer(PeerError::DealerMismatch { addr, seen, announced })
                if addr == DEALER && seen == "0bad" && announced == DEALER_KEY
        ),
        "{e:?}"
    );
    // Nothing was said to the impostor: the next thing it sees is the hang-up.
    assert_closed(&mut dealer, "an impostor dealer");

    // The announced key is accepted, with a notice when pinned just now.
    let (r, mut dealer) = client_join(&options(None), DEALER_KEY, true, Some(&joined));
    match r {
        Ok((_, Some(notice))) => assert!(notice.contains(DEALER_KEY), "{notice}"),
        Ok((_, None)) => panic!("a dealer pinned just now gave no notice"),
        Err(e) => panic!("the announced dealer: {e:?}"),
    }
    assert_join_sent(&mut dealer);

    // A dealer the user chose is not checked against the server's announcement.
    let opts = options(Some("mine.test:1"));
    let (r, mut dealer) = client_join(&opts, "0bad", true, Some(&joined));
    match r {
        Ok((_, notice)) => assert_eq!(notice, None),
        Err(e) => panic!("the user's own dealer: {e:?}"),
    }
    assert_join_sent(&mut dealer);
}

/// Stashes one query; the fake server answers the stash with `reply`. Returns the error.
fn stash_answered(mode: Mode, reply: &Frame) -> SessionError {
    let what = format!("{mode:?}: stash answered with {reply:?}");
    quick(&what, || {
        let (stash, e) = with_client_open(
            mode,
            &[],
            |mut server| {
                let stash = server.recv();
                put(&mut server.ch, reply);
                stash
            },
            |open, rng| {
                let (_store, batch) = batch();
                let r = open.stash(&batch, (0, 1), rng, &mut |piece: u32, _: &QueryReport| {
                    panic!("piece {piece} was kept")
                });
                assert_eq!(batch.pieces().expect("the pieces"), Vec::<u32>::new());
                failed(r, &what)
            },
        );
        assert_eq!(
            stash,
            ToServer::Stash {
                batch: BATCH,
                first: 0,
                count: 1
            }
        );
        e
    })
}

#[test]
fn client_stash_answered_out_of_turn() {
    let (plan, _) = model();
    for mode in MODES {
        for reply in [
            welcome(&plan),
            ToClient::WelcomeTwoParty {
                plan: plan.clone(),
                linear: LinearPrep::He,
                ot: OtKind::default(),
            },
            ToClient::WelcomeKept { plan: plan.clone() },
            stats(),
        ] {
            let e = stash_answered(mode, &payload(reply.encode()));
            assert!(
                is_out_of_turn(&e, Party::Server),
                "{mode:?}, {reply:?}: {e:?}"
            );
        }
    }
}

#[test]
fn client_stash_refused() {
    let e = stash_answered(Mode::Dealer, &payload(refusal(true).encode()));
    assert!(
        matches!(&e, SessionError::Usage(Usage::Refused(reason)) if reason == "no thanks"),
        "{e:?}"
    );
    let e = stash_answered(Mode::Dealer, &payload(refusal(false).encode()));
    assert!(
        matches!(
            &e,
            SessionError::Peer(PeerError::Refused { who: Party::Server, reason }) if reason == "no thanks"
        ),
        "{e:?}"
    );
}

#[test]
fn client_stash_answered_with_junk() {
    for j in junk(&refusal(false).encode()) {
        let e = stash_answered(Mode::Dealer, &j.frame);
        assert!(is_junk_error(&j.frame, &e), "{}: {e:?}", j.name);
    }
}

/// After `Ready` and one query's offline phase, the server sends something other than its
/// meters: the client keeps nothing.
#[test]
fn client_stash_stats_out_of_turn() {
    let (plan, _) = model();
    for mode in MODES {
        for reply in [
            ToClient::Ready,
            welcome(&plan),
            ToClient::WelcomeTwoParty {
                plan: plan.clone(),
                linear: LinearPrep::He,
                ot: OtKind::default(),
            },
            ToClient::WelcomeKept { plan: plan.clone() },
        ] {
            let what = format!("{mode:?}: stats replaced by {reply:?}");
            let (server_material, client_material) = dealt(1);
            let material = server_material.into_iter().next();
            let e = quick(&what, || {
                with_client_open(
                    mode,
                    &client_material,
                    |mut server| {
                        assert!(matches!(server.recv(), ToServer::Stash { .. }));
                        server.send(&ToClient::Ready);
                        server.offline(material.filter(|_| mode == Mode::Dealer));
                        server.send(&reply);
                    },
                    |open, rng| {
                        let (_store, batch) = batch();
                        let r = open.stash(&batch, (0, 1), rng, &mut |p: u32, _: &QueryReport| {
                            panic!("piece {p} was kept")
                        });
                        assert_eq!(batch.pieces().expect("the pieces"), Vec::<u32>::new());
                        failed(r, &what)
                    },
                )
                .1
            });
            assert!(is_out_of_turn(&e, Party::Server), "{what}: {e:?}");
        }
    }
}

/// A query asks the dealer for its material; the dealer answers out of turn.
#[test]
fn client_fetch_answered_out_of_turn() {
    let (plan, _) = model();
    let refused = FromDealer::Refused {
        reason: "closed".into(),
    };
    let mut cases: Vec<(String, Frame)> = [
        FromDealer::Opened { session: SESSION },
        FromDealer::Joined,
        refused.clone(),
        FromDealer::Material(vec![7; 5]),
    ]
    .into_iter()
    .map(|m| (format!("{m:?}"), payload(m.encode())))
    .collect();
    cases.extend(
        junk(&FromDealer::Opened { session: SESSION }.encode())
            .into_iter()
            .map(|j| (j.name.to_string(), j.frame)),
    );
    for (name, frame) in cases {
        let what = format!("fetch answered with {name}");
        let (query, e) = quick(&what, || {
            with_client_open(
                Mode::Dealer,
                std::slice::from_ref(&frame),
                |mut server| server.recv(),
                |open, rng| {
                    let input = vec![FIXED.encode(0.5); plan.input_len()];
                    failed(open.query(&input, rng), &what)
                },
            )
        });
        assert_eq!(query, ToServer::Query, "{what}");
        let ok = match frame {
            Frame::Payload(ref p) if *p == FromDealer::Joined.encode() => {
                is_out_of_turn(&e, Party::Dealer)
            }
            Frame::Payload(ref p) if *p == FromDealer::Opened { session: SESSION }.encode() => {
                is_out_of_turn(&e, Party::Dealer)
            }
            Frame::Payload(ref p) if *p == refused.encode() => matches!(
                &e,
                SessionError::Peer(PeerError::Refused { who: Party::Dealer, reason }) if reason == "closed"
            ),
            // Material of the wrong length, and the junk.
            _ => is_junk_error(&frame, &e),
        };
        assert!(ok, "{what}: {e:?}");
    }
}

/// A query made ahead of time is spent on a connection of its own; the server answers the
/// `Spend` out of turn.
#[test]
fn client_spend_answered_out_of_turn() {
    let (plan, _) = model();
    let mut other_plan = plan.clone();
    other_plan.model = "another".into();

    /// What spending should give.
    enum Expect {
        OutOfTurn,
        Unusable,
        Junk,
    }
    let mut cases: Vec<(String, Frame, Expect)> = [
        ToClient::Ready,
        stats(),
        welcome(&plan),
        ToClient::WelcomeTwoParty {
            plan: plan.clone(),
            linear: LinearPrep::He,
            ot: OtKind::default(),
        },
    ]
    .into_iter()
    .map(|m| (format!("{m:?}"), payload(m.encode()), Expect::OutOfTurn))
    .collect();
    for m in [
        refusal(false),
        refusal(true),
        ToClient::WelcomeKept { plan: other_plan },
    ] {
        cases.push((format!("{m:?}"), payload(m.encode()), Expect::Unusable));
    }
    for j in junk(&refusal(false).encode()) {
        cases.push((j.name.to_string(), j.frame, Expect::Junk));
    }

    // Make one piece per case in a real session.
    let pieces = cases.len();
    let (server_material, client_material) = dealt(pieces);
    let store = MemStore::new();
    let kept = Kept::new(store.clone());
    let (_, made) = with_client_open(
        Mode::Dealer,
        &client_material,
        |mut server| {
            assert!(
                matches!(server.recv(), ToServer::Stash { count, .. } if count as usize == pieces)
            );
            server.send(&ToClient::Ready);
            for m in server_material {
                server.offline(Some(m));
                server.send_stats();
            }
            assert_eq!(server.recv(), ToServer::Done);
        },
        |open, rng| {
            let batch = kept.create(SERVER, &open, BATCH).expect("the batch");
            let mut made = 0;
            let open = open
                .stash(
                    &batch,
                    (0, pieces as u32),
                    rng,
                    &mut |_: u32, _: &QueryReport| made += 1,
                )
                .expect("the stash");
            open.close();
            made
        },
    );
    assert_eq!(made, pieces);
    let queries = kept
        .find(
            SERVER,
            None,
            AnswerKind {
                backend: Backend::Gmw,
                label_only: false,
            },
        )
        .expect("the store")
        .expect("the batch just made");
    assert_eq!(queries.plan(), &plan);

    let input = vec![FIXED.encode(0.25); plan.input_len()];
    for (name, frame, expect) in cases {
        let what = format!("spend answered with {name}");
        let (near, far) = MemTransport::pair();
        let mut server = Channel::new(far);
        put(&mut server, &frame);
        let mut dial = Handing::new(vec![dialed(near, SERVER_KEY)]);
        let spent = quick(&what, || {
            client::spend(&mut dial, &options(None), &queries, &input)
        });
        assert_eq!(dial.dialled, vec![SERVER.to_string()]);
        assert!(
            matches!(recv_to_server(&mut server), ToServer::Spend { batch, .. } if batch == BATCH),
            "{what}"
        );
        match (expect, spent) {
            (Expect::OutOfTurn, Err(e)) => {
                assert!(is_out_of_turn(&e, Party::Server), "{what}: {e:?}")
            }
            (Expect::Junk, Err(e)) => assert!(is_junk_error(&frame, &e), "{what}: {e:?}"),
            (Expect::Unusable, Ok(Spent::Unusable(reason))) => {
                assert!(!reason.is_empty(), "{what}")
            }
            (_, Ok(Spent::Answered(..))) => panic!("{what}: answered"),
            (_, Ok(Spent::Unusable(reason))) => panic!("{what}: unusable: {reason}"),
            (_, Err(e)) => panic!("{what}: {e:?}"),
        }
    }
    assert_eq!(
        kept.waiting(
            SERVER,
            &plan.model,
            AnswerKind {
                backend: Backend::Gmw,
                label_only: false,
            }
        )
        .expect("the store"),
        0,
        "every spend took its piece"
    );
}
