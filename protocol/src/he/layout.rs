//! Where a linear layer's input, weights and outputs sit in polynomial coefficients, so that
//! one plaintext × ciphertext product yields a block of a matrix-vector product or a whole
//! convolution at known coefficients: no rotations, no Galois keys (Cheetah's HomFC and
//! HomConv).
//!
//! **Dense** (`u = W·v`, W of `n_o × n_i`), split in blocks of `d0` rows × `d1` columns with
//! `d0·d1 ≤ N`: column block `b` of `v` is the polynomial `v[j0] − Σ_{0<j<d1} v[j0+j]·X^(N−j)`;
//! block `(a, b)` of W is `Σ W[a·d0+r, b·d1+j]·X^(r·d1+j)`; in `Σ_b v̂_b·ŵ_{a,b}`, output
//! `a·d0 + r` is the coefficient `r·d1` (every other term lands off the multiples of `d1`,
//! or above `(d0−1)·d1` when it wraps). The split minimises the bytes: uploads (one per
//! column block) against replies (one per row block).
//!
//! **Convolution** (input `C × H × W` zero-padded by the client, `M` kernels `C × kh × kw`,
//! any stride): the padded image is cut into blocks of `C_p` channels × `H_p × W_p`
//! overlapping by the kernel less one; a block is the polynomial `Σ X''[c, h0+i, w0+j]·
//! X^(c·H_p·W_p + i·W_p + j)`, a kernel the reversed `Σ K[m, c, l, l']·X^(O − c·H_p·W_p −
//! l·W_p − l')` with `O = H_p·W_p·(C_p−1) + W_p·(kh−1) + kw − 1`. Summed over the channel
//! groups, the stride-1 output at `(i', j')` of the block is the coefficient
//! `O + i'·W_p + j'`; a stride keeps every `s`-th of them. When a block leaves room,
//! `⌊N/S⌋` kernels share one product, kernel `μ` shifted by `μ·S` (`S = C_p·H_p·W_p`), its
//! outputs at `μ·S + O + i'·W_p + j'`.
//!
//! A sum-pool before the op is the client's business: the server multiplies `pool(V)`,
//! which the client computes from its own V.

use super::params::{C1_EXTRA_BITS, K, N, PRIME_BITS};
use crate::plan::{Image, Linear, LinearOp, Window};
use crate::ring::Ring;

/// The layout of one linear layer's op (after its pool).
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    /// A matrix-vector product.
    Dense(Dense),
    /// A convolution.
    Conv(Conv),
}

/// A dense op's blocks.
#[derive(Clone, Debug)]
pub(crate) struct Dense {
    rows: usize,
    cols: usize,
    d0: usize,
    d1: usize,
}

/// A convolution's blocks.
#[derive(Clone, Debug)]
pub(crate) struct Conv {
    input: Image,
    out_channels: usize,
    window: Window,
    /// Padded height and width.
    padded: (usize, usize),
    /// Channels per block, block height and width.
    cp: usize,
    hp: usize,
    wp: usize,
    /// Block origins along H and W.
    h0: Vec<usize>,
    w0: Vec<usize>,
    /// Kernels per product.
    pack: usize,
}

/// Bytes of one uploaded ciphertext: its seed and `c0` at Q.
pub(crate) const UPLOAD_BYTES: usize = 16 + (N * K * PRIME_BITS as usize) / 8;

/// Bytes of one reply's `c1` for plaintexts of `bits` bits.
pub(crate) fn reply_c1_bytes(bits: u32) -> usize {
    (N * (bits + C1_EXTRA_BITS) as usize).div_ceil(8)
}

impl Layout {
    /// The layout of `layer`'s op for plaintexts of `bits` bits.
    pub fn of(layer: &Linear, bits: u32) -> Layout {
        match layer.op {
            LinearOp::Dense { rows, cols } => Layout::Dense(Dense::new(rows, cols, bits)),
            LinearOp::Conv {
                input,
                out_channels,
                window,
            } => Layout::Conv(Conv::new(input, out_channels, window)),
        }
    }

    /// Number of uploaded input polynomials.
    pub fn inputs(&self) -> usize {
        match self {
            Layout::Dense(d) => d.cols.div_ceil(d.d1),
            Layout::Conv(c) => c.groups() * c.blocks(),
        }
    }

    /// Number of reply polynomials.
    pub fn outputs(&self) -> usize {
        match self {
            Layout::Dense(d) => d.rows.div_ceil(d.d0),
            Layout::Conv(c) => c.out_channels.div_ceil(c.pack) * c.blocks(),
        }
    }

    /// The client's input polynomials' coefficients for the op's input `z` (mod 2^64).
    pub fn encode_input(&self, z: &[Ring]) -> Vec<Vec<u64>> {
        match self {
            Layout::Dense(d) => d.encode_input(z),
            Layout::Conv(c) => c.encode_input(z),
        }
    }

    /// For reply polynomial `out`: the (input polynomial, kernel polynomial) pairs whose
    /// products it sums, kernels numbered as [`Layout::kernels`] makes them.
    pub fn products(&self, out: usize) -> Vec<(usize, usize)> {
        match self {
            Layout::Dense(d) => {
                let blocks = d.cols.div_ceil(d.d1);
                (0..blocks).map(|b| (b, out * blocks + b)).collect()
            }
            Layout::Conv(c) => {
                let (kappa, block) = (out / c.blocks(), out % c.blocks());
                (0..c.groups())
                    .map(|g| (g * c.blocks() + block, kappa * c.groups() + g))
                    .collect()
            }
        }
    }

    /// The server's kernel polynomials (signed coefficients) for the op's weights `w`.
    pub fn kernels(&self, w: &[Ring]) -> Vec<Vec<i64>> {
        match self {
            Layout::Dense(d) => d.kernels(w),
            Layout::Conv(c) => c.kernels(w),
        }
    }

    /// For reply polynomial `out`: each (coefficient, output index) it yields, by coefficient.
    pub fn at(&self, out: usize) -> Vec<(usize, usize)> {
        match self {
            Layout::Dense(d) => {
                let first = out * d.d0;
                (0..d.d0.min(d.rows - first))
                    .map(|r| (r * d.d1, first + r))
                    .collect()
            }
            Layout::Conv(c) => c.at(out),
        }
    }
}

impl Dense {
    /// The split of `rows × cols` that costs the fewest bytes for `bits`-bit plaintexts.
    fn new(rows: usize, cols: usize, bits: u32) -> Dense {
        let reply = reply_c1_bytes(bits);
        let (mut best, mut cost) = ((rows.min(N), 1), usize::MAX);
        for d1 in 1..=cols.min(N) {
            let d0 = rows.min(N / d1);
            let bytes = cols.div_ceil(d1) * UPLOAD_BYTES + rows.div_ceil(d0) * reply;
            if bytes < cost {
                (best, cost) = ((d0, d1), bytes);
            }
        }
        Dense {
            rows,
            cols,
            d0: best.0,
            d1: best.1,
        }
    }

    fn encode_input(&self, v: &[Ring]) -> Vec<Vec<u64>> {
        v.chunks(self.d1)
            .map(|block| {
                let mut p = vec![0u64; N];
                p[0] = block[0];
                for (j, &x) in block.iter().enumerate().skip(1) {
                    p[N - j] = x.wrapping_neg();
                }
                p
            })
            .collect()
    }

    fn kernels(&self, w: &[Ring]) -> Vec<Vec<i64>> {
        let col_blocks = self.cols.div_ceil(self.d1);
        let mut out = Vec::with_capacity(self.rows.div_ceil(self.d0) * col_blocks);
        for a in 0..self.rows.div_ceil(self.d0) {
            for b in 0..col_blocks {
                let mut p = vec![0i64; N];
                for r in 0..self.d0.min(self.rows - a * self.d0) {
                    for j in 0..self.d1.min(self.cols - b * self.d1) {
                        let (row, col) = (a * self.d0 + r, b * self.d1 + j);
                        p[r * self.d1 + j] = w[row * self.cols + col] as i64;
                    }
                }
                out.push(p);
            }
        }
        out
    }
}

impl Conv {
    fn new(input: Image, out_channels: usize, window: Window) -> Conv {
        let [kh, kw] = window.size;
        let [pt, pl, pb, pr] = window.pads;
        let (h2, w2) = (input.h + pt + pb, input.w + pl + pr);
        let (cp, hp, wp) = if h2 * w2 <= N {
            ((N / (h2 * w2)).min(input.c), h2, w2)
        } else {
            let blocks =
                |hp: usize, wp: usize| origins(h2, hp, kh).len() * origins(w2, wp, kw).len();
            let best = (kh..=h2)
                .filter_map(|hp| {
                    let wp = (N / hp).min(w2);
                    (wp >= kw).then(|| (blocks(hp, wp), hp, wp))
                })
                .min()
                .unwrap_or((1, kh, kw));
            (1, best.1, best.2)
        };
        let s = cp * hp * wp;
        Conv {
            input,
            out_channels,
            window,
            padded: (h2, w2),
            cp,
            hp,
            wp,
            h0: origins(h2, hp, kh),
            w0: origins(w2, wp, kw),
            pack: (N / s).clamp(1, out_channels),
        }
    }

    fn groups(&self) -> usize {
        self.input.c.div_ceil(self.cp)
    }

    fn blocks(&self) -> usize {
        self.h0.len() * self.w0.len()
    }

    /// `O`: where the first output lands.
    fn offset(&self) -> usize {
        let [kh, kw] = self.window.size;
        self.hp * self.wp * (self.cp - 1) + self.wp * (kh - 1) + (kw - 1)
    }

    fn encode_input(&self, z: &[Ring]) -> Vec<Vec<u64>> {
        let Image { c, h, w } = self.input;
        let [pt, pl, _, _] = self.window.pads;
        let (h2, w2) = self.padded;
        let at = |ch: usize, y: usize, x: usize| -> u64 {
            let inside = y >= pt && y < pt + h && x >= pl && x < pl + w && ch < c;
            if inside {
                z[(ch * h + y - pt) * w + x - pl]
            } else {
                0
            }
        };
        let mut polys = Vec::with_capacity(self.groups() * self.blocks());
        for g in 0..self.groups() {
            for &h0 in &self.h0 {
                for &w0 in &self.w0 {
                    let mut p = vec![0u64; N];
                    for ci in 0..self.cp {
                        for i in 0..self.hp.min(h2 - h0) {
                            for j in 0..self.wp.min(w2 - w0) {
                                let k = ci * self.hp * self.wp + i * self.wp + j;
                                p[k] = at(g * self.cp + ci, h0 + i, w0 + j);
                            }
                        }
                    }
                    polys.push(p);
                }
            }
        }
        polys
    }

    fn kernels(&self, w: &[Ring]) -> Vec<Vec<i64>> {
        let [kh, kw] = self.window.size;
        let c = self.input.c;
        let (s, o) = (self.cp * self.hp * self.wp, self.offset());
        let mut polys = Vec::new();
        for kappa in 0..self.out_channels.div_ceil(self.pack) {
            for g in 0..self.groups() {
                let mut p = vec![0i64; N];
                for mu in 0..self.pack {
                    let m = kappa * self.pack + mu;
                    if m >= self.out_channels {
                        break;
                    }
                    for ci in 0..self.cp.min(c.saturating_sub(g * self.cp)) {
                        for l in 0..kh {
                            for l2 in 0..kw {
                                let k = mu * s + o - ci * self.hp * self.wp - l * self.wp - l2;
                                let weight = ((m * c + g * self.cp + ci) * kh + l) * kw + l2;
                                p[k] = w[weight] as i64;
                            }
                        }
                    }
                }
                polys.push(p);
            }
        }
        polys
    }

    fn at(&self, out: usize) -> Vec<(usize, usize)> {
        let [kh, kw] = self.window.size;
        let [sh, sw] = self.window.stride;
        let (h2, w2) = self.padded;
        let (oh, ow) = ((h2 - kh) / sh + 1, (w2 - kw) / sw + 1);
        let (kappa, block) = (out / self.blocks(), out % self.blocks());
        let (h0, w0) = (
            self.h0[block / self.w0.len()],
            self.w0[block % self.w0.len()],
        );
        let (s, o) = (self.cp * self.hp * self.wp, self.offset());
        let mut at = Vec::new();
        for mu in 0..self.pack {
            let m = kappa * self.pack + mu;
            if m >= self.out_channels {
                break;
            }
            for i in 0..=self.hp.min(h2 - h0) - kh {
                for j in 0..=self.wp.min(w2 - w0) - kw {
                    let (gy, gx) = (h0 + i, w0 + j);
                    if gy % sh == 0 && gx % sw == 0 && gy / sh < oh && gx / sw < ow {
                        let index = (m * oh + gy / sh) * ow + gx / sw;
                        at.push((mu * s + o + i * self.wp + j, index));
                    }
                }
            }
        }
        at
    }
}

/// The origins of blocks of `block` rows over `len` rows for a kernel of `k`, so that every
/// stride-1 output row falls in exactly one block.
fn origins(len: usize, block: usize, k: usize) -> Vec<usize> {
    let step = block + 1 - k;
    let mut o = vec![0];
    while o[o.len() - 1] + block < len {
        o.push(o[o.len() - 1] + step);
    }
    o
}

#[cfg(test)]
mod tests;
