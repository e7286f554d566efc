//! One-time correlated randomness, shaped by the plan, and its seed-compressed messages.
//!
//! Per client session the dealer draws a seed for U, the mask of every weight matrix; the
//! server gets that seed once (setup) and sends E = W − U to the client. Per query the
//! dealer draws a fresh 16-byte seed for each party: the server's whole share comes from
//! its seed; the client gets its seed plus *corrections*, the parts of its share that must
//! agree with the server's (1 bit per AND triple, one ring element per product). What each
//! layer draws is its protocol's business ([`crate::layers`]); this module holds the
//! drawing itself ([`Draw`]: one code path for the dealer and both parties) and the
//! objects it draws: AND triples, injection pairs, bit-times-ring pairs, matrix triples.
//!
//! The dealer never serves a [`MaterialMsg`] twice; a party's material is consumed by the
//! query that spends it, is not `Clone`, and prints as its size only.

mod draw;

pub use draw::{BitRing, InjectPair, LinearShare};
pub(crate) use draw::{Draw, Pair};

use rand_core::{CryptoRng, RngCore};

use crate::codec::{DecodeError, Reader, Writer};
use crate::layers::Stack;
use crate::plan::Plan;
use crate::prg::{Prg, Seed};
use crate::ring::Ring;
use crate::share::Role;

/// The session masks U, one per layer (empty where a layer has none), expanded from the
/// session seed, with the protocols of the layers they mask.
pub struct SessionMasks {
    stack: Stack,
    masks: Vec<Vec<Ring>>,
}

impl SessionMasks {
    /// Expands the session seed (the dealer's, and the server's at setup).
    pub fn expand(plan: &Plan, seed: Seed) -> SessionMasks {
        let stack = Stack::of(plan);
        let mut prg = Prg::new(seed);
        let masks = stack.iter().map(|l| prg.ring_vec(l.mask_len())).collect();
        SessionMasks { stack, masks }
    }

    /// The mask of layer `index` (empty if the layer has none).
    pub fn layer(&self, index: usize) -> &[Ring] {
        self.masks.get(index).map_or(&[], Vec::as_slice)
    }
}

/// What the dealer sends one party for one query: a seed and the corrections.
#[derive(PartialEq, Eq)]
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
        let n = match role {
            Role::Server => 0,
            Role::Client => correction_len(plan),
        };
        Self::decode_len(n, bytes)
    }

    /// Decodes a message that carries `corrections` bytes of corrections.
    pub(crate) fn decode_len(corrections: usize, bytes: &[u8]) -> Result<MaterialMsg, DecodeError> {
        let mut r = Reader::new(bytes);
        let seed = Seed(r.array("material seed")?);
        let corrections = r.take(corrections, "material corrections")?.to_vec();
        r.finish()?;
        Ok(MaterialMsg { seed, corrections })
    }
}

/// Bytes of corrections the client receives per query.
pub fn correction_len(plan: &Plan) -> usize {
    correction_len_by_layer(plan).iter().sum()
}

/// Bytes of corrections per layer, in plan order (they sum to [`correction_len`]).
pub fn correction_len_by_layer(plan: &Plan) -> Vec<usize> {
    Stack::of(plan).iter().map(|l| l.correction_len()).collect()
}

/// The dealer's work for one query: fresh material for both parties, its seeds drawn
/// from `rng`.
pub fn deal<R: RngCore + CryptoRng>(
    masks: &SessionMasks,
    rng: &mut R,
) -> (MaterialMsg, MaterialMsg) {
    let (s_seed, c_seed) = (Seed::from_rng(rng), Seed::from_rng(rng));
    let (mut s_prg, mut c_prg) = (Prg::new(s_seed), Prg::new(c_seed));
    let lens: usize = masks.stack.iter().map(|l| l.correction_len()).sum();
    let mut out = Writer::with_capacity(lens);
    let mut d = Draw::dealer(&mut s_prg, &mut c_prg, &mut out);
    for (index, layer) in masks.stack.iter().enumerate() {
        // The dealer draws both sides and reads nothing: it cannot fail.
        let _ = layer.deal(&mut d, Some(masks.layer(index)));
    }
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

#[cfg(test)]
mod tests;

/// Both sides of one layer's material as the dealer draws them, from `rng`: for tests of a
/// layer protocol alone.
#[cfg(test)]
pub(crate) fn both_sides<P: crate::layers::LayerProtocol>(
    protocol: &P,
    u: Option<&[Ring]>,
    rng: &mut Prg,
) -> (P::ServerMaterial, P::ClientMaterial) {
    let (mut s, mut c) = (rng.split(), rng.split());
    let mut out = Writer::default();
    let drawn = protocol.draw(&mut Draw::dealer(&mut s, &mut c, &mut out), u);
    match drawn {
        Ok((Some(s), Some(c))) => (s, c),
        _ => unreachable!("the dealer draws both sides"),
    }
}
