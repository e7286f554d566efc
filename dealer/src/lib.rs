//! The dealer: a third machine that turns a public plan into one-time correlated
//! randomness for a server and a client, and serves it over QUIC.
//!
//! It learns the plan (layer kinds and shapes) and nothing else: no inputs, weights or
//! outputs. It must not collude with either party; the client chooses or pins it. A
//! session has a random 128-bit id; the server opens it with the plan, the client joins
//! with the plan's hash, each role is bound to the connection (and so the pinned key)
//! that claimed it, and every piece of material is served once, to one role, then
//! forgotten. The session's mask seed is forgotten when the session closes.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod service;
mod sessions;

pub use service::{serve, serve_connection, ServeError};
pub use sessions::{Refusal, Sessions, MAX_AHEAD};
