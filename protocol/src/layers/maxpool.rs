//! Max-pool with its ReLU folded in: `y = ReLU(max over each window of x) >> f`.
//!
//! Max commutes with ReLU, so a max-pool beside a ReLU is one non-linear layer: the ReLU
//! of each window's maximum, truncated back to scale 2^f. Both backends run it as the
//! ReLU's protocol with `m` candidates per output ([`super::relu_gmw`] on shares,
//! [`super::relu_gc`] as the `max_relu_shift` circuit); a plain ReLU is the window of one.
//! This module holds what windows add to the ReLU: which values are compared, and how a
//! window's candidates fold into its output.
//!
//! One stage, not a comparison tree: the `m(m−1)/2` pairwise differences of a window run
//! through the same carry circuit as its `m` candidates, side by side, and their signs
//! give a one-hot selection of the maximum (none when it is negative). The comparisons
//! thus add only the selection's rounds, not a tree's `log2 m` comparison depths.
//!
//! Cost per output of a window of `m` candidates (`c(k)`: the carry circuit's ANDs on
//! k-bit shares, in `1 + ceil(log2 k)` batches):
//! - GMW: `(m + m(m−1)/2) · c(k)` carry ANDs, the selection's ANDs, and `2m` closing ANDs,
//!   each 2 bits per party; the ReLU's rounds plus the selection's batches. A 2x2 window:
//!   ten carry circuits (four candidates, six differences), twelve selection ANDs and
//!   eight closing ANDs, two rounds more than a ReLU ([`super::relu_gmw::and_gates`],
//!   [`super::relu_gmw::rounds`]).
//! - GC: [`super::relu_gc::and_gates`] ANDs, 32 bytes each, sent offline; online the
//!   server's labels, `16 · k` bytes per candidate, in one round whatever `m`.
//!
//! The differences must fit `k` bits as the candidates do: calibration picks `k` with one
//! bit to spare where a model compares (DESIGN.md).

use veil_circuits::pairs;

use crate::plan::Windows;
use crate::ring::Ring;

/// The values a layer's carry circuit runs on, each a run of `n` (one per output): every
/// candidate position, then every pairwise difference `candidate i − candidate j`, i < j.
pub fn compared(windows: &Windows, x: &[Ring]) -> Vec<Ring> {
    let (m, n) = (windows.m, windows.outputs());
    let candidates = windows.gather(x);
    let mut values = Vec::with_capacity((m + pairs(m)) * n);
    values.extend_from_slice(&candidates);
    for i in 0..m {
        for j in i + 1..m {
            values
                .extend((0..n).map(|o| candidates[i * n + o].wrapping_sub(candidates[j * n + o])));
        }
    }
    values
}

/// Each output's sum of its candidates' terms, `term(j)` being candidate `j / n`'s term for
/// output `j % n` (candidate-major, as [`compared`] lays them out). At most one candidate
/// per window is selected, so the sum is the selected one's.
pub fn per_output(m: usize, n: usize, term: impl Fn(usize) -> Ring) -> Vec<Ring> {
    (0..n)
        .map(|o| (0..m).fold(0u64, |acc, i| acc.wrapping_add(term(i * n + o))))
        .collect()
}
