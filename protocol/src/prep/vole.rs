//! Vector OLE from random OT: one OT carries a whole vector, so a correlation of L ring
//! elements costs one 16-byte OT plus L values of correction.
//!
//! For OT i the sender holds a correlation Δ_i of `len` ring elements of which only the low
//! `width` bits matter; the receiver holds a choice bit c_i. A random OT gives the sender
//! keys (k0, k1) and the receiver k{c_i}. Both stretch keys with a PRG G to `len` values
//! mod 2^width (G(k) = H(0, k) ‖ H(1, k) ‖ … with the fixed-key hash H of
//! [`CrHash::stretch`], cut into ⌊64 / width⌋ values per word). The sender sends d_i = G(k0) − G(k1) + Δ_i and keeps x_i = −G(k0); the
//! receiver outputs y_i = G(k{c_i}) + c_i·d_i. Then x_i + y_i = c_i·Δ_i (mod 2^width).
//!
//! Who learns what: the receiver sees d_i, masked by G(k{1−c_i}), which it cannot compute;
//! the sender sees only the OT extension matrix, which hides c_i. Each share alone is
//! uniform.
//!
//! Cost: the random OT (16 bytes from the receiver), then ceil(Σ len·width / 8) bytes of
//! corrections from the sender, packed back to back in frames of at most [`FRAME_BYTES`]
//! (an OT larger than that has a frame of its own). Two flights per
//! [`crate::ot::FLIGHT_OTS`] OTs.

use std::ops::Range;

use super::pack::{low_mask, Packer, Unpacker};
use super::session::{flights, PrepSession};
use crate::block::Block;
use crate::channel::{Channel, Transport};
use crate::codec::Reader;
use crate::error::ProtocolError;
use crate::material::OtKind;
use crate::ot::aes_prg::CrHash;
use crate::ot::matrix_bytes;
use crate::ring::Ring;

/// Target size of one frame of corrections.
pub const FRAME_BYTES: usize = 1 << 20;

/// The public shape of one vector OT: both parties know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Ring elements in the correlation vector.
    pub len: usize,
    /// Low bits of each element that matter, `1..=64`.
    pub width: u32,
}

/// The shape of OT `i` of a batch.
pub type Shapes<'a> = &'a dyn Fn(usize) -> Shape;

/// This party's OTs as vector-OLE sender.
pub struct Offer<'a> {
    /// How many OTs.
    pub n: usize,
    /// Their shapes.
    pub shape: Shapes<'a>,
    /// Writes Δ_i into a buffer of `shape(i).len` elements (high bits are ignored).
    pub delta: &'a mut dyn FnMut(usize, &mut [Ring]),
    /// Takes this party's share x_i of c_i·Δ_i (mod 2^width).
    pub share: &'a mut dyn FnMut(usize, &[Ring]),
}

/// This party's OTs as vector-OLE receiver.
pub struct Ask<'a> {
    /// One choice bit per OT: the session's own choices for its next OTs
    /// (`PrepSession::own_choices`, after reserving them).
    pub choices: &'a [bool],
    /// Their shapes.
    pub shape: Shapes<'a>,
    /// Takes this party's share y_i of c_i·Δ_i (mod 2^width).
    pub share: &'a mut dyn FnMut(usize, &[Ring]),
}

/// Runs vector OTs both ways: this party sends `offer` and receives `ask`, while the peer
/// calls with the mirror image. Per flight: one random-OT flight each way at once, then
/// each party's corrections.
pub fn exchange<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    mut offer: Option<Offer<'_>>,
    mut ask: Option<Ask<'_>>,
) -> Result<(), ProtocolError> {
    let sent = offer.as_ref().map_or(0, |o| o.n);
    let asked = ask.as_ref().map_or(0, |a| a.choices.len());
    for flight in flights(sent.max(asked)) {
        let keys = offer_flight(session, ch, &flight, offer.as_mut(), asked)?;
        if let Some(a) = ask.as_mut() {
            take_corrections(ch, flight.start.min(asked), &keys, a)?;
        }
    }
    Ok(())
}

/// The first half of one flight of [`exchange`]: the random OTs both ways and this
/// party's corrections for OTs `flight` (clamped to `offer`'s count and to the `asked`
/// it receives); returns the keys of the OTs it receives in the flight, for
/// [`take_corrections`] now or once other flights have gone out.
pub fn offer_flight<T: Transport + ?Sized>(
    session: &mut PrepSession,
    ch: &mut Channel<T>,
    flight: &Range<usize>,
    offer: Option<&mut Offer<'_>>,
    asked: usize,
) -> Result<Vec<Block>, ProtocolError> {
    let mine = clamp(flight, offer.as_ref().map_or(0, |o| o.n));
    let theirs = clamp(flight, asked);
    let (pairs, keys) = session.random_ots(ch, mine.len(), theirs.len())?;
    if let Some(o) = offer {
        send(ch, mine.start, &pairs, o)?;
    }
    Ok(keys)
}

/// The second half: receives the peer's corrections for OTs `first..first + keys.len()`
/// whose `keys` an [`offer_flight`] returned, and hands out the shares.
pub fn take_corrections<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    first: usize,
    keys: &[Block],
    ask: &mut Ask<'_>,
) -> Result<(), ProtocolError> {
    receive(ch, first, keys, ask)
}

/// Payload bytes the receivers send in the caller's scope for `n` vector OTs: under IKNP
/// 16 per OT, padded per flight; under silent OT none (the pools grow in the phase's
/// scope, [`crate::ot::pool`]).
pub fn ot_bytes(n: usize, kind: OtKind) -> usize {
    match kind {
        OtKind::Iknp => flights(n).map(|f| matrix_bytes(f.len())).sum(),
        OtKind::Silent => 0,
    }
}

/// Payload bytes the sender sends for `n` vector OTs of these shapes: the packed
/// corrections, frame by frame.
pub fn correction_bytes(n: usize, shape: Shapes<'_>) -> usize {
    flights(n)
        .flat_map(|f| frames(f, shape))
        .map(|(_, bytes)| bytes)
        .sum()
}

fn clamp(r: &Range<usize>, n: usize) -> Range<usize> {
    r.start.min(n)..r.end.min(n)
}

/// Sends the corrections of OTs `first..first + pairs.len()`, frame by frame.
fn send<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    first: usize,
    pairs: &[(Block, Block)],
    offer: &mut Offer<'_>,
) -> Result<(), ProtocolError> {
    let mut g = Expander::new();
    let (mut p0, mut p1, mut delta, mut buf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ots, bytes) in frames(first..first + pairs.len(), offer.shape) {
        let mut msg = Packer::reusing(buf, bytes);
        for i in ots {
            let Shape { len, width } = (offer.shape)(i);
            let (k0, k1) = pairs[i - first];
            for buf in [&mut p0, &mut p1, &mut delta] {
                buf.resize(len, 0);
            }
            g.expand(k0, width, &mut p0);
            g.expand(k1, width, &mut p1);
            (offer.delta)(i, &mut delta);
            let mask = low_mask(width);
            for ((x, y), d) in p0.iter_mut().zip(&p1).zip(&delta) {
                msg.push(x.wrapping_sub(*y).wrapping_add(*d) & mask, width);
                *x = x.wrapping_neg() & mask;
            }
            (offer.share)(i, &p0);
        }
        buf = msg.finish();
        ch.send(&buf)?;
    }
    Ok(())
}

/// Receives the corrections of OTs `first..first + keys.len()` and hands out the shares.
fn receive<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    first: usize,
    keys: &[Block],
    ask: &mut Ask<'_>,
) -> Result<(), ProtocolError> {
    let mut g = Expander::new();
    let mut y = Vec::new();
    for (ots, bytes) in frames(first..first + keys.len(), ask.shape) {
        let msg = ch.recv()?;
        let mut r = Reader::new(&msg);
        let mut corrections = Unpacker::new(r.take(bytes, "vector-OT corrections")?);
        r.finish()?;
        for i in ots {
            let Shape { len, width } = (ask.shape)(i);
            y.resize(len, 0);
            g.expand(keys[i - first], width, &mut y);
            let (mask, choice) = (low_mask(width), u64::from(ask.choices[i]).wrapping_neg());
            for v in y.iter_mut() {
                let d = corrections.pull(width);
                *v = v.wrapping_add(d & choice) & mask;
            }
            (ask.share)(i, &y);
        }
        corrections.finish()?;
    }
    Ok(())
}

/// Splits OTs `ots` into runs whose packed corrections fill a frame of at most
/// [`FRAME_BYTES`] (a larger OT alone); with each frame's length in bytes.
fn frames(ots: Range<usize>, shape: Shapes<'_>) -> Vec<(Range<usize>, usize)> {
    let mut out = Vec::new();
    let (mut start, mut bits) = (ots.start, 0usize);
    for i in ots.clone() {
        let Shape { len, width } = shape(i);
        let more = len * width as usize;
        if bits > 0 && bits + more > 8 * FRAME_BYTES {
            out.push((start..i, bits.div_ceil(8)));
            (start, bits) = (i, 0);
        }
        bits += more;
    }
    if start < ots.end {
        out.push((start..ots.end, bits.div_ceil(8)));
    }
    out
}

/// The PRG G that stretches a random-OT key into a vector of `width`-bit values.
struct Expander {
    hash: CrHash,
    words: Vec<u64>,
}

impl Expander {
    fn new() -> Self {
        Expander {
            hash: CrHash::new(),
            words: Vec::new(),
        }
    }

    /// Overwrites `out` with uniform values from `key`, of which the caller keeps the low
    /// `width` bits (the bits above are not uniform). Up to two values are the key's own
    /// halves (a random-OT key is already uniform and used once); more come from
    /// [`CrHash::stretch`], ⌊64 / width⌋ values to a word (value e takes word e mod W,
    /// shifted by ⌊e / W⌋·width, for W words), so narrow values cost fewer AES calls.
    fn expand(&mut self, key: Block, width: u32, out: &mut [Ring]) {
        if out.len() <= 2 {
            let halves = [key.0 as u64, (key.0 >> 64) as u64];
            out.iter_mut().zip(halves).for_each(|(o, h)| *o = h);
            return;
        }
        let per_word = (64 / width) as usize;
        if per_word == 1 {
            self.hash.stretch(key, out);
            return;
        }
        let words = out.len().div_ceil(per_word);
        self.words.resize(words, 0);
        self.hash.stretch(key, &mut self.words);
        // Slot s < per_word, so s·width ≤ 64 − width < 64.
        for (slot, values) in out.chunks_mut(words).enumerate() {
            let shift = slot as u32 * width;
            values
                .iter_mut()
                .zip(&self.words)
                .for_each(|(v, w)| *v = w >> shift);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_every_ot_once_and_stay_under_the_limit() {
        // 3 small OTs, one larger than a frame, then small ones filling frames.
        let big = 8 * FRAME_BYTES / 32;
        let shape = |i: usize| Shape {
            len: if i == 3 { big } else { 4096 },
            width: 64 - (i % 64) as u32,
        };
        let fs = frames(0..700, &shape);
        let mut next = 0;
        for (ots, bytes) in &fs {
            assert_eq!(ots.start, next);
            assert!(!ots.is_empty());
            next = ots.end;
            let bits: usize = ots
                .clone()
                .map(|i| shape(i).len * shape(i).width as usize)
                .sum();
            assert_eq!(*bytes, bits.div_ceil(8));
            assert!(*bytes <= FRAME_BYTES || ots.len() == 1);
        }
        assert_eq!(next, 700);
        assert_eq!(fs[1].0, 3..4, "the large OT has a frame of its own");
        assert!(frames(5..5, &shape).is_empty());
    }
}
