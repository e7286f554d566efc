//! `veil_client`: the client's side of veil as a library, behind the `veil-client` binary
//! and the Python package (`python/`).
//!
//! A [`Client`] holds the client's key and pins (the state folder, `$VEIL_HOME` or
//! `~/.veil`), a runtime and at most one open session with a server: it answers many
//! queries on that session, setup paid once ([`Client::infer`]), spends the queries made
//! ahead of time ([`Client::precompute`]) first, and returns [`Answered`] and [`Made`],
//! whose JSON ([`InferJson`], [`PrecomputeJson`]) is the one CONTRACT.md fixes. Inputs
//! are values or images ([`Input`]), the latter prepared as the model's card says; the card
//! (and the class names it may give) comes from the server. [`Client::models`] asks a
//! server what it hosts ([`models_json`]).
//!
//! Who learns what: the server learns nothing about the inputs; the client learns the
//! model's outputs (the logits) and nothing else about its weights.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod input;
mod json;

pub use client::{Client, Notify, Settings};
pub use input::Input;
pub use json::{models_json, to_json, Answered, InferJson, Made, ModelsJson, PrecomputeJson};
