//! One-time correlated randomness, shaped by the plan, and its seed-compressed messages.
//!
//! Per client session the dealer draws a seed for U, the mask of every weight matrix; the
//! server gets that seed once (setup) and sends E = W − U to the client. Per query the
//! dealer draws a fresh 16-byte seed for each party: the server's whole share comes from
//! its seed; the client gets its seed plus *corrections*, the parts of its share that must
//! agree with the server's (1 bit per AND triple, one ring element per product). What each
//! layer draws is its protocol's business ([`crate::layers`]); this module holds the
//! drawing itself (`Draw`: one code path for the dealer and both parties) and the
//! objects it draws: AND triples, injection pairs, bit-times-ring pairs, matrix triples.
//!
//! The dealer never serves a [`MaterialMsg`] twice; a party's material is consumed by the
//! query that spends it, is not `Clone`, and prints as its size only.

mod draw;

pub use draw::{BitRing, InjectPair, LinearShare};
pub(crate) use draw::{Draw, Pair};

use crate::codec::{DecodeError, Reader, Writer};
use crate::prg::Seed;

/// Where a session's correlated randomness comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preprocessing {
    /// A third party deals it; the server sends E = W − U at setup.
    Dealer,
    /// The two parties make it by oblivious transfer ([`crate::prep`]); there is no U.
    TwoParty,
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

    /// Decodes a message that carries `corrections` bytes of corrections: none for the
    /// server, the plan's count for the client ([`crate::engine::correction_len`]).
    pub fn decode(corrections: usize, bytes: &[u8]) -> Result<MaterialMsg, DecodeError> {
        let mut r = Reader::new(bytes);
        let seed = Seed(r.array("material seed")?);
        let corrections = r.take(corrections, "material corrections")?.to_vec();
        r.finish()?;
        Ok(MaterialMsg { seed, corrections })
    }
}
