//! The dealer's states, each sent what does not belong there.

use super::*;

/// Serves a fake party that sent `frames` in advance.
fn dealer_serves(
    sessions: &Sessions,
    frames: &[Frame],
) -> (Result<dealer::Dealt, SessionError>, Channel<MemTransport>) {
    let (near, far) = MemTransport::pair();
    let mut party = Channel::new(far);
    frames.iter().for_each(|f| put(&mut party, f));
    let r = quick("the dealer", || dealer::serve(near, sessions, &mut rng(9)));
    (r, party)
}

fn open_msg() -> ToDealer {
    let (plan, _) = model();
    ToDealer::Open { plan }
}

fn join_msg(session: SessionId) -> ToDealer {
    let (plan, _) = model();
    ToDealer::Join {
        session,
        plan_hash: plan.hash(),
    }
}

/// Asserts that the party was refused and the dealer hung up.
fn assert_refused_party(party: &mut Channel<MemTransport>, what: &str) -> String {
    let reason = match recv_from_dealer(party) {
        FromDealer::Refused { reason } => reason,
        other => panic!("{what}: the party expected a refusal, got {other:?}"),
    };
    assert_closed(party, what);
    reason
}

/// Asserts that the server's session was opened: its id, then its 16-byte seed.
fn assert_opened(party: &mut Channel<MemTransport>, what: &str) {
    assert!(
        matches!(recv_from_dealer(party), FromDealer::Opened { .. }),
        "{what}"
    );
    let seed = party.recv().expect("the seed");
    assert_eq!(seed.len(), 16, "{what}");
}

#[test]
fn dealer_fetch_first() {
    let sessions = Sessions::new();
    let (r, mut party) = dealer_serves(&sessions, &[payload(ToDealer::Fetch.encode())]);
    let e = r.unwrap_err();
    assert!(is_out_of_turn(&e, Party::Peer), "{e:?}");
    assert_refused_party(&mut party, "a fetch first");
    assert!(sessions.is_empty());
}

#[test]
fn dealer_server_out_of_turn_after_open() {
    for second in [open_msg(), join_msg(SESSION)] {
        let what = format!("{second:?} after an open");
        let sessions = Sessions::new();
        let frames = [payload(open_msg().encode()), payload(second.encode())];
        let (r, mut party) = dealer_serves(&sessions, &frames);
        let e = r.unwrap_err();
        assert!(is_out_of_turn(&e, Party::Server), "{what}: {e:?}");
        assert_opened(&mut party, &what);
        assert_refused_party(&mut party, &what);
        assert!(
            sessions.is_empty(),
            "{what}: the server's session stays open"
        );
    }
}

#[test]
fn dealer_client_out_of_turn_after_join() {
    let (plan, _) = model();
    for second in [open_msg(), join_msg(SESSION)] {
        let sessions = Sessions::new();
        let (id, _) = sessions.open(&plan, &mut rng(10));
        let second = match second {
            ToDealer::Join { .. } => join_msg(id),
            other => other,
        };
        let what = format!("{second:?} after a join");
        let frames = [payload(join_msg(id).encode()), payload(second.encode())];
        let (r, mut party) = dealer_serves(&sessions, &frames);
        let e = r.unwrap_err();
        assert!(is_out_of_turn(&e, Party::Client), "{what}: {e:?}");
        assert_eq!(recv_from_dealer(&mut party), FromDealer::Joined, "{what}");
        assert_refused_party(&mut party, &what);
        assert_eq!(sessions.len(), 1, "{what}: only the server's end closes");
    }
}

#[test]
fn dealer_junk() {
    let (plan, _) = model();
    for j in junk(&join_msg(SESSION).encode()) {
        // First.
        let sessions = Sessions::new();
        let (r, _party) = dealer_serves(&sessions, std::slice::from_ref(&j.frame));
        let e = r.unwrap_err();
        assert!(is_junk_error(&j.frame, &e), "{} first: {e:?}", j.name);
        assert!(sessions.is_empty());
        // After an open.
        let frames = [payload(open_msg().encode()), j.frame.clone()];
        let (r, mut party) = dealer_serves(&sessions, &frames);
        let e = r.unwrap_err();
        assert!(
            is_junk_error(&j.frame, &e),
            "{} after an open: {e:?}",
            j.name
        );
        assert_opened(&mut party, j.name);
        assert!(
            sessions.is_empty(),
            "{}: the server's session stays open",
            j.name
        );
        // After a join.
        let (id, _) = sessions.open(&plan, &mut rng(11));
        let frames = [payload(join_msg(id).encode()), j.frame.clone()];
        let (r, mut party) = dealer_serves(&sessions, &frames);
        let e = r.unwrap_err();
        assert!(
            is_junk_error(&j.frame, &e),
            "{} after a join: {e:?}",
            j.name
        );
        assert_eq!(
            recv_from_dealer(&mut party),
            FromDealer::Joined,
            "{}",
            j.name
        );
    }
}

/// The documented refusals of a join: an unknown session, another plan, a second client.
/// The connection ends without a fault.
#[test]
fn dealer_refuses_a_join_it_cannot_serve() {
    let (plan, _) = model();
    let sessions = Sessions::new();
    let (id, _) = sessions.open(&plan, &mut rng(12));
    let mut other = plan.clone();
    other.model = "another".into();
    let cases = [
        ("an unknown session", join_msg(SessionId([0xAA; 16]))),
        (
            "another plan",
            ToDealer::Join {
                session: id,
                plan_hash: other.hash(),
            },
        ),
        ("the first client", join_msg(id)),
        ("a second client", join_msg(id)),
    ];
    for (what, join) in cases {
        if what == "the first client" {
            // Admitted: it is bound, and its hang-up ends the connection.
            let (near, far) = MemTransport::pair();
            let mut party = Channel::new(far);
            party.send(&join.encode()).expect("the fake party sends");
            let dealt = quick(what, || {
                thread::scope(|s| {
                    let dealer = s.spawn(|| dealer::serve(near, &sessions, &mut rng(13)));
                    assert_eq!(recv_from_dealer(&mut party), FromDealer::Joined, "{what}");
                    drop(party);
                    dealer.join().expect("the dealer panicked")
                })
            })
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(dealt.bound, Some((id, Role::Client)), "{what}");
            assert_eq!(dealt.refused, None, "{what}");
            continue;
        }
        let (r, mut party) = dealer_serves(&sessions, &[payload(join.encode())]);
        let dealt = r.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let told = assert_refused_party(&mut party, what);
        assert_eq!(dealt.refused.as_deref(), Some(told.as_str()), "{what}");
        assert_eq!(dealt.bound, None, "{what}");
        assert_eq!(dealt.pieces, 0, "{what}");
    }
}
