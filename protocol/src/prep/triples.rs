//! Boolean AND triples from two random OTs each, with no message beyond the OT matrices
//! (Asharov–Lindell–Schneider–Zohner 2013, as ABY uses them).
//!
//! A random OT gives its sender two random bits m0, m1 (the low bits of the two hashed
//! messages) and its receiver m_b for its choice b: then m0 ⊕ m_b = a·b with a = m0 ⊕ m1,
//! a random bit of the sender's. With a = a_0 ⊕ a_1 and b = b_0 ⊕ b_1, each party is
//! sender once (its a_i) and receiver once (choosing its b_i), and its share is
//! c_i = a_i·b_i ⊕ m0 (as sender) ⊕ m_b (as receiver): the two cross terms cancel into
//! a_0·b_1 ⊕ a_1·b_0. Each party sends 16 bytes per triple (its OT matrix), one flight per
//! [`crate::ot::FLIGHT_OTS`] triples; each learns nothing of the other's a_i or b_i.

use veil_circuits::Bits;

use super::session::{flights, PrepSession};
use crate::channel::{Channel, Transport};
use crate::error::ProtocolError;
use crate::gmw::BitTriple;

/// `gates` AND triples of `width` lanes each: this party's shares, laid out as
/// [`crate::material`] draws them (one [`BitTriple`] per gate, lane i of gate g being
/// triple g·width + i). Both parties call it at once with the same shape.
pub fn and_triples<T: Transport>(
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
pub fn and_triples_of<T: Transport>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    widths: &[usize],
) -> Result<Vec<BitTriple>, ProtocolError> {
    let n = widths
        .iter()
        .try_fold(0usize, |n, &w| n.checked_add(w))
        .ok_or(ProtocolError::Misuse("triple count overflows"))?;
    session.guarded(|s| {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for flight in flights(n) {
            let choices = s.bits(flight.len());
            let (pairs, keys) = s.random_ots(ch, flight.len(), &choices)?;
            for ((&(m0, m1), key), &bi) in pairs.iter().zip(&keys).zip(&choices) {
                let ai = m0.lsb() ^ m1.lsb();
                a.push(ai);
                b.push(bi);
                c.push((ai & bi) ^ m0.lsb() ^ key.lsb());
            }
        }
        let mut start = 0;
        Ok(widths
            .iter()
            .map(|&w| {
                let lanes = start..start + w;
                start += w;
                BitTriple {
                    u: bits(&a[lanes.clone()]),
                    v: bits(&b[lanes.clone()]),
                    w: bits(&c[lanes]),
                }
            })
            .collect())
    })
}

/// Packs bools into [`Bits`], 64 to a word, LSB first.
pub(super) fn bits(v: &[bool]) -> Bits {
    let word = |c: &[bool]| c.iter().rev().fold(0u64, |w, &b| (w << 1) | u64::from(b));
    Bits {
        words: v.chunks(64).map(word).collect(),
        len: v.len(),
    }
}
