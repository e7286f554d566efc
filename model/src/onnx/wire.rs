//! The protobuf wire format, read with every length checked.
//!
//! A [`WireReader`] walks one message's bytes field by field. It never panics and never
//! allocates on a length it has not checked against the bytes that are really there: a
//! length-delimited field longer than what is left is [`WireError::Truncated`].

use thiserror::Error;

/// Why bytes are not a well-formed protobuf message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes ended in the middle of a field.
    #[error("truncated {what} at byte {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset (within the enclosing message) where it started.
        offset: usize,
    },
    /// A varint ran longer than 10 bytes or overflowed 64 bits.
    #[error("malformed varint at byte {offset}")]
    Varint {
        /// Offset of the varint.
        offset: usize,
    },
    /// A field used a wire type that protobuf does not define, or a deprecated group.
    #[error("unsupported wire type {wire_type} for field {field} at byte {offset}")]
    WireType {
        /// The field number.
        field: u64,
        /// The wire type found.
        wire_type: u8,
        /// Offset of the tag.
        offset: usize,
    },
    /// A known field had a different wire type than onnx.proto gives it.
    #[error("field {field} of {message} has wire type {wire_type}, expected another")]
    FieldType {
        /// The message being decoded.
        message: &'static str,
        /// The field number.
        field: u64,
        /// The wire type found.
        wire_type: u8,
    },
    /// A string field was not UTF-8.
    #[error("{what} is not valid UTF-8")]
    Utf8 {
        /// The field.
        what: &'static str,
    },
    /// A value was outside what the field allows.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The four wire types protobuf 3 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// 0: a varint.
    Varint,
    /// 1: eight bytes little-endian.
    Fixed64,
    /// 2: a varint length then that many bytes.
    Len,
    /// 5: four bytes little-endian.
    Fixed32,
}

impl WireType {
    fn code(self) -> u8 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }
}

/// One field's value as it sits on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// Eight bytes.
    Fixed64(u64),
    /// Length-delimited bytes: a string, a sub-message or a packed array.
    Len(&'a [u8]),
    /// Four bytes.
    Fixed32(u32),
}

impl Value<'_> {
    /// The value's wire type.
    pub fn wire_type(&self) -> WireType {
        match self {
            Value::Varint(_) => WireType::Varint,
            Value::Fixed64(_) => WireType::Fixed64,
            Value::Len(_) => WireType::Len,
            Value::Fixed32(_) => WireType::Fixed32,
        }
    }
}

/// One field: its number and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field number.
    pub number: u64,
    /// The value.
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    /// The error for a field whose wire type does not match the schema.
    pub fn mismatch(&self, message: &'static str) -> WireError {
        WireError::FieldType {
            message,
            field: self.number,
            wire_type: self.value.wire_type().code(),
        }
    }

    /// The value as a varint.
    pub fn varint(&self, message: &'static str) -> Result<u64, WireError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(self.mismatch(message)),
        }
    }

    /// The value as a (two's complement) int64 or enum.
    pub fn int64(&self, message: &'static str) -> Result<i64, WireError> {
        self.varint(message).map(|v| v as i64)
    }

    /// The value as length-delimited bytes.
    pub fn bytes(&self, message: &'static str) -> Result<&'a [u8], WireError> {
        match self.value {
            Value::Len(b) => Ok(b),
            _ => Err(self.mismatch(message)),
        }
    }

    /// The value as a UTF-8 string.
    pub fn string(&self, message: &'static str) -> Result<String, WireError> {
        let bytes = self.bytes(message)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::Utf8 { what: message })
    }

    /// The value as a float (wire type 5).
    pub fn float(&self, message: &'static str) -> Result<f32, WireError> {
        match self.value {
            Value::Fixed32(v) => Ok(f32::from_bits(v)),
            _ => Err(self.mismatch(message)),
        }
    }

    /// Appends a repeated int64 field, packed or not.
    pub fn push_int64s(&self, out: &mut Vec<i64>, message: &'static str) -> Result<(), WireError> {
        match self.value {
            Value::Varint(v) => out.push(v as i64),
            Value::Len(b) => {
                let mut r = WireReader::new(b);
                while !r.is_empty() {
                    out.push(r.varint()? as i64);
                }
            }
            _ => return Err(self.mismatch(message)),
        }
        Ok(())
    }

    /// Appends a repeated float field, packed or not.
    pub fn push_floats(&self, out: &mut Vec<f32>, message: &'static str) -> Result<(), WireError> {
        match self.value {
            Value::Fixed32(v) => out.push(f32::from_bits(v)),
            Value::Len(b) => {
                let chunks = packed_chunks::<4>(b, message)?;
                out.extend(chunks.map(f32::from_le_bytes));
            }
            _ => return Err(self.mismatch(message)),
        }
        Ok(())
    }

    /// Appends a repeated double field, packed or not.
    pub fn push_doubles(&self, out: &mut Vec<f64>, message: &'static str) -> Result<(), WireError> {
        match self.value {
            Value::Fixed64(v) => out.push(f64::from_bits(v)),
            Value::Len(b) => {
                let chunks = packed_chunks::<8>(b, message)?;
                out.extend(chunks.map(f64::from_le_bytes));
            }
            _ => return Err(self.mismatch(message)),
        }
        Ok(())
    }
}

/// Splits a packed array of fixed-size elements, refusing a ragged end.
fn packed_chunks<'a, const N: usize>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<impl Iterator<Item = [u8; N]> + 'a, WireError> {
    if !bytes.len().is_multiple_of(N) {
        return Err(WireError::Invalid {
            what,
            detail: format!(
                "packed array of {} bytes is not a multiple of {N}",
                bytes.len()
            ),
        });
    }
    Ok(bytes.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }))
}

/// Reads one message's fields in order.
#[derive(Clone, Debug)]
pub struct WireReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    /// A reader over one message's bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        WireReader { bytes, pos: 0 }
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The next field, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let offset = self.pos;
        let tag = self.varint()?;
        let number = tag >> 3;
        let wire_type = (tag & 7) as u8;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(WireError::Invalid {
                what: "field number",
                detail: format!("{number} at byte {offset}"),
            });
        }
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.array("fixed64")?)),
            2 => {
                let len = self.varint()?;
                Value::Len(self.take(len, "length-delimited field")?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.array("fixed32")?)),
            _ => {
                return Err(WireError::WireType {
                    field: number,
                    wire_type,
                    offset,
                })
            }
        };
        Ok(Some(Field { number, value }))
    }

    /// Reads a base-128 varint (at most 10 bytes, at most 64 bits).
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let offset = self.pos;
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(WireError::Truncated {
                    what: "varint",
                    offset,
                });
            };
            self.pos += 1;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(WireError::Varint { offset });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Varint { offset })
    }

    fn take(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], WireError> {
        let offset = self.pos;
        let left = self.bytes.len() - self.pos;
        match usize::try_from(len) {
            Ok(n) if n <= left => {
                self.pos += n;
                Ok(&self.bytes[offset..offset + n])
            }
            _ => Err(WireError::Truncated { what, offset }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let bytes = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 150, field 2 "hi", field 3 fixed32 1.0, field 4 fixed64 7
        let mut bytes = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d];
        bytes.extend_from_slice(&1.0f32.to_le_bytes());
        bytes.push(0x21);
        bytes.extend_from_slice(&7u64.to_le_bytes());
        let mut r = WireReader::new(&bytes);
        let f = r.next_field().unwrap().unwrap();
        assert_eq!((f.number, f.varint("t").unwrap()), (1, 150));
        let f = r.next_field().unwrap().unwrap();
        assert_eq!(f.string("t").unwrap(), "hi");
        assert_eq!(r.next_field().unwrap().unwrap().float("t").unwrap(), 1.0);
        assert_eq!(r.next_field().unwrap().unwrap().value, Value::Fixed64(7));
        assert!(r.next_field().unwrap().is_none());
    }

    #[test]
    fn refuses_overlong_lengths_and_varints() {
        let mut r = WireReader::new(&[0x12, 0x05, b'a']);
        assert!(matches!(r.next_field(), Err(WireError::Truncated { .. })));
        let mut r = WireReader::new(&[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        assert!(matches!(r.next_field(), Err(WireError::Varint { .. })));
        let mut r = WireReader::new(&[0x0b]);
        assert!(matches!(r.next_field(), Err(WireError::WireType { .. })));
        let mut r = WireReader::new(&[
            0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert!(matches!(r.next_field(), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn max_varint_round_trips() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(WireReader::new(&bytes).varint().unwrap(), u64::MAX);
    }

    #[test]
    fn packed_and_unpacked_repeats() {
        let mut out = Vec::new();
        let packed = Field {
            number: 1,
            value: Value::Len(&[
                0x01, 0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ]),
        };
        packed.push_int64s(&mut out, "t").unwrap();
        assert_eq!(out, vec![1, 150, -1]);
        let ragged = Field {
            number: 4,
            value: Value::Len(&[0, 0, 0]),
        };
        assert!(ragged.push_floats(&mut Vec::new(), "t").is_err());
    }
}
