//! The dealer's work for a whole plan, and its sizes: the session masks U of every layer,
//! one query's material for both parties, the client's correction bytes.
//!
//! Each layer draws its own part ([`crate::layers::LayerProtocol::draw`]) through one
//! [`Draw`], in plan order, at the dealer and at each party alike, so the order of PRG
//! calls cannot drift apart.

use rand_core::{CryptoRng, RngCore};

use crate::codec::Writer;
use crate::layers::Stack;
use crate::material::{Draw, MaterialMsg};
use crate::plan::Plan;
use crate::prg::{Prg, Seed};
use crate::ring::Ring;

/// The session masks U, one per layer (empty where a layer has none), expanded from the
/// session seed, with the protocols of the layers they mask.
pub struct SessionMasks {
    stack: Stack,
    masks: Vec<Vec<Ring>>,
}

redacted_debug!(SessionMasks, |m: &SessionMasks| m.masks.len());

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
