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
    /// The two parties make it themselves: the linear layers' part as the [`LinearPrep`]
    /// says, the oblivious transfers (the non-linear layers' material, and the linear
    /// layers' under [`LinearPrep::Ot`]) by the [`OtKind`] ([`crate::prep`]); there is no U.
    TwoParty(LinearPrep, OtKind),
}

impl Preprocessing {
    /// How the linear layers' material is made without a dealer; `None` with one.
    pub fn linear(self) -> Option<LinearPrep> {
        match self {
            Preprocessing::Dealer => None,
            Preprocessing::TwoParty(linear, _) => Some(linear),
        }
    }
}

/// Reports name the source as JSON fields: `"dealer": true|false`, and without a dealer
/// `"linear": "he"|"ot"` and `"ot": "silent"|"iknp"` (CONTRACT.md); flatten it into a
/// report's object.
impl serde::Serialize for Preprocessing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("dealer", &(*self == Preprocessing::Dealer))?;
        if let Preprocessing::TwoParty(linear, ot) = self {
            map.serialize_entry("linear", linear.name())?;
            map.serialize_entry("ot", ot.name())?;
        }
        map.end()
    }
}

/// How the two parties make the linear layers' material without a dealer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LinearPrep {
    /// Homomorphic products under the client's RLWE key ([`crate::he`]): one round trip
    /// and a few hundred kilobytes per layer.
    #[default]
    He,
    /// Gilboa products over oblivious transfer ([`crate::prep`]): about 260 bytes per
    /// weight.
    Ot,
}

impl LinearPrep {
    /// Every choice, in the order flags list them.
    pub const ALL: [LinearPrep; 2] = [LinearPrep::He, LinearPrep::Ot];

    /// Its name in flags and JSON: `he` or `ot`.
    pub fn name(self) -> &'static str {
        match self {
            LinearPrep::He => "he",
            LinearPrep::Ot => "ot",
        }
    }
}

/// How the two parties make the non-linear layers' oblivious transfers without a dealer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OtKind {
    /// Silent OT ([`crate::ot::ferret`]): correlated OT from LPN, a fraction of a bit per
    /// OT once set up.
    #[default]
    Silent,
    /// IKNP/ALSZ OT extension ([`crate::ot::iknp`]): 16 bytes per OT.
    Iknp,
}

impl OtKind {
    /// Every choice, in the order flags list them.
    pub const ALL: [OtKind; 2] = [OtKind::Silent, OtKind::Iknp];

    /// Its name in flags and JSON: `silent` or `iknp`.
    pub fn name(self) -> &'static str {
        match self {
            OtKind::Silent => "silent",
            OtKind::Iknp => "iknp",
        }
    }
}

impl std::fmt::Display for OtKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OtKind {
    type Err = String;

    /// Parses a flag's value: `silent` or `iknp`.
    fn from_str(s: &str) -> Result<OtKind, String> {
        OtKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("{s:?} is not a kind of oblivious transfer: silent or iknp"))
    }
}

impl std::fmt::Display for LinearPrep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LinearPrep {
    type Err = String;

    /// Parses a flag's value: `he` or `ot`.
    fn from_str(s: &str) -> Result<LinearPrep, String> {
        LinearPrep::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a way to make the linear layers' material: he or ot")
            })
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
