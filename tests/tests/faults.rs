//! Faults: unreachable peers, clients that hang up or send garbage, bad requests, a
//! second client at the dealer, changed keys, and one-time material. After each fault
//! the server must log it and go on serving: a normal session afterwards is bit-exact.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use veil_dealer::Sessions;
use veil_net::{Fingerprint, KnownHosts, NetError, KNOWN_HOSTS};
use veil_protocol::channel::{Channel, ChannelError, MemTransport, Transport};
use veil_protocol::engine::{self, ClientSetup, Preprocessing, ServerSetup, ServerSource};
use veil_protocol::engine::{correction_len, SessionMasks};
use veil_protocol::material::MaterialMsg;
use veil_protocol::plan::Plan;
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::session::{PeerError, SessionError, Usage, FIRST_FRAME};
use veil_protocol::share::Role;
use veil_protocol::wire::{FromDealer, SessionId, ToClient, ToDealer, ToServer};
use veil_tests::{
    black_hole, mlp, mnist, model_path, reference_output, secure_output, Harness, Raw,
};

/// How long the server may take to notice a fault and log it.
const NOTICE: Duration = Duration::from_secs(10);
/// The connect timeout of the unreachable cases.
const SHORT: Duration = Duration::from_secs(2);

/// A normal session on `h` answers one query bit-exactly: the server is still serving.
fn still_serving(h: &Harness) {
    let image = &mnist().images[9];
    let mut session = h.open();
    let (secure, _) = secure_output(&mut session, image);
    assert_eq!(secure, reference_output(image), "a session after the fault");
    session.close();
}

/// Waits for the server to log a failed session whose error contains `detail`, and for
/// that session to end (its dealer session closes with it).
fn expect_logged_failure(h: &Harness, detail: &str) {
    assert!(
        h.wait_for_log("client session failed", NOTICE),
        "the server did not log the failed session\n--- logs ---\n{}",
        h.logs()
    );
    let logs = h.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("client session failed"))
        .unwrap_or_default();
    assert!(line.contains(detail), "expected {detail:?} in {line:?}");
    assert!(h.wait_idle(NOTICE), "the failed session did not end");
}

/// Pseudo-random bytes from a fixed seed (printed in failures through the test's name).
fn noise(seed: u8, len: usize) -> Vec<u8> {
    let mut prg = Prg::new(Seed([seed; 16]));
    prg.ring_vec(len.div_ceil(8))
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .take(len)
        .collect()
}

/// A hand-driven client that has said hello and got the welcome.
fn welcomed(h: &Harness) -> (Raw, Plan, SessionId) {
    let mut raw = h.raw_server();
    let hello = ToServer::Hello {
        model: None,
        backend: veil_protocol::plan::Backend::Gmw,
        label_only: false,
        card: false,
    };
    raw.send(&hello.encode()).unwrap();
    match ToClient::decode(&raw.recv().unwrap()).unwrap() {
        ToClient::Welcome {
            plan,
            session,
            dealer,
        } => {
            assert_eq!(
                dealer.addr,
                h.dealer_name(),
                "the server announces its dealer"
            );
            assert_eq!(dealer.fingerprint, h.dealer_fingerprint().to_string());
            (raw, plan, session)
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
}

/// A raw client through setup that has asked for a query; with the first layer's input
/// length (the values of F it must send next).
fn querying(h: &Harness) -> (Raw, usize) {
    let (mut raw, plan, _) = welcomed(h);
    receive_setup(&mut raw, &plan);
    raw.send(&ToServer::Query.encode()).unwrap();
    (raw, plan.layers[0].kind.input_len())
}

/// Receives E = W − U for each linear layer (setup).
fn receive_setup(raw: &mut Raw, plan: &Plan) {
    for (index, layer) in plan.linear_layers() {
        assert_eq!(
            raw.recv().unwrap().len(),
            8 * layer.op.weight_len(),
            "E of {}",
            plan.layers[index].name
        );
    }
}

// (a) unreachable peers ---------------------------------------------------------------

#[test]
fn an_unreachable_server_fails_open_with_a_net_error_in_bounded_time() {
    let h = Harness::start();
    let (_silent, addr) = black_hole();
    let mut opts = h.options();
    opts.server = addr.to_string();
    let start = Instant::now();
    let err = h
        .open_within(&opts, SHORT)
        .err()
        .expect("nobody answers there");
    let elapsed = start.elapsed();
    assert!(
        matches!(err.find(), Some(NetError::Unreachable { addr: a, .. }) if *a == addr),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    h.shutdown();
}

#[test]
fn an_unreachable_dealer_of_the_clients_choice_fails_open_with_a_net_error() {
    let h = Harness::start();
    let (_silent, addr) = black_hole();
    let mut opts = h.options();
    opts.dealer = Some(addr.to_string());
    let start = Instant::now();
    let err = h
        .open_within(&opts, SHORT)
        .err()
        .expect("nobody answers there");
    let elapsed = start.elapsed();
    assert!(
        matches!(err.find(), Some(NetError::Unreachable { addr: a, .. }) if *a == addr),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    // The server's half-open session ends with the client's connection.
    assert!(h.wait_idle(NOTICE), "the abandoned session did not end");
    still_serving(&h);
    h.shutdown();
}

#[test]
fn a_server_whose_dealer_is_unreachable_refuses_the_client_in_bounded_time() {
    let (_silent, addr) = black_hole();
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .external_dealer(addr)
        .connect_timeout(SHORT)
        .start();
    let start = Instant::now();
    let err = h
        .open_with(&h.options())
        .err()
        .expect("no dealer, no session");
    let elapsed = start.elapsed();
    match &err {
        SessionError::Peer(PeerError::Refused { reason, .. }) => {
            assert!(reason.contains("cannot reach its dealer"), "{reason}")
        }
        other => panic!("expected a refusal that is not the client's fault: {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    h.shutdown();
}

// (b) a client that hangs up mid-protocol ---------------------------------------------

#[test]
fn a_client_hanging_up_mid_online_is_logged_and_the_server_keeps_serving() {
    let h = Harness::start();
    let (mut raw, cols) = querying(&h);
    // Layer 0: a well-formed F (any value is a valid mask) ...
    raw.send(&noise(1, 8 * cols)).unwrap();
    // ... the server's first ReLU message shows it is inside layer 1: hang up there.
    let relu = raw.recv().expect("the server's first ReLU message");
    assert!(!relu.is_empty());
    raw.hang_up();
    expect_logged_failure(&h, "the peer closed the connection");
    still_serving(&h);
    h.shutdown();
}

// (c) a peer that sends garbage --------------------------------------------------------

#[test]
fn a_stream_that_does_not_start_like_a_veil_channel_is_refused() {
    let h = Harness::start();
    let conn = h.connect(h.server_addr(), Some(h.server_fingerprint()));
    let mut garbage = noise(2, 64);
    garbage[0] = 0x00; // not the stream hello
    let closed = h.handle().block_on(async {
        let (mut send, _recv) = conn.quic().open_bi().await.expect("a stream");
        send.write_all(&garbage).await.expect("sending garbage");
        // The server drops the connection: the peer gets an error.
        tokio::time::timeout(NOTICE, conn.closed()).await
    });
    assert!(closed.is_ok(), "the server kept the connection open");
    expect_logged_failure(&h, "not a veil channel");
    still_serving(&h);
    h.shutdown();
}

#[test]
fn garbage_instead_of_a_hello_gets_an_error_and_the_server_keeps_serving() {
    let h = Harness::start();
    let mut raw = h.raw_server();
    let mut garbage = noise(3, 200);
    garbage[0] = 0xee; // no message has this tag
    raw.send(&garbage).unwrap();
    let err = raw
        .recv()
        .expect_err("the server answers garbage with a hang-up");
    assert!(matches!(err, ChannelError::Closed), "{err:?}");
    expect_logged_failure(&h, "malformed message");
    still_serving(&h);
    h.shutdown();
}

#[test]
fn a_first_message_longer_than_a_hello_is_refused_unread_by_the_server_and_the_dealer() {
    let h = Harness::start();
    let long = noise(5, FIRST_FRAME + 1);
    // The peer reads the length and hangs up, maybe before the whole frame is out.
    let refused = |mut raw: Raw| match raw.send(&long) {
        Err(err) => err,
        Ok(()) => raw.recv().expect_err("the peer hangs up"),
    };
    let err = refused(h.raw_server());
    assert!(matches!(err, ChannelError::Closed), "{err:?}");
    expect_logged_failure(&h, "frame longer than the maximum");
    let err = refused(h.raw_dealer());
    assert!(matches!(err, ChannelError::Closed), "{err:?}");
    // Both serve on; the limit is lifted after the first message (the dealer-free tests'
    // uploads of 165,904 bytes pass).
    still_serving(&h);
    h.shutdown();
}

#[test]
fn a_frame_shorter_than_its_round_stamp_gets_an_error() {
    let h = Harness::start();
    let mut raw = h.raw_server();
    raw.ch.transport_mut().send(&[1, 2, 3]).unwrap();
    let err = raw.recv().expect_err("the server hangs up");
    assert!(matches!(err, ChannelError::Closed), "{err:?}");
    expect_logged_failure(&h, "shorter than its round stamp");
    still_serving(&h);
    h.shutdown();
}

#[test]
fn a_truncated_masked_input_gets_an_error_and_the_server_keeps_serving() {
    let h = Harness::start();
    let (mut raw, cols) = querying(&h);
    raw.send(&noise(4, 8 * cols - 5)).unwrap();
    let err = raw.recv().expect_err("the server hangs up");
    assert!(matches!(err, ChannelError::Closed), "{err:?}");
    expect_logged_failure(&h, "needed 5 more bytes for masked input F");
    still_serving(&h);
    h.shutdown();
}

// (d) bad requests ---------------------------------------------------------------------

#[test]
fn an_unknown_model_is_a_bad_request_listing_the_hosted_names() {
    let h = Harness::start();
    let mut opts = h.options();
    opts.model = Some("no-such-model".into());
    match h.open_with(&opts).err().expect("no such model") {
        err @ SessionError::Usage(Usage::Refused(_)) => {
            let SessionError::Usage(Usage::Refused(reason)) = &err else {
                unreachable!()
            };
            assert!(reason.contains("\"no-such-model\""), "{reason}");
            assert!(reason.contains("mnist-mlp"), "{reason}");
            assert_eq!(err.exit_code(), 2);
        }
        other => panic!("expected a bad-request refusal: {other:?}"),
    }
    still_serving(&h);
    h.shutdown();
}

#[test]
fn with_two_models_and_none_named_the_refusal_lists_both() {
    let h = Harness::builder()
        .model(Some("legacy"), &model_path("mnist-mlp.onnx"))
        .model(None, &model_path("mnist-mlp-dynamo.onnx"))
        .start();
    match h.open_with(&h.options()).err().expect("which model?") {
        SessionError::Usage(Usage::Refused(reason)) => {
            assert!(reason.contains("legacy"), "{reason}");
            assert!(reason.contains("mnist-mlp-dynamo"), "{reason}");
        }
        other => panic!("expected a bad-request refusal: {other:?}"),
    }
    let mut opts = h.options();
    opts.model = Some("legacy".into());
    let mut session = h.open_with(&opts).expect("naming a model");
    let image = &mnist().images[0];
    assert_eq!(
        secure_output(&mut session, image).0,
        reference_output(image)
    );
    session.close();
    h.shutdown();
}

// (e) one client per dealer session ----------------------------------------------------

fn join(h: &Harness, session: SessionId, plan_hash: [u8; 32]) -> (Raw, FromDealer) {
    let mut raw = h.raw_dealer();
    raw.send(&ToDealer::Join { session, plan_hash }.encode())
        .unwrap();
    let answer = FromDealer::decode(&raw.recv().unwrap()).unwrap();
    (raw, answer)
}

fn refusal(answer: FromDealer) -> String {
    match answer {
        FromDealer::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_dealer_admits_one_client_per_session_with_the_servers_plan() {
    let h = Harness::start();
    let (server_a, plan, session_a) = welcomed(&h);
    let (first, answer) = join(&h, session_a, plan.hash());
    assert_eq!(answer, FromDealer::Joined);
    let (_, answer) = join(&h, session_a, plan.hash());
    let reason = refusal(answer);
    assert!(reason.contains("already joined"), "{reason}");

    let (server_b, _, session_b) = welcomed(&h);
    let mut other = plan.clone();
    other.fixed.f += 1;
    let (_, answer) = join(&h, session_b, other.hash());
    let reason = refusal(answer);
    assert!(reason.contains("plan mismatch"), "{reason}");
    // A refused join binds nothing: the right plan still gets in.
    let (second, answer) = join(&h, session_b, plan.hash());
    assert_eq!(answer, FromDealer::Joined);
    let (_, answer) = join(&h, SessionId([0; 16]), plan.hash());
    let reason = refusal(answer);
    assert!(reason.contains("no such session"), "{reason}");

    for raw in [first, second, server_a, server_b] {
        raw.hang_up();
    }
    assert!(
        h.wait_idle(NOTICE),
        "sessions did not end with their servers"
    );
    h.shutdown();
}

// (f) a changed key --------------------------------------------------------------------

fn expect_key_changed(err: SessionError, name: &str, file: &std::path::Path) {
    let text = err.to_string();
    assert_eq!(err.exit_code(), 1);
    match err.find() {
        Some(NetError::KeyChanged {
            name: n, file: f, ..
        }) => {
            assert_eq!(n, name);
            assert_eq!(f, file);
            assert!(text.contains(&file.display().to_string()), "{text}");
        }
        other => panic!("expected a changed key: {other:?}"),
    }
}

#[test]
fn a_changed_server_key_is_refused_naming_the_known_hosts_file() {
    let h = Harness::start();
    let dir = tempfile::tempdir().unwrap();
    let pins = Arc::new(KnownHosts::open(dir.path()).unwrap());
    let wrong = Fingerprint::from([7; 32]);
    assert_ne!(wrong, h.server_fingerprint());
    let _ = pins.pin(&h.server_name(), wrong).unwrap();
    let err = h
        .open_pinned(&h.options(), &pins)
        .err()
        .expect("a changed key");
    expect_key_changed(err, &h.server_name(), &dir.path().join(KNOWN_HOSTS));
    h.shutdown();
}

#[test]
fn a_changed_dealer_key_is_refused_naming_the_known_hosts_file() {
    let h = Harness::start();
    let dir = tempfile::tempdir().unwrap();
    let pins = Arc::new(KnownHosts::open(dir.path()).unwrap());
    let _ = pins
        .pin(&h.dealer_name(), Fingerprint::from([9; 32]))
        .unwrap();
    let err = h
        .open_pinned(&h.options(), &pins)
        .err()
        .expect("a changed key");
    expect_key_changed(err, &h.dealer_name(), &dir.path().join(KNOWN_HOSTS));
    // The server's key was new, so it was pinned on the way.
    let pin = pins
        .lookup(&h.server_name())
        .unwrap()
        .expect("the server pinned");
    assert_eq!(pin.fingerprint, h.server_fingerprint());
    assert!(h.wait_idle(NOTICE));
    h.shutdown();
}

// (g) material is served once ----------------------------------------------------------

#[test]
fn the_dealer_table_serves_each_role_the_next_querys_material() {
    let plan = mlp().plan.clone();
    let sessions = Sessions::new();
    let mut rng = Prg::from_os();
    let (id, _) = sessions.open(&plan, &mut rng);
    sessions.join(id, plan.hash()).unwrap();
    let served: Vec<_> = (0..3)
        .map(|_| {
            let s = sessions.fetch(id, Role::Server).unwrap();
            let c = sessions.fetch(id, Role::Client).unwrap();
            (s, c)
        })
        .collect();
    for (i, (s, c)) in served.iter().enumerate() {
        assert_ne!(s.seed, c.seed, "query {i}: the parties' seeds differ");
        for (j, (s2, c2)) in served[..i].iter().enumerate() {
            assert_ne!(s.seed, s2.seed, "server material of queries {j} and {i}");
            assert_ne!(c, c2, "client material of queries {j} and {i}");
        }
    }
}

/// Over the wire: a hand-driven server opens a session and a hand-driven client joins;
/// each role's fetches give query 0's, then query 1's material (fresh seeds), and the
/// i-th pieces of the two roles belong together: a secure run on them is bit-exact.
#[test]
fn over_the_wire_each_fetch_is_the_next_querys_material() {
    let h = Harness::start();
    let model = mlp();
    let plan = model.plan.clone();
    let mut server = h.raw_dealer();
    server
        .send(&ToDealer::Open { plan: plan.clone() }.encode())
        .unwrap();
    let FromDealer::Opened { session } = FromDealer::decode(&server.recv().unwrap()).unwrap()
    else {
        panic!("the dealer did not open the session")
    };
    let seed = Seed(
        server
            .recv()
            .unwrap()
            .try_into()
            .expect("a 16-byte session seed"),
    );
    let (mut client, answer) = join(&h, session, plan.hash());
    assert_eq!(answer, FromDealer::Joined);
    let fetch = |raw: &mut Raw, role: Role| -> MaterialMsg {
        raw.send(&ToDealer::Fetch.encode()).unwrap();
        match FromDealer::decode(&raw.recv().unwrap()).unwrap() {
            FromDealer::Material(m) => {
                let corrections = match role {
                    Role::Server => 0,
                    Role::Client => correction_len(&plan),
                };
                MaterialMsg::decode(corrections, &m).unwrap()
            }
            other => panic!("expected material, got {other:?}"),
        }
    };
    let servers: Vec<MaterialMsg> = (0..2).map(|_| fetch(&mut server, Role::Server)).collect();
    let clients: Vec<MaterialMsg> = (0..2).map(|_| fetch(&mut client, Role::Client)).collect();
    assert_ne!(
        servers[0].seed, servers[1].seed,
        "the server's second fetch is fresh"
    );
    assert_ne!(clients[0], clients[1], "the client's second fetch is fresh");

    // Run the two queries in memory on the fetched material.
    let (st, ct) = MemTransport::pair();
    let (mut sch, mut cch) = (Channel::new(st), Channel::new(ct));
    let masks = SessionMasks::expand(&plan, seed);
    let images = &mnist().images[..2];
    let (mut srng, mut crng) = (Prg::from_os(), Prg::from_os());
    let outputs = thread::scope(|s| {
        let server_side = s.spawn(|| {
            let mut setup = ServerSetup::run(
                &mut sch,
                &plan,
                &model.weights,
                ServerSource::Dealer(&masks),
                &mut srng,
            )
            .unwrap();
            for m in servers {
                let material = setup.expand(m).unwrap();
                let query = setup.offline(&mut sch, material, &mut srng).unwrap();
                engine::server_online(&mut sch, &plan, &model.weights, query).unwrap();
            }
        });
        let mut setup =
            ClientSetup::run(&mut cch, &plan, Preprocessing::Dealer, &mut crng).unwrap();
        let outputs: Vec<_> = clients
            .into_iter()
            .zip(images)
            .map(|(m, image)| {
                let material = setup.expand(m).unwrap();
                let prepared = setup.offline(&mut cch, material, &mut crng).unwrap();
                let input = veil_model::encode_input(&plan, image).unwrap();
                engine::client_online(&mut cch, &plan, prepared, &input)
                    .unwrap()
                    .0
            })
            .collect::<Vec<_>>();
        server_side.join().unwrap();
        outputs
    });
    for (i, image) in images.iter().enumerate() {
        assert_eq!(
            outputs[i],
            reference_output(image),
            "query {i} on fetched material"
        );
    }
    server.hang_up();
    client.hang_up();
    assert!(h.wait_idle(NOTICE), "the session outlived its server");
    h.shutdown();
}
