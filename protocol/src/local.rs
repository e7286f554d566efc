//! Both parties in one process over an in-memory pipe, with the dealer's work done in
//! process: for tests and examples, where no network or third machine is wanted.

use std::thread;

use crate::channel::{Channel, MemTransport, Meter, Phase, Scope};
use crate::engine;
use crate::error::ProtocolError;
use crate::material::{deal, expand, SessionMasks};
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

/// Runs setup and one query of `plan` on `input` (already encoded).
pub fn run_local(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
) -> Result<LocalRun, ProtocolError> {
    let masks = SessionMasks::expand(plan, Seed::random());
    let (s_msg, c_msg) = deal(plan, &masks);
    let (a, b) = MemTransport::pair();
    thread::scope(|scope| {
        let server = scope.spawn(|| -> Result<Meter, ProtocolError> {
            let mut ch = Channel::new(a);
            let mut setup = engine::server_setup(&mut ch, plan, weights, &masks)?;
            let material = expand(plan, Role::Server, s_msg)?;
            let query = engine::server_offline(&mut ch, plan, &mut setup, material)?;
            engine::server_online(&mut ch, plan, weights, &setup, query)?;
            ch.enter(Scope::CONTROL);
            Ok(ch.meter().clone())
        });
        let mut ch = Channel::new(b);
        let mut setup = engine::client_setup(&mut ch, plan)?;
        ch.enter(Scope::phase(Phase::Offline));
        let material = expand(plan, Role::Client, c_msg)?;
        let prepared = engine::client_offline(&mut ch, plan, &mut setup, material)?;
        let (output, _) = engine::client_online(&mut ch, plan, &mut setup, prepared, input)?;
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
