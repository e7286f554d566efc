//! One-time correlated randomness, shaped by the plan, and its seed-compressed messages.
//!
//! Per client session the dealer draws a seed for U, the mask of every weight matrix; the
//! server gets that seed once (setup) and sends E = W − U to the client. Per query the
//! dealer draws a fresh 16-byte seed for each party: the server's whole share comes from
//! its seed; the client gets its seed plus *corrections*, the parts of its share that must
//! agree with the server's (1 bit per AND triple, one ring element per product). Per query
//! that is, for each linear layer: V (client), shares of U·V; for each ReLU of n values:
//! the carry circuit's AND triples, one bit-times-ring pair, two injection pairs.
//!
//! A [`QueryMaterial`] is consumed by the query that spends it, so it cannot be spent
//! twice; the dealer never serves a [`MaterialMsg`] twice.

mod draw;

pub use draw::{BitRing, InjectPair, LinearShare};

use draw::{Corrections, Draw};

use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::gmw::BitTriple;
use crate::layers::relu;
use crate::plan::{Backend, LayerKind, Plan};
use crate::prg::{Prg, Seed};
use crate::ring::Ring;
use crate::share::Role;

/// One party's share of a ReLU (or max-pool ReLU) layer's material, sized for all its
/// candidates.
#[derive(Clone, Debug)]
pub struct ReluShare {
    /// AND triples for the carry circuit, the selection and the two closing ANDs, in gate
    /// order ([`relu::schedule`]).
    pub triples: Vec<BitTriple>,
    /// The bit-times-ring pair for sign · truncated value.
    pub product: BitRing,
    /// Injection pair for sign ∧ rounding carry.
    pub carry: InjectPair,
    /// Injection pair for sign ∧ wrap.
    pub wrap: InjectPair,
}

/// One party's share of one layer's material.
#[derive(Clone, Debug)]
pub enum LayerMaterial {
    /// For a linear layer.
    Linear(LinearShare),
    /// For a ReLU layer under GMW.
    Relu(ReluShare),
    /// For a ReLU layer under garbled circuits: nothing from the dealer; the parties garble
    /// and run OT themselves.
    Garbled,
}

/// One party's material for one query, layer by layer in plan order.
#[derive(Debug)]
pub struct QueryMaterial {
    /// Whose share this is.
    pub role: Role,
    /// One entry per plan layer.
    pub layers: Vec<LayerMaterial>,
}

/// The session masks U, one matrix per linear layer, expanded from the session seed.
pub struct SessionMasks(Vec<Vec<Ring>>);

impl SessionMasks {
    /// Expands the session seed (the dealer's, and the server's at setup).
    pub fn expand(plan: &Plan, seed: Seed) -> SessionMasks {
        let mut prg = Prg::new(seed);
        SessionMasks(
            plan.linear_layers()
                .map(|(_, l)| prg.ring_vec(l.op.weight_len()))
                .collect(),
        )
    }

    /// The mask of the `i`-th linear layer.
    pub fn linear(&self, i: usize) -> &[Ring] {
        &self.0[i]
    }
}

/// What the dealer sends one party for one query: a seed and the corrections.
#[derive(Clone, PartialEq, Eq)]
pub struct MaterialMsg {
    /// Seed of the party's PRG.
    pub seed: Seed,
    /// The client's corrections (empty for the server).
    pub corrections: Vec<u8>,
}

impl std::fmt::Debug for MaterialMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MaterialMsg({} correction bytes)",
            self.corrections.len()
        )
    }
}

impl MaterialMsg {
    /// Encodes the message: seed then corrections.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(16 + self.corrections.len());
        w.bytes(&self.seed.0).bytes(&self.corrections);
        w.into_bytes()
    }

    /// Decodes a message for `role`, whose length the plan fixes.
    pub fn decode(plan: &Plan, role: Role, bytes: &[u8]) -> Result<MaterialMsg, DecodeError> {
        let mut r = Reader::new(bytes);
        let seed = Seed(r.array("material seed")?);
        let n = match role {
            Role::Server => 0,
            Role::Client => correction_len(plan),
        };
        let corrections = r.take(n, "material corrections")?.to_vec();
        r.finish()?;
        Ok(MaterialMsg { seed, corrections })
    }
}

/// Bytes of corrections the client receives per query.
pub fn correction_len(plan: &Plan) -> usize {
    let mut d = Draw {
        server: None,
        client: None,
        corrections: Corrections::Skip(0),
    };
    draw_plan(plan, &mut d, None).expect("counting never fails");
    match d.corrections {
        Corrections::Skip(n) => n,
        _ => unreachable!("counted with Skip"),
    }
}

/// Bytes of corrections per layer, in plan order (they sum to [`correction_len`]).
pub fn correction_len_by_layer(plan: &Plan) -> Vec<usize> {
    plan.layers
        .iter()
        .map(|layer| {
            let mut d = Draw {
                server: None,
                client: None,
                corrections: Corrections::Skip(0),
            };
            draw_layer(plan, &layer.kind, &mut d, None).expect("counting never fails");
            match d.corrections {
                Corrections::Skip(n) => n,
                _ => unreachable!("counted with Skip"),
            }
        })
        .collect()
}

/// The dealer's work for one query: fresh OS-seeded material for both parties.
pub fn deal(plan: &Plan, masks: &SessionMasks) -> (MaterialMsg, MaterialMsg) {
    let (s_seed, c_seed) = (Seed::random(), Seed::random());
    let (mut s_prg, mut c_prg) = (Prg::new(s_seed), Prg::new(c_seed));
    let mut out = Writer::with_capacity(correction_len(plan));
    let mut d = Draw {
        server: Some(&mut s_prg),
        client: Some(&mut c_prg),
        corrections: Corrections::Write(&mut out),
    };
    draw_plan(plan, &mut d, Some(masks)).expect("writing never fails");
    (
        MaterialMsg {
            seed: s_seed,
            corrections: Vec::new(),
        },
        MaterialMsg {
            seed: c_seed,
            corrections: out.into_bytes(),
        },
    )
}

/// A party expands its message into its share of the query's material.
pub fn expand(plan: &Plan, role: Role, msg: MaterialMsg) -> Result<QueryMaterial, ProtocolError> {
    let mut prg = Prg::new(msg.seed);
    let mut d = match role {
        Role::Server => Draw {
            server: Some(&mut prg),
            client: None,
            corrections: Corrections::Skip(0),
        },
        Role::Client => Draw {
            server: None,
            client: Some(&mut prg),
            corrections: Corrections::Read(Reader::new(&msg.corrections)),
        },
    };
    let (s, c) = draw_plan(plan, &mut d, None)?;
    if let Corrections::Read(r) = d.corrections {
        r.finish()?;
    }
    let layers = match role {
        Role::Server => s,
        Role::Client => c,
    };
    Ok(QueryMaterial { role, layers })
}

/// Draws every layer's material in plan order.
fn draw_plan(
    plan: &Plan,
    d: &mut Draw<'_>,
    masks: Option<&SessionMasks>,
) -> Result<(Vec<LayerMaterial>, Vec<LayerMaterial>), DecodeError> {
    let (mut server, mut client) = (Vec::new(), Vec::new());
    let mut linear = 0;
    for layer in &plan.layers {
        let u = match layer.kind {
            LayerKind::Linear(_) => {
                linear += 1;
                masks.map(|m| m.linear(linear - 1))
            }
            _ => None,
        };
        let (s, c) = draw_layer(plan, &layer.kind, d, u)?;
        server.extend(s);
        client.extend(c);
    }
    Ok((server, client))
}

/// Draws one layer's material; `u` is the layer's session mask (dealer only).
fn draw_layer(
    plan: &Plan,
    kind: &LayerKind,
    d: &mut Draw<'_>,
    u: Option<&[Ring]>,
) -> Result<(Option<LayerMaterial>, Option<LayerMaterial>), DecodeError> {
    let windows = match kind {
        LayerKind::Linear(linear) => {
            let (s, c) = d.linear(linear, u)?;
            return Ok((s.map(LayerMaterial::Linear), c.map(LayerMaterial::Linear)));
        }
        _ if plan.backend == Backend::Gc => {
            let side = |p: &Option<&mut Prg>| p.is_some().then_some(LayerMaterial::Garbled);
            return Ok((side(&d.server), side(&d.client)));
        }
        _ => kind.windows().expect("a non-linear layer has windows"),
    };
    let (m, n) = (windows.m, windows.outputs());
    let widths: Vec<usize> = relu::schedule(plan.fixed, m, n)
        .into_iter()
        .flat_map(|(gates, width)| std::iter::repeat_n(width, gates))
        .collect();
    let (st, ct) = d.triples(&widths)?;
    let (sp, cp) = d.bit_ring(m * n)?;
    let (sc, cc) = d.inject_pair(m * n)?;
    let (sw, cw) = d.inject_pair(m * n)?;
    let relu = |triples: Option<_>, product: Option<_>, carry: Option<_>, wrap| {
        Some(LayerMaterial::Relu(ReluShare {
            triples: triples?,
            product: product?,
            carry: carry?,
            wrap: wrap?,
        }))
    };
    Ok((relu(st, sp, sc, sw), relu(ct, cp, cc, cw)))
}

#[cfg(test)]
mod tests;
