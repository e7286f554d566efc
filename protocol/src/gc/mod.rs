//! Garbled circuits: half-gates garbling and evaluation (in progress).
