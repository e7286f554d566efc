//! `veil-server`: hosts models and answers private queries.
//!
//! For each client connection the server opens a session at its dealer, sends the client
//! the model's public plan, the session id and the dealer's address, sends the masked
//! weights E = W − U (setup), then per query fetches its one-time material from the
//! dealer and runs the online protocol. It learns nothing about the client's input; the
//! client learns the output only. After each query it sends the client its meter
//! readings, so the client can report every link's bytes and rounds.
//!
//! Without a dealer the server welcomes the client as dealer-free: setup runs the base
//! OTs of two-party preprocessing (no E is sent: without U it would reveal W), and per
//! query the two parties make the material with each other by OT before the offline and
//! online phases.
//!
//! A client may also have queries made ahead of time (`veil-client precompute`): after
//! setup the offline phase runs for each and the server keeps its shares on disk
//! ([`Precomputed`]); a later connection spends one with its online phase alone.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod kept;
mod session;

pub use kept::Precomputed;
pub use session::{serve, serve_client, DealerLink, HostedModel, ServeError, ServerConfig};
