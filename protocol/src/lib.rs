//! veil's cryptography, transport-agnostic ("sans-IO").
//!
//! Ring and fixed point ([`ring`]), PRGs ([`prg`]), additive shares ([`share`]), the
//! metered [`channel`], the public [`plan`], GMW ([`gmw`]), correlated randomness
//! ([`material`]), the layer protocols ([`layers`]) and the inference [`engine`]. Nothing
//! here opens a socket: protocols talk to a [`channel::Channel`], which the binaries back
//! with QUIC and tests with an in-memory pipe.
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
pub mod gc;
pub mod gmw;
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
