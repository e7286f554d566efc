//! `veil-server`: hosts models and answers private queries.
//!
//! For each client connection the server opens a session at its dealer, sends the client
//! the model's public plan, the session id and the dealer's address, sends the masked
//! weights E = W − U (setup), then per query fetches its one-time material from the
//! dealer and runs the online protocol. It learns nothing about the client's input; the
//! client learns the output only. After each query it sends the client its meter
//! readings, so the client can report every link's bytes and rounds.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod session;

pub use session::{serve, serve_client, DealerLink, HostedModel, ServeError, ServerConfig};
