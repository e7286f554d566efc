//! The protocol of each layer kind, behind one trait (`LayerProtocol`), and the table
//! that picks a layer's protocol from its kind and the session's backend.
//!
//! A layer protocol says, for one layer of a plan:
//! - its **cost**: the online messages replayed on the round clocks ([`Clocks`]), the
//!   setup bytes, the two-party preprocessing bytes (the dealer's correction bytes come
//!   from drawing the material without writing it);
//! - its **setup**: what each party keeps of the session for this layer (the client's
//!   masked weights E = W − U of a linear layer; without a dealer, the server's matrix
//!   M(W));
//! - its **material** for one query from each source: drawn from the dealer's seeds
//!   (`Draw`: the dealer draws both sides, each party its own, by the same code) or made
//!   by the two parties with oblivious transfer ([`PrepSession`]);
//! - each party's **offline step** (garbling, the client's E ⋆ V), which turns material
//!   into what the online phase spends and what may wait on disk (`Stored`);
//! - each party's **online step**.
//!
//! | layer kind | backend | module |
//! |---|---|---|
//! | linear: dense, convolution, sum-pool, with a residual input | both | [`linear`], [`residual`] |
//! | ReLU with exact truncation | GMW | [`relu_gmw`] |
//! | ReLU with exact truncation | garbled circuits | [`relu_gc`] |
//! | max-pool with its ReLU | both | [`maxpool`], run by [`relu_gmw`] or [`relu_gc`] |
//! | argmax: the label alone | GMW | [`argmax`] |
//! | argmax: the label alone | garbled circuits | [`relu_gc`], its [`relu_gc::Circuit::Argmax`] |
//!
//! The engine holds a plan's protocols as `Layer` trait objects in a `Stack`. Each
//! piece of material and each ready state travels inside an object with the protocol that
//! made it (`boxed`), so a layer can only ever be handed its own kind's material: there
//! is no combination to check at run time.
//!
//! Adding a layer kind: its shape in `veil-plan`, a module here with a type implementing
//! `LayerProtocol`, and its line in `Stack::of`'s table.

pub mod argmax;
mod boxed;
mod cost;
pub mod linear;
pub mod maxpool;
pub mod relu_gc;
pub mod relu_gmw;
pub mod residual;

use std::sync::Arc;

use rand_core::CryptoRngCore;

pub(crate) use boxed::{
    ClientLayer, ClientPiece, ClientStep, Layer, ServerLayer, ServerPiece, ServerStep,
};
pub use cost::Clocks;

use crate::channel::Link;
use crate::codec::DecodeError;
use crate::error::ProtocolError;
use crate::he::exchange::{output_bits, HeClient, HeServer};
use crate::material::{Draw, LinearPrep, OtKind, Pair, Preprocessing};
use crate::plan::{Backend, LayerKind, LinearWeights, Plan, Windows};
use crate::prep::{PairsAhead, PrepSession};
use crate::ring::Ring;
use crate::stored::Stored;
use argmax::ArgmaxGmw;
use linear::LinearLayer;
use relu_gc::{Circuit, GcClient, GcServer, ReluGc};
use relu_gmw::ReluGmw;

/// The protocol of one layer kind, for one layer's public shape. See the module doc.
///
/// Material, ready states and session state are the protocol's own types: the generic
/// glue in [`boxed`] pairs each with its protocol, so they never meet another kind's.
pub(crate) trait LayerProtocol: Send + Sync + Sized + 'static {
    /// The tag of this protocol's ready states in a kept query's bytes.
    const TAG: u8;
    /// What the server keeps of the session for this layer.
    type ServerSession: Send + Sync + 'static;
    /// What the client keeps of the session for this layer.
    type ClientSession: Send + Sync + 'static;
    /// The server's material for one query, from either source.
    type ServerMaterial: Send + 'static;
    /// The client's material for one query, from either source.
    type ClientMaterial: Send + 'static;
    /// What the server's online step spends.
    type ServerReady: Stored + Send + 'static;
    /// What the client's online step spends.
    type ClientReady: Stored + Send + 'static;

    /// Replays the layer's online messages on `clocks`; returns their payload bytes, both
    /// directions.
    fn online_cost(&self, clocks: &mut Clocks) -> u64;
    /// Payload bytes of this layer's own setup with a dealer.
    fn setup_bytes(&self) -> u64 {
        0
    }
    /// Payload bytes of this layer's two-party preprocessing, both directions, with the
    /// linear layers' material made as `linear` says and OTs of kind `ot` (what the online
    /// and offline steps send is counted apart; so is a silent pool's growth, which is the
    /// phase's).
    fn two_party_bytes(&self, _linear: LinearPrep, _ot: OtKind) -> Result<u64, ProtocolError> {
        Ok(0)
    }
    /// Length of this layer's session mask U, drawn by the dealer (0: none).
    fn mask_len(&self) -> usize {
        0
    }

    /// The server's setup of this layer from `source`; `weights` are the layer's, if it
    /// has any.
    fn server_setup(
        &self,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        source: LayerSource<'_>,
    ) -> Result<Self::ServerSession, ProtocolError>;
    /// The client's setup of this layer.
    fn client_setup(
        &self,
        ch: &mut Link,
        source: Preprocessing,
    ) -> Result<Self::ClientSession, ProtocolError>;

    /// Draws one query's material from the dealer's seeds: both sides at the dealer
    /// (`u` is then the layer's session mask), one side at a party.
    fn draw(
        &self,
        d: &mut Draw<'_>,
        u: Option<&[Ring]>,
    ) -> Result<Pair<Self::ServerMaterial, Self::ClientMaterial>, DecodeError>;
    /// What this layer spends of a dealer-free session's OTs per query, if it makes its
    /// ReLU pairs ahead ([`Half`]).
    fn spends(&self) -> Option<PairsAhead> {
        None
    }
    /// The server's half `half` of making this layer's material ahead of the query's other
    /// layers ([`Half`]); the client calls [`Self::client_ahead`] at once. Nothing by
    /// default: the layer makes its material in [`Self::server_make`] alone.
    fn server_ahead(
        &self,
        _session: &Self::ServerSession,
        _cx: &mut ServerMake<'_>,
        _ch: &mut Link,
        _half: Half,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
    /// The client's half `half` of making this layer's material ahead.
    fn client_ahead(
        &self,
        _session: &Self::ClientSession,
        _cx: &mut ClientMake<'_>,
        _ch: &mut Link,
        _half: Half,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
    /// The server makes its material with the client, who calls [`Self::client_make`].
    fn server_make(
        &self,
        session: &Self::ServerSession,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<Self::ServerMaterial, ProtocolError>;
    /// The client makes its material with the server.
    fn client_make(
        &self,
        session: &Self::ClientSession,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<Self::ClientMaterial, ProtocolError>;

    /// The server's offline step.
    fn server_offline(
        &self,
        ch: &mut Link,
        cx: &mut ServerCx<'_>,
        material: Self::ServerMaterial,
    ) -> Result<Self::ServerReady, ProtocolError>;
    /// The client's offline step.
    fn client_offline(
        &self,
        ch: &mut Link,
        cx: &mut ClientCx<'_>,
        session: &Self::ClientSession,
        material: Self::ClientMaterial,
    ) -> Result<Self::ClientReady, ProtocolError>;
    /// The client's output share, where it is known before the online phase.
    fn known_output(_ready: &Self::ClientReady) -> Option<&[Ring]> {
        None
    }

    /// The server's online step: its output share.
    fn server_online(
        &self,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        ready: Self::ServerReady,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError>;
    /// The client's online step: its output share.
    fn client_online(
        &self,
        ch: &mut Link,
        ready: Self::ClientReady,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError>;
}

/// A party's shares that one layer's online step reads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Inputs<'a> {
    /// The share of the layer's input; `None` at the server for the first layer (the
    /// client holds the whole input).
    pub x: Option<&'a [Ring]>,
    /// The share of the earlier output the layer adds, if it adds one.
    pub residual: Option<&'a [Ring]>,
}

/// Where the server's setup of one layer takes its material from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LayerSource<'a> {
    /// The dealer, whose session mask U for this layer is this (empty where it has none).
    Dealer(&'a [Ring]),
    /// The two parties, the linear layers' part made as this says.
    TwoParty(LinearPrep),
}

/// A party's sessions that make material with the other party, without a dealer: the OT
/// session, where a layer uses one, and its half of the RLWE session ([`HeServer`] or
/// [`HeClient`]), where the linear layers use it.
pub(crate) struct Makers<'a, H> {
    /// Oblivious transfer: two-party GMW material, or the linear layers' by OT.
    pub ot: Option<&'a mut PrepSession>,
    /// The RLWE session, for the linear layers' material by homomorphic products.
    pub he: Option<&'a mut H>,
}

/// The server's makers.
pub(crate) type ServerMake<'a> = Makers<'a, HeServer>;
/// The client's makers.
pub(crate) type ClientMake<'a> = Makers<'a, HeClient>;

impl<H> Makers<'_, H> {
    /// The OT session; the engine sets one up wherever a layer needs it.
    pub fn ot(&mut self) -> Result<&mut PrepSession, ProtocolError> {
        self.ot.as_deref_mut().ok_or(ProtocolError::Internal(
            "OT material in a session set up without OT",
        ))
    }

    /// The RLWE session; set up whenever the linear layers use it.
    pub fn he(&mut self) -> Result<&mut H, ProtocolError> {
        self.he.as_deref_mut().ok_or(ProtocolError::Internal(
            "homomorphic material in a session set up without a key",
        ))
    }
}

/// The server's session-wide state that offline steps share.
pub(crate) struct ServerCx<'a> {
    /// The garbling session, under the GC backend.
    pub gc: Option<&'a mut GcServer>,
    /// The caller's randomness.
    pub rng: &'a mut dyn CryptoRngCore,
}

/// The client's session-wide state that offline steps share.
pub(crate) struct ClientCx<'a> {
    /// The evaluation session, under the GC backend.
    pub gc: Option<&'a mut GcClient>,
    /// The caller's randomness.
    pub rng: &'a mut dyn CryptoRngCore,
    /// The client's share of this layer's input, where the layer before knew it offline.
    pub input: Option<&'a [Ring]>,
}

/// Under the GC backend the engine always sets up garbling: a garbled layer without it
/// is a bug.
const GC_MISSING: ProtocolError =
    ProtocolError::Internal("a garbled layer in a session set up without garbling");

/// The low bits of layer `index`'s output that later layers read: 64 when it is the
/// plan's output, else the most its readers need: a linear reader as many as its own
/// output is read on ([`output_bits`]; a linear map modulo `2^b` needs its input modulo
/// `2^b` alone), a comparison `k`.
fn read_bits(plan: &Plan, index: usize) -> u32 {
    let readers = plan
        .layers
        .iter()
        .enumerate()
        .skip(index + 1)
        .filter(|(j, l)| {
            *j == index + 1
                || matches!(&l.kind, LayerKind::Linear(lin) if lin.residual == Some(index))
        });
    readers
        .map(|(j, l)| match &l.kind {
            LayerKind::Linear(_) => output_bits(plan, j),
            _ => plan.fixed.k,
        })
        .max()
        .unwrap_or(64)
}

/// The two halves of a dealer-free query's material made ahead: every layer sends what it
/// can first ([`Half::Out`]), then every layer takes what its peer sent ([`Half::In`]), so
/// that the whole offline phase is a flight each way and the server's replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Half {
    /// Messages that need nothing from the peer: the client's encrypted masks, both
    /// parties' ReLU corrections.
    Out,
    /// Reading them: the server the client's masks, both the ReLU corrections.
    In,
}

/// The protocols of a plan's layers, in plan order.
#[derive(Clone)]
pub(crate) struct Stack(Vec<Arc<dyn Layer>>);

impl Stack {
    /// The table: each layer's protocol from its kind and the plan's backend.
    pub fn of(plan: &Plan) -> Stack {
        let fixed = plan.fixed;
        let layers = plan.layers.iter().enumerate().map(|(index, layer)| {
            let kind = &layer.kind;
            // Every non-linear kind of a validated plan has windows; a ReLU is the
            // max-pool of one candidate ([`maxpool`]).
            let windows = || {
                kind.windows().unwrap_or(Windows {
                    m: 1,
                    index: Vec::new(),
                })
            };
            let protocol: Arc<dyn Layer> = match (kind, plan.backend) {
                (LayerKind::Linear(l), _) => {
                    Arc::new(LinearLayer::new(*l, fixed, output_bits(plan, index)))
                }
                (LayerKind::ReluTrunc { .. } | LayerKind::MaxPoolRelu { .. }, Backend::Gmw) => {
                    Arc::new(ReluGmw::new(fixed, windows(), read_bits(plan, index)))
                }
                (LayerKind::Argmax { len }, Backend::Gmw) => Arc::new(ArgmaxGmw::new(*len)),
                (_, Backend::Gc) => Arc::new(ReluGc::new(Circuit::of(kind, fixed), windows())),
            };
            protocol
        });
        Stack(layers.collect())
    }

    /// The layers' protocols in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<dyn Layer>> {
        self.0.iter()
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Both sides of one layer's material as the dealer draws them, from `rng`: for tests of a
/// layer protocol alone.
#[cfg(test)]
pub(crate) fn both_sides<P: LayerProtocol>(
    protocol: &P,
    u: Option<&[Ring]>,
    rng: &mut crate::prg::Prg,
) -> (P::ServerMaterial, P::ClientMaterial) {
    let (mut s, mut c) = (rng.split(), rng.split());
    let mut out = crate::codec::Writer::default();
    let drawn = protocol.draw(&mut Draw::dealer(&mut s, &mut c, &mut out), u);
    match drawn {
        Ok((Some(s), Some(c))) => (s, c),
        _ => unreachable!("the dealer draws both sides"),
    }
}
