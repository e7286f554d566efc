//! Preprocessing without a dealer: the server and the client make the correlated
//! randomness of [`crate::material`] themselves, by oblivious transfer.
//!
//! Set-up, once per client session ([`PrepSession::setup`]): two pooled OT instances
//! ([`crate::ot::pool`]), one per direction, since every product has a cross term each
//! way; their pools grow by silent OT or IKNP. Then per query, each generator is called by
//! both parties at once with the same shape, spending OTs whose choice bits are the
//! receivers' own:
//! - [`and_triples`]: Boolean AND triples from two random OTs each ([`triples`]);
//! - [`inject_pairs`], [`bit_rings`]: the GMW ReLU's arithmetic material ([`relu`]), a
//!   layer's worth in one exchange by [`relu_pairs`];
//! - [`weights_share`] / [`mask_share`]: shares of M(W)·V for a linear layer, Gilboa's
//!   product over vector OT, dense or sparse M ([`linear`]).
//!
//! Each layer's protocol calls them to make its material, in the order and shape the
//! dealer would draw it ([`crate::layers`]); each linear layer's matrix M comes from the
//! plan's layer ([`LinearMatrix`], [`matrix`]).
//!
//! Vector OT ([`vole`]) is the common engine: one random OT per choice bit, its keys
//! stretched by a PRG to a whole vector of ring values, the sender's masked difference as
//! correction. Messages are parsed with checked lengths ([`crate::codec::Reader`]); a peer
//! that sends a short or long frame causes [`ProtocolError::Peer`], after which the
//! session refuses further work ([`ProtocolError::Misuse`]).
//!
//! Bytes per object, both directions together, under IKNP (the dealer's seed-compressed
//! cost after the arrow): AND triple 32 → 1 bit; injection pair 24 → 8; bit-ring 56 → 16;
//! linear layer 1,024 per column plus 260 per nonzero of M → 8 per row. Under silent OT
//! each OT's 16 bytes become a fraction of a bit (its share of an extension), so a triple
//! costs no message and a pair its corrections alone. Each generator costs one flight per
//! 2^20 OTs (triples under silent OT none). Semi-honest security, as the OT it rests on
//! ([`crate::ot`]).
//!
//! [`ProtocolError::Peer`]: crate::ProtocolError::Peer
//! [`ProtocolError::Misuse`]: crate::ProtocolError::Misuse

pub mod linear;
pub mod matrix;
mod pack;
pub mod relu;
pub mod session;
pub mod triples;
pub mod vole;

pub use linear::{linear_bytes, mask_share, weights_share, Pattern};
pub use matrix::LinearMatrix;
pub use relu::{
    bit_rings, inject_pairs, offer_pairs_ahead, relu_pairs, relu_pairs_bytes, reserve_ahead,
    take_pairs_ahead, PairsAhead, ReluPairs,
};
pub use session::PrepSession;
pub use triples::{and_triples, and_triples_of};
pub use vole::ot_bytes;

#[cfg(test)]
mod tests;
