//! veil-bench: runs the dealer, the server and a client in one process over real QUIC on
//! loopback, and reports what private inference costs and whether it is right.
//!
//! The pieces are meant to be reused by every command of CONTRACT.md:
//! - [`cluster`]: the dealer and the server on loopback, with a shutdown handle;
//! - [`client`]: one client session that runs a list of queries on its own thread;
//! - [`data`], [`paths`], [`oracle`]: the shipped model and images, and the plaintext
//!   answers (float and fixed point) every secure output is checked against;
//! - [`stats`], [`summary`], [`goals`]: medians and percentiles, per-phase and per-layer
//!   costs over many queries, and the targets;
//! - [`table`], [`report`]: aligned text tables and JSON;
//! - [`demo`]: `veil-bench demo`, built from the above.
//!
//! Who learns what: everything here runs in one process, so the harness sees all
//! parties' data; the parties themselves only exchange what the protocol sends.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod cluster;
pub mod data;
pub mod demo;
pub mod error;
pub mod goals;
pub mod interrupt;
pub mod oracle;
pub mod paths;
pub mod report;
pub mod stats;
pub mod summary;
pub mod table;

pub use error::BenchError;
