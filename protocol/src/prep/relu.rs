//! The GMW ReLU's arithmetic material from vector OT: injection pairs and bit-times-ring
//! pairs ([`InjectPair`], [`BitRing`]), the same objects the dealer draws.
//!
//! Each party draws its bit r_i (and ring value R_i); r = r_0 ⊕ r_1, R = R_0 + R_1.
//! - Injection: r = r_0 + r_1 − 2·r_0·r_1 = r_0 + r_1·(1 − 2r_0). One vector OT, server
//!   sending, client choosing r_1, correlation 1 − 2r_0, gives shares of the cross term.
//! - Product: r·R_0 = r_0·R_0 + r_1·(1 − 2r_0)·R_0 and r·R_1 = r_1·R_1 + r_0·(1 − 2r_1)·R_1.
//!   The first cross term rides in the injection's OT (a second element, (1 − 2r_0)·R_0);
//!   the second needs one OT the other way (client sending, server choosing r_0).
//!
//! Bytes per element, both ways together: injection one OT + 8 (correction); bit-ring two
//! OTs + 3·8, an OT costing 16 bytes under IKNP and a fraction of a bit under silent OT.
//! The choice bits are the receivers' own. One flight of corrections per call (and one of
//! matrices under IKNP); [`relu_pairs`] makes a ReLU layer's bit-ring and two injection
//! sets in one call. Each party sees only OT traffic, so
//! nothing of the other's r_i or R_i.

use std::ops::Range;

use super::session::{flights, PrepSession};
use super::triples::{bits, slice};
use super::vole::{correction_bytes, offer_flight, take_corrections, Ask, Offer, Shape};
use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::material::{BitRing, InjectPair};
use crate::ot::FLIGHT_OTS;
use crate::ring::Ring;
use crate::share::Role;

/// `n` random bits, XOR-shared and additively shared over the ring: this party's share.
/// Both parties call it at once with the same `n`.
pub fn inject_pairs<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
) -> Result<InjectPair, ProtocolError> {
    Ok(draw(session, ch, n, 0, 64)?.inject)
}

/// `n` bit-times-ring pairs (r, R, r·R), all shared: this party's share. Both parties
/// call it at once with the same `n`.
pub fn bit_rings<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
) -> Result<BitRing, ProtocolError> {
    draw(session, ch, n, n, 64)
}

/// A GMW ReLU layer's arithmetic material for `n` candidates in one exchange: `n`
/// bit-ring pairs, then two sets of `n` injection pairs (the carry's and the wrap's),
/// whose ring shares are exact modulo `2^width` (64 where the layer's output is opened
/// whole; `k` where the next layers read only its low `k` bits, which halves the bytes at
/// `k = 32`). [`relu_pairs_bytes`] gives the corrections' bytes. Both parties call it at
/// once.
pub fn relu_pairs<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
    width: u32,
) -> Result<(BitRing, InjectPair, InjectPair), ProtocolError> {
    let all = n
        .checked_mul(3)
        .ok_or(ProtocolError::Misuse("candidate count overflows"))?;
    Ok(split(draw(session, ch, all, n, width)?, n))
}

/// A ReLU layer's pairs: the bit-ring pairs, the carry's and the wrap's injections.
pub type ReluPairs = (BitRing, InjectPair, InjectPair);

/// [`relu_pairs`]' draw of `3n` values split into its three sets.
fn split(all: BitRing, n: usize) -> ReluPairs {
    let BitRing {
        inject,
        big_r,
        product,
    } = all;
    let part = |k: usize| InjectPair {
        r: slice(&inject.r.words, k * n..(k + 1) * n),
        arith: inject.arith[k * n..(k + 1) * n].to_vec(),
    };
    let (carry, wrap) = (part(1), part(2));
    let first = BitRing {
        inject: part(0),
        big_r,
        product,
    };
    (first, carry, wrap)
}

/// What a GMW ReLU layer spends of a session's OTs per query: the lanes of its AND
/// triples, and its candidates' pairs at `width` bits ([`relu_pairs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairsAhead {
    /// AND-triple lanes: one OT each way each.
    pub triples: usize,
    /// Candidates: `3n` OTs from the server, `n` from the client.
    pub candidates: usize,
    /// Low bits of the pairs' ring shares that matter.
    pub width: u32,
}

/// Reserves the OTs of a query whose GMW ReLU layers spend `layers`, all at once, so that
/// making their material ahead sends nothing but corrections. The peer calls it at once.
pub fn reserve_ahead<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    layers: &[PairsAhead],
) -> Result<(), ProtocolError> {
    let (lanes, c) = layers
        .iter()
        .fold((0, 0), |(l, c), a| (l + a.triples, c + a.candidates));
    let (out, back) = match session.role() {
        Role::Server => (3 * c, c),
        Role::Client => (c, 3 * c),
    };
    session.guarded(|s| s.reserve(ch, lanes + out, lanes + back))
}

/// The first half of a layer's pairs made ahead: this party's corrections go out now, and
/// the draw waits in the session for [`take_pairs_ahead`], which the layers call in the
/// same order once every layer has sent its first half. The peer calls it at once.
pub fn offer_pairs_ahead<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
    width: u32,
) -> Result<(), ProtocolError> {
    session.guarded(|s| {
        let mut p = Pending::new(s, ch, 3 * n, n, width)?;
        for flight in flights(p.ots()) {
            p.offer(s, ch, &flight)?;
        }
        s.keep_pending(n, width, p);
        Ok(())
    })
}

/// The second half: the peer's corrections for the oldest draw [`offer_pairs_ahead`]
/// left; the layer's pairs then wait in the session for its material
/// ([`PrepSession::pairs_ahead`]).
pub fn take_pairs_ahead<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
) -> Result<(), ProtocolError> {
    session.guarded(|s| {
        let (n, width, mut p) = s.next_pending()?;
        for flight in flights(p.ots()) {
            p.take(ch, &flight)?;
        }
        s.keep_ahead(width, split(p.done(), n));
        Ok(())
    })
}

/// What a vector-OT element carries: the injection cross term or a product cross term.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Inject,
    Product,
}

/// The elements of the vector `role` sends for a value (empty: it sends none).
fn parts(role: Role, product: bool) -> &'static [Part] {
    match (role, product) {
        (Role::Server, true) => &[Part::Inject, Part::Product],
        (Role::Server, false) => &[Part::Inject],
        (Role::Client, true) => &[Part::Product],
        (Role::Client, false) => &[],
    }
}

/// One party's side of `n` injections, of which the first `products` also carry a
/// product with R. Each party's vector OTs cover a prefix of the values (the client's
/// only the products), so OT i is value i. Flight by flight: corrections out, then in.
fn draw<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
    products: usize,
    width: u32,
) -> Result<BitRing, ProtocolError> {
    session.guarded(|s| {
        let mut pending = Pending::new(s, ch, n, products, width)?;
        for flight in flights(pending.ots()) {
            pending.offer(s, ch, &flight)?;
            pending.take(ch, &flight)?;
        }
        Ok(pending.done())
    })
}

/// One party's side of a [`draw`] between its halves: its own terms, and the keys of the
/// OTs it receives whose corrections are still to come.
pub(super) struct Pending {
    role: Role,
    products: usize,
    width: u32,
    /// How many OTs this party sends, and receives.
    sent: usize,
    asked: usize,
    r: Vec<bool>,
    big_r: Vec<Ring>,
    arith: Vec<Ring>,
    prod: Vec<Ring>,
    /// Keys of the OTs received, by flight.
    keys: Vec<Vec<Block>>,
}

impl Pending {
    /// Draws this party's bits and ring values and reserves the OTs (the peer at once).
    fn new<T: Transport + ?Sized>(
        s: &mut PrepSession,
        ch: &mut Channel<T>,
        n: usize,
        products: usize,
        width: u32,
    ) -> Result<Pending, ProtocolError> {
        let role = s.role();
        let count = |role: Role| match role {
            Role::Server => n,
            Role::Client => products,
        };
        let (sent, asked) = (count(role), count(peer(role)));
        // This party's r_i: its own choices where it receives, its PRG's bits beyond.
        s.reserve(ch, sent, asked)?;
        let mut r = s.own_choices(asked)?;
        r.extend(s.bits(n - asked));
        let big_r = s.ring_vec(products);
        // Own terms (r_0 for the server alone, r_i·R_i).
        let arith: Vec<Ring> = match role {
            Role::Server => r.iter().map(|&b| Ring::from(b)).collect(),
            Role::Client => vec![0; n],
        };
        let prod: Vec<Ring> = big_r
            .iter()
            .zip(&r)
            .map(|(x, &b)| if b { *x } else { 0 })
            .collect();
        Ok(Pending {
            role,
            products,
            width,
            sent,
            asked,
            r,
            big_r,
            arith,
            prod,
            keys: Vec::new(),
        })
    }

    /// OTs either way, the larger count: what the flights cover.
    fn ots(&self) -> usize {
        self.sent.max(self.asked)
    }

    /// The first half of `flight`: its random OTs and this party's corrections.
    fn offer<T: Transport + ?Sized>(
        &mut self,
        s: &mut PrepSession,
        ch: &mut Channel<T>,
        flight: &Range<usize>,
    ) -> Result<(), ProtocolError> {
        let Pending {
            role,
            products,
            width,
            sent,
            asked,
            r,
            big_r,
            arith,
            prod,
            keys,
        } = self;
        let my_parts = |i: usize| parts(*role, i < *products);
        let my_shape = shape(&my_parts, *width);
        let mut delta = |i: usize, out: &mut [Ring]| {
            let sign = 1u64.wrapping_sub(2 * Ring::from(r[i]));
            for (p, o) in my_parts(i).iter().zip(out) {
                *o = match p {
                    Part::Inject => sign,
                    Part::Product => sign.wrapping_mul(big_r[i]),
                };
            }
        };
        let mut keep = |i: usize, x: &[Ring]| add_in(arith, prod, i, my_parts(i), x);
        let mut offer = (*sent > 0).then_some(Offer {
            n: *sent,
            shape: &my_shape,
            delta: &mut delta,
            share: &mut keep,
        });
        keys.push(offer_flight(s, ch, flight, offer.as_mut(), *asked)?);
        Ok(())
    }

    /// The second half of `flight` (offered before): the peer's corrections.
    fn take<T: Transport + ?Sized>(
        &mut self,
        ch: &mut Channel<T>,
        flight: &Range<usize>,
    ) -> Result<(), ProtocolError> {
        let index = flight.start / FLIGHT_OTS;
        let (role, products) = (peer(self.role), self.products);
        let their_parts = |i: usize| parts(role, i < products);
        let their_shape = shape(&their_parts, self.width);
        let (arith, prod) = (&mut self.arith, &mut self.prod);
        let mut keep = |i: usize, x: &[Ring]| add_in(arith, prod, i, their_parts(i), x);
        let mut ask = Ask {
            choices: &self.r[..self.asked],
            shape: &their_shape,
            share: &mut keep,
        };
        let keys = self.keys.get(index).ok_or(ProtocolError::Misuse(
            "corrections taken for a flight not offered",
        ))?;
        take_corrections(ch, flight.start.min(self.asked), keys, &mut ask)
    }

    /// The finished shares.
    fn done(self) -> BitRing {
        BitRing {
            inject: InjectPair {
                r: bits(&self.r),
                arith: self.arith,
            },
            big_r: self.big_r,
            product: self.prod,
        }
    }
}

/// Adds a share of value `i`'s cross terms into its injection or product, by part.
fn add_in(arith: &mut [Ring], prod: &mut [Ring], i: usize, ps: &[Part], x: &[Ring]) {
    for (p, x) in ps.iter().zip(x) {
        let to = match p {
            Part::Inject => &mut arith[i],
            Part::Product => &mut prod[i],
        };
        *to = to.wrapping_add(*x);
    }
}

/// The other party.
fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

/// Ring elements of `width` bits, as many per OT as its value's parts.
fn shape<'a>(
    parts: &'a dyn Fn(usize) -> &'static [Part],
    width: u32,
) -> impl Fn(usize) -> Shape + 'a {
    move |i| Shape {
        len: parts(i).len(),
        width,
    }
}

/// Bytes of [`relu_pairs`]' corrections for `n` candidates at `width` bits: (sent by the
/// server, sent by the client). The OTs beneath them are apart.
pub fn relu_pairs_bytes(n: usize, width: u32) -> (usize, usize) {
    let (all, products) = (3 * n, n);
    let sent = |role: Role, count: usize| {
        let of = move |i: usize| parts(role, i < products);
        let shape = shape(&of, width);
        correction_bytes(count, &shape)
    };
    (sent(Role::Server, all), sent(Role::Client, products))
}
