//! One party's ready material for one query as bytes: what a query made ahead of time
//! (`veil-client precompute`) keeps on disk until it is spent
//! ([`crate::engine::ServerQuery::to_bytes`], [`crate::engine::PreparedQuery::to_bytes`]).
//! Each kind of material implements it beside its definition.
//!
//! Every vector carries its length and every read goes through [`Reader`], so a damaged
//! file is a [`DecodeError`], never a panic, and no length is believed before the bytes
//! for it are there. The engine checks the layers against the plan, as for fresh material.

use veil_circuits::Bits;

use crate::block::Block;
use crate::codec::{DecodeError, Reader, Writer};

/// A value that can wait on disk.
pub(crate) trait Stored: Sized {
    /// Appends the value.
    fn put(&self, w: &mut Writer);
    /// Reads a value written by [`Stored::put`].
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Appends a length-prefixed byte string of any length.
pub(crate) fn put_bytes(w: &mut Writer, v: &[u8]) {
    w.u64(v.len() as u64).bytes(v);
}

/// Reads a byte string written by [`put_bytes`].
pub(crate) fn get_bytes(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    let n = r.u64(what)?;
    let n = usize::try_from(n).map_err(|_| too_long(what, n))?;
    Ok(r.take(n, what)?.to_vec())
}

fn too_long(what: &'static str, n: u64) -> DecodeError {
    DecodeError::Invalid {
        what,
        detail: format!("length {n} exceeds the bytes left"),
    }
}

impl Stored for u64 {
    fn put(&self, w: &mut Writer) {
        w.u64(*self);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64("ring element")
    }
}

impl Stored for Block {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.to_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block::from_bytes(r.array("label")?))
    }
}

impl<T: Stored> Stored for Vec<T> {
    fn put(&self, w: &mut Writer) {
        w.u64(self.len() as u64);
        self.iter().for_each(|x| x.put(w));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.u64("vector length")?;
        // Every element takes at least one byte.
        if n > r.remaining() as u64 {
            return Err(too_long("vector length", n));
        }
        (0..n).map(|_| T::get(r)).collect()
    }
}

impl<T: Stored> Stored for Option<T> {
    fn put(&self, w: &mut Writer) {
        match self {
            Some(x) => {
                w.u8(1);
                x.put(w);
            }
            None => {
                w.u8(0);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("option flag")? {
            0 => Ok(None),
            1 => T::get(r).map(Some),
            t => Err(DecodeError::Invalid {
                what: "option flag",
                detail: format!("unknown value {t}"),
            }),
        }
    }
}

impl Stored for Bits {
    fn put(&self, w: &mut Writer) {
        w.u64(self.len as u64);
        self.words.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u64("bit count")?;
        let words: Vec<u64> = Stored::get(r)?;
        if words.len() as u64 != len.div_ceil(64) {
            return Err(DecodeError::Invalid {
                what: "bit vector",
                detail: format!("{} words for {len} bits", words.len()),
            });
        }
        let mut bits = Bits {
            words,
            len: len as usize,
        };
        bits.mask_tail();
        Ok(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_damage_is_an_error() {
        let bits = Bits {
            words: vec![u64::MAX, 0b101],
            len: 67,
        };
        let v: Vec<Option<Vec<u64>>> = vec![Some(vec![1, u64::MAX]), None];
        let mut w = Writer::default();
        bits.put(&mut w);
        v.put(&mut w);
        put_bytes(&mut w, b"tables");
        let bytes = w.into_bytes();

        let mut r = Reader::new(&bytes);
        assert_eq!(<Bits as Stored>::get(&mut r).unwrap(), bits);
        assert_eq!(Vec::<Option<Vec<u64>>>::get(&mut r).unwrap(), v);
        assert_eq!(get_bytes(&mut r, "tables").unwrap(), b"tables");
        r.finish().unwrap();

        // Every truncation is an error, never a panic or a silently short value.
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let whole = <Bits as Stored>::get(&mut r)
                .and_then(|_| Vec::<Option<Vec<u64>>>::get(&mut r))
                .and_then(|_| get_bytes(&mut r, "tables"));
            assert!(whole.is_err(), "cut at {cut} went unnoticed");
        }
        // A length beyond the bytes left is refused before anything is allocated.
        let mut w = Writer::default();
        w.u64(u64::MAX);
        assert!(Vec::<u64>::get(&mut Reader::new(&w.into_bytes())).is_err());
    }
}
