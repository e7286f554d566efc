//! veil's cryptography, transport-agnostic ("sans-IO").
//!
//! The public [`plan`] with its ring, linear maps and codec (re-exported from
//! `veil-plan`), PRGs ([`prg`]), additive shares ([`share`]), the metered [`channel`],
//! GMW ([`gmw`]), garbling ([`gc`]), oblivious transfer ([`ot`]), correlated randomness
//! from a dealer ([`material`]) or made by the two parties ([`prep`] by OT, [`he`] by
//! homomorphic encryption for the linear layers), the protocol of each
//! layer kind ([`layers`]), the inference [`engine`] that runs them in order, and the
//! [`session`]s of the client, the server and the dealer. Nothing here opens a socket:
//! protocols talk to a [`channel::Channel`], which the binaries back with QUIC and tests
//! with an in-memory pipe; every random choice comes from the caller's generator.
//!
//! `unsafe` code is denied everywhere but in the private `simd` module (AES on the CPU's
//! vector instructions, and the vector form of labels), which states its safety argument.
#![warn(missing_docs)]
#![deny(unsafe_code)]

/// `Debug` for one-time secret material: the type's name and its size, never a value.
macro_rules! redacted_debug {
    ($t:ty, $len:expr) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let len: usize = ($len)(self);
                write!(f, "{}({len} values, redacted)", stringify!($t))
            }
        }
    };
}

pub mod bitstream;
pub mod block;
pub mod channel;
pub mod engine;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod gc;
pub mod gmw;
pub mod he;
pub mod layers;
pub mod local;
pub mod material;
pub mod ot;
pub mod prep;
pub mod prg;
pub mod session;
pub mod share;
mod simd;
mod stored;
pub mod wire;

pub use error::ProtocolError;
pub use veil_plan as plan;
pub use veil_plan::{codec, linalg, ring};
