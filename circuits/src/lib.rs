//! Boolean circuits written once and run by every backend.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
