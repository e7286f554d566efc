//! The sign and carry bits of a sum of two k-bit numbers, by a parallel-prefix carry tree.
//!
//! For `x + y` (k bits each, LSB first) the gadget yields the carry into bit `f` (the
//! rounding carry of a floor shift by `f`), the most significant bit of the k-bit sum
//! (the sign), and the carry out of bit `k − 1` (the wrap). Carries are generate bits
//! `G[0, j)` of bit ranges, built from aligned ranges whose lengths are powers of two and
//! shared between the three outputs: about `3k` ANDs in `1 + ceil(log2 k)` batches.
//! Combining ranges: `G[lo, hi) = G[mid, hi) ⊕ P[mid, hi) ∧ G[lo, mid)`,
//! `P[lo, hi) = P[mid, hi) ∧ P[lo, mid)`; a leaf is `g_i = x_i ∧ y_i`, `p_i = x_i ⊕ y_i`.

use std::collections::HashMap;

use crate::backend::{Backend, CircuitError};

/// The bits that an exact truncated ReLU needs, as wires.
#[derive(Clone, Debug)]
pub struct SignCarries<W> {
    /// Bit k − 1 of `(x + y) mod 2^k`: 1 when the value is negative.
    pub msb: W,
    /// The carry into bit `f`: `floor((x + y) / 2^f) = (x >> f) + (y >> f) + carry_f`.
    pub carry_f: W,
    /// The carry out of bit `k − 1`: `x + y = ((x + y) mod 2^k) + wrap · 2^k`.
    pub wrap: W,
}

/// Computes [`SignCarries`] of `x + y` where both have `x.len() = k` bits and `0 < f < k`.
pub fn sign_and_carries<B: Backend>(
    b: &mut B,
    x: &[B::Wire],
    y: &[B::Wire],
    f: usize,
) -> Result<SignCarries<B::Wire>, B::Error> {
    let k = x.len();
    if y.len() != k {
        return Err(CircuitError::WidthMismatch(k, y.len()).into());
    }
    if k < 2 || f == 0 || f >= k {
        return Err(CircuitError::TooFewBits {
            needed: f.max(1) + 1,
            got: k,
        }
        .into());
    }
    let mut tree = Tree::default();
    let full = tree.request(0, k, false);
    let below_top = tree.request(0, k - 1, false);
    let low = tree.request(0, f, false);
    let mut values = tree.evaluate(b, x, y)?;
    let top = b.xor(&x[k - 1], &y[k - 1])?;
    let msb = b.xor(&top, values.g(below_top))?;
    Ok(SignCarries {
        msb,
        carry_f: values.take_g(low),
        wrap: values.take_g(full),
    })
}

/// Bit k − 1 of `(x + y) mod 2^k` alone, both k ≥ 2 bits: the sign, for comparisons by
/// the sign of a difference. The tree's carry into the top bit: under `3k` ANDs in
/// `1 + ceil(log2 (k − 1))` batches.
pub fn sign<B: Backend>(b: &mut B, x: &[B::Wire], y: &[B::Wire]) -> Result<B::Wire, B::Error> {
    let k = x.len();
    if y.len() != k {
        return Err(CircuitError::WidthMismatch(k, y.len()).into());
    }
    if k < 2 {
        return Err(CircuitError::TooFewBits { needed: 2, got: k }.into());
    }
    let mut tree = Tree::default();
    let below_top = tree.request(0, k - 1, false);
    let values = tree.evaluate(b, x, y)?;
    let top = b.xor(&x[k - 1], &y[k - 1])?;
    b.xor(&top, values.g(below_top))
}

/// A bit range `[lo, hi)` of the sum and how it splits.
#[derive(Debug)]
struct Node {
    lo: usize,
    hi: usize,
    /// (high child, low child); `None` for a single bit.
    children: Option<(usize, usize)>,
    need_p: bool,
}

#[derive(Debug, Default)]
struct Tree {
    nodes: Vec<Node>,
    index: HashMap<(usize, usize), usize>,
}

/// A value an AND gate reads.
#[derive(Clone, Copy, Debug)]
enum Ref {
    X(usize),
    Y(usize),
    G(usize),
    P(usize),
}

/// One AND: `out = a ∧ b ⊕ extra`, stored as node `target`'s G (or P).
#[derive(Debug)]
struct Gate {
    target: Ref,
    a: Ref,
    b: Ref,
    extra: Option<Ref>,
}

impl Tree {
    /// Asks for `G[lo, hi)` (and `P[lo, hi)` if `need_p`); returns the node.
    fn request(&mut self, lo: usize, hi: usize, need_p: bool) -> usize {
        if let Some(&i) = self.index.get(&(lo, hi)) {
            if need_p && !self.nodes[i].need_p {
                self.nodes[i].need_p = true;
                if let Some((_, low)) = self.nodes[i].children {
                    let (l_lo, l_hi) = (self.nodes[low].lo, self.nodes[low].hi);
                    self.request(l_lo, l_hi, true);
                }
            }
            return i;
        }
        let children = (hi - lo > 1).then(|| {
            let mid = lo + (hi - lo).next_power_of_two() / 2;
            let high = self.request(mid, hi, true);
            let low = self.request(lo, mid, need_p);
            (high, low)
        });
        self.nodes.push(Node {
            lo,
            hi,
            children,
            need_p,
        });
        let i = self.nodes.len() - 1;
        self.index.insert((lo, hi), i);
        i
    }

    /// Each node's gates with the AND depth at which their result is ready.
    fn gates(&self) -> Vec<(usize, Gate)> {
        let mut g_depth = vec![0; self.nodes.len()];
        let mut p_depth = vec![0; self.nodes.len()];
        let mut out = Vec::new();
        // Children are pushed before parents, so one pass in index order sees them first.
        for (i, n) in self.nodes.iter().enumerate() {
            match n.children {
                None => {
                    g_depth[i] = 1;
                    out.push((
                        1,
                        Gate {
                            target: Ref::G(i),
                            a: Ref::X(n.lo),
                            b: Ref::Y(n.lo),
                            extra: None,
                        },
                    ));
                }
                Some((high, low)) => {
                    g_depth[i] = g_depth[high].max(p_depth[high]).max(g_depth[low]) + 1;
                    out.push((
                        g_depth[i],
                        Gate {
                            target: Ref::G(i),
                            a: Ref::P(high),
                            b: Ref::G(low),
                            extra: Some(Ref::G(high)),
                        },
                    ));
                    if n.need_p {
                        p_depth[i] = p_depth[high].max(p_depth[low]) + 1;
                        out.push((
                            p_depth[i],
                            Gate {
                                target: Ref::P(i),
                                a: Ref::P(high),
                                b: Ref::P(low),
                                extra: None,
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    /// Runs the gates level by level, one AND batch per level.
    fn evaluate<'w, B: Backend>(
        &self,
        b: &mut B,
        x: &'w [B::Wire],
        y: &'w [B::Wire],
    ) -> Result<Values<'w, B::Wire>, B::Error> {
        let n = self.nodes.len();
        let mut v = Values {
            x,
            y,
            g: vec![None; n],
            p: vec![None; n],
        };
        for (i, node) in self.nodes.iter().enumerate() {
            if node.children.is_none() {
                v.p[i] = Some(b.xor(&x[node.lo], &y[node.lo])?);
            }
        }
        let mut gates = self.gates();
        gates.sort_by_key(|(d, _)| *d);
        for level in gates.chunk_by(|a, b| a.0 == b.0) {
            let outs = {
                let pairs: Vec<_> = level
                    .iter()
                    .map(|(_, g)| (v.get(g.a), v.get(g.b)))
                    .collect();
                b.and_batch(&pairs)?
            };
            for ((_, gate), out) in level.iter().zip(outs) {
                let out = match gate.extra {
                    Some(r) => b.xor(&out, v.get(r))?,
                    None => out,
                };
                v.set(gate.target, out);
            }
        }
        Ok(v)
    }
}

/// Wire values of the tree while it is evaluated.
struct Values<'a, W> {
    x: &'a [W],
    y: &'a [W],
    g: Vec<Option<W>>,
    p: Vec<Option<W>>,
}

impl<W> Values<'_, W> {
    fn get(&self, r: Ref) -> &W {
        let missing = "carry tree evaluates a node before its inputs";
        match r {
            Ref::X(i) => &self.x[i],
            Ref::Y(i) => &self.y[i],
            Ref::G(i) => self.g[i].as_ref().expect(missing),
            Ref::P(i) => self.p[i].as_ref().expect(missing),
        }
    }

    fn set(&mut self, r: Ref, w: W) {
        match r {
            Ref::G(i) => self.g[i] = Some(w),
            Ref::P(i) => self.p[i] = Some(w),
            Ref::X(_) | Ref::Y(_) => unreachable!("inputs are never written"),
        }
    }

    fn g(&self, i: usize) -> &W {
        self.get(Ref::G(i))
    }

    fn take_g(&mut self, i: usize) -> W
    where
        W: Clone,
    {
        self.g(i).clone()
    }
}

#[cfg(test)]
mod tests;
