//! Both parties in one process over an in-memory pipe, with the dealer's work done in
//! process or no dealer at all: for tests and examples, where no network or third
//! machine is wanted.

use std::thread;

use crate::channel::{Channel, MemTransport, Meter, Phase, Scope};
use crate::engine::{self, Preprocessing};
use crate::error::ProtocolError;
use crate::material::{deal, expand, MaterialMsg, QueryMaterial, SessionMasks};
use crate::plan::{Plan, Weights};
use crate::prg::Seed;
use crate::ring::Ring;
use crate::share::Role;

/// The outcome of one local run.
pub struct LocalRun {
    /// The opened output (scale 2^`plan.output_frac()`).
    pub output: Vec<Ring>,
    /// The server's meter of its channel to the client.
    pub server: Meter,
    /// The client's meter of its channel to the server.
    pub client: Meter,
}

/// Runs setup and one query of `plan` on `input` (already encoded), with the dealer's
/// material drawn in process.
pub fn run_local(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
) -> Result<LocalRun, ProtocolError> {
    run(plan, weights, input, Preprocessing::Dealer)
}

/// Runs setup and one query of `plan` on `input` without a dealer: the two parties make
/// the material by oblivious transfer.
pub fn run_local_two_party(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
) -> Result<LocalRun, ProtocolError> {
    run(plan, weights, input, Preprocessing::TwoParty)
}

/// Where one party's material comes from: the dealer's message, or the peer.
enum Source {
    Dealt(MaterialMsg),
    TwoParty,
}

fn run(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    preprocessing: Preprocessing,
) -> Result<LocalRun, ProtocolError> {
    let (masks, s_src, c_src) = match preprocessing {
        Preprocessing::Dealer => {
            let masks = SessionMasks::expand(plan, Seed::random());
            let (s_msg, c_msg) = deal(plan, &masks);
            (Some(masks), Source::Dealt(s_msg), Source::Dealt(c_msg))
        }
        Preprocessing::TwoParty => (None, Source::TwoParty, Source::TwoParty),
    };
    let (a, b) = MemTransport::pair();
    thread::scope(|scope| {
        let server = scope.spawn(|| -> Result<Meter, ProtocolError> {
            let mut ch = Channel::new(a);
            let mut setup = engine::server_setup(&mut ch, plan, weights, masks.as_ref())?;
            let material = match s_src {
                Source::Dealt(msg) => expand(plan, Role::Server, msg)?,
                Source::TwoParty => engine::server_material(&mut ch, plan, &mut setup)?,
            };
            let query = engine::server_offline(&mut ch, plan, &mut setup, material)?;
            engine::server_online(&mut ch, plan, weights, query)?;
            ch.enter(Scope::CONTROL);
            Ok(ch.meter().clone())
        });
        let mut ch = Channel::new(b);
        let mut setup = engine::client_setup(&mut ch, plan, preprocessing)?;
        ch.enter(Scope::phase(Phase::Offline));
        let material: QueryMaterial = match c_src {
            Source::Dealt(msg) => expand(plan, Role::Client, msg)?,
            Source::TwoParty => engine::client_material(&mut ch, plan, &mut setup, &mut |_| {})?,
        };
        let prepared = engine::client_offline(&mut ch, plan, &mut setup, material)?;
        let (output, _) = engine::client_online(&mut ch, plan, prepared, input)?;
        ch.enter(Scope::CONTROL);
        let server = server
            .join()
            .map_err(|_| ProtocolError::Misuse("the server thread panicked"))??;
        Ok(LocalRun {
            output,
            server,
            client: ch.meter().clone(),
        })
    })
}
