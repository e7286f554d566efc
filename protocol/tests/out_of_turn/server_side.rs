//! The server's states, each sent what does not belong there.

use super::*;

fn hosting(mode: Mode, precomputed: Option<Precomputed<MemStore>>) -> Hosting<MemStore> {
    let (plan, weights) = model();
    Hosting {
        models: vec![HostedModel {
            name: MODEL.into(),
            plan,
            weights,
            card: None,
        }],
        dealing: mode.dealing(),
        precomputed,
        label_only: false,
        allow: None,
    }
}

fn hello() -> ToServer {
    ToServer::Hello {
        model: None,
        backend: Backend::Gmw,
        label_only: false,
        card: false,
    }
}

fn stash() -> ToServer {
    ToServer::Stash {
        batch: BATCH,
        first: 0,
        count: 1,
    }
}

fn spend() -> ToServer {
    ToServer::Spend {
        batch: BATCH,
        piece: 0,
    }
}

/// What the first message was taken as.
#[derive(Debug, PartialEq, Eq)]
enum Taken {
    Hello,
    Spend,
    Listed,
    Refused(Option<String>),
}

/// Reads the first message, sent in advance by a fake client.
fn server_first(first: &Frame) -> (Result<Taken, SessionError>, Channel<MemTransport>) {
    let hosting = hosting(Mode::TwoParty, None);
    let (near, far) = MemTransport::pair();
    let mut client = Channel::new(far);
    put(&mut client, first);
    let r = quick("the first message", || {
        ExpectHello::new(near)
            .read(&hosting)
            .map(|first| match first {
                First::Hello(_) => Taken::Hello,
                First::Spend(_) => Taken::Spend,
                First::Listed(_) => Taken::Listed,
                First::Refused(served) => Taken::Refused(served.refused),
            })
    });
    (r, client)
}

#[test]
fn server_first_message_out_of_turn() {
    for msg in [ToServer::Query, ToServer::Done, stash()] {
        let what = format!("{msg:?} first");
        let (r, mut client) = server_first(&payload(msg.encode()));
        let e = failed(r, &what);
        assert!(is_out_of_turn(&e, Party::Client), "{what}: {e:?}");
        assert_refused_client(&mut client, &what);
    }
    // The documented refusal: a hello for a model the server does not host.
    let unknown = ToServer::Hello {
        model: Some("nonesuch".into()),
        backend: Backend::Gmw,
        label_only: false,
        card: false,
    };
    let (r, mut client) = server_first(&payload(unknown.encode()));
    let reason = match r {
        Ok(Taken::Refused(Some(reason))) => reason,
        other => panic!("a hello for an unknown model: {other:?}"),
    };
    match recv_to_client(&mut client) {
        ToClient::Refused {
            bad_request: true,
            reason: told,
        } => assert_eq!(told, reason),
        other => panic!("a hello for an unknown model was answered {other:?}"),
    }
    assert_closed(&mut client, "a hello for an unknown model");
    // And the messages that may come first are taken.
    assert_eq!(
        server_first(&payload(hello().encode())).0.ok(),
        Some(Taken::Hello)
    );
    assert_eq!(
        server_first(&payload(spend().encode())).0.ok(),
        Some(Taken::Spend)
    );
}

#[test]
fn server_first_message_junk() {
    for j in junk(&stash().encode()) {
        let (r, mut client) = server_first(&j.frame);
        let e = failed(r, j.name);
        assert!(is_junk_error(&j.frame, &e), "{}: {e:?}", j.name);
        // The server hangs up, with at most a refusal.
        match client.recv() {
            Err(ChannelError::Closed) => {}
            Ok(m) => match ToClient::decode(&m) {
                Ok(ToClient::Refused { .. }) => assert_closed(&mut client, j.name),
                other => panic!("{}: the client got {other:?}", j.name),
            },
            Err(e) => panic!("{}: the client got {e:?}", j.name),
        }
    }
}

/// A fake dealer that opens the server's session: the dial that reaches it, and its end.
fn fake_dealer_for_server() -> (Handing, Channel<MemTransport>) {
    let (near, far) = MemTransport::pair();
    let mut dealer = Channel::new(far);
    dealer
        .send(&FromDealer::Opened { session: SESSION }.encode())
        .expect("the fake dealer sends");
    dealer.send(&MASK_SEED.0).expect("the fake dealer sends");
    (Handing::new(vec![dialed(near, DEALER_KEY)]), dealer)
}

/// Runs `server` on a real server's end (with a dial that reaches a fake dealer in dealer
/// mode) while a fake client says hello, runs setup and then `client`.
fn against_server<RS: Send, RC>(
    mode: Mode,
    server: impl FnOnce(MemTransport, &mut Handing, &mut Prg) -> RS + Send,
    client: impl FnOnce(&mut Channel<MemTransport>) -> RC,
) -> (RS, RC) {
    let (mut dial, dealer) = match mode {
        Mode::Dealer => {
            let (dial, dealer) = fake_dealer_for_server();
            (dial, Some(dealer))
        }
        Mode::TwoParty => (Handing::default(), None),
    };
    let (c_end, s_end) = MemTransport::pair();
    let out = thread::scope(|s| {
        let real = s.spawn(move || {
            let rs = server(s_end, &mut dial, &mut rng(5));
            let dialled = match mode {
                Mode::Dealer => vec![DEALER.to_string()],
                Mode::TwoParty => Vec::new(),
            };
            assert_eq!(dial.dialled, dialled);
            rs
        });
        let mut ch = Channel::new(c_end);
        ch.send(&hello().encode()).expect("the fake client sends");
        let (plan, source) = match recv_to_client(&mut ch) {
            ToClient::Welcome { plan, session, .. } => {
                assert_eq!(session, SESSION);
                (plan, Preprocessing::Dealer)
            }
            ToClient::WelcomeTwoParty { plan, linear, ot } => {
                (plan, Preprocessing::TwoParty(linear, ot))
            }
            other => panic!("the fake client expected a welcome, got {other:?}"),
        };
        assert_eq!(source == Preprocessing::Dealer, mode == Mode::Dealer);
        ClientSetup::run(&mut ch, &plan, source, &mut rng(6)).expect("the fake client's setup");
        let rc = client(&mut ch);
        let rs = real.join().expect("the server panicked");
        (rs, rc)
    });
    if let Some(mut dealer) = dealer {
        assert!(matches!(recv_to_dealer(&mut dealer), ToDealer::Open { .. }));
    }
    out
}

/// Reaches the server's open session, then reads the client's next request.
fn server_next(
    hosting: &Hosting<MemStore>,
    transport: MemTransport,
    dial: &mut Handing,
    rng: &mut Prg,
) -> Result<&'static str, SessionError> {
    let greeted = match ExpectHello::new(transport).read(hosting) {
        Ok(First::Hello(greeted)) => greeted,
        Ok(_) => panic!("the hello was not taken as one"),
        Err(e) => panic!("the hello: {e:?}"),
    };
    let open = greeted
        .welcome(&hosting.dealing, dial, rng)
        .expect("the welcome and setup");
    open.next().map(|request| match request {
        Request::Query(_) => "a query",
        Request::Stash(_) => "a stash",
        Request::End(_) => "the end",
    })
}

#[test]
fn server_open_session_out_of_turn() {
    for mode in MODES {
        let hosting = hosting(mode, None);
        for msg in [hello(), spend()] {
            let what = format!("{mode:?}: {msg:?} after setup");
            let (r, ()) = quick(&what, || {
                against_server(
                    mode,
                    |t, dial, rng| server_next(&hosting, t, dial, rng),
                    |ch| {
                        ch.send(&msg.encode()).expect("the fake client sends");
                        assert_refused_client(ch, &what);
                    },
                )
            });
            let e = failed(r, &what);
            assert!(is_out_of_turn(&e, Party::Client), "{what}: {e:?}");
        }
    }
}

#[test]
fn server_open_session_junk() {
    let hosting = hosting(Mode::Dealer, None);
    for j in junk(&stash().encode()) {
        let (r, ()) = quick(j.name, || {
            against_server(
                Mode::Dealer,
                |t, dial, rng| server_next(&hosting, t, dial, rng),
                |ch| put(ch, &j.frame),
            )
        });
        let e = failed(r, j.name);
        assert!(is_junk_error(&j.frame, &e), "{}: {e:?}", j.name);
    }
    // For contrast, a well-formed request is taken.
    let (r, ()) = against_server(
        Mode::Dealer,
        |t, dial, rng| server_next(&hosting, t, dial, rng),
        |ch| ch.send(&ToServer::Query.encode()).expect("sent"),
    );
    assert_eq!(r.expect("a query"), "a query");
}

/// The documented refusal of a stash: no store, or the client's allowance spent. The
/// session ends without a fault.
#[test]
fn server_refuses_a_stash_it_cannot_keep() {
    let cases = [
        ("no store", None),
        (
            "no allowance",
            Some(Precomputed {
                store: MemStore::new(),
                max_per_client: 0,
            }),
        ),
    ];
    for (what, precomputed) in cases {
        let hosting = hosting(Mode::TwoParty, precomputed);
        let (served, told) = quick(what, || {
            against_server(
                Mode::TwoParty,
                |t, dial, rng| server::serve(t, CLIENT_KEY, &hosting, dial, rng),
                |ch| {
                    ch.send(&stash().encode()).expect("the fake client sends");
                    assert_refused_client(ch, what)
                },
            )
        });
        let served = served.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(served.refused.as_deref(), Some(told.as_str()), "{what}");
        assert_eq!(served.queries, 0, "{what}");
    }
}

#[test]
fn server_refuses_a_spend_it_does_not_hold() {
    let store = MemStore::new();
    store
        .create("another-client", BATCH, b"whatever")
        .expect("a batch of another client");
    let damaged = MemStore::new();
    damaged
        .create(CLIENT_KEY, BATCH, b"not a header")
        .expect("a damaged batch")
        .put(0, b"not a query")
        .expect("a piece");
    let with = |store| {
        Some(Precomputed {
            store,
            max_per_client: 8,
        })
    };
    let cases = [
        ("no store", None),
        ("an empty store", with(MemStore::new())),
        ("another client's batch", with(store)),
        ("a damaged batch", with(damaged)),
    ];
    for (what, precomputed) in cases {
        let hosting = hosting(Mode::TwoParty, precomputed);
        let (near, far) = MemTransport::pair();
        let mut client = Channel::new(far);
        client
            .send(&spend().encode())
            .expect("the fake client sends");
        let mut dial = Handing::default();
        let served = quick(what, || {
            server::serve(near, CLIENT_KEY, &hosting, &mut dial, &mut rng(7))
        })
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let told = assert_refused_client(&mut client, what);
        assert_eq!(served.refused.as_deref(), Some(told.as_str()), "{what}");
        assert_eq!(served.queries, 0, "{what}");
        assert!(
            dial.dialled.is_empty(),
            "{what}: dialled {:?}",
            dial.dialled
        );
    }
}

/// The server opens its dealer session for a hello; the dealer answers out of turn. The
/// client is refused, and the server's error says why.
#[test]
fn server_dealer_answers_the_open_out_of_turn() {
    let seed_after = |bytes: Vec<u8>| {
        vec![
            payload(FromDealer::Opened { session: SESSION }.encode()),
            Frame::Payload(bytes),
        ]
    };
    let mut cases: Vec<(String, Vec<Frame>)> = [
        FromDealer::Joined,
        FromDealer::Material(vec![0; 16]),
        FromDealer::Refused {
            reason: "full".into(),
        },
    ]
    .into_iter()
    .map(|m| (format!("{m:?}"), vec![payload(m.encode())]))
    .collect();
    for j in junk(&FromDealer::Opened { session: SESSION }.encode()) {
        cases.push((j.name.to_string(), vec![j.frame]));
    }
    cases.push(("a seed cut short".into(), seed_after(vec![1; 15])));
    cases.push(("a seed too long".into(), seed_after(vec![1; 17])));
    cases.push(("no dealer at all".into(), Vec::new()));

    let hosting = hosting(Mode::Dealer, None);
    for (what, frames) in cases {
        let (near, far) = MemTransport::pair();
        let mut dealer = Channel::new(far);
        frames.iter().for_each(|f| put(&mut dealer, f));
        let mut dial = match frames.is_empty() {
            true => Handing::default(),
            false => Handing::new(vec![dialed(near, DEALER_KEY)]),
        };
        let (c_near, c_far) = MemTransport::pair();
        let mut client = Channel::new(c_far);
        client
            .send(&hello().encode())
            .expect("the fake client sends");
        let e = quick(&what, || {
            let greeted = match ExpectHello::new(c_near).read(&hosting) {
                Ok(First::Hello(greeted)) => greeted,
                Ok(_) => panic!("{what}: the hello was not taken as one"),
                Err(e) => panic!("{what}: the hello: {e:?}"),
            };
            failed(
                greeted.welcome(&Mode::Dealer.dealing(), &mut dial, &mut rng(8)),
                &what,
            )
        });
        assert_eq!(dial.dialled, vec![DEALER.to_string()], "{what}");
        assert_refused_client(&mut client, &what);
        let ok = match frames.first() {
            None => matches!(e, SessionError::Peer(PeerError::Connection(_))),
            Some(_) if what.starts_with("Refused") => matches!(
                &e,
                SessionError::Peer(PeerError::Refused { who: Party::Dealer, reason }) if reason == "full"
            ),
            Some(_) if what.starts_with("Joined") || what.starts_with("Material") => {
                is_out_of_turn(&e, Party::Dealer)
            }
            Some(_) => is_junk_error(&frames[frames.len() - 1], &e),
        };
        assert!(ok, "{what}: {e:?}");
        if !frames.is_empty() {
            let (plan, _) = model();
            assert_eq!(
                recv_to_dealer(&mut dealer),
                ToDealer::Open { plan },
                "{what}"
            );
        }
    }
}

/// Makes `n` queries ahead of time in a real session between a real client and a real
/// dealer-free server: returns the server's hosting (its store holding its halves) and
/// the client's halves, read back from the client's store, in piece order.
fn kept_pair(n: u32) -> (Hosting<MemStore>, Vec<PreparedQuery>) {
    let hosting = hosting(
        Mode::TwoParty,
        Some(Precomputed {
            store: MemStore::new(),
            max_per_client: 64,
        }),
    );
    let client_store = MemStore::new();
    let (c_end, s_end) = MemTransport::pair();
    let served = thread::scope(|s| {
        let server = s.spawn(|| {
            let mut dial = Handing::default();
            server::serve(s_end, CLIENT_KEY, &hosting, &mut dial, &mut rng(14))
        });
        let mut dial = Handing::new(vec![dialed(c_end, SERVER_KEY)]);
        let mut rng = rng(15);
        let (open, _) = client::open(&mut dial, &options(None), &mut rng).expect("the session");
        let batch = Kept::new(client_store.clone())
            .create(SERVER, &open, BATCH)
            .expect("the batch");
        let open = open
            .stash(&batch, (0, n), &mut rng, &mut |_: u32, _: &QueryReport| {})
            .expect("the stash");
        open.close();
        server.join().expect("the server panicked")
    });
    let served = served.expect("the server's session");
    assert_eq!((served.queries, served.refused), (n as usize, None));
    let (plan, _) = model();
    let batch = client_store
        .batch(SERVER, BATCH)
        .expect("the store")
        .expect("the batch");
    let prepared = (0..n)
        .map(|piece| {
            let bytes = batch.take(piece).expect("the store").expect("the piece");
            let mut r = Reader::new(&bytes);
            r.var_bytes(1 << 24, "costs").expect("the costs");
            let rest = r.take(r.remaining(), "query").expect("the query");
            PreparedQuery::from_bytes(&plan, rest).expect("the prepared query")
        })
        .collect();
    (hosting, prepared)
}

/// Spends `piece` at the real server, playing the client by hand: the online phase, the
/// meters, then `last` instead of (or as) the goodbye. Returns how the server ended and
/// the client's end.
fn spend_then(
    hosting: &Hosting<MemStore>,
    piece: u32,
    prepared: PreparedQuery,
    last: &Frame,
) -> (Result<Served, SessionError>, Channel<MemTransport>) {
    let (plan, weights) = model();
    let (c_end, s_end) = MemTransport::pair();
    thread::scope(|s| {
        let server = s.spawn(|| {
            let mut dial = Handing::default();
            server::serve(s_end, CLIENT_KEY, hosting, &mut dial, &mut rng(16))
        });
        let mut ch = Channel::new(c_end);
        let spend = ToServer::Spend {
            batch: BATCH,
            piece,
        };
        ch.send(&spend.encode()).expect("the fake client sends");
        match recv_to_client(&mut ch) {
            ToClient::WelcomeKept { plan: kept } => assert_eq!(kept, plan),
            other => panic!("the spend was answered {other:?}"),
        }
        let input = vec![FIXED.encode(0.75); plan.input_len()];
        let (output, _) =
            engine::client_online(&mut ch, &plan, prepared, &input).expect("the online phase");
        assert_eq!(
            output,
            plain(&plan, &weights, &input),
            "the kept query's answer"
        );
        match recv_to_client(&mut ch) {
            ToClient::Stats { .. } => {}
            other => panic!("the answer was followed by {other:?}"),
        }
        put(&mut ch, last);
        let served = server.join().expect("the server panicked");
        (served, ch)
    })
}

/// A connection that spent a kept query ends after it: anything but a goodbye (or a
/// hang-up) is out of turn, and the client is told so.
#[test]
fn server_spend_connection_out_of_turn_after_the_answer() {
    let lasts = [hello(), ToServer::Query, stash(), spend(), ToServer::Done];
    let (hosting, prepared) = kept_pair(lasts.len() as u32);
    for ((piece, last), prepared) in lasts.into_iter().enumerate().zip(prepared) {
        let what = format!("{last:?} after a kept query's answer");
        let (served, mut client) = quick(&what, || {
            spend_then(&hosting, piece as u32, prepared, &payload(last.encode()))
        });
        if last == ToServer::Done {
            let served = served.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!((served.queries, served.refused), (1, None), "{what}");
            assert_closed(&mut client, &what);
            continue;
        }
        let e = failed(served, &what);
        assert!(is_out_of_turn(&e, Party::Client), "{what}: {e:?}");
        assert_refused_client(&mut client, &what);
    }
}

/// The same connection, sent bytes that do not decode: a `Protocol` error, as a
/// malformed message is anywhere (session/mod.rs), not a message out of turn.
#[test]
fn server_spend_connection_junk_after_the_answer() {
    let junk = junk(&stash().encode());
    let (hosting, prepared) = kept_pair(junk.len() as u32);
    let mut wrong = Vec::new();
    for ((piece, j), prepared) in junk.into_iter().enumerate().zip(prepared) {
        let (served, _client) = quick(j.name, || {
            spend_then(&hosting, piece as u32, prepared, &j.frame)
        });
        let e = failed(served, j.name);
        if !is_junk_error(&j.frame, &e) {
            wrong.push(format!("{}: {e:?}", j.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "errors of the wrong kind:\n{}",
        wrong.join("\n")
    );
}
