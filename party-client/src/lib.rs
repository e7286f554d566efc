//! `veil-client`: submits private queries to a veil server.
//!
//! A [`Session`] connects to the server, learns the model's public plan, joins the
//! dealer session (the dealer the user names, or the one the server announces, pinned on
//! first contact), receives the masked weights, and then answers any number of queries.
//! The server learns nothing about the inputs; the client learns only the outputs.
//!
//! Queries can also be made ahead of time ([`Session::stash`]): their offline phase runs
//! now and each party keeps its share on disk ([`Kept`]); [`spend`] later runs one with
//! its online phase alone.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod kept;
mod report;
mod session;

pub use error::ClientError;
pub use kept::{spend, Kept, KeptBatch, Spent};
pub use report::{LayerCost, LinkBytes, Links, PhaseCost, QueryReport};
pub use session::{Options, Progress, Session};
