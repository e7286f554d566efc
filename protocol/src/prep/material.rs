//! A whole query's material without a dealer: the same [`QueryMaterial`] the dealer's
//! seeds expand to, made by the two parties with this module's generators, so the online
//! phase cannot tell where it came from.
//!
//! Per layer, in plan order, both parties at once:
//! - linear: the client draws a fresh mask V (OS-seeded); Gilboa's product gives shares
//!   of M(W)·V = W ⋆ V ([`super::weights_share`], [`super::mask_share`]). There is no
//!   session mask U and no E = W − U: the client's prepared output is [W ⋆ V]_c alone.
//! - ReLU or max-pool under GMW: the AND triples of [`relu::schedule`] in one batch, then
//!   a bit-ring pair and two injection pairs per candidate in one exchange
//!   ([`relu_pairs`]): three flights per layer (for up to 2^20 triples).
//! - under garbled circuits: nothing here; the engine's offline step garbles.
//!
//! Bytes per layer, both directions ([`offline_bytes`]): a linear layer's
//! [`linear_bytes`]; a GMW layer of T AND gates and N = m·n candidates
//! 2·ot(T) + ot(3N) + ot(N) + 40·N, ot(n) being 16 bytes per OT rounded up to IKNP's
//! blocks ([`ot_bytes`]).
//!
//! Each party meters a layer's traffic under `Scope::layer(Phase::Offline, index)`. The
//! session's base OTs (set-up, once per client session) go under `Phase::Setup`.

use super::matrix::LinearMatrix;
use super::relu::relu_pairs;
use super::session::PrepSession;
use super::triples::and_triples_of;
use super::vole::ot_bytes;
use super::{linear_bytes, mask_share, weights_share};
use crate::channel::{Channel, Phase, Scope, Transport};
use crate::error::ProtocolError;
use crate::layers::relu;
use crate::material::{LayerMaterial, LinearShare, QueryMaterial, ReluShare};
use crate::plan::{Backend, LayerKind, Plan, Weights};
use crate::ring::Ring;
use crate::share::Role;

/// One party's two-party preprocessing for a client session: its OT session and each
/// linear layer's matrix, derived once (with the server's values of M(W)).
pub struct TwoPartyPrep {
    session: PrepSession,
    linear: Vec<LinearLayer>,
}

struct LinearLayer {
    matrix: LinearMatrix,
    /// M(W)'s nonzeros (the server's); empty on the client.
    values: Vec<Ring>,
}

impl std::fmt::Debug for TwoPartyPrep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoPartyPrep")
            .field("session", &self.session)
            .field("linear_layers", &self.linear.len())
            .finish()
    }
}

impl TwoPartyPrep {
    /// The server's set-up: base OTs, and M(W) of every linear layer.
    pub fn server<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        plan: &Plan,
        weights: &Weights,
    ) -> Result<TwoPartyPrep, ProtocolError> {
        weights
            .check(plan)
            .map_err(|_| ProtocolError::Misuse("the weights do not fit the plan"))?;
        let mut linear = Vec::new();
        for ((_, layer), w) in plan.linear_layers().zip(&weights.linear) {
            let matrix = LinearMatrix::of(layer)?;
            let values = matrix.weights(&w.w)?;
            linear.push(LinearLayer { matrix, values });
        }
        Self::setup(ch, Role::Server, linear)
    }

    /// The client's set-up: base OTs, and the pattern of every linear layer.
    pub fn client<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        plan: &Plan,
    ) -> Result<TwoPartyPrep, ProtocolError> {
        let linear = plan
            .linear_layers()
            .map(|(_, layer)| {
                Ok(LinearLayer {
                    matrix: LinearMatrix::of(layer)?,
                    values: Vec::new(),
                })
            })
            .collect::<Result<_, ProtocolError>>()?;
        Self::setup(ch, Role::Client, linear)
    }

    fn setup<T: Transport + ?Sized>(
        ch: &mut Channel<T>,
        role: Role,
        linear: Vec<LinearLayer>,
    ) -> Result<TwoPartyPrep, ProtocolError> {
        ch.enter(Scope::phase(Phase::Setup));
        let session = PrepSession::setup(ch, role)?;
        Ok(TwoPartyPrep { session, linear })
    }

    /// Makes this party's share of one query's material with the peer, who calls it at
    /// once on the same plan. `done(index)` is called as each layer's material is ready
    /// (for a progress display; [`offline_bytes`] weighs the layers).
    pub fn query<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        plan: &Plan,
        done: &mut dyn FnMut(usize),
    ) -> Result<QueryMaterial, ProtocolError> {
        let role = self.session.role();
        let mut linear = self.linear.iter();
        let mut layers = Vec::with_capacity(plan.layers.len());
        for (index, layer) in plan.layers.iter().enumerate() {
            ch.enter(Scope::layer(Phase::Offline, index));
            layers.push(match &layer.kind {
                LayerKind::Linear(_) => {
                    let l = linear
                        .next()
                        .ok_or(ProtocolError::Misuse("the plan differs from the set-up's"))?;
                    LayerMaterial::Linear(linear_share(&mut self.session, ch, l)?)
                }
                _ if plan.backend == Backend::Gc => LayerMaterial::Garbled,
                kind => LayerMaterial::Relu(relu_share(&mut self.session, ch, plan, kind)?),
            });
            done(index);
        }
        Ok(QueryMaterial { role, layers })
    }
}

/// Shares of W ⋆ V for one linear layer, V the client's fresh mask.
fn linear_share<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    layer: &LinearLayer,
) -> Result<LinearShare, ProtocolError> {
    let pattern = layer.matrix.pattern();
    match session.role() {
        Role::Server => Ok(LinearShare {
            mask: Vec::new(),
            uv: weights_share(session, ch, pattern, &layer.values)?,
        }),
        Role::Client => {
            let mask = session.ring_vec(pattern.cols());
            let uv = mask_share(session, ch, pattern, &mask)?;
            Ok(LinearShare { mask, uv })
        }
    }
}

/// A GMW ReLU or max-pool layer's material, in the order [`ReluShare`] lists it.
fn relu_share<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    plan: &Plan,
    kind: &LayerKind,
) -> Result<ReluShare, ProtocolError> {
    let windows = kind.windows().ok_or(ProtocolError::Misuse(
        "non-linear material for a linear layer",
    ))?;
    let (m, n) = (windows.m, windows.outputs());
    let widths: Vec<usize> = relu::schedule(plan.fixed, m, n)
        .into_iter()
        .flat_map(|(gates, width)| std::iter::repeat_n(width, gates))
        .collect();
    let triples = and_triples_of(session, ch, &widths)?;
    let (product, carry, wrap) = relu_pairs(session, ch, m * n)?;
    Ok(ReluShare {
        triples,
        product,
        carry,
        wrap,
    })
}

/// Payload bytes of each layer's two-party preprocessing, both directions, in plan order
/// (0 for the non-linear layers under garbled circuits: the engine's offline step counts
/// those).
pub fn offline_bytes(plan: &Plan) -> Result<Vec<u64>, ProtocolError> {
    plan.layers
        .iter()
        .map(|layer| {
            let bytes = match &layer.kind {
                LayerKind::Linear(l) => {
                    let (server, client) = linear_bytes(LinearMatrix::of(l)?.pattern());
                    server + client
                }
                _ if plan.backend == Backend::Gc => 0,
                kind => {
                    let w = kind.windows().ok_or(ProtocolError::Misuse(
                        "non-linear material for a linear layer",
                    ))?;
                    let (m, n) = (w.m, w.outputs());
                    let ands = relu::and_gates(plan.fixed, m, n);
                    let c = m * n;
                    2 * ot_bytes(ands) + ot_bytes(3 * c) + ot_bytes(c) + 40 * c
                }
            };
            Ok(bytes as u64)
        })
        .collect()
}
