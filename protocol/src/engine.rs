//! The inference engine: a plan's layers in order, on shares, for either party.
//!
//! Phases (CONTRACT.md): *setup* once per client session (the masked weights E = W − U),
//! *offline* per query (the client turns its material into ready output shares), *online*
//! from the client's encoded input to its decoded output. The server learns nothing: every
//! value it receives is masked by one-time randomness. The client learns the output only.
//! Each layer's traffic is metered under its own [`Scope`], and the server reveals its
//! output share at the end of the last layer.

pub mod cost;

use std::time::{Duration, Instant};

use crate::channel::{Channel, Phase, Scope, Transport};
use crate::error::ProtocolError;
use crate::layers::linear::{self, PreparedLinear};
use crate::layers::relu;
use crate::material::{LayerMaterial, QueryMaterial, ReluShare, SessionMasks};
use crate::plan::{LayerKind, Plan, Weights};
use crate::ring::Ring;
use crate::share::Role;

/// What the client keeps from setup: E = W − U for every linear layer.
pub struct ClientSetup {
    masked_weights: Vec<Vec<Ring>>,
}

/// The client's material for one query, turned into ready output shares offline.
pub struct PreparedQuery {
    layers: Vec<ClientLayer>,
}

enum ClientLayer {
    Linear(PreparedLinear),
    Relu(ReluShare),
}

/// Wall time spent in each layer, in plan order.
#[derive(Clone, Debug, Default)]
pub struct LayerTimes(pub Vec<Duration>);

/// The server's setup: sends E = W − U for each linear layer.
pub fn server_setup<T: Transport>(
    ch: &mut Channel<T>,
    plan: &Plan,
    weights: &Weights,
    masks: &SessionMasks,
) -> Result<(), ProtocolError> {
    weights
        .check(plan)
        .map_err(|_| ProtocolError::Misuse("the weights do not fit the plan"))?;
    for (i, ((index, _), w)) in linear_layers(plan).zip(&weights.linear).enumerate() {
        ch.enter(Scope::layer(Phase::Setup, index));
        linear::server_setup(ch, w, masks.linear(i))?;
    }
    Ok(())
}

/// The client's setup: receives E for each linear layer.
pub fn client_setup<T: Transport>(
    ch: &mut Channel<T>,
    plan: &Plan,
) -> Result<ClientSetup, ProtocolError> {
    let mut masked_weights = Vec::new();
    for (index, l) in plan.layers.iter().enumerate() {
        if let LayerKind::Linear { rows, cols } = l.kind {
            ch.enter(Scope::layer(Phase::Setup, index));
            masked_weights.push(linear::client_setup(ch, rows, cols)?);
        }
    }
    Ok(ClientSetup { masked_weights })
}

/// The client's offline step: computes `E·V + [UV]_c` for every linear layer.
pub fn client_prepare(
    plan: &Plan,
    setup: &ClientSetup,
    material: QueryMaterial,
) -> Result<PreparedQuery, ProtocolError> {
    check_material(plan, &material, Role::Client)?;
    let mut masks = setup.masked_weights.iter();
    let layers = plan
        .layers
        .iter()
        .zip(material.layers)
        .map(|(l, m)| match (&l.kind, m) {
            (LayerKind::Linear { rows, cols }, LayerMaterial::Linear(share)) => {
                let e = masks
                    .next()
                    .ok_or(ProtocolError::Misuse("setup is missing"))?;
                Ok(ClientLayer::Linear(linear::client_prepare(
                    e, *rows, *cols, share,
                )?))
            }
            (LayerKind::ReluTrunc { .. }, LayerMaterial::Relu(share)) => {
                Ok(ClientLayer::Relu(share))
            }
            _ => Err(ProtocolError::Material(
                "material kinds differ from the plan".into(),
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok(PreparedQuery { layers })
}

/// The server's online phase for one query.
pub fn server_online<T: Transport>(
    ch: &mut Channel<T>,
    plan: &Plan,
    weights: &Weights,
    material: QueryMaterial,
) -> Result<LayerTimes, ProtocolError> {
    check_material(plan, &material, Role::Server)?;
    let mut weights = weights.linear.iter();
    let mut x: Option<Vec<Ring>> = None;
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, m) in material.layers.into_iter().enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        x = Some(match m {
            LayerMaterial::Linear(share) => {
                let w = weights
                    .next()
                    .ok_or(ProtocolError::Misuse("the weights do not fit the plan"))?;
                linear::server_online(ch, w, x.as_deref(), share)?
            }
            LayerMaterial::Relu(share) => {
                let input = x
                    .as_deref()
                    .ok_or(ProtocolError::Misuse("ReLU cannot come first"))?;
                relu::relu_trunc(ch, Role::Server, plan.fixed, input, share)?
            }
        });
        if index == last {
            ch.reveal_ring(x.as_deref().unwrap_or_default())?;
        }
        times.0.push(start.elapsed());
    }
    Ok(times)
}

/// The client's online phase: from its encoded input to the opened output.
pub fn client_online<T: Transport>(
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
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, layer) in prepared.layers.into_iter().enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        x = match layer {
            ClientLayer::Linear(p) => linear::client_online(ch, &x, p)?,
            ClientLayer::Relu(share) => relu::relu_trunc(ch, Role::Client, plan.fixed, &x, share)?,
        };
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

/// (plan index, shape) of every linear layer.
fn linear_layers(plan: &Plan) -> impl Iterator<Item = (usize, (usize, usize))> + '_ {
    plan.layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l.kind {
            LayerKind::Linear { rows, cols } => Some((i, (rows, cols))),
            LayerKind::ReluTrunc { .. } => None,
        })
}

#[cfg(test)]
mod tests;
