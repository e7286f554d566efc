//! A plan's linear layer as the sparse matrix M that Gilboa's product needs.
//!
//! [`Linear::apply`] is linear in the input, so `W ⋆ x = M(W)·x` for a matrix M whose
//! entries are sums of weights: entry (r, j) collects every weight that carries input j
//! to output r. A convolution carries each (input, output) pair through at most one
//! kernel position; a sum-pool before the op carries an input through every pooled value
//! whose window holds it, so where pool windows overlap, several weights meet in one
//! entry and add. [`LinearMatrix::of`] derives M's public pattern (which rows each input
//! column touches) and, per nonzero, the list of weights it sums; the server then fills
//! in its values ([`LinearMatrix::weights`]). The client needs the pattern alone. Both
//! derive it from the plan, so the dealer path and the two-party path share one
//! description of the layer.

use std::ops::Range;

use super::linear::Pattern;
use crate::error::ProtocolError;
use crate::plan::{Image, Linear, LinearOp, Window};
use crate::ring::Ring;

/// M's pattern and, per nonzero in pattern order, the weights that sum into it.
#[derive(Clone, Debug)]
pub struct LinearMatrix {
    pattern: Pattern,
    /// Nonzero e sums `W[terms[starts[e]..starts[e + 1]]]`.
    starts: Vec<usize>,
    terms: Vec<u32>,
}

impl LinearMatrix {
    /// Derives M for `layer` (a validated plan layer).
    pub fn of(layer: &Linear) -> Result<LinearMatrix, ProtocolError> {
        let rows = u32::try_from(layer.output_len())
            .map_err(|_| ProtocolError::Misuse("linear layer output too large"))?;
        let mut columns = Vec::with_capacity(layer.input_len());
        let (mut starts, mut terms) = (vec![0], Vec::new());
        let mut entries: Vec<(u32, u32)> = Vec::new();
        for j in 0..layer.input_len() {
            entries.clear();
            for p in pooled(layer, j) {
                op_column(&layer.op, p, &mut entries);
            }
            entries.sort_unstable();
            let mut column: Vec<u32> = Vec::new();
            for &(row, weight) in &entries {
                if column.last() != Some(&row) {
                    column.push(row);
                    starts.push(terms.len());
                }
                terms.push(weight);
                *starts.last_mut().expect("pushed above") = terms.len();
            }
            columns.push(column);
        }
        Ok(LinearMatrix {
            pattern: Pattern::sparse(rows, &columns)?,
            starts,
            terms,
        })
    }

    /// M's public pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// M's nonzeros in pattern order for the weights `w` (the layer's weight list): the
    /// weight holder's input to [`super::weights_share`].
    pub fn weights(&self, w: &[Ring]) -> Result<Vec<Ring>, ProtocolError> {
        if self.terms.iter().any(|&t| t as usize >= w.len()) {
            return Err(ProtocolError::Misuse("weights do not fit the layer"));
        }
        Ok(self
            .starts
            .windows(2)
            .map(|s| {
                self.terms[s[0]..s[1]]
                    .iter()
                    .fold(0u64, |acc, &t| acc.wrapping_add(w[t as usize]))
            })
            .collect())
    }
}

/// The op's input positions that input `j` of the layer feeds: the pooled values whose
/// window holds it, or `j` itself without a pool.
fn pooled(layer: &Linear, j: usize) -> Vec<usize> {
    let Some(pool) = &layer.pool else {
        return vec![j];
    };
    let Some(out) = pool.output() else {
        return Vec::new();
    };
    let (c, y, x) = position(pool.input, j);
    let (ys, xs) = covering(pool.window, (y, x), (out.h, out.w));
    ys.flat_map(|py| xs.clone().map(move |px| (c * out.h + py) * out.w + px))
        .collect()
}

/// Appends (row, weight index) for every weight that carries op input `p` to an output.
fn op_column(op: &LinearOp, p: usize, out: &mut Vec<(u32, u32)>) {
    match *op {
        LinearOp::Dense { rows, cols } => {
            out.extend((0..rows).map(|r| (r as u32, (r * cols + p) as u32)));
        }
        LinearOp::Conv {
            input,
            out_channels,
            window,
        } => {
            let Some((oh, ow)) = window.out_dims(input.h, input.w) else {
                return;
            };
            let (c, y, x) = position(input, p);
            let (ys, xs) = covering(window, (y, x), (oh, ow));
            let [kh, kw] = window.size;
            for o in 0..out_channels {
                for oy in ys.clone() {
                    let dy = y + window.pads[0] - oy * window.stride[0];
                    for ox in xs.clone() {
                        let dx = x + window.pads[1] - ox * window.stride[1];
                        let row = (o * oh + oy) * ow + ox;
                        let weight = ((o * input.c + c) * kh + dy) * kw + dx;
                        out.push((row as u32, weight as u32));
                    }
                }
            }
        }
    }
}

/// Channel, row and column of index `i` of `image`.
fn position(image: Image, i: usize) -> (usize, usize, usize) {
    (i / (image.h * image.w), i / image.w % image.h, i % image.w)
}

/// The output rows and columns whose window (with its padding) covers input (`y`, `x`).
fn covering(
    window: Window,
    (y, x): (usize, usize),
    (oh, ow): (usize, usize),
) -> (Range<usize>, Range<usize>) {
    let axis = |p: usize, pad: usize, k: usize, s: usize, out: usize| {
        let p = p + pad;
        (p + 1).saturating_sub(k).div_ceil(s)..(p / s + 1).min(out)
    };
    (
        axis(y, window.pads[0], window.size[0], window.stride[0], oh),
        axis(x, window.pads[1], window.size[1], window.stride[1], ow),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SumPool;
    use crate::prg::Prg;

    /// M column by column from `Linear::apply` on unit vectors, against the derived M.
    fn check(layer: &Linear) {
        let mut prg = Prg::from_os();
        let w = prg.ring_vec(layer.op.weight_len());
        let m = LinearMatrix::of(layer).unwrap();
        let values = m.weights(&w).unwrap();
        let (rows, cols) = (layer.output_len(), layer.input_len());
        assert_eq!((m.pattern().rows(), m.pattern().cols()), (rows, cols));
        let mut at = 0;
        for j in 0..cols {
            let mut unit = vec![0; cols];
            unit[j] = 1;
            let want = layer.apply(&w, &unit);
            let mut got = vec![0; rows];
            for &r in m.pattern().column(j) {
                assert_eq!(got[r as usize], 0, "row {r} twice in column {j}");
                got[r as usize] = values[at];
                at += 1;
            }
            assert_eq!(got, want, "column {j} of {layer:?}");
        }
        assert_eq!(at, m.pattern().nnz());
    }

    fn conv(c: usize, h: usize, w: usize, out: usize, window: Window) -> LinearOp {
        LinearOp::Conv {
            input: Image { c, h, w },
            out_channels: out,
            window,
        }
    }

    #[test]
    fn derived_matrices_agree_with_the_layers() {
        let padded = Window {
            size: [3, 2],
            stride: [2, 1],
            pads: [1, 0, 2, 1],
        };
        let layers = [
            Linear::dense(5, 7),
            Linear {
                pool: None,
                op: conv(2, 6, 7, 3, padded),
                residual: None,
            },
            Linear {
                pool: None,
                op: conv(3, 5, 5, 2, Window::new([3, 3], [2, 2])),
                residual: None,
            },
            // Overlapping pool windows before a dense layer: entries add up.
            Linear {
                pool: Some(SumPool {
                    input: Image { c: 2, h: 4, w: 3 },
                    window: Window::new([2, 2], [1, 1]),
                }),
                op: LinearOp::Dense { rows: 3, cols: 12 },
                residual: None,
            },
            // A padded pool before a strided padded convolution.
            Linear {
                pool: Some(SumPool {
                    input: Image { c: 2, h: 7, w: 6 },
                    window: Window {
                        size: [3, 3],
                        stride: [2, 2],
                        pads: [1, 1, 1, 1],
                    },
                }),
                op: conv(2, 4, 3, 3, padded),
                residual: None,
            },
        ];
        for layer in &layers {
            check(layer);
        }
    }

    #[test]
    fn weights_of_the_wrong_length_are_refused() {
        let m = LinearMatrix::of(&Linear::dense(2, 3)).unwrap();
        assert!(m.weights(&[1; 5]).is_err());
    }
}
