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
//! Bytes per element, both ways together: injection 16 (matrix) + 8 (correction) = 24;
//! bit-ring 2·16 + 3·8 = 56. Two flights per call. Each party sees only OT traffic, so
//! nothing of the other's r_i or R_i.

use super::session::PrepSession;
use super::triples::bits;
use super::vole::{exchange, Ask, Offer, Shape};
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::material::{BitRing, InjectPair};
use crate::ring::Ring;
use crate::share::Role;

/// `n` random bits, XOR-shared and additively shared over the ring: this party's share.
/// Both parties call it at once with the same `n`.
pub fn inject_pairs<T: Transport>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
) -> Result<InjectPair, ProtocolError> {
    Ok(draw(session, ch, n, false)?.inject)
}

/// `n` bit-times-ring pairs (r, R, r·R), all shared: this party's share. Both parties
/// call it at once with the same `n`.
pub fn bit_rings<T: Transport>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
) -> Result<BitRing, ProtocolError> {
    draw(session, ch, n, true)
}

/// What a vector-OT element carries: the injection cross term or a product cross term.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Inject,
    Product,
}

/// The elements of the vector `role` sends for each value (empty: it sends none).
fn parts(role: Role, product: bool) -> Vec<Part> {
    let inject = (role == Role::Server).then_some(Part::Inject);
    let product = product.then_some(Part::Product);
    inject.into_iter().chain(product).collect()
}

/// One party's side of `n` injections, and of the products with R when `product`.
fn draw<T: Transport>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    n: usize,
    product: bool,
) -> Result<BitRing, ProtocolError> {
    session.guarded(|s| {
        let peer = match s.role() {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let (mine, theirs) = (parts(s.role(), product), parts(peer, product));
        let r = s.bits(n);
        let big_r = if product { s.ring_vec(n) } else { Vec::new() };
        let (sent, got) = cross_terms(s, ch, &r, &big_r, &mine, &theirs)?;

        // Own terms (r_0 for the server alone, r_i·R_i), plus this party's shares of the
        // cross terms.
        let mut arith: Vec<Ring> = match s.role() {
            Role::Server => r.iter().map(|&b| Ring::from(b)).collect(),
            Role::Client => vec![0; n],
        };
        let mut prod: Vec<Ring> = big_r
            .iter()
            .zip(&r)
            .map(|(x, &b)| if b { *x } else { 0 })
            .collect();
        for (parts, shares) in [(&mine, &sent), (&theirs, &got)] {
            for (i, x) in shares.chunks(parts.len().max(1)).enumerate() {
                for (p, x) in parts.iter().zip(x) {
                    let to = match p {
                        Part::Inject => &mut arith[i],
                        Part::Product => &mut prod[i],
                    };
                    *to = to.wrapping_add(*x);
                }
            }
        }
        Ok(BitRing {
            inject: InjectPair { r: bits(&r), arith },
            big_r,
            product: prod,
        })
    })
}

/// Runs the vector OTs of both directions: returns this party's shares of the cross terms
/// it sent (`mine` per element, correlations from its `r` and `big_r`) and of those it
/// received (`theirs` per element, choosing its `r`).
fn cross_terms<T: Transport>(
    s: &mut PrepSession,
    ch: &mut Channel<T>,
    r: &[bool],
    big_r: &[Ring],
    mine: &[Part],
    theirs: &[Part],
) -> Result<(Vec<Ring>, Vec<Ring>), ProtocolError> {
    let n = r.len();
    let mut delta = |i: usize, out: &mut [Ring]| {
        let sign = 1u64.wrapping_sub(2 * Ring::from(r[i]));
        for (p, o) in mine.iter().zip(out) {
            *o = match p {
                Part::Inject => sign,
                Part::Product => sign.wrapping_mul(big_r[i]),
            };
        }
    };
    let (mut sent, mut got) = (vec![0; n * mine.len()], vec![0; n * theirs.len()]);
    {
        let (mut keep_sent, mut keep_got) = (store(&mut sent), store(&mut got));
        let (my_shape, their_shape) = (shape(mine.len()), shape(theirs.len()));
        let offer = (!mine.is_empty()).then_some(Offer {
            n,
            shape: &my_shape,
            delta: &mut delta,
            share: &mut keep_sent,
        });
        let ask = (!theirs.is_empty()).then_some(Ask {
            choices: r,
            shape: &their_shape,
            share: &mut keep_got,
        });
        exchange(s, ch, offer, ask)?;
    }
    Ok((sent, got))
}

/// `len` full ring elements per OT.
fn shape(len: usize) -> impl Fn(usize) -> Shape {
    move |_| Shape { len, width: 64 }
}

/// A share callback that writes OT i's vector into slot i of `buf`.
fn store(buf: &mut [Ring]) -> impl FnMut(usize, &[Ring]) + '_ {
    |i, x| buf[i * x.len()..(i + 1) * x.len()].copy_from_slice(x)
}
