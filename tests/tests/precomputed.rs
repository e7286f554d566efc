//! Queries made ahead of time, over real QUIC: `Session::stash` runs the offline phase of
//! a few queries and each party keeps its share on disk; `spend` later runs one query's
//! online phase on a new connection. Outputs are bit-exact with the plaintext reference
//! for both backends, with and without a dealer; each piece is spent once: a retry, a
//! client that hung up mid-query, or another client's key finds it gone; a server
//! restarted on the same store still serves what it kept.

use std::path::Path;

use std::sync::Arc;

use veil_net::{connect, Identity, KnownHosts, QuicTransport, Store};
use veil_protocol::channel::Channel;
use veil_protocol::plan::Backend;
use veil_protocol::prg::Prg;
use veil_protocol::session::client::{AnswerKind, Kept, Spent};
use veil_protocol::session::{KeptBatch, QueryReport};
use veil_protocol::wire::BatchId;
use veil_protocol::wire::{ToClient, ToServer};
use veil_tests::{
    kept_in, mnist, model_path, reference_of, shipped, spend, Harness, Options, Session, CONNECT,
};

const MLP: &str = "mnist-mlp.onnx";

/// A client with a fixed key, its own pins and store.
struct Client {
    identity: Arc<Identity>,
    pins: Arc<KnownHosts>,
    kept: Kept<Store>,
    opts: Options,
}

impl Client {
    fn new(h: &Harness, home: &Path, backend: Backend) -> Client {
        Client {
            identity: Arc::new(Identity::ephemeral("client").unwrap()),
            pins: Arc::new(KnownHosts::in_memory()),
            kept: kept_in(home),
            opts: Options {
                backend,
                ..h.options()
            },
        }
    }

    /// Makes `count` queries ahead of time in one session.
    fn stash(&self, h: &Harness, count: u32) -> veil_net::Batch {
        let mut session =
            Session::open(&self.opts, &self.identity, &self.pins, h.handle(), CONNECT)
                .unwrap_or_else(|e| panic!("{e}\n{}", h.logs()));
        let batch = self.new_batch(&session);
        let mut made = Vec::new();
        session
            .stash(&batch, 0, count, &mut |i, r| {
                made.push((i, r.offline.bytes))
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", h.logs()));
        session.close();
        assert_eq!(made.len(), count as usize);
        assert!(made.iter().all(|&(_, bytes)| bytes > 0), "{made:?}");
        batch
    }

    /// A new batch for queries made in `session`.
    fn new_batch(&self, session: &Session) -> veil_net::Batch {
        let open = session.open_session().expect("an open session");
        let id = BatchId::from_rng(&mut Prg::from_os());
        self.kept.create(&self.opts.server, open, id).unwrap()
    }

    /// Spends the next kept query on MNIST image `i`.
    fn spend(&self, h: &Harness, i: usize) -> Spent {
        let batch = self
            .kept
            .find(&self.opts.server, None, self.opts.answer())
            .unwrap()
            .expect("a kept batch");
        let input = veil_model::encode_input(batch.plan(), &mnist().images[i]).unwrap();
        spend(
            &self.opts,
            &self.identity,
            &self.pins,
            h.handle(),
            &batch,
            &input,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", h.logs()))
    }

    /// A raw connection to the server under this client's key, opening with `msg`.
    fn raw(&self, h: &Harness, msg: ToServer) -> (Channel<QuicTransport>, ToClient) {
        let name = h.server_name();
        let conn = h
            .handle()
            .block_on(connect(
                h.server_addr(),
                &name,
                &self.identity,
                &self.pins,
                CONNECT,
            ))
            .unwrap();
        let mut ch = Channel::new(QuicTransport::open(&conn, h.handle().clone()).unwrap());
        ch.send(&msg.encode()).unwrap();
        let answer = ToClient::decode(&ch.recv().unwrap()).unwrap();
        std::mem::forget(conn);
        (ch, answer)
    }
}

fn answered(spent: Spent) -> (Vec<u64>, QueryReport) {
    match spent {
        Spent::Answered(output, report) => (output, *report),
        Spent::Unusable(why) => panic!("the kept query was not used: {why}"),
    }
}

#[test]
fn kept_queries_are_bit_exact_with_and_without_a_dealer() {
    let model = shipped(MLP);
    for (dealer, backend) in [
        (true, Backend::Gmw),
        (false, Backend::Gc),
        (false, Backend::Gmw),
    ] {
        let store = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let builder = Harness::builder()
            .model(None, &model_path(MLP))
            .keep_precomputed(store.path());
        let h = if dealer { builder } else { builder.no_dealer() }.start();
        let client = Client::new(&h, home.path(), backend);
        client.stash(&h, 3);
        for i in [5, 6, 7] {
            let (output, report) = answered(client.spend(&h, i));
            let what = format!("{backend:?}, dealer {dealer}, image {i}");
            assert_eq!(output, reference_of(model, &mnist().images[i]), "{what}");
            assert_eq!(report.setup.bytes, 0, "{what}: no setup for a kept query");
            assert!(
                report.offline.bytes > 0,
                "{what}: the offline cost made then"
            );
            let plan = veil_protocol::plan::Plan {
                backend,
                ..model.plan.clone()
            };
            let online = veil_protocol::engine::cost::online(&plan);
            let want: u64 = online.iter().map(|c| c.bytes).sum();
            assert_eq!(report.online.bytes, want, "{what}");
        }
        assert!(
            client
                .kept
                .find(
                    &client.opts.server,
                    None,
                    AnswerKind {
                        backend,
                        label_only: false,
                    }
                )
                .unwrap()
                .is_none(),
            "all three spent"
        );
        h.shutdown();
    }
}

#[test]
fn a_piece_is_spent_once_whatever_happens_to_the_query() {
    let store = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let h = Harness::builder()
        .model(None, &model_path(MLP))
        .keep_precomputed(store.path())
        .no_dealer()
        .start();
    let client = Client::new(&h, home.path(), Backend::Gmw);
    let batch = client.stash(&h, 3).id();

    // Piece 0, spent normally; asking for it again is refused.
    answered(client.spend(&h, 0));
    let (_, again) = client.raw(&h, ToServer::Spend { batch, piece: 0 });
    let ToClient::Refused { reason, .. } = again else {
        panic!("a spent piece was served again: {again:?}");
    };
    assert!(reason.contains("already spent"), "{reason}");

    // Piece 1: the client hangs up as soon as the server has welcomed it (a crash
    // mid-query). The server has already thrown its share away.
    let (ch, welcome) = client.raw(&h, ToServer::Spend { batch, piece: 1 });
    assert!(
        matches!(welcome, ToClient::WelcomeKept { .. }),
        "{welcome:?}"
    );
    drop(ch);
    let (_, retry) = client.raw(&h, ToServer::Spend { batch, piece: 1 });
    assert!(matches!(retry, ToClient::Refused { .. }), "{retry:?}");

    // Another client (another key) cannot spend piece 2 ...
    let mut other = h.raw_server();
    other
        .send(&ToServer::Spend { batch, piece: 2 }.encode())
        .unwrap();
    let answer = ToClient::decode(&other.recv().unwrap()).unwrap();
    assert!(matches!(answer, ToClient::Refused { .. }), "{answer:?}");
    other.hang_up();
    // The client's own half of piece 1 finds the server's gone: unusable, and gone here
    // too. Piece 2 is still good for its owner.
    match client.spend(&h, 1) {
        Spent::Unusable(why) => assert!(why.contains("already spent"), "{why}"),
        Spent::Answered(..) => panic!("piece 1 ran twice"),
    }
    let (output, _) = answered(client.spend(&h, 2));
    assert_eq!(output, reference_of(shipped(MLP), &mnist().images[2]));
    h.abandon();
}

#[test]
fn a_restarted_server_serves_what_it_kept_and_refuses_beyond_its_allowance() {
    let store = tempfile::tempdir().unwrap();
    let server_home = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let start = |addr| {
        Harness::builder()
            .model(None, &model_path(MLP))
            .keep_precomputed(store.path())
            .server_home(server_home.path(), addr)
            .no_dealer()
            .start()
    };
    let h = start(veil_tests::LOOPBACK);
    let addr = h.server_addr();
    let client = Client::new(&h, home.path(), Backend::Gc);
    client.stash(&h, 2);
    // The server allows 100 per client and holds 2: 99 more are refused before any work.
    let mut session = Session::open(
        &client.opts,
        &client.identity,
        &client.pins,
        h.handle(),
        CONNECT,
    )
    .unwrap();
    let batch = client.new_batch(&session);
    let refused = session.stash(&batch, 0, 99, &mut |_, _| panic!("nothing is made"));
    let err = refused.expect_err("over the allowance").to_string();
    assert!(
        err.contains("at most 100") && err.contains("holds 2"),
        "{err}"
    );
    drop(session);
    h.shutdown();

    // The same server again (its key and address): what it kept is still there.
    let h = start(addr);
    for i in [3, 4] {
        let (output, _) = answered(client.spend(&h, i));
        assert_eq!(output, reference_of(shipped(MLP), &mnist().images[i]));
    }
    h.shutdown();
}
