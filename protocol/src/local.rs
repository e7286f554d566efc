//! Both parties' engines in one process over an in-memory pipe, with the dealer's work done
//! in process or no dealer at all: for tests of the engine alone, with no session messages
//! (the whole session, wire messages and dealer included, runs in memory through
//! [`crate::session`]).

use std::thread;

use rand_core::{CryptoRng, RngCore};

use crate::channel::{Channel, MemTransport, Meter, Scope};
use crate::engine::{
    self, deal, ClientSetup, Preprocessing, ServerSetup, ServerSource, SessionMasks,
};
use crate::error::ProtocolError;
use crate::plan::{Plan, Weights};
use crate::prg::{Prg, Seed};
use crate::ring::Ring;

/// The outcome of one local run.
pub struct LocalRun {
    /// The opened output (scale 2^`plan.output_frac()`).
    pub output: Vec<Ring>,
    /// The server's meter of its channel to the client.
    pub server: Meter,
    /// The client's meter of its channel to the server.
    pub client: Meter,
}

/// Runs setup and one query of `plan` on `input` (already encoded) with the material from
/// `preprocessing`: a dealer's drawn in process, or made by the two parties. Every
/// random choice comes from `rng` (each party's thread gets a generator split off it).
pub fn run_local(
    plan: &Plan,
    weights: &Weights,
    input: &[Ring],
    preprocessing: Preprocessing,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<LocalRun, ProtocolError> {
    let masks;
    let source = match preprocessing {
        Preprocessing::Dealer => {
            masks = SessionMasks::expand(plan, Seed::from_rng(rng));
            ServerSource::Dealer(&masks)
        }
        Preprocessing::TwoParty(linear, ot) => ServerSource::TwoParty(linear, ot),
    };
    let (s_msg, c_msg) = match source {
        ServerSource::Dealer(masks) => Some(deal(masks, rng)),
        ServerSource::TwoParty(..) => None,
    }
    .unzip();
    let (mut server_rng, mut client_rng) =
        (Prg::new(Seed::from_rng(rng)), Prg::new(Seed::from_rng(rng)));
    let (a, b) = MemTransport::pair();
    thread::scope(|scope| {
        let server = scope.spawn(move || -> Result<Meter, ProtocolError> {
            let rng = &mut server_rng;
            let mut ch = Channel::new(a);
            let mut setup = ServerSetup::run(&mut ch, plan, weights, source, rng)?;
            let material = match s_msg {
                Some(msg) => setup.expand(msg)?,
                None => setup.make(&mut ch)?,
            };
            let query = setup.offline(&mut ch, material, rng)?;
            engine::server_online(&mut ch, plan, weights, query)?;
            ch.enter(Scope::CONTROL);
            Ok(ch.meter().clone())
        });
        let rng = &mut client_rng;
        let mut ch = Channel::new(b);
        let mut setup = ClientSetup::run(&mut ch, plan, preprocessing, rng)?;
        let material = match c_msg {
            Some(msg) => setup.expand(msg)?,
            None => setup.make(&mut ch, &mut |_| {})?,
        };
        let prepared = setup.offline(&mut ch, material, rng)?;
        let (output, _) = engine::client_online(&mut ch, plan, prepared, input)?;
        ch.enter(Scope::CONTROL);
        let server = server
            .join()
            .map_err(|_| ProtocolError::Internal("the server thread panicked"))??;
        Ok(LocalRun {
            output,
            server,
            client: ch.meter().clone(),
        })
    })
}
