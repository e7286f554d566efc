//! Oblivious transfer: base OTs and OT extension (in progress).
