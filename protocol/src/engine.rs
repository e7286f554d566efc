//! The inference engine: a plan's layers in order, on shares, for either party.
//!
//! Phases (CONTRACT.md): *setup* once per client session (with a dealer, the masked
//! weights E = W − U; without one, the base OTs of two-party preprocessing), *offline* per
//! query (without a dealer the parties first make the material themselves:
//! [`server_material`], [`client_material`]; then the client turns its material into ready
//! output shares), *online* from the client's encoded input to its decoded output. The
//! server learns nothing: every value it receives is masked by one-time randomness. The
//! client learns the output only.
//! Each layer's traffic is metered under its own [`Scope`], and the server reveals its
//! output share at the end of the last layer. Outputs that a later layer adds as a
//! residual input are kept until then.
//!
//! After the offline phase a query needs nothing of its session: [`ServerQuery`] and
//! [`PreparedQuery`] encode to bytes, so a query made ahead of time can wait on disk and
//! be spent on a later connection (`veil-client precompute`).

pub mod cost;
mod kept;

use std::time::{Duration, Instant};

use crate::channel::{Channel, Phase, Scope, Transport};
use crate::error::ProtocolError;
use crate::layers::linear::{self, PreparedLinear};
use crate::layers::relu;
use crate::layers::relu_gc::{self, GarbledRelu, GcClient, GcServer, ReceivedRelu};
use crate::material::{LayerMaterial, LinearShare, QueryMaterial, ReluShare, SessionMasks};
use crate::plan::{Backend, LayerKind, Linear, Plan, Weights, Windows};
use crate::prep::TwoPartyPrep;
use crate::ring::Ring;
use crate::share::Role;

/// Where a session's correlated randomness comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preprocessing {
    /// A third party deals it; the server sends E = W − U at setup.
    Dealer,
    /// The two parties make it by oblivious transfer ([`crate::prep`]); there is no U.
    TwoParty,
}

/// What the server keeps from setup: the garbling session under the GC backend, and the
/// two-party preprocessing session without a dealer.
pub struct ServerSetup {
    gc: Option<GcServer>,
    prep: Option<TwoPartyPrep>,
}

/// What the client keeps from setup: with a dealer, E = W − U for every linear layer;
/// without one, the two-party preprocessing session; under GC, the evaluation session.
pub struct ClientSetup {
    masked_weights: Option<Vec<Vec<Ring>>>,
    gc: Option<GcClient>,
    prep: Option<TwoPartyPrep>,
}

/// The server's material for one query, ready for the online phase.
pub struct ServerQuery {
    layers: Vec<ServerLayer>,
}

enum ServerLayer {
    Linear(LinearShare),
    Relu(ReluShare),
    Garbled(GarbledRelu),
}

/// The client's material for one query, turned into ready output shares offline.
pub struct PreparedQuery {
    layers: Vec<ClientLayer>,
}

enum ClientLayer {
    Linear(PreparedLinear),
    Relu(ReluShare),
    Garbled(ReceivedRelu),
}

/// Wall time spent in each layer, in plan order.
#[derive(Clone, Debug, Default)]
pub struct LayerTimes(pub Vec<Duration>);

impl LayerTimes {
    /// Each layer's time in milliseconds.
    pub fn ms(&self) -> Vec<f64> {
        self.0.iter().map(|d| d.as_secs_f64() * 1e3).collect()
    }
}

/// The server's setup. With the dealer's session masks `masks`, it sends E = W − U for
/// each linear layer; without (`None`), it runs the base OTs of two-party preprocessing
/// and sends nothing of W. Under GC it then starts the garbling session (hash key, base
/// OTs).
pub fn server_setup<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    weights: &Weights,
    masks: Option<&SessionMasks>,
) -> Result<ServerSetup, ProtocolError> {
    weights
        .check(plan)
        .map_err(|_| ProtocolError::Misuse("the weights do not fit the plan"))?;
    let prep = match masks {
        Some(masks) => {
            for (i, ((index, _), w)) in plan.linear_layers().zip(&weights.linear).enumerate() {
                ch.enter(Scope::layer(Phase::Setup, index));
                linear::server_setup(ch, w, masks.linear(i))?;
            }
            None
        }
        None => Some(TwoPartyPrep::server(ch, plan, weights)?),
    };
    ch.enter(Scope::phase(Phase::Setup));
    let gc = match plan.backend {
        Backend::Gc => Some(relu_gc::server_setup(ch)?),
        Backend::Gmw => None,
    };
    Ok(ServerSetup { gc, prep })
}

/// The client's setup: with a dealer, receives E for each linear layer; without, runs
/// the base OTs of two-party preprocessing. Under GC it then joins the garbling session.
pub fn client_setup<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    preprocessing: Preprocessing,
) -> Result<ClientSetup, ProtocolError> {
    let (masked_weights, prep) = match preprocessing {
        Preprocessing::Dealer => {
            let mut masked_weights = Vec::new();
            for (index, layer) in plan.linear_layers() {
                ch.enter(Scope::layer(Phase::Setup, index));
                masked_weights.push(linear::client_setup(ch, layer)?);
            }
            (Some(masked_weights), None)
        }
        Preprocessing::TwoParty => (None, Some(TwoPartyPrep::client(ch, plan)?)),
    };
    ch.enter(Scope::phase(Phase::Setup));
    let gc = match plan.backend {
        Backend::Gc => Some(relu_gc::client_setup(ch)?),
        Backend::Gmw => None,
    };
    Ok(ClientSetup {
        masked_weights,
        gc,
        prep,
    })
}

/// Without a dealer, the server's share of one query's material, made with the client
/// (who calls [`client_material`] at once); then [`server_offline`] as with a dealer.
pub fn server_material<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    setup: &mut ServerSetup,
) -> Result<QueryMaterial, ProtocolError> {
    setup
        .prep
        .as_mut()
        .ok_or(PREP_MISSING)?
        .query(ch, plan, &mut |_| {})
}

/// Without a dealer, the client's share of one query's material, made with the server
/// (who calls [`server_material`] at once); then [`client_offline`] as with a dealer.
/// `done(index)` is called as each layer's material is ready.
pub fn client_material<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    setup: &mut ClientSetup,
    done: &mut dyn FnMut(usize),
) -> Result<QueryMaterial, ProtocolError> {
    setup
        .prep
        .as_mut()
        .ok_or(PREP_MISSING)?
        .query(ch, plan, done)
}

/// The server's offline step for one query: under GC it garbles each non-linear layer
/// (after the client's OTs) and sends the tables; the dealer's material passes through.
pub fn server_offline<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    setup: &mut ServerSetup,
    material: QueryMaterial,
) -> Result<ServerQuery, ProtocolError> {
    check_material(plan, &material, Role::Server)?;
    let mut layers = Vec::with_capacity(plan.layers.len());
    for (index, (layer, m)) in plan.layers.iter().zip(material.layers).enumerate() {
        layers.push(match m {
            LayerMaterial::Linear(share) => ServerLayer::Linear(share),
            LayerMaterial::Relu(share) => ServerLayer::Relu(share),
            LayerMaterial::Garbled => {
                let gc = setup.gc.as_mut().ok_or(GC_MISSING)?;
                let w = windows(&layer.kind)?;
                ch.enter(Scope::layer(Phase::Offline, index));
                let g = relu_gc::server_offline(ch, gc, plan.fixed, w.m, w.outputs())?;
                ServerLayer::Garbled(g)
            }
        });
    }
    Ok(ServerQuery { layers })
}

/// The client's offline step for one query: `E ⋆ V + [U⋆V]_c` for every linear layer
/// (`[W⋆V]_c` alone without a dealer);
/// under GC, OT on its share of each non-linear layer's input and the garbled tables.
pub fn client_offline<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    setup: &mut ClientSetup,
    material: QueryMaterial,
) -> Result<PreparedQuery, ProtocolError> {
    check_material(plan, &material, Role::Client)?;
    let mut masks = setup.masked_weights.as_ref().map(|m| m.iter());
    let mut layers: Vec<ClientLayer> = Vec::with_capacity(plan.layers.len());
    for (index, (layer, m)) in plan.layers.iter().zip(material.layers).enumerate() {
        layers.push(match (&layer.kind, m) {
            (LayerKind::Linear(linear), LayerMaterial::Linear(share)) => {
                let e = match &mut masks {
                    Some(m) => Some(m.next().ok_or(ProtocolError::Misuse("setup is missing"))?),
                    None => None,
                };
                let e = e.map(Vec::as_slice);
                ClientLayer::Linear(linear::client_prepare(e, linear, plan.fixed.f, share)?)
            }
            (LayerKind::Linear(_), _) => return Err(KINDS_DIFFER),
            (_, LayerMaterial::Relu(share)) => ClientLayer::Relu(share),
            (_, LayerMaterial::Garbled) => {
                // The layer's input share is the preceding linear layer's output share.
                let Some(ClientLayer::Linear(before)) = layers.last() else {
                    return Err(ProtocolError::Misuse("a ReLU must follow a linear layer"));
                };
                let gc = setup.gc.as_mut().ok_or(GC_MISSING)?;
                let w = windows(&layer.kind)?;
                ch.enter(Scope::layer(Phase::Offline, index));
                let x = before.output().to_vec();
                ClientLayer::Garbled(relu_gc::client_offline(ch, gc, plan.fixed, &w, &x)?)
            }
            _ => return Err(KINDS_DIFFER),
        });
    }
    Ok(PreparedQuery { layers })
}

const PREP_MISSING: ProtocolError =
    ProtocolError::Misuse("two-party material without a two-party setup");
const GC_MISSING: ProtocolError = ProtocolError::Misuse("garbled material without a GC setup");
const KINDS_DIFFER: ProtocolError = ProtocolError::Misuse("material kinds differ from the plan");

/// A non-linear layer's windows.
fn windows(kind: &LayerKind) -> Result<Windows, ProtocolError> {
    kind.windows().ok_or(ProtocolError::Misuse(
        "non-linear material for a linear layer",
    ))
}

/// The outputs of earlier layers that a later linear layer adds as its residual input.
struct Residuals {
    needed: Vec<bool>,
    values: Vec<Option<Vec<Ring>>>,
}

impl Residuals {
    fn new(plan: &Plan) -> Residuals {
        let mut needed = vec![false; plan.layers.len()];
        for (_, l) in plan.linear_layers() {
            if let Some(r) = l.residual {
                needed[r] = true;
            }
        }
        Residuals {
            values: vec![None; needed.len()],
            needed,
        }
    }

    fn keep(&mut self, index: usize, x: &[Ring]) {
        if self.needed[index] {
            self.values[index] = Some(x.to_vec());
        }
    }

    fn residual(&self, kind: &LayerKind) -> Result<Option<&[Ring]>, ProtocolError> {
        match kind {
            LayerKind::Linear(Linear {
                residual: Some(r), ..
            }) => self.values[*r]
                .as_deref()
                .map(Some)
                .ok_or(ProtocolError::Misuse(
                    "a residual input comes from a later layer",
                )),
            _ => Ok(None),
        }
    }
}

/// The server's online phase for one query.
pub fn server_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    weights: &Weights,
    query: ServerQuery,
) -> Result<LayerTimes, ProtocolError> {
    let mut weights = weights.linear.iter();
    let mut x: Option<Vec<Ring>> = None;
    let mut residuals = Residuals::new(plan);
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, (layer, material)) in plan.layers.iter().zip(query.layers).enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        let input = x.as_deref();
        let y = match (&layer.kind, material) {
            (LayerKind::Linear(linear), ServerLayer::Linear(share)) => {
                let w = weights
                    .next()
                    .ok_or(ProtocolError::Misuse("the weights do not fit the plan"))?;
                let residual = residuals.residual(&layer.kind)?;
                linear::server_online(ch, linear, w, plan.fixed.f, input, residual, share)?
            }
            (LayerKind::Linear(_), _) => return Err(KINDS_DIFFER),
            (kind, ServerLayer::Relu(share)) => {
                let input = input.ok_or(ProtocolError::Misuse("ReLU cannot come first"))?;
                relu::relu_trunc(ch, Role::Server, plan.fixed, &windows(kind)?, input, share)?
            }
            (kind, ServerLayer::Garbled(g)) => {
                let input = input.ok_or(ProtocolError::Misuse("ReLU cannot come first"))?;
                relu_gc::server_online(ch, plan.fixed, &windows(kind)?, g, input)?
            }
            _ => return Err(KINDS_DIFFER),
        };
        residuals.keep(index, &y);
        if index == last {
            ch.reveal_ring(&y)?;
        }
        x = Some(y);
        times.0.push(start.elapsed());
    }
    Ok(times)
}

/// The client's online phase: from its encoded input to the opened output.
pub fn client_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    plan: &Plan,
    prepared: PreparedQuery,
    input: &[Ring],
) -> Result<(Vec<Ring>, LayerTimes), ProtocolError> {
    if input.len() != plan.input_len() {
        return Err(ProtocolError::Misuse(
            "the input length differs from the plan's",
        ));
    }
    let mut x = input.to_vec();
    let mut residuals = Residuals::new(plan);
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, (layer, prepared)) in plan.layers.iter().zip(prepared.layers).enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        x = match prepared {
            ClientLayer::Linear(p) => {
                linear::client_online(ch, &x, residuals.residual(&layer.kind)?, p)?
            }
            ClientLayer::Relu(share) => {
                let w = windows(&layer.kind)?;
                relu::relu_trunc(ch, Role::Client, plan.fixed, &w, &x, share)?
            }
            ClientLayer::Garbled(r) => {
                let m = windows(&layer.kind)?.m;
                relu_gc::client_online(ch, plan.fixed, m, r)?
            }
        };
        residuals.keep(index, &x);
        if index == last {
            x = ch.receive_reveal(&x)?;
        }
        times.0.push(start.elapsed());
    }
    Ok((x, times))
}

fn check_material(plan: &Plan, m: &QueryMaterial, role: Role) -> Result<(), ProtocolError> {
    if m.role != role {
        return Err(ProtocolError::Misuse("material of the other party"));
    }
    if m.layers.len() != plan.layers.len() {
        return Err(ProtocolError::Material(
            "layer count differs from the plan".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
