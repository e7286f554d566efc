//! Boolean AND triples from two random OTs each, with no message beyond the OT matrices
//! (Asharov–Lindell–Schneider–Zohner 2013, as ABY uses them).
//!
//! A random OT gives its sender two random bits m0, m1 (the low bits of the two hashed
//! messages) and its receiver m_b for its choice b: then m0 ⊕ m_b = a·b with a = m0 ⊕ m1,
//! a random bit of the sender's. With a = a_0 ⊕ a_1 and b = b_0 ⊕ b_1, each party is
//! sender once (its a_i) and receiver once (choosing its b_i), and its share is
//! c_i = a_i·b_i ⊕ m0 (as sender) ⊕ m_b (as receiver): the two cross terms cancel into
//! a_0·b_1 ⊕ a_1·b_0. b_i is the receiver's own random choice, so a triple costs its two
//! OTs alone: 16 bytes each way under IKNP, a fraction of a bit under silent OT; each
//! learns nothing of the other's a_i or b_i.

use veil_circuits::Bits;

use super::session::{flights, PrepSession};
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::gmw::BitTriple;

/// `gates` AND triples of `width` lanes each: this party's shares, laid out as
/// [`crate::material`] draws them (one [`BitTriple`] per gate, lane i of gate g being
/// triple g·width + i). Both parties call it at once with the same shape.
pub fn and_triples<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    gates: usize,
    width: usize,
) -> Result<Vec<BitTriple>, ProtocolError> {
    gates
        .checked_mul(width)
        .ok_or(ProtocolError::Misuse("triple count overflows"))?;
    and_triples_of(session, ch, &vec![width; gates])
}

/// One [`BitTriple`] per entry of `widths`, of that many lanes: a whole layer's gates,
/// whatever their widths, in one batch of random OTs. Both parties call it at once with
/// the same widths.
pub fn and_triples_of<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    widths: &[usize],
) -> Result<Vec<BitTriple>, ProtocolError> {
    let n = widths
        .iter()
        .try_fold(0usize, |n, &w| n.checked_add(w))
        .ok_or(ProtocolError::Misuse("triple count overflows"))?;
    session.guarded(|s| {
        // Flights hold a multiple of 64 OTs but the last, so their words concatenate.
        let words = n.div_ceil(64);
        let (mut a, mut b, mut c) = (
            Vec::with_capacity(words),
            Vec::with_capacity(words),
            Vec::with_capacity(words),
        );
        for flight in flights(n) {
            // b_i is this party's own choices as receiver.
            s.reserve(ch, flight.len(), flight.len())?;
            let bi = bits(&s.own_choices(flight.len())?).words;
            let [m0, ai, mb] = s.random_bit_ots(ch, flight.len(), flight.len())?;
            for (((&ai, &bi), &m0), &mb) in ai.words.iter().zip(&bi).zip(&m0.words).zip(&mb.words) {
                a.push(ai);
                b.push(bi);
                c.push((ai & bi) ^ m0 ^ mb);
            }
        }
        let mut start = 0;
        Ok(widths
            .iter()
            .map(|&w| {
                let lanes = start..start + w;
                start += w;
                BitTriple {
                    u: slice(&a, lanes.clone()),
                    v: slice(&b, lanes.clone()),
                    w: slice(&c, lanes),
                }
            })
            .collect())
    })
}

/// Bits `range` of the packed `words`, as [`Bits`] (zero past the range's end).
pub(super) fn slice(words: &[u64], range: std::ops::Range<usize>) -> Bits {
    let (first, shift) = (range.start / 64, range.start % 64);
    let len = range.len();
    let mut out: Vec<u64> = (first..first + len.div_ceil(64))
        .map(|k| {
            let lo = words[k] >> shift;
            let hi = match (shift, words.get(k + 1)) {
                (1.., Some(next)) => next << (64 - shift),
                _ => 0,
            };
            lo | hi
        })
        .collect();
    if let (Some(last), 1..) = (out.last_mut(), len % 64) {
        *last &= (1u64 << (len % 64)) - 1;
    }
    Bits { words: out, len }
}

/// Packs bools into [`Bits`], 64 to a word, LSB first.
pub(super) fn bits(v: &[bool]) -> Bits {
    let word = |c: &[bool]| c.iter().rev().fold(0u64, |w, &b| (w << 1) | u64::from(b));
    Bits {
        words: v.chunks(64).map(word).collect(),
        len: v.len(),
    }
}
