//! One client session on its own thread: open, run a list of queries, close.
//!
//! The client learns only the outputs; the harness keeps them with each query's report.
//! A raised stop flag (Ctrl-C) ends the session cleanly between two queries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use veil_net::{Identity, LinkShape, QuicDialer, QuicTransport, DEFAULT_CONNECT_TIMEOUT};
use veil_protocol::material::Preprocessing;
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::prg::Prg;
use veil_protocol::ring::Ring;
use veil_protocol::session::client::{self, AnswerKind, Open, Options};
use veil_protocol::session::QueryReport;
use veil_server::HostedModel;

use crate::cluster::Cluster;
use crate::error::BenchError;

/// What a client session did.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The opened output of each query that finished, in order.
    pub outputs: Vec<Vec<Ring>>,
    /// Each finished query's cost (the first one carries the session's setup).
    pub reports: Vec<QueryReport>,
    /// Wall time from the first query's start to the last one's end (setup excluded).
    pub elapsed: Duration,
    /// True if the stop flag ended the session before every input was queried.
    pub interrupted: bool,
}

/// Starts a server hosting `model` (and a dealer, if `material` says so) with every link shaped as
/// `shape` (or not), runs one session of `inputs` under `backend` (see [`run_session`]),
/// and stops them.
pub fn measure(
    model: HostedModel,
    shape: Option<LinkShape>,
    material: Preprocessing,
    answer: AnswerKind,
    inputs: &[Vec<Ring>],
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<Run, BenchError> {
    let cluster = Cluster::start(vec![model], shape, material)?;
    let run = run_session(&cluster, None, answer, inputs, stop, progress);
    if !cluster.shutdown() {
        tracing::warn!("a dealer session was still open at shutdown");
    }
    run
}

/// The plan of a session for `model`'s `plan` under `backend`, ending in an argmax when
/// it answers with the label alone; a usage error if the model cannot.
pub fn session_plan(plan: &Plan, backend: Backend, label_only: bool) -> Result<Plan, BenchError> {
    let plan = Plan {
        backend,
        ..plan.clone()
    };
    match label_only {
        false => Ok(plan),
        true => plan
            .with_label_only()
            .map_err(|why| BenchError::Usage(format!("--label-only: {}", why.0))),
    }
}

/// Opens one session at the cluster's server (its only model, or `model`) for answers of
/// kind `answer` and queries each of `inputs` in turn on a dedicated thread, ticking
/// `progress` after each query.
pub fn run_session(
    cluster: &Cluster,
    model: Option<String>,
    answer: AnswerKind,
    inputs: &[Vec<Ring>],
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> Result<Run, BenchError> {
    let options = Options {
        backend: answer.backend,
        label_only: answer.label_only,
        ..cluster.client_options(model)
    };
    let pins = Arc::new(cluster.client_pins()?);
    let identity = Arc::new(Identity::ephemeral("client")?);
    let handle = cluster.handle();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("veil-bench-client".into())
            .spawn_scoped(scope, || -> Result<Run, BenchError> {
                let (identity, pins) = (identity.clone(), pins.clone());
                let mut dialer = QuicDialer::new(identity, pins, handle, DEFAULT_CONNECT_TIMEOUT)
                    .with_shape(cluster.shape());
                let mut rng = Prg::from_os();
                let (session, _) = client::open(&mut dialer, &options, &mut rng)?;
                let run = query_all(session, inputs, stop, progress, &mut rng);
                dialer.close();
                run
            })
            .map_err(|_| BenchError::Internal("cannot start the client thread"))?;
        worker
            .join()
            .map_err(|_| BenchError::Internal("the client thread panicked"))?
    })
}

/// Runs the queries on an open session, then closes it.
fn query_all(
    mut session: Open<QuicTransport>,
    inputs: &[Vec<Ring>],
    stop: &AtomicBool,
    progress: &ProgressBar,
    rng: &mut Prg,
) -> Result<Run, BenchError> {
    let mut run = Run::default();
    let start = Instant::now();
    for input in inputs {
        if stop.load(Ordering::SeqCst) {
            run.interrupted = true;
            break;
        }
        let (next, answer) = session.query(input, rng)?;
        session = next;
        run.outputs.push(answer.output);
        run.reports.push(answer.report);
        progress.inc(1);
    }
    run.elapsed = start.elapsed();
    session.close();
    Ok(run)
}
