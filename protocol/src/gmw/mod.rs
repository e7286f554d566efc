//! GMW on XOR-shared bits with AND triples (Goldreich–Micali–Wigderson; Beaver triples).
//!
//! A wire holds this party's XOR share of one bit position for every element of a layer.
//! XOR and NOT are local. An AND batch of m gates costs each party one message of 2·m·n
//! bits (its shares of d = x ⊕ u and e = y ⊕ v for every gate and element) and one round:
//! both parties send at once. Each party learns only d and e, which the triple's uniform
//! u and v mask. Then z = w ⊕ d·v ⊕ e·u ⊕ d·e, the last term added by the server alone.

use veil_circuits::{Backend, Bits};

use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::share::Role;
use crate::stored::Stored;

/// One party's share of an AND triple (u ∧ v = w) for each element of a layer: one-time
/// material, not `Clone`, printed as its size only.
#[derive(PartialEq, Eq)]
pub struct BitTriple {
    /// Share of u.
    pub u: Bits,
    /// Share of v.
    pub v: Bits,
    /// Share of w = u ∧ v.
    pub w: Bits,
}

redacted_debug!(BitTriple, |t: &BitTriple| t.u.len);

impl Stored for BitTriple {
    fn put(&self, w: &mut Writer) {
        [&self.u, &self.v, &self.w].iter().for_each(|b| b.put(w));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BitTriple {
            u: Stored::get(r)?,
            v: Stored::get(r)?,
            w: Stored::get(r)?,
        })
    }
}

/// This party's shares of `d = x ⊕ u` and `e = y ⊕ v`: what it sends for one gate.
pub fn and_masks(x: &Bits, y: &Bits, t: &BitTriple) -> Result<(Bits, Bits), ProtocolError> {
    Ok((x.xor(&t.u)?, y.xor(&t.v)?))
}

/// This party's share of `x ∧ y` once `d` and `e` are open.
pub fn and_finish(role: Role, d: &Bits, e: &Bits, t: &BitTriple) -> Result<Bits, ProtocolError> {
    let mut z = t.w.xor(&d.and(&t.v)?)?.xor(&e.and(&t.u)?)?;
    if role.adds_constants() {
        z = z.xor(&d.and(e)?)?;
    }
    Ok(z)
}

/// Wires for a sum `x + y` where the server knows `x` and the client knows `y`: each
/// party's own value is its share and the other's is zero. Returns (x wires, y wires).
pub fn input_wires(role: Role, mine: &[u64], width: u32) -> (Vec<Bits>, Vec<Bits>) {
    let own = Bits::slice_all(mine, width);
    let zero = vec![Bits::zeros(mine.len()); width as usize];
    match role {
        Role::Server => (own, zero),
        Role::Client => (zero, own),
    }
}

/// The GMW backend: runs any circuit of `veil-circuits` on XOR shares over a channel.
pub struct Gmw<'c, T: Transport + ?Sized> {
    ch: &'c mut Channel<T>,
    role: Role,
    triples: std::vec::IntoIter<BitTriple>,
}

impl<'c, T: Transport + ?Sized> Gmw<'c, T> {
    /// A party that spends `triples` in order, one per AND gate.
    pub fn new(ch: &'c mut Channel<T>, role: Role, triples: Vec<BitTriple>) -> Self {
        Gmw {
            ch,
            role,
            triples: triples.into_iter(),
        }
    }

    /// The triples not yet spent, and the channel back.
    pub fn finish(self) -> (Vec<BitTriple>, &'c mut Channel<T>) {
        (self.triples.collect(), self.ch)
    }

    fn take(&mut self, n: usize) -> Result<Vec<BitTriple>, ProtocolError> {
        let t: Vec<BitTriple> = self.triples.by_ref().take(n).collect();
        if t.len() < n {
            return Err(ProtocolError::Material("too few AND triples".into()));
        }
        Ok(t)
    }
}

impl<T: Transport + ?Sized> Backend for Gmw<'_, T> {
    type Wire = Bits;
    type Error = ProtocolError;

    fn xor(&mut self, a: &Bits, b: &Bits) -> Result<Bits, ProtocolError> {
        Ok(a.xor(b)?)
    }

    fn not(&mut self, a: &Bits) -> Result<Bits, ProtocolError> {
        Ok(if self.role.adds_constants() {
            a.not()
        } else {
            a.clone()
        })
    }

    fn and_batch(&mut self, gates: &[(&Bits, &Bits)]) -> Result<Vec<Bits>, ProtocolError> {
        let triples = self.take(gates.len())?;
        let masks = gates
            .iter()
            .zip(&triples)
            .map(|((x, y), t)| and_masks(x, y, t))
            .collect::<Result<Vec<_>, _>>()?;
        let shares: Vec<&Bits> = masks.iter().flat_map(|(d, e)| [d, e]).collect();
        let (open, _) = self.ch.open_shares(&shares, &[])?;
        open.chunks_exact(2)
            .zip(&triples)
            .map(|(de, t)| and_finish(self.role, &de[0], &de[1], t))
            .collect()
    }
}

#[cfg(test)]
mod tests;
