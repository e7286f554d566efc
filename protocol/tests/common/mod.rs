//! What the protocol's integration tests share: a random MLP and its plain fixed-point
//! definition, a printable test seed, and a driver that runs one session (setup, then
//! queries) over any two transports, with the dealer's work done in process.
//!
//! Each test binary uses its own part of this module, so items unused by one binary are
//! not dead code.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::thread;

use rand_core::RngCore;

use veil_protocol::channel::{Channel, ChannelError, MemTransport, Transport};
use veil_protocol::engine::{
    self, deal, ClientSetup, Preprocessing, ServerSetup, ServerSource, SessionMasks,
};
use veil_protocol::linalg::matvec;
use veil_protocol::plan::{LayerKind, LinearOp, LinearWeights, Plan, PlanLayer, Weights};
use veil_protocol::prg::{Prg, Seed};
use veil_protocol::ring::{truncate, FixedPoint, Ring};
use veil_protocol::ProtocolError;

/// The fixed point of every test model: inputs in [0, 1] at scale 2^10.
pub const FIXED: FixedPoint = FixedPoint { f: 10, k: 30 };

/// The test model's layer sizes: 16 → 12 → ReLU → 8 → ReLU → 4.
pub const SIZES: [usize; 4] = [16, 12, 8, 4];

/// A test's seed: from `VEIL_TEST_SEED` (32 hex digits) if set, else from the OS. It is
/// printed if the test panics, so that any failure can be replayed.
pub struct TestSeed {
    seed: Seed,
}

impl TestSeed {
    /// The seed this run uses.
    pub fn new() -> TestSeed {
        let seed = match std::env::var("VEIL_TEST_SEED") {
            Ok(hex) => parse_hex(&hex).expect("VEIL_TEST_SEED must be 32 hex digits"),
            Err(_) => Seed::random(),
        };
        TestSeed { seed }
    }

    /// A generator keyed by the seed.
    pub fn prg(&self) -> Prg {
        Prg::new(self.seed)
    }

    /// The seed as 32 hex digits.
    pub fn hex(&self) -> String {
        self.seed.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Drop for TestSeed {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test seed {0}: rerun with VEIL_TEST_SEED={0}", self.hex());
        }
    }
}

fn parse_hex(s: &str) -> Option<Seed> {
    let s = s.trim();
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Seed(out))
}

/// A uniform real in [0, 1).
pub fn unit(rng: &mut Prg) -> f64 {
    rng.next_u32() as f64 / (u32::MAX as f64 + 1.0)
}

/// A random MLP `sizes[0] → sizes[1] → …` with a ReLU between linear layers, weights in
/// ±0.25 and biases in ±0.25 so that every pre-activation stays far inside `k` bits for
/// inputs in [0, 1].
pub fn mlp(sizes: &[usize], fixed: FixedPoint, rng: &mut Prg) -> (Plan, Weights) {
    let mut layers = Vec::new();
    let mut linear = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let (cols, rows) = (w[0], w[1]);
        layers.push(PlanLayer {
            name: format!("fc{i}"),
            kind: LayerKind::dense(rows, cols),
        });
        let mut small = || fixed.encode((unit(rng) - 0.5) * 0.5);
        let w = (0..rows * cols).map(|_| small()).collect();
        let bias = (0..rows).map(|_| small() << fixed.f).collect();
        linear.push(LinearWeights { w, bias });
        if i + 2 < sizes.len() {
            layers.push(PlanLayer {
                name: format!("relu{i}"),
                kind: LayerKind::ReluTrunc { len: rows },
            });
        }
    }
    let plan = Plan {
        model: "random-mlp".into(),
        input_shape: vec![1, sizes[0]],
        input_range: (0.0, 1.0),
        fixed,
        backend: veil_protocol::plan::Backend::Gmw,
        layers,
    };
    plan.validate().expect("the test plan is valid");
    (plan, Weights { linear })
}

/// The plain fixed-point definition (the model crate holds the real oracle): linear
/// layers in wrapping arithmetic, ReLU as a floor shift of the non-negative values.
pub fn plain(plan: &Plan, weights: &Weights, input: &[Ring]) -> Vec<Ring> {
    let mut x = input.to_vec();
    let mut w = weights.linear.iter();
    for l in &plan.layers {
        x = match &l.kind {
            LayerKind::Linear(linear) => {
                let lw = w.next().expect("weights fit the plan");
                let LinearOp::Dense { rows, cols } = linear.op else {
                    panic!("the test models are MLPs")
                };
                let wx = matvec(&lw.w, rows, cols, &x);
                wx.iter()
                    .zip(&lw.bias)
                    .map(|(a, b)| a.wrapping_add(*b))
                    .collect()
            }
            // The label: the first largest, read as signed.
            LayerKind::Argmax { .. } => {
                let signed = |i: usize| x[i] as i64;
                vec![(0..x.len()).fold(0, |b, i| if signed(i) > signed(b) { i } else { b }) as Ring]
            }
            _ => x
                .iter()
                .map(|&v| {
                    if (v as i64) < 0 {
                        0
                    } else {
                        truncate(v, plan.fixed.f)
                    }
                })
                .collect(),
        };
    }
    x
}

/// How each party's thread ended: `Err` if it panicked.
pub struct Sides {
    /// The server's setup and online phases.
    pub server: thread::Result<Result<(), ProtocolError>>,
    /// The client's setup and online phases, with the opened output of every query.
    pub client: thread::Result<Result<Vec<Vec<Ring>>, ProtocolError>>,
}

/// Runs one session as `local::run_local` does, on two threads: setup (E = W − U), then
/// one query per input, each with fresh material from an in-process dealer. The server
/// speaks over `server`, the client over `client`.
pub fn run_session<S: Transport, C: Transport>(
    plan: &Plan,
    weights: &Weights,
    server: S,
    client: C,
    inputs: &[Vec<Ring>],
) -> Sides {
    let mut rng = Prg::new(Seed::random());
    let masks = SessionMasks::expand(plan, Seed::from_rng(&mut rng));
    let (s_msgs, c_msgs): (Vec<_>, Vec<_>) = inputs.iter().map(|_| deal(&masks, &mut rng)).unzip();
    let (mut s_rng, mut c_rng) = (rng.split(), rng.split());
    thread::scope(|scope| {
        let s = scope.spawn(move || -> Result<(), ProtocolError> {
            let rng = &mut s_rng;
            let mut ch = Channel::new(server);
            let mut setup =
                ServerSetup::run(&mut ch, plan, weights, ServerSource::Dealer(&masks), rng)?;
            for msg in s_msgs {
                let material = setup.expand(msg)?;
                let query = setup.offline(&mut ch, material, rng)?;
                engine::server_online(&mut ch, plan, weights, query)?;
            }
            Ok(())
        });
        let c = scope.spawn(move || -> Result<Vec<Vec<Ring>>, ProtocolError> {
            let rng = &mut c_rng;
            let mut ch = Channel::new(client);
            let mut setup = ClientSetup::run(&mut ch, plan, Preprocessing::Dealer, rng)?;
            let mut outputs = Vec::new();
            for (msg, input) in c_msgs.into_iter().zip(inputs) {
                let material = setup.expand(msg)?;
                let prepared = setup.offline(&mut ch, material, rng)?;
                outputs.push(engine::client_online(&mut ch, plan, prepared, input)?.0);
            }
            Ok(outputs)
        });
        Sides {
            server: s.join(),
            client: c.join(),
        }
    })
}

/// A transport that keeps a copy of every frame it receives.
pub struct Recorder {
    inner: MemTransport,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    /// Wraps `inner`; the log fills as frames arrive.
    pub fn new(inner: MemTransport) -> (Recorder, Arc<Mutex<Vec<Vec<u8>>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (
            Recorder {
                inner,
                log: log.clone(),
            },
            log,
        )
    }
}

impl Transport for Recorder {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.inner.send(frame)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let frame = self.inner.recv()?;
        self.log.lock().expect("log lock").push(frame.clone());
        Ok(frame)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        self.inner.flush()
    }
}
