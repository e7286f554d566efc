//! Encoding of protocol messages, and the checked reader that every peer byte goes through.
//!
//! A [`Reader`] never panics on short or malformed input: each read returns a
//! [`DecodeError`], lengths are checked against what the plan expects before anything is
//! allocated, and [`Reader::finish`] rejects trailing bytes.

use thiserror::Error;

use crate::ring::Ring;

/// What was wrong with bytes a peer sent.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ended before a field was complete.
    #[error("message truncated: needed {needed} more bytes for {what}")]
    Truncated {
        /// Bytes missing.
        needed: usize,
        /// The field being read.
        what: &'static str,
    },
    /// Bytes were left over after the message was complete.
    #[error("{0} unexpected trailing bytes after the message")]
    Trailing(usize),
    /// A field held a value outside its range.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

/// Appends encoded fields to a byte buffer (little-endian throughout).
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(cap),
        }
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends raw bytes of a length both sides know.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends a u32 length then the bytes.
    pub fn var_bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32).bytes(v)
    }

    /// Appends a string as length-prefixed UTF-8.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.var_bytes(v.as_bytes())
    }

    /// Appends ring elements of a length both sides know.
    pub fn ring(&mut self, v: &[Ring]) -> &mut Self {
        self.buf.reserve(v.len() * 8);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a peer's message, checking every length.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over one whole message.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.buf.len(),
                what,
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// Reads length-prefixed bytes, refusing lengths above `max`.
    pub fn var_bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(DecodeError::Invalid {
                what,
                detail: format!("length {n} exceeds the limit {max}"),
            });
        }
        self.take(n, what)
    }

    /// Reads a length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, max: usize, what: &'static str) -> Result<String, DecodeError> {
        let b = self.var_bytes(max, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid {
            what,
            detail: "not UTF-8".into(),
        })
    }

    /// Reads exactly `n` ring elements (`n` comes from the plan, never from the peer).
    pub fn ring(&mut self, n: usize, what: &'static str) -> Result<Vec<Ring>, DecodeError> {
        let bytes = self.take(n.saturating_mul(8), what)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    /// Ends the message: trailing bytes are an error.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_errors() {
        let mut w = Writer::default();
        w.u8(1).u32(2).u64(3).str("hi").ring(&[4, 5]);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u32("b").unwrap(), 2);
        assert_eq!(r.u64("c").unwrap(), 3);
        assert_eq!(r.str(10, "d").unwrap(), "hi");
        assert_eq!(r.ring(2, "e").unwrap(), vec![4, 5]);
        r.finish().unwrap();

        let mut r = Reader::new(&bytes[..3]);
        r.u8("a").unwrap();
        assert_eq!(
            r.u32("b"),
            Err(DecodeError::Truncated {
                needed: 2,
                what: "b"
            })
        );
        let mut r = Reader::new(&bytes);
        r.u8("a").unwrap();
        assert_eq!(r.finish(), Err(DecodeError::Trailing(bytes.len() - 1)));
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        let mut w = Writer::default();
        w.u32(u32::MAX);
        let bytes = w.into_bytes();
        assert!(matches!(
            Reader::new(&bytes).var_bytes(1024, "blob"),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(Reader::new(&[]).ring(usize::MAX / 4, "big").is_err());
    }
}
