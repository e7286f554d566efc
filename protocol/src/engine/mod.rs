//! The inference engine: a plan's layers in order, on shares, for either party.
//!
//! Phases (CONTRACT.md): *setup* once per client session ([`ServerSetup::run`],
//! [`ClientSetup::run`]: each layer's own setup, such as the masked weights E = W − U
//! with a dealer; then without a dealer the base OTs of two-party preprocessing, where a
//! layer uses OT, and the client's RLWE public key, where the linear layers use it; then
//! under GC the garbling session); *offline* per query (the material from the dealer's
//! message or made by the two parties, then each party's offline step); *online* from the
//! client's encoded input to its decoded output ([`server_online`], [`client_online`]).
//! What each layer does in each phase is its protocol's ([`crate::layers`]); the engine
//! runs them in order, meters each under its own [`Scope`], keeps outputs that a later
//! layer adds as a residual, and has the server reveal its output share at the end.
//!
//! The server learns nothing: every value it receives is masked by one-time randomness.
//! The client learns the output only. After the offline phase a query needs nothing of its
//! session: [`ServerQuery`] and [`PreparedQuery`] encode to bytes, so a query made ahead of
//! time can wait on disk and be spent on a later connection (`veil-client precompute`).
//!
//! Randomness comes in from the caller at each step that draws any; nothing here seeds
//! itself.

pub mod cost;
mod deal;
mod kept;

pub use crate::material::{LinearPrep, Preprocessing};
pub use deal::{correction_len, correction_len_by_layer, deal, SessionMasks};

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, CryptoRngCore, RngCore};

use crate::channel::{Link, Phase, Scope};
use crate::error::ProtocolError;
use crate::he::exchange::{HeClient, HeServer};
use crate::layers::relu_gc::{GcClient, GcServer};
use crate::layers::{
    ClientCx, ClientLayer, ClientPiece, ClientStep, Half, Inputs, LayerSource, Makers, ServerCx,
    ServerLayer, ServerPiece, ServerStep, Stack,
};
use crate::material::{Draw, MaterialMsg, OtKind};
use crate::plan::{Backend, LayerKind, LinearWeights, Plan, Weights};
use crate::prep::{reserve_ahead, PairsAhead, PrepSession};
use crate::prg::Prg;
use crate::ring::Ring;
use crate::share::Role;

/// Where the server's session takes its material from.
#[derive(Clone, Copy, Debug)]
pub enum ServerSource<'a> {
    /// The dealer, whose session masks U these are.
    Dealer(&'a SessionMasks),
    /// The two parties, the linear layers' part made as the [`LinearPrep`] says, the
    /// oblivious transfers as the [`OtKind`] does.
    TwoParty(LinearPrep, OtKind),
}

/// How the garbled layers' input labels are transferred: by the session's kind of OT
/// without a dealer, by IKNP beside one (its bootstrap would outweigh a dealt query).
fn label_ot_kind(source: Preprocessing) -> OtKind {
    match source {
        Preprocessing::Dealer => OtKind::Iknp,
        Preprocessing::TwoParty(_, ot) => ot,
    }
}

impl ServerSource<'_> {
    /// The source as the client knows it.
    pub fn preprocessing(&self) -> Preprocessing {
        match self {
            ServerSource::Dealer(_) => Preprocessing::Dealer,
            ServerSource::TwoParty(linear, ot) => Preprocessing::TwoParty(*linear, *ot),
        }
    }
}

/// The server's half of a session after setup: each layer's session state, and the
/// garbling, OT and RLWE sessions that the plan's layers share.
pub struct ServerSetup {
    layers: Vec<Arc<dyn ServerLayer>>,
    gc: Option<GcServer>,
    two_party: Option<TwoParty<HeServer>>,
}

/// The client's half of a session after setup.
pub struct ClientSetup {
    layers: Vec<Arc<dyn ClientLayer>>,
    gc: Option<GcClient>,
    two_party: Option<TwoParty<HeClient>>,
    /// Bytes of the dealer's corrections per query.
    corrections: usize,
}

/// A party's sessions for making material without a dealer: OT where a layer uses it,
/// and its half of the RLWE session (`HeServer` or `HeClient`) where the linear layers do.
struct TwoParty<H> {
    ot: Option<PrepSession>,
    he: Option<H>,
    /// What the GMW ReLU layers spend per query, when each query's material is made
    /// ahead in two passes ([`Half`]): silent OT and homomorphic linear layers, and not so
    /// much that a pass would leave more than [`AHEAD_BYTES`] unread.
    ahead: Option<Vec<PairsAhead>>,
}

/// Bytes a query's material may send ahead, both ways together, before either side reads.
const AHEAD_BYTES: u64 = 32 << 20;

impl<H> TwoParty<H> {
    /// A dealer-free session's set-up as `role`: OT of kind `ot` for GMW's material or
    /// for linear layers made by OT, then `he_setup` (this party's RLWE half) where the
    /// linear layers use it.
    fn setup(
        ch: &mut Link,
        plan: &Plan,
        linear: LinearPrep,
        ot: OtKind,
        role: Role,
        rng: &mut (impl RngCore + CryptoRng),
        he_setup: fn(&mut Link, &mut dyn CryptoRngCore) -> Result<H, ProtocolError>,
    ) -> Result<TwoParty<H>, ProtocolError> {
        let needs_ot = plan.backend == Backend::Gmw || linear == LinearPrep::Ot;
        let stack = Stack::of(plan);
        let sent: u64 = cost::two_party(plan, linear, ot)?.iter().sum();
        let ahead = (plan.backend == Backend::Gmw
            && (linear, ot) == (LinearPrep::He, OtKind::Silent)
            && sent <= AHEAD_BYTES)
            .then(|| stack.iter().filter_map(|l| l.spends()).collect());
        Ok(TwoParty {
            ahead,
            ot: match needs_ot {
                true => {
                    let per_query = cost::ots_each_way(plan, linear)?;
                    Some(PrepSession::setup(ch, role, ot, per_query, rng)?)
                }
                false => None,
            },
            he: match linear {
                LinearPrep::He => Some(he_setup(ch, rng)?),
                LinearPrep::Ot => None,
            },
        })
    }

    /// Both sessions as the layers take them, for one query's material: when it is made
    /// ahead, the query's OTs are reserved and every layer runs its two halves first, each
    /// in its own scope (`ahead(index, makers, ch, half)`), so that the layers' own making
    /// then only reads and answers. The peer does the same at once.
    fn makers_for_query(
        &mut self,
        ch: &mut Link,
        layers: usize,
        mut ahead: impl FnMut(usize, &mut Makers<'_, H>, &mut Link, Half) -> Result<(), ProtocolError>,
    ) -> Result<Makers<'_, H>, ProtocolError> {
        let spends = self.ahead.clone();
        let mut makers = self.makers();
        if let Some(spends) = spends {
            reserve_ahead(makers.ot()?, ch, &spends)?;
            for half in [Half::Out, Half::In] {
                for index in 0..layers {
                    ch.enter(Scope::layer(Phase::Offline, index));
                    ahead(index, &mut makers, ch, half)?;
                }
            }
        }
        Ok(makers)
    }

    /// Both sessions as the layers take them.
    fn makers(&mut self) -> Makers<'_, H> {
        Makers {
            ot: self.ot.as_mut(),
            he: self.he.as_mut(),
        }
    }
}

/// The server's material for one query, from the dealer or made with the client.
pub struct ServerMaterial(Vec<Box<dyn ServerPiece>>);

/// The client's material for one query, from the dealer or made with the server.
pub struct ClientMaterial(Vec<Box<dyn ClientPiece>>);

/// The server's share of one query, ready for the online phase.
pub struct ServerQuery {
    steps: Vec<Box<dyn ServerStep>>,
}

/// The client's share of one query, its outputs prepared offline, ready for its input.
pub struct PreparedQuery {
    steps: Vec<Box<dyn ClientStep>>,
}

redacted_debug!(ServerMaterial, |m: &ServerMaterial| m.0.len());
redacted_debug!(ClientMaterial, |m: &ClientMaterial| m.0.len());
redacted_debug!(ServerQuery, |q: &ServerQuery| q.steps.len());
redacted_debug!(PreparedQuery, |q: &PreparedQuery| q.steps.len());

/// Wall time spent in each layer, in plan order.
#[derive(Clone, Debug, Default)]
pub struct LayerTimes(pub Vec<Duration>);

impl LayerTimes {
    /// Each layer's time in milliseconds.
    pub fn ms(&self) -> Vec<f64> {
        self.0.iter().map(|d| d.as_secs_f64() * 1e3).collect()
    }
}

const OTHER_SESSION: ProtocolError = ProtocolError::Misuse("material of another session's plan");
const NOT_TWO_PARTY: ProtocolError =
    ProtocolError::Misuse("two-party material asked of a session with a dealer");

impl ServerSetup {
    /// The server's setup. With the dealer's session masks, each linear layer sends
    /// E = W − U; without, nothing of W is sent: each layer lays its weights out for the
    /// two-party products, the base OTs run where a layer uses OT, and the client's RLWE
    /// public key arrives where the linear layers use it. Under GC the garbling session
    /// starts (hash key, base OTs).
    pub fn run(
        ch: &mut Link,
        plan: &Plan,
        weights: &Weights,
        source: ServerSource<'_>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ServerSetup, ProtocolError> {
        let by_layer = layer_weights(plan, weights)?;
        let mut layers = Vec::with_capacity(plan.layers.len());
        for (index, protocol) in Stack::of(plan).iter().enumerate() {
            ch.enter(Scope::layer(Phase::Setup, index));
            let layer_source = match source {
                ServerSource::Dealer(masks) => LayerSource::Dealer(masks.layer(index)),
                ServerSource::TwoParty(linear, _) => LayerSource::TwoParty(linear),
            };
            layers.push(
                protocol
                    .clone()
                    .server_setup(ch, by_layer[index], layer_source)?,
            );
        }
        ch.enter(Scope::phase(Phase::Setup));
        let two_party = match source {
            ServerSource::Dealer(_) => None,
            ServerSource::TwoParty(linear, ot) => Some(TwoParty::setup(
                ch,
                plan,
                linear,
                ot,
                Role::Server,
                rng,
                HeServer::setup,
            )?),
        };
        let gc = match plan.backend {
            Backend::Gc => Some(GcServer::setup(
                ch,
                label_ot_kind(source.preprocessing()),
                cost::label_ots(plan),
                rng,
            )?),
            Backend::Gmw => None,
        };
        Ok(ServerSetup {
            layers,
            gc,
            two_party,
        })
    }

    /// One query's material from the dealer's message.
    pub fn expand(&self, msg: MaterialMsg) -> Result<ServerMaterial, ProtocolError> {
        let mut prg = Prg::new(msg.seed);
        let mut d = Draw::server(&mut prg);
        let pieces = self.layers.iter().map(|l| l.clone().expand(&mut d));
        Ok(ServerMaterial(pieces.collect::<Result<_, _>>()?))
    }

    /// Without a dealer, makes one query's material with the client, who calls
    /// [`ClientSetup::make`] at once.
    pub fn make(&mut self, ch: &mut Link) -> Result<ServerMaterial, ProtocolError> {
        let layers = &self.layers;
        let mut makers = self
            .two_party
            .as_mut()
            .ok_or(NOT_TWO_PARTY)?
            .makers_for_query(ch, layers.len(), |i, cx, ch, half| {
                layers[i].ahead(cx, ch, half)
            })?;
        let mut pieces = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            ch.enter(Scope::layer(Phase::Offline, index));
            pieces.push(layer.clone().make(&mut makers, ch)?);
        }
        Ok(ServerMaterial(pieces))
    }

    /// The server's offline step for one query: under GC it garbles each non-linear
    /// layer (after the client's OTs) and sends the tables; other material passes through.
    pub fn offline(
        &mut self,
        ch: &mut Link,
        material: ServerMaterial,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ServerQuery, ProtocolError> {
        if material.0.len() != self.layers.len() {
            return Err(OTHER_SESSION);
        }
        let mut steps = Vec::with_capacity(material.0.len());
        for (index, piece) in material.0.into_iter().enumerate() {
            ch.enter(Scope::layer(Phase::Offline, index));
            let mut cx = ServerCx {
                gc: self.gc.as_mut(),
                rng: &mut *rng,
            };
            steps.push(piece.offline(ch, &mut cx)?);
        }
        Ok(ServerQuery { steps })
    }
}

impl ClientSetup {
    /// The client's setup: each layer's (with a dealer, E for each linear layer), then
    /// without a dealer the base OTs of two-party preprocessing where a layer uses OT and
    /// its RLWE key pair where the linear layers use it (the public key goes to the
    /// server); under GC it then joins the garbling session.
    pub fn run(
        ch: &mut Link,
        plan: &Plan,
        source: Preprocessing,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ClientSetup, ProtocolError> {
        let stack = Stack::of(plan);
        let mut layers = Vec::with_capacity(stack.len());
        let mut corrections = 0;
        for (index, protocol) in stack.iter().enumerate() {
            ch.enter(Scope::layer(Phase::Setup, index));
            corrections += protocol.correction_len();
            layers.push(protocol.clone().client_setup(ch, source)?);
        }
        ch.enter(Scope::phase(Phase::Setup));
        let two_party = match source {
            Preprocessing::Dealer => None,
            Preprocessing::TwoParty(linear, ot) => Some(TwoParty::setup(
                ch,
                plan,
                linear,
                ot,
                Role::Client,
                rng,
                HeClient::setup,
            )?),
        };
        let gc = match plan.backend {
            Backend::Gc => Some(GcClient::setup(
                ch,
                label_ot_kind(source),
                cost::label_ots(plan),
                rng,
            )?),
            Backend::Gmw => None,
        };
        Ok(ClientSetup {
            layers,
            gc,
            two_party,
            corrections,
        })
    }

    /// Decodes the dealer's message for this session's plan (its length is fixed by it).
    pub fn decode_material(&self, bytes: &[u8]) -> Result<MaterialMsg, ProtocolError> {
        Ok(MaterialMsg::decode(self.corrections, bytes)?)
    }

    /// One query's material from the dealer's message.
    pub fn expand(&self, msg: MaterialMsg) -> Result<ClientMaterial, ProtocolError> {
        let mut prg = Prg::new(msg.seed);
        let mut d = Draw::client(&mut prg, &msg.corrections);
        let pieces = self
            .layers
            .iter()
            .map(|l| l.clone().expand(&mut d))
            .collect::<Result<_, _>>()?;
        d.finish()?;
        Ok(ClientMaterial(pieces))
    }

    /// Without a dealer, makes one query's material with the server, who calls
    /// [`ServerSetup::make`] at once. `done(index)` is called as each layer's material is
    /// ready (for a progress display; [`cost::two_party`] weighs the layers).
    pub fn make(
        &mut self,
        ch: &mut Link,
        done: &mut dyn FnMut(usize),
    ) -> Result<ClientMaterial, ProtocolError> {
        let layers = &self.layers;
        let mut makers = self
            .two_party
            .as_mut()
            .ok_or(NOT_TWO_PARTY)?
            .makers_for_query(ch, layers.len(), |i, cx, ch, half| {
                layers[i].ahead(cx, ch, half)
            })?;
        let mut pieces = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            ch.enter(Scope::layer(Phase::Offline, index));
            pieces.push(layer.clone().make(&mut makers, ch)?);
            done(index);
        }
        Ok(ClientMaterial(pieces))
    }

    /// The client's offline step for one query: `E ⋆ V + [U⋆V]_c` for every linear layer
    /// (`[W⋆V]_c` alone without a dealer); under GC, OT on its share of each non-linear
    /// layer's input, then the garbled tables.
    pub fn offline(
        &mut self,
        ch: &mut Link,
        material: ClientMaterial,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<PreparedQuery, ProtocolError> {
        if material.0.len() != self.layers.len() {
            return Err(OTHER_SESSION);
        }
        let mut steps: Vec<Box<dyn ClientStep>> = Vec::with_capacity(material.0.len());
        for (index, piece) in material.0.into_iter().enumerate() {
            ch.enter(Scope::layer(Phase::Offline, index));
            let mut cx = ClientCx {
                gc: self.gc.as_mut(),
                rng: &mut *rng,
                input: steps.last().and_then(|s| s.known_output()),
            };
            let step = piece.offline(ch, &mut cx)?;
            steps.push(step);
        }
        Ok(PreparedQuery { steps })
    }
}

/// Each layer's weights, where it has any: the plan's linear layers take the weights'
/// entries in order.
fn layer_weights<'w>(
    plan: &Plan,
    weights: &'w Weights,
) -> Result<Vec<Option<&'w LinearWeights>>, ProtocolError> {
    weights
        .check(plan)
        .map_err(|_| ProtocolError::Misuse("the weights do not fit the plan"))?;
    let mut linear = weights.linear.iter();
    Ok(plan
        .layers
        .iter()
        .map(|l| l.kind.is_linear().then(|| linear.next()).flatten())
        .collect())
}

/// The outputs of earlier layers that a later linear layer adds as its residual input.
struct Residuals<'p> {
    plan: &'p Plan,
    needed: Vec<bool>,
    values: Vec<Option<Vec<Ring>>>,
}

impl<'p> Residuals<'p> {
    fn new(plan: &'p Plan) -> Residuals<'p> {
        let mut needed = vec![false; plan.layers.len()];
        for (_, l) in plan.linear_layers() {
            if let Some(r) = l.residual {
                needed[r] = true;
            }
        }
        Residuals {
            plan,
            values: vec![None; needed.len()],
            needed,
        }
    }

    fn keep(&mut self, index: usize, x: &[Ring]) {
        if self.needed[index] {
            self.values[index] = Some(x.to_vec());
        }
    }

    /// The shares layer `index` adds, if it adds a residual.
    fn of(&self, index: usize) -> Result<Option<&[Ring]>, ProtocolError> {
        match &self.plan.layers[index].kind {
            LayerKind::Linear(l) => match l.residual {
                Some(r) => self.values[r]
                    .as_deref()
                    .map(Some)
                    .ok_or(ProtocolError::Misuse(
                        "a residual input comes from a later layer",
                    )),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

/// The server's online phase for one query.
pub fn server_online(
    ch: &mut Link,
    plan: &Plan,
    weights: &Weights,
    query: ServerQuery,
) -> Result<LayerTimes, ProtocolError> {
    if query.steps.len() != plan.layers.len() {
        return Err(OTHER_SESSION);
    }
    let by_layer = layer_weights(plan, weights)?;
    let mut x: Option<Vec<Ring>> = None;
    let mut residuals = Residuals::new(plan);
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, step) in query.steps.into_iter().enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        let input = Inputs {
            x: x.as_deref(),
            residual: residuals.of(index)?,
        };
        let y = step.online(ch, by_layer[index], input)?;
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
pub fn client_online(
    ch: &mut Link,
    plan: &Plan,
    prepared: PreparedQuery,
    input: &[Ring],
) -> Result<(Vec<Ring>, LayerTimes), ProtocolError> {
    if input.len() != plan.input_len() {
        return Err(ProtocolError::Misuse(
            "the input length differs from the plan's",
        ));
    }
    if prepared.steps.len() != plan.layers.len() {
        return Err(OTHER_SESSION);
    }
    let mut x = input.to_vec();
    let mut residuals = Residuals::new(plan);
    let mut times = LayerTimes::default();
    let last = plan.layers.len() - 1;
    for (index, step) in prepared.steps.into_iter().enumerate() {
        ch.enter(Scope::layer(Phase::Online, index));
        let start = Instant::now();
        let input = Inputs {
            x: Some(&x),
            residual: residuals.of(index)?,
        };
        x = step.online(ch, input)?;
        residuals.keep(index, &x);
        if index == last {
            x = ch.receive_reveal(&x)?;
        }
        times.0.push(start.elapsed());
    }
    Ok((x, times))
}

#[cfg(test)]
mod tests;
