//! Linear-layer correlations without a dealer: additive shares of M·V by Gilboa's
//! multiplication over vector OT.
//!
//! The server holds the weights, hence the matrix M (rows × cols, linear in the input);
//! the client holds a uniform mask V ∈ Z_{2^64}^cols. Writing V_j = Σ_t 2^t·v_{j,t},
//! M·V = Σ_j Σ_t v_{j,t}·2^t·M_{·,j}. So for each column j and bit t, one vector OT
//! (client choosing v_{j,t}, server offering column j) gives shares of v_{j,t}·M_{·,j},
//! and since 2^t·x keeps only the low 64 − t bits of x, that OT needs only 64 − t bits per
//! entry. Only the column's nonzeros travel: a convolution's column has at most
//! out_channels·kh·kw of them.
//!
//! Cost per layer: the client sends 16 bytes per OT, 64·cols OTs (1,024 bytes per
//! column); the server sends Σ_t (64 − t) = 2,080 bits = 260 bytes per nonzero of M.
//! Two flights. The client learns only corrections masked by PRG outputs it cannot
//! compute; the server only the OT matrix. Reference: Gilboa, "Two Party RSA Key
//! Generation", Crypto 1999.

use std::ops::Range;

use super::session::PrepSession;
use super::vole::{correction_bytes, exchange, ot_bytes, Ask, Offer, Shape};
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::ring::Ring;

/// Which rows each column of M touches: public, the client knows it from the layer's
/// shape.
#[derive(Clone, Debug)]
pub struct Pattern {
    rows: usize,
    columns: Columns,
}

#[derive(Clone, Debug)]
enum Columns {
    /// Every column touches every row (`all` = 0..rows).
    Dense { cols: usize, all: Vec<u32> },
    /// Column j touches `index[starts[j]..starts[j + 1]]`.
    Sparse { starts: Vec<usize>, index: Vec<u32> },
}

impl Pattern {
    /// A dense `rows × cols` matrix.
    pub fn dense(rows: u32, cols: usize) -> Pattern {
        Pattern {
            rows: rows as usize,
            columns: Columns::Dense {
                cols,
                all: (0..rows).collect(),
            },
        }
    }

    /// A sparse matrix with `rows` rows, given the rows of each column's nonzeros.
    pub fn sparse(rows: u32, columns: &[Vec<u32>]) -> Result<Pattern, ProtocolError> {
        if columns.iter().flatten().any(|&r| r >= rows) {
            return Err(ProtocolError::Misuse("a pattern row is out of range"));
        }
        let mut starts = vec![0];
        starts.extend(columns.iter().scan(0, |acc, c| {
            *acc += c.len();
            Some(*acc)
        }));
        Ok(Pattern {
            rows: rows as usize,
            columns: Columns::Sparse {
                starts,
                index: columns.concat(),
            },
        })
    }

    /// Rows of M (the output length).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of M (the input length).
    pub fn cols(&self) -> usize {
        match &self.columns {
            Columns::Dense { cols, .. } => *cols,
            Columns::Sparse { starts, .. } => starts.len() - 1,
        }
    }

    /// Nonzeros of M, the length of the server's weight list.
    pub fn nnz(&self) -> usize {
        self.span(self.cols()).start
    }

    /// The rows of column `j`'s nonzeros.
    pub fn column(&self, j: usize) -> &[u32] {
        match &self.columns {
            Columns::Dense { all, .. } => all,
            Columns::Sparse { index, .. } => &index[self.span(j)],
        }
    }

    /// M's nonzeros in pattern order (column by column), from `entry(row, col)`: the
    /// server's weight list.
    pub fn gather(&self, entry: impl Fn(usize, usize) -> Ring) -> Vec<Ring> {
        (0..self.cols())
            .flat_map(|j| self.column(j).iter().map(move |&r| (r as usize, j)))
            .map(|(r, j)| entry(r, j))
            .collect()
    }

    /// Where column `j`'s nonzeros sit in the weight list (`j = cols` gives `nnz..`).
    fn span(&self, j: usize) -> Range<usize> {
        match &self.columns {
            Columns::Dense { all, .. } => j * all.len()..(j + 1) * all.len(),
            Columns::Sparse { starts, .. } => {
                starts[j]..starts.get(j + 1).copied().unwrap_or(starts[j])
            }
        }
    }

    /// Vector OT `i` carries column i / 64 for bit i % 64, keeping 64 − i % 64 bits.
    fn shape(&self, i: usize) -> Shape {
        Shape {
            len: self.column(i / 64).len(),
            width: 64 - (i % 64) as u32,
        }
    }

    /// Adds 2^t times OT `i`'s share (of column j, bit t) into `column`; after bit 63,
    /// adds the column's sum Σ_t 2^t·x_t into the rows it touches. The 64 OTs of a column
    /// come in order, so rows are touched once per column, not once per bit.
    fn accumulate(&self, out: &mut [Ring], column: &mut Vec<Ring>, i: usize, x: &[Ring]) {
        let t = i % 64;
        if t == 0 {
            column.clear();
            column.extend_from_slice(x);
        } else {
            column
                .iter_mut()
                .zip(x)
                .for_each(|(c, x)| *c = c.wrapping_add(x << t));
        }
        if t == 63 {
            for (&row, c) in self.column(i / 64).iter().zip(column.iter()) {
                let o = &mut out[row as usize];
                *o = o.wrapping_add(*c);
            }
        }
    }
}

/// The weight holder's (server's) share of M·V, for `weights` = M's nonzeros in pattern
/// order ([`Pattern::gather`]). The peer calls [`mask_share`] at once.
pub fn weights_share<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    pattern: &Pattern,
    weights: &[Ring],
) -> Result<Vec<Ring>, ProtocolError> {
    if weights.len() != pattern.nnz() {
        return Err(ProtocolError::Misuse("weights do not fit the pattern"));
    }
    session.guarded(|s| {
        let (mut out, mut column) = (vec![0; pattern.rows()], Vec::new());
        let offer = Offer {
            n: 64 * pattern.cols(),
            shape: &|i| pattern.shape(i),
            delta: &mut |i, d| d.copy_from_slice(&weights[pattern.span(i / 64)]),
            share: &mut |i, x| pattern.accumulate(&mut out, &mut column, i, x),
        };
        exchange(s, ch, Some(offer), None)?;
        Ok(out)
    })
}

/// The mask holder's (client's) mask V (`pattern.cols()` values, fresh: the bits of its
/// own OT choices) and its share of M·V. The peer calls [`weights_share`].
pub fn mask_share<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    pattern: &Pattern,
) -> Result<(Vec<Ring>, Vec<Ring>), ProtocolError> {
    let n = 64 * pattern.cols();
    session.guarded(|s| {
        s.reserve(ch, 0, n)?;
        let choices = s.own_choices(n)?;
        let mask = choices
            .chunks(64)
            .map(|bits| {
                bits.iter()
                    .rev()
                    .fold(0, |v: Ring, &b| (v << 1) | Ring::from(b))
            })
            .collect();
        let (mut out, mut column) = (vec![0; pattern.rows()], Vec::new());
        let ask = Ask {
            choices: &choices,
            shape: &|i| pattern.shape(i),
            share: &mut |i, y| pattern.accumulate(&mut out, &mut column, i, y),
        };
        exchange(s, ch, None, Some(ask))?;
        Ok((mask, out))
    })
}

/// Payload bytes of one layer: (sent by the weight holder, sent by the mask holder).
pub fn linear_bytes(pattern: &Pattern, ot: OtKind) -> (usize, usize) {
    let n = 64 * pattern.cols();
    (correction_bytes(n, &|i| pattern.shape(i)), ot_bytes(n, ot))
}
