//! End-to-end test harness: a dealer and a server in process, over real QUIC on loopback.
//!
//! [`Harness::start`] builds what `veil-dealer` and `veil-server` build in their `main`s
//! (ephemeral identities instead of the state folder, in-memory pins) and runs the real
//! `serve` loops of both crates on a Tokio runtime the harness owns. Every endpoint binds
//! port 0 on 127.0.0.1. Their logs go to a buffer private to the harness
//! ([`Harness::logs`]), so a test can wait for the server to report a failed session.
//!
//! Clients are [`Session`]s (the protocol's client session over QUIC) opened from the test
//! thread ([`Harness::open`]), or [`Raw`] channels that speak the wire protocol by hand to
//! play a misbehaving peer. [`Harness::shutdown`] stops accepting, waits until every server
//! session has ended (each holds a session open at the dealer) and stops the runtime.
//!
//! Who learns what is the product's business; this crate only drives it.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;
use tracing::dispatcher::{DefaultGuard, Dispatch};
use veil_dealer::Sessions;
use veil_model::LoadedModel;
use veil_net::{
    connect, Connection, Fingerprint, Identity, KnownHosts, Listener, NetError, QuicTransport,
    Store, DEFAULT_CONNECT_TIMEOUT,
};
use veil_protocol::channel::{Channel, ChannelError};
use veil_protocol::material::{LinearPrep, OtKind};
use veil_protocol::ring::Ring;
use veil_protocol::session::access::AllowList;
use veil_protocol::session::server::{Dealing, Hosting};
use veil_protocol::session::{QueryReport, SessionError};
use veil_server::{HostedModel, Precomputed, ServerConfig};

mod client;
pub mod contract;
pub mod process;

pub use client::{kept_in, spend, Session};
pub use veil_protocol::session::client::Options;

/// How long test clients wait for a handshake.
pub const CONNECT: Duration = Duration::from_secs(5);
/// How long a [`Raw`] channel waits for the peer before failing (never the 120 s default).
pub const RAW_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Harness::shutdown`] waits for server sessions to end.
pub const SHUTDOWN: Duration = Duration::from_secs(10);

/// 127.0.0.1, port 0: every endpoint of the tests binds this.
pub const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The shipped `models/` folder.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// `models/<file>`.
pub fn model_path(file: &str) -> PathBuf {
    models_dir().join(file)
}

/// The shipped MLP (`models/mnist-mlp.onnx`), loaded once per test binary.
pub fn mlp() -> &'static LoadedModel {
    shipped("mnist-mlp.onnx")
}

/// A shipped model `models/<file>`, loaded once per test binary.
pub fn shipped(file: &str) -> &'static LoadedModel {
    static LOADED: OnceLock<Mutex<HashMap<String, &'static LoadedModel>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    loaded.entry(file.to_string()).or_insert_with(|| {
        let path = model_path(file);
        let model =
            veil_model::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
        Box::leak(Box::new(model))
    })
}

/// The shipped MNIST subset: 1,000 images (pixels / 255) and their labels.
pub struct Mnist {
    /// Each image's 784 pixels in [0, 1].
    pub images: Vec<Vec<f32>>,
    /// Each image's label.
    pub labels: Vec<u8>,
}

/// The shipped MNIST subset, read once per test binary.
pub fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| {
        let (images, rows, cols) =
            veil_model::read_idx_images(&model_path("mnist-test-1000-images.idx3-ubyte"))
                .expect("the shipped MNIST images");
        assert_eq!((rows, cols), (28, 28));
        let labels = veil_model::read_idx_labels(&model_path("mnist-test-1000-labels.idx1-ubyte"))
            .expect("the shipped MNIST labels");
        assert_eq!(images.len(), labels.len());
        Mnist { images, labels }
    })
}

/// A model to host, named as `veil-server --model [NAME=]FILE` names it: `name`, or the
/// file stem; with its card beside it, if it has one, as `veil-server` loads it.
pub fn hosted(name: Option<&str>, path: &Path) -> HostedModel {
    let loaded =
        veil_model::load(path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    let card = veil_model::read_card_beside(path, &loaded.plan)
        .unwrap_or_else(|e| panic!("the card of {}: {e}", path.display()));
    let name = name.map_or(loaded.name, str::to_string);
    let mut plan = loaded.plan;
    plan.model = name.clone();
    HostedModel {
        name,
        plan,
        weights: loaded.weights,
        card,
    }
}

/// The index of the largest value (the first one on ties), as the client computes it.
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns its last value.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A bound UDP socket that never answers: an address where nobody speaks QUIC, with no
/// race for the port while the socket lives.
pub fn black_hole() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind(LOOPBACK).expect("binding a UDP socket on loopback");
    let addr = socket.local_addr().expect("its address");
    (socket, addr)
}

/// The harness's log buffer, shared with the subscriber of its runtime's threads.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn dispatch(&self) -> Dispatch {
        let logs = self.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "warn,veil_server=debug,veil_dealer=debug,veil_net=debug",
        );
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        Dispatch::new(subscriber)
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The subscriber of a harness runtime's thread, set when the thread starts.
    static LOG_GUARD: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A runtime whose every thread (workers and blocking pool) logs to `dispatch`.
fn runtime(dispatch: Dispatch) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&dispatch);
            LOG_GUARD.with(|g| *g.borrow_mut() = Some(guard));
        })
        .on_thread_stop(|| LOG_GUARD.with(|g| drop(g.borrow_mut().take())))
        .build()
        .expect("a Tokio runtime")
}

/// What to start: the models the server hosts and where its dealer is.
pub struct Builder {
    models: Vec<HostedModel>,
    dealer: Option<SocketAddr>,
    dealer_free: Option<(LinearPrep, OtKind)>,
    connect_timeout: Duration,
    precomputed: Option<PathBuf>,
    home: Option<(PathBuf, SocketAddr)>,
    label_only: bool,
    allow: Option<Arc<AllowList>>,
}

impl Builder {
    /// Answers every query with the label alone, as `veil-server --label-only`.
    pub fn label_only(mut self) -> Builder {
        self.label_only = true;
        self
    }

    /// Lets only the client keys in `list` connect, as `veil-server --allow FILE`; the
    /// test may replace the list while the server runs (as a reload does).
    pub fn allow(mut self, list: Arc<AllowList>) -> Builder {
        self.allow = Some(list);
        self
    }

    /// Hosts `path` under `name` (or its file stem); repeat to host several.
    pub fn model(mut self, name: Option<&str>, path: &Path) -> Builder {
        self.models.push(hosted(name, path));
        self
    }

    /// Points the server at a dealer at `addr` instead of starting one in process.
    pub fn external_dealer(mut self, addr: SocketAddr) -> Builder {
        self.dealer = Some(addr);
        self
    }

    /// Runs the server without a dealer, as `veil-server` without `--dealer`: the parties
    /// make the material with each other (the linear layers' part by homomorphic
    /// encryption, as by default).
    pub fn no_dealer(self) -> Builder {
        self.no_dealer_with(LinearPrep::default())
    }

    /// Runs the server without a dealer, the linear layers' material made as `linear` says
    /// (`veil-server --linear`), the OTs of the default kind.
    pub fn no_dealer_with(self, linear: LinearPrep) -> Builder {
        self.no_dealer_with_ot(linear, OtKind::default())
    }

    /// Runs the server without a dealer, the linear layers' material made as `linear` says
    /// and the OTs as `ot` does (`veil-server --linear L --ot K`).
    pub fn no_dealer_with_ot(mut self, linear: LinearPrep, ot: OtKind) -> Builder {
        self.dealer_free = Some((linear, ot));
        self
    }

    /// Lets the server keep clients' precomputed queries under `root` (at most
    /// `veil-server`'s default per client); without it the server keeps none.
    pub fn keep_precomputed(mut self, root: &Path) -> Builder {
        self.precomputed = Some(root.to_path_buf());
        self
    }

    /// Gives the server the key kept in the state folder `dir` (made on first use, as
    /// `veil-server` keeps its own) and binds it to `addr`: a server started again with
    /// the same folder and address is the same server to its clients.
    pub fn server_home(mut self, dir: &Path, addr: SocketAddr) -> Builder {
        self.home = Some((dir.to_path_buf(), addr));
        self
    }

    /// How long the server waits for its dealer to answer (default: the binaries').
    pub fn connect_timeout(mut self, timeout: Duration) -> Builder {
        self.connect_timeout = timeout;
        self
    }

    /// Starts the dealer (unless external) and the server.
    pub fn start(self) -> Harness {
        let logs = Logs::default();
        let rt = runtime(logs.dispatch());
        let entered = rt.enter();
        let (dealer, dealer_addr) = match (self.dealer, self.dealer_free) {
            (_, Some(_)) => (None, None),
            (Some(addr), None) => (None, Some(addr)),
            (None, None) => {
                let side = DealerSide::start(&rt);
                let addr = side.addr;
                (Some(side), Some(addr))
            }
        };
        // The operator's pins: the in-process dealer's key, pinned beforehand.
        let pins = KnownHosts::in_memory();
        if let (Some(d), Some(addr)) = (&dealer, dealer_addr) {
            let _ = pins
                .pin(&addr.to_string(), d.fingerprint)
                .expect("pinning the dealer");
        }
        let (identity, addr) = match &self.home {
            Some((dir, addr)) => (Identity::load_or_create(dir, "server"), *addr),
            None => (Identity::ephemeral("server"), LOOPBACK),
        };
        let identity = identity.expect("a server identity");
        let server_fingerprint = identity.fingerprint();
        let listener = Listener::bind(addr, &identity).expect("binding the server");
        let server_addr = listener.local_addr().expect("the server's address");
        let config = ServerConfig {
            hosting: Hosting {
                models: self.models,
                dealing: match dealer_addr {
                    Some(addr) => Dealing::Dealer(addr.to_string()),
                    None => {
                        let (linear, ot) = self.dealer_free.unwrap_or_default();
                        Dealing::TwoParty(linear, ot)
                    }
                },
                precomputed: self.precomputed.map(|root| Precomputed {
                    store: Store::new(root),
                    max_per_client: 100,
                }),
                label_only: self.label_only,
                allow: self.allow,
            },
            identity: Arc::new(identity),
            pins: Arc::new(pins),
            connect_timeout: self.connect_timeout,
            dealer_shape: None,
        };
        let server_task = rt.spawn(veil_server::serve(listener, Arc::new(config)));
        drop(entered);
        Harness {
            rt: Some(rt),
            logs,
            dealer,
            dealer_addr,
            server_addr,
            server_fingerprint,
            server_task: Some(server_task),
        }
    }
}

/// The in-process dealer.
struct DealerSide {
    addr: SocketAddr,
    fingerprint: Fingerprint,
    sessions: Arc<Sessions>,
    task: Option<JoinHandle<Result<(), NetError>>>,
}

impl DealerSide {
    /// Call with the runtime entered.
    fn start(rt: &Runtime) -> DealerSide {
        let identity = Identity::ephemeral("dealer").expect("a dealer identity");
        let listener = Listener::bind(LOOPBACK, &identity).expect("binding the dealer");
        let addr = listener.local_addr().expect("the dealer's address");
        let sessions = Arc::new(Sessions::new());
        let task = rt.spawn(veil_dealer::serve(listener, sessions.clone()));
        DealerSide {
            addr,
            fingerprint: identity.fingerprint(),
            sessions,
            task: Some(task),
        }
    }
}

/// A running dealer and server; see the crate doc.
pub struct Harness {
    rt: Option<Runtime>,
    logs: Logs,
    dealer: Option<DealerSide>,
    dealer_addr: Option<SocketAddr>,
    server_addr: SocketAddr,
    server_fingerprint: Fingerprint,
    server_task: Option<JoinHandle<Result<(), NetError>>>,
}

impl Harness {
    /// What [`Builder::start`] starts, with nothing set: no model yet, dealer in process.
    pub fn builder() -> Builder {
        Builder {
            models: Vec::new(),
            dealer: None,
            dealer_free: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            precomputed: None,
            home: None,
            label_only: false,
            allow: None,
        }
    }

    /// A dealer and a server hosting the shipped MLP (as `mnist-mlp`).
    pub fn start() -> Harness {
        Harness::builder()
            .model(None, &model_path("mnist-mlp.onnx"))
            .start()
    }

    /// The runtime's handle, for blocking calls from the test thread.
    pub fn handle(&self) -> &Handle {
        self.rt.as_ref().expect("the harness is running").handle()
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server_addr
    }

    /// The server's address as a user writes it (`127.0.0.1:PORT`).
    pub fn server_name(&self) -> String {
        self.server_addr.to_string()
    }

    /// The server's key.
    pub fn server_fingerprint(&self) -> Fingerprint {
        self.server_fingerprint
    }

    /// The dealer's address (the in-process one, or the external one given).
    pub fn dealer_addr(&self) -> SocketAddr {
        self.dealer_addr.expect("this harness runs no dealer")
    }

    /// The dealer's address as the server names it.
    pub fn dealer_name(&self) -> String {
        self.dealer_addr().to_string()
    }

    /// The in-process dealer's key.
    pub fn dealer_fingerprint(&self) -> Fingerprint {
        self.dealer_side().fingerprint
    }

    /// The in-process dealer's session table.
    pub fn dealer_sessions(&self) -> &Sessions {
        &self.dealer_side().sessions
    }

    fn dealer_side(&self) -> &DealerSide {
        self.dealer.as_ref().expect("this harness runs no dealer")
    }

    /// Everything the dealer and server logged so far.
    pub fn logs(&self) -> String {
        self.logs.text()
    }

    /// Waits until the logs contain `needle`; false if `timeout` passes first.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.logs().contains(needle))
    }

    /// Waits until the dealer holds no session: every server session has ended (a server
    /// session closes its dealer session when it ends, whatever the reason).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.dealer_sessions().is_empty())
    }

    /// Client options for this server: its only model, the dealer it announces.
    pub fn options(&self) -> Options {
        Options {
            server: self.server_name(),
            model: None,
            backend: veil_protocol::plan::Backend::Gmw,
            dealer: None,
            label_only: false,
        }
    }

    /// Opens a session as a fresh client (new key, empty in-memory pins).
    pub fn open_with(&self, opts: &Options) -> Result<Session, SessionError> {
        self.open_within(opts, CONNECT)
    }

    /// Opens a session as a fresh client, waiting `timeout` for each handshake.
    pub fn open_within(&self, opts: &Options, timeout: Duration) -> Result<Session, SessionError> {
        let identity = Arc::new(Identity::ephemeral("client")?);
        let pins = Arc::new(KnownHosts::in_memory());
        Session::open(opts, &identity, &pins, self.handle(), timeout)
    }

    /// Opens a session as a fresh client with the given pins.
    pub fn open_pinned(
        &self,
        opts: &Options,
        pins: &Arc<KnownHosts>,
    ) -> Result<Session, SessionError> {
        let identity = Arc::new(Identity::ephemeral("client")?);
        Session::open(opts, &identity, pins, self.handle(), CONNECT)
    }

    /// Opens a session with [`Harness::options`]; panics (with the logs) if it fails.
    pub fn open(&self) -> Session {
        self.open_with(&self.options())
            .unwrap_or_else(|e| panic!("opening a session: {e}\n--- logs ---\n{}", self.logs()))
    }

    /// A raw channel to the server, as a fresh client.
    pub fn raw_server(&self) -> Raw {
        self.raw(self.server_addr, Some(self.server_fingerprint))
    }

    /// A raw channel to the in-process dealer, as a fresh party.
    pub fn raw_dealer(&self) -> Raw {
        self.raw(self.dealer_addr(), Some(self.dealer_fingerprint()))
    }

    /// A raw channel to `addr`, checking its key against `expect` if given.
    pub fn raw(&self, addr: SocketAddr, expect: Option<Fingerprint>) -> Raw {
        let conn = self.connect(addr, expect);
        let transport = QuicTransport::open(&conn, self.handle().clone())
            .expect("opening a stream")
            .with_timeout(RAW_TIMEOUT);
        Raw {
            ch: Channel::new(transport),
            conn,
            handle: self.handle().clone(),
        }
    }

    /// A raw QUIC connection to `addr` as a fresh client.
    pub fn connect(&self, addr: SocketAddr, expect: Option<Fingerprint>) -> Connection {
        let identity = Identity::ephemeral("client").expect("a client identity");
        let pins = KnownHosts::in_memory();
        let name = addr.to_string();
        if let Some(fp) = expect {
            let _ = pins.pin(&name, fp).expect("pinning");
        }
        self.handle()
            .block_on(connect(addr, &name, &identity, &pins, CONNECT))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
    }

    /// Stops accepting, waits until every server session has ended, stops the runtime.
    ///
    /// # Panics
    /// If a server session is still open after [`SHUTDOWN`] (a session that never ends).
    pub fn shutdown(mut self) {
        let open = self.stop(SHUTDOWN);
        assert_eq!(
            open,
            0,
            "{open} server session(s) still open at shutdown\n--- logs ---\n{}",
            self.logs()
        );
    }

    /// Stops without waiting for server sessions: for tests whose peers may vanish
    /// without closing (their sessions last until the idle timeout).
    pub fn abandon(mut self) {
        self.stop(Duration::ZERO);
    }

    /// Returns how many dealer sessions were still open when it gave up waiting.
    fn stop(&mut self, patience: Duration) -> usize {
        let Some(rt) = self.rt.take() else {
            return 0;
        };
        let mut tasks: Vec<_> = self.server_task.take().into_iter().collect();
        tasks.extend(self.dealer.as_mut().and_then(|d| d.task.take()));
        tasks.iter().for_each(JoinHandle::abort);
        rt.block_on(async {
            for task in tasks {
                let _ = task.await;
            }
        });
        let open = match &self.dealer {
            Some(d) => {
                wait_until(patience, || d.sessions.is_empty());
                d.sessions.len()
            }
            None => 0,
        };
        rt.shutdown_timeout(Duration::from_secs(2));
        open
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() && self.rt.is_some() {
            eprintln!("--- dealer and server logs ---\n{}", self.logs());
        }
        self.stop(Duration::from_secs(1));
    }
}

/// A hand-driven channel to a server or dealer: plays a client or party that may
/// misbehave. Its calls fail after [`RAW_TIMEOUT`] without progress, never hang.
pub struct Raw {
    /// The metered channel (round stamps added and checked as the real parties do).
    pub ch: Channel<QuicTransport>,
    conn: Connection,
    handle: Handle,
}

impl Raw {
    /// Sends one message.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        self.ch.send(msg)
    }

    /// Receives one message.
    pub fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.ch.recv()
    }

    /// The connection underneath (e.g. to open another stream on it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Closes the connection at once, as a crashing peer's OS would.
    pub fn hang_up(self) {
        let Raw { ch, conn, handle } = self;
        drop(ch);
        handle.block_on(conn.close());
    }
}

/// The shipped MLP's plaintext fixed-point output for `image` (the oracle).
pub fn reference_output(image: &[f32]) -> Vec<Ring> {
    reference_of(mlp(), image)
}

/// The plaintext fixed-point reference's output of `model` for `image`.
pub fn reference_of(model: &LoadedModel, image: &[f32]) -> Vec<Ring> {
    let input = veil_model::encode_input(&model.plan, image).expect("a valid image");
    veil_model::reference(&model.plan, &model.weights, &input)
}

/// Runs one secure query of `image`; panics on failure.
pub fn secure_output(session: &mut Session, image: &[f32]) -> (Vec<Ring>, QueryReport) {
    let input = veil_model::encode_input(session.plan(), image).expect("a valid image");
    session
        .query(&input)
        .unwrap_or_else(|e| panic!("a secure query failed: {e}"))
}
