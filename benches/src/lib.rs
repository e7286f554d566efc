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
//! - [`network`], [`counts`], [`inputs`], [`estimate`]: the `--net` shapes, what the plan
//!   says each layer consumes, the queries' inputs, and the analytic time estimate;
//! - [`table`], [`report`], [`svg`]: aligned text tables, JSON and an SVG chart;
//! - [`anchors`]: the published figures veil is compared with;
//! - [`demo`], [`run`], [`accuracy`], [`compare`]: the commands, built from the above.
//!
//! Who learns what: everything here runs in one process, so the harness sees all
//! parties' data; the parties themselves only exchange what the protocol sends.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod accuracy;
pub mod anchors;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod counts;
pub mod data;
pub mod demo;
pub mod error;
pub mod estimate;
pub mod goals;
pub mod inputs;
pub mod interrupt;
pub mod network;
pub mod oracle;
pub mod paths;
pub mod per_relu;
pub mod report;
pub mod run;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod table;

pub use error::BenchError;
