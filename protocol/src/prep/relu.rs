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

use super::session::PrepSession;
use super::triples::{bits, slice};
use super::vole::{correction_bytes, exchange, Ask, Offer, Shape};
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::material::{BitRing, InjectPair};
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
    let BitRing {
        inject,
        big_r,
        product,
    } = draw(session, ch, all, n, width)?;
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
    Ok((first, carry, wrap))
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
/// only the products), so OT i is value i.
fn draw<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
    products: usize,
    width: u32,
) -> Result<BitRing, ProtocolError> {
    session.guarded(|s| {
        let role = s.role();
        let peer = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let count = |role: Role| match role {
            Role::Server => n,
            Role::Client => products,
        };
        let (sent, asked) = (count(role), count(peer));
        // This party's r_i: its own choices where it receives, its PRG's bits beyond.
        s.reserve(ch, sent, asked)?;
        let mut r = s.own_choices(asked)?;
        r.extend(s.bits(n - asked));
        let big_r = s.ring_vec(products);
        // Own terms (r_0 for the server alone, r_i·R_i).
        let mut arith: Vec<Ring> = match role {
            Role::Server => r.iter().map(|&b| Ring::from(b)).collect(),
            Role::Client => vec![0; n],
        };
        let mut prod: Vec<Ring> = big_r
            .iter()
            .zip(&r)
            .map(|(x, &b)| if b { *x } else { 0 })
            .collect();
        let my_parts = |i: usize| parts(role, i < products);
        let their_parts = |i: usize| parts(peer, i < products);
        let (my_shape, their_shape) = (shape(&my_parts, width), shape(&their_parts, width));
        let mut delta = |i: usize, out: &mut [Ring]| {
            let sign = 1u64.wrapping_sub(2 * Ring::from(r[i]));
            for (p, o) in my_parts(i).iter().zip(out) {
                *o = match p {
                    Part::Inject => sign,
                    Part::Product => sign.wrapping_mul(big_r[i]),
                };
            }
        };
        // This party's shares of the cross terms, sent and received, add in by part.
        let mut add_in = |i: usize, ps: &[Part], x: &[Ring]| {
            for (p, x) in ps.iter().zip(x) {
                let to = match p {
                    Part::Inject => &mut arith[i],
                    Part::Product => &mut prod[i],
                };
                *to = to.wrapping_add(*x);
            }
        };
        let add_in = std::cell::RefCell::new(&mut add_in);
        let mut keep_sent = |i: usize, x: &[Ring]| (add_in.borrow_mut())(i, my_parts(i), x);
        let mut keep_got = |i: usize, x: &[Ring]| (add_in.borrow_mut())(i, their_parts(i), x);
        let offer = (sent > 0).then_some(Offer {
            n: sent,
            shape: &my_shape,
            delta: &mut delta,
            share: &mut keep_sent,
        });
        let ask = (asked > 0).then_some(Ask {
            choices: &r[..asked],
            shape: &their_shape,
            share: &mut keep_got,
        });
        exchange(s, ch, offer, ask)?;
        Ok(BitRing {
            inject: InjectPair { r: bits(&r), arith },
            big_r,
            product: prod,
        })
    })
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
