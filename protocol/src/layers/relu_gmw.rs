//! ReLU (of a window's maximum) with exact truncation, by GMW: `y = ReLU(x) >> f` on
//! additive shares; a max-pool with its ReLU folded in is the same protocol with several
//! candidates per output ([`super::maxpool`]).
//!
//! Let `a`, `b` be the low `k` bits of the server's and client's shares of `x`, with
//! |x| < 2^(k−1). The carry circuit gives XOR shares of the sign `msb`, the rounding carry
//! `c_f` into bit `f` and the wrap `w` out of bit `k − 1` of `a + b`. With `s = ¬msb`,
//!
//! `ReLU(x) >> f = s · ((a >> f) + (b >> f)) + (s ∧ c_f) − 2^(k−f) · (s ∧ w)`
//!
//! exactly (the floor shift of the reference), because for `x ≥ 0`,
//! `x = a + b − w · 2^k` and `floor((a + b) / 2^f) = (a >> f) + (b >> f) + c_f`.
//!
//! For a window of `m` candidates, the same carry circuit also runs on every pairwise
//! difference (its sign compares the two), `select_max` turns signs and comparisons into
//! a one-hot `s` per candidate (none when the maximum is negative), and each output sums
//! its candidates' terms above.
//!
//! Messages, both parties at once in each round:
//! 1. `1 + ceil(log2 k)` AND batches of the carry circuit (2 bits per AND each way), then
//!    `ceil(log2 m)` batches of the selection;
//! 2. one round that opens the two closing ANDs, `c = s ⊕ r` and `e = T − R` where
//!    `T = (a >> f) + (b >> f)`: with `s = c + (1 − 2c)·r` and `T = e + R`,
//!    `s · T = c·e + c·R + (1 − 2c)·(e·r + r·R)`, linear in the shared `R`, `r`, `r·R`;
//! 3. one round that injects `s ∧ c_f` and `s ∧ w` into the ring (open `u ⊕ r'`).
//!
//! Each party sees only values masked by one-time randomness (triples, `r`, `R`, `r'`).

use veil_circuits::{pairs, select_max, sign_and_carries, Bits, Counter};

use super::{
    maxpool, ClientCx, ClientMake, Clocks, Half, Inputs, LayerProtocol, LayerSource, ServerCx,
    ServerMake,
};
use crate::channel::{Channel, Link, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::gmw::{and_finish, and_masks, input_wires, BitTriple, Gmw};
use crate::material::{BitRing, Draw, InjectPair, LinearPrep, OtKind, Pair, Preprocessing};
use crate::plan::{LinearWeights, Windows};
use crate::prep::{
    and_triples_of, offer_pairs_ahead, ot_bytes, relu_pairs, relu_pairs_bytes, take_pairs_ahead,
    PairsAhead, PrepSession,
};
use crate::ring::{low_bits, FixedPoint, Ring};
use crate::share::Role;
use crate::stored::Stored;

/// One party's share of a ReLU (or max-pool ReLU) layer's material, sized for all its
/// candidates: from the dealer or made by OT, spent as it is online.
pub struct ReluShare {
    /// AND triples for the carry circuit, the selection and the two closing ANDs, in gate
    /// order ([`schedule`]).
    pub triples: Vec<BitTriple>,
    /// The bit-times-ring pair for sign · truncated value.
    pub product: BitRing,
    /// Injection pair for sign ∧ rounding carry.
    pub carry: InjectPair,
    /// Injection pair for sign ∧ wrap.
    pub wrap: InjectPair,
}

redacted_debug!(ReluShare, |s: &ReluShare| s.triples.len());

impl Stored for ReluShare {
    fn put(&self, w: &mut Writer) {
        self.triples.put(w);
        self.product.put(w);
        self.carry.put(w);
        self.wrap.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ReluShare {
            triples: Stored::get(r)?,
            product: Stored::get(r)?,
            carry: Stored::get(r)?,
            wrap: Stored::get(r)?,
        })
    }
}

/// The layer's protocol: its fixed point, windows (one candidate each for a ReLU), and
/// the low bits of its output that later layers read (its dealer-free pairs are exact
/// modulo `2^width` only).
pub(crate) struct ReluGmw {
    fixed: FixedPoint,
    windows: Windows,
    width: u32,
}

impl ReluGmw {
    /// The protocol of a layer with these windows whose output is read on `width` bits.
    pub fn new(fixed: FixedPoint, windows: Windows, width: u32) -> ReluGmw {
        ReluGmw {
            fixed,
            windows,
            width,
        }
    }

    /// Candidates in all: `m · n`.
    fn candidates(&self) -> usize {
        self.windows.index.len()
    }

    /// Each AND triple's width, in gate order.
    fn widths(&self) -> Vec<usize> {
        schedule(self.fixed, self.windows.m, self.windows.outputs())
            .into_iter()
            .flat_map(|(gates, width)| std::iter::repeat_n(width, gates))
            .collect()
    }

    /// Both parties' half of making the pairs ahead: their corrections out, or in.
    fn ahead(
        &self,
        prep: &mut PrepSession,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        match half {
            Half::Out => offer_pairs_ahead(prep, ch, self.candidates(), self.width),
            Half::In => take_pairs_ahead(prep, ch),
        }
    }

    /// Both parties make one share each with the other, at once (the pairs, if they were
    /// made ahead, are the session's).
    fn make(&self, prep: &mut PrepSession, ch: &mut Link) -> Result<ReluShare, ProtocolError> {
        let triples = and_triples_of(prep, ch, &self.widths())?;
        let (c, width) = (self.candidates(), self.width);
        let (product, carry, wrap) = match prep.pairs_ahead(c, width)? {
            Some(pairs) => pairs,
            None => relu_pairs(prep, ch, c, width)?,
        };
        Ok(ReluShare {
            triples,
            product,
            carry,
            wrap,
        })
    }

    fn online(
        &self,
        ch: &mut Link,
        role: Role,
        share: ReluShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let x = input
            .x
            .ok_or(ProtocolError::Misuse("ReLU cannot come first"))?;
        relu_trunc(ch, role, self.fixed, &self.windows, x, share)
    }
}

/// Material as it comes (dealer or OT) is what the online phase spends: no offline step,
/// no setup. Two-party bytes for T AND gates and N = m·n candidates:
/// 2·ot(T) + ot(3N) + ot(N) + 40·N ([`crate::prep`]).
impl LayerProtocol for ReluGmw {
    const TAG: u8 = 1;
    type ServerSession = ();
    type ClientSession = ();
    type ServerMaterial = ReluShare;
    type ClientMaterial = ReluShare;
    type ServerReady = ReluShare;
    type ClientReady = ReluShare;

    fn online_cost(&self, clocks: &mut Clocks) -> u64 {
        let (m, n) = (self.windows.m, self.windows.outputs());
        (0..rounds(self.fixed, m)).for_each(|_| clocks.exchange());
        2 * bytes_sent(self.fixed, m, n) as u64
    }

    fn two_party_bytes(&self, _: LinearPrep, ot: OtKind) -> Result<u64, ProtocolError> {
        let (m, n) = (self.windows.m, self.windows.outputs());
        let ands = and_gates(self.fixed, m, n);
        let c = self.candidates();
        let ots = |n| ot_bytes(n, ot);
        let (server, client) = relu_pairs_bytes(c, self.width);
        Ok((2 * ots(ands) + ots(3 * c) + ots(c) + server + client) as u64)
    }

    fn server_setup(
        &self,
        _: &mut Link,
        _: Option<&LinearWeights>,
        _: LayerSource<'_>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn client_setup(&self, _: &mut Link, _: Preprocessing) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn draw(&self, d: &mut Draw<'_>, _: Option<&[Ring]>) -> Result<Pair<ReluShare>, DecodeError> {
        let c = self.candidates();
        let (st, ct) = d.triples(&self.widths())?;
        let (sp, cp) = d.bit_ring(c)?;
        let (sc, cc) = d.inject_pair(c)?;
        let (sw, cw) = d.inject_pair(c)?;
        let join = |triples: Option<_>, product: Option<_>, carry: Option<_>, wrap| {
            Some(ReluShare {
                triples: triples?,
                product: product?,
                carry: carry?,
                wrap: wrap?,
            })
        };
        Ok((join(st, sp, sc, sw), join(ct, cp, cc, cw)))
    }

    fn spends(&self) -> Option<PairsAhead> {
        Some(PairsAhead {
            triples: self.widths().iter().sum(),
            candidates: self.candidates(),
            width: self.width,
        })
    }

    fn server_ahead(
        &self,
        _: &(),
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        self.ahead(cx.ot()?, ch, half)
    }

    fn client_ahead(
        &self,
        _: &(),
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        self.ahead(cx.ot()?, ch, half)
    }

    fn server_make(
        &self,
        _: &(),
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<ReluShare, ProtocolError> {
        self.make(cx.ot()?, ch)
    }

    fn client_make(
        &self,
        _: &(),
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<ReluShare, ProtocolError> {
        self.make(cx.ot()?, ch)
    }

    fn server_offline(
        &self,
        _: &mut Link,
        _: &mut ServerCx<'_>,
        material: ReluShare,
    ) -> Result<ReluShare, ProtocolError> {
        Ok(material)
    }

    fn client_offline(
        &self,
        _: &mut Link,
        _: &mut ClientCx<'_>,
        _: &(),
        material: ReluShare,
    ) -> Result<ReluShare, ProtocolError> {
        Ok(material)
    }

    fn server_online(
        &self,
        ch: &mut Link,
        _: Option<&LinearWeights>,
        share: ReluShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        self.online(ch, Role::Server, share, input)
    }

    fn client_online(
        &self,
        ch: &mut Link,
        share: ReluShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        self.online(ch, Role::Client, share, input)
    }
}

/// The AND batches of a layer of `n` outputs with `m` candidates each, in the order the
/// protocol spends triples: `(gates, width)`. The carry circuit runs on every candidate
/// and every pairwise difference side by side, the selection on each output, the two
/// closing ANDs on every candidate.
pub fn schedule(fixed: FixedPoint, m: usize, n: usize) -> Vec<(usize, usize)> {
    let mut tree = Counter::new();
    let wires = vec![tree.input(); fixed.k as usize];
    sign_and_carries(&mut tree, &wires, &wires, fixed.f as usize)
        .expect("a validated FixedPoint fits the circuit");
    let mut select = Counter::new();
    let (neg, lt) = (vec![select.input(); m], vec![select.input(); pairs(m)]);
    select_max(&mut select, &neg, &lt).expect("as many comparisons as pairs");
    let elements = (m + pairs(m)) * n;
    tree.batch_sizes()
        .iter()
        .map(|&g| (g, elements))
        .chain(select.batch_sizes().iter().map(|&g| (g, n)))
        .chain([(2, m * n)])
        .collect()
}

/// AND gates of a layer (all widths summed).
pub fn and_gates(fixed: FixedPoint, m: usize, n: usize) -> usize {
    schedule(fixed, m, n).iter().map(|(g, w)| g * w).sum()
}

/// Rounds of one layer: the circuit's AND batches, the closing round, the injection.
pub fn rounds(fixed: FixedPoint, m: usize) -> usize {
    schedule(fixed, m, 1).len() - 1 + 2
}

/// Payload bytes one party sends for a layer of `n` outputs with `m` candidates each.
pub fn bytes_sent(fixed: FixedPoint, m: usize, n: usize) -> usize {
    // One message per circuit batch; then 2 closing ANDs + c and e; then two injections.
    let batches = schedule(fixed, m, n);
    let circuit: usize = batches[..batches.len() - 1]
        .iter()
        .map(|(g, w)| (2 * g * w).div_ceil(8))
        .sum();
    let c = m * n;
    circuit + (5 * c).div_ceil(8) + 8 * c + (2 * c).div_ceil(8)
}

/// Runs the layer on this party's shares `x` (scale 2^(2f)): its shares of
/// `ReLU(max over each window) >> f` (scale 2^f). A ReLU is the window of one.
pub fn relu_trunc<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    role: Role,
    fixed: FixedPoint,
    windows: &Windows,
    x: &[Ring],
    material: ReluShare,
) -> Result<Vec<Ring>, ProtocolError> {
    let (k, f) = (fixed.k, fixed.f);
    let (m, n) = (windows.m, windows.outputs());
    let c = m * n;
    if material.product.big_r.len() != c || windows.index.iter().any(|&i| i >= x.len()) {
        return Err(ProtocolError::Material(
            "ReLU material of the wrong width".into(),
        ));
    }
    // Candidates, then every pairwise difference, into one carry circuit.
    let values = maxpool::compared(windows, x);
    let low: Vec<u64> = values.iter().map(|v| low_bits(*v, k)).collect();
    let (xw, yw) = input_wires(role, &low, k);
    let mut gmw = Gmw::new(ch, role, material.triples);
    let sc = sign_and_carries(&mut gmw, &xw, &yw, f as usize)?;
    let part = |b: &Bits, p: usize| b.range(p * n, n);
    let neg: Vec<Bits> = (0..m).map(|i| part(&sc.msb, i)).collect();
    let lt: Vec<Bits> = (m..m + pairs(m)).map(|p| part(&sc.msb, p)).collect();
    let selected = select_max(&mut gmw, &neg, &lt)?;
    let s = Bits::concat(&selected.iter().collect::<Vec<_>>());
    let (carry_f, wrap) = (sc.carry_f.range(0, c), sc.wrap.range(0, c));
    let (closing, ch) = gmw.finish();
    let [t_carry, t_wrap]: [BitTriple; 2] = closing
        .try_into()
        .map_err(|_| ProtocolError::Material("wrong number of AND triples".into()))?;

    // Closing round: the two closing ANDs, and the masked selection and truncated sum.
    let t: Vec<Ring> = low[..c].iter().map(|v| v >> f).collect();
    let (d1, e1) = and_masks(&s, &carry_f, &t_carry)?;
    let (d2, e2) = and_masks(&s, &wrap, &t_wrap)?;
    let c_share = s.xor(&material.product.inject.r)?;
    let e_share: Vec<Ring> = crate::share::sub(&t, &material.product.big_r);
    let (open, e) = ch.open_shares(&[&d1, &e1, &d2, &e2, &c_share], &e_share)?;
    let u = and_finish(role, &open[0], &open[1], &t_carry)?;
    let v = and_finish(role, &open[2], &open[3], &t_wrap)?;
    let opened_c = &open[4];
    let p = &material.product;
    let product: Vec<Ring> = (0..c)
        .map(|i| {
            let ci = opened_c.get(i) as u64;
            let sign = 1u64.wrapping_sub(2 * ci);
            let own = if role.adds_constants() {
                ci.wrapping_mul(e[i])
            } else {
                0
            };
            own.wrapping_add(ci.wrapping_mul(p.big_r[i])).wrapping_add(
                sign.wrapping_mul(
                    e[i].wrapping_mul(p.inject.arith[i])
                        .wrapping_add(p.product[i]),
                ),
            )
        })
        .collect();

    // Injection round: s ∧ c_f and s ∧ w into the ring; then each output sums its
    // candidates (at most one is selected).
    let [carry, wrap] = inject(ch, role, [&u, &v], [&material.carry, &material.wrap])?;
    let shift = 1u64 << (k - f);
    Ok(maxpool::per_output(m, n, |j| {
        product[j]
            .wrapping_add(carry[j])
            .wrapping_sub(shift.wrapping_mul(wrap[j]))
    }))
}

/// Bit injection: additive ring shares of XOR-shared bits, one round for all of them.
/// Opens `b ⊕ r` and uses `b = c + (1 − 2c)·r`.
fn inject<T: Transport + ?Sized, const N: usize>(
    ch: &mut Channel<T>,
    role: Role,
    bits: [&Bits; N],
    pairs: [&InjectPair; N],
) -> Result<[Vec<Ring>; N], ProtocolError> {
    let masked = bits
        .iter()
        .zip(&pairs)
        .map(|(b, p)| b.xor(&p.r))
        .collect::<Result<Vec<_>, _>>()?;
    let (open, _) = ch.open_shares(&masked.iter().collect::<Vec<_>>(), &[])?;
    Ok(std::array::from_fn(|j| {
        let (c, arith) = (&open[j], &pairs[j].arith);
        (0..c.len)
            .map(|i| {
                let ci = c.get(i) as u64;
                let own = if role.adds_constants() { ci } else { 0 };
                own.wrapping_add(1u64.wrapping_sub(2 * ci).wrapping_mul(arith[i]))
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests;
