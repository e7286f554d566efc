//! `.npy` arrays: reading float32/float64 (little-endian, C order, format 1.0 to 3.0) and
//! writing float32.
//!
//! The header is a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }`; it is parsed
//! by a small literal parser, every length checked against the bytes really present.

use std::fs;
use std::path::Path;

use crate::error::InputError;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest element count veil reads from a `.npy` file.
pub const MAX_NPY_ELEMENTS: usize = 1 << 28;

/// A float array read from a `.npy` file (float64 values rounded to f32).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The array's shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values in C order.
    pub data: Vec<f32>,
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, InputError> {
    let bytes = fs::read(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes)
}

/// Parses the bytes of a `.npy` file.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, InputError> {
    let not_npy = |m: &str| InputError::NotNpy(m.into());
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err(not_npy("bad magic"));
    }
    let (len_bytes, header_start): (usize, usize) = match bytes[6] {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => return Err(not_npy(&format!("unknown format version {v}.{}", bytes[7]))),
    };
    let len_field = bytes
        .get(8..8 + len_bytes)
        .ok_or_else(|| not_npy("truncated header"))?;
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header = header_start
        .checked_add(header_len)
        .and_then(|end| bytes.get(header_start..end))
        .ok_or_else(|| not_npy("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| not_npy("header is not text"))?;
    let (dtype, shape) = parse_header(header)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&c| c <= MAX_NPY_ELEMENTS)
        .ok_or_else(|| InputError::NpyUnsupported(format!("shape {shape:?} is too large")))?;
    let data = &bytes[header_start + header_len..];
    if data.len() != count * dtype.size() {
        return Err(not_npy(&format!(
            "shape {shape:?} of {} needs {} data bytes, the file has {}",
            dtype.name(),
            count * dtype.size(),
            data.len()
        )));
    }
    Ok(NpyArray {
        shape,
        data: dtype.decode(data),
    })
}

#[derive(Clone, Copy, Debug)]
enum Dtype {
    F32,
    F64,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }

    fn decode(self, data: &[u8]) -> Vec<f32> {
        match self {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
        }
    }
}

/// A value of the header dict.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Reads `descr`, `fortran_order` and `shape` from the header dict.
fn parse_header(header: &str) -> Result<(Dtype, Vec<usize>), InputError> {
    let entries = parse_dict(header).map_err(|m| InputError::NotNpy(format!("bad header: {m}")))?;
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let missing = |key: &str| InputError::NotNpy(format!("header has no {key}"));
    let dtype = match get("descr").ok_or_else(|| missing("descr"))? {
        Literal::Str(d) if d == "<f4" => Dtype::F32,
        Literal::Str(d) if d == "<f8" => Dtype::F64,
        Literal::Str(d) => {
            return Err(InputError::NpyUnsupported(format!(
                "dtype '{d}'; expected little-endian float32 or float64 ('<f4' or '<f8')"
            )))
        }
        other => return Err(InputError::NotNpy(format!("descr is {other:?}"))),
    };
    let shape: Vec<usize> = match get("shape").ok_or_else(|| missing("shape"))? {
        Literal::Tuple(dims) => dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| InputError::NpyUnsupported("a dimension is too large".into()))?,
        other => return Err(InputError::NotNpy(format!("shape is {other:?}"))),
    };
    let fortran = match get("fortran_order").ok_or_else(|| missing("fortran_order"))? {
        Literal::Bool(b) => *b,
        other => return Err(InputError::NotNpy(format!("fortran_order is {other:?}"))),
    };
    // Fortran order only differs from C order when two or more dimensions exceed 1.
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(InputError::NpyUnsupported(
            "Fortran-ordered arrays are not supported; save a C-ordered array".into(),
        ));
    }
    Ok((dtype, shape))
}

/// Parses `{'key': value, ...}` with string, bool and integer-tuple values.
fn parse_dict(text: &str) -> Result<Vec<(String, Literal)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    p.expect(b'{')?;
    let mut entries = Vec::new();
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        entries.push((key, value));
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_space();
    if p.pos != p.s.len() {
        return Err("text after the dict".into());
    }
    Ok(entries)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        let hit = self.s.get(self.pos) == Some(&c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.pos))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_space();
        let quote = match self.s.get(self.pos) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.pos)),
        };
        let start = self.pos + 1;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or("unterminated string")?;
        self.pos = start + len + 1;
        String::from_utf8(self.s[start..start + len].to_vec()).map_err(|_| "bad string".into())
    }

    fn value(&mut self) -> Result<Literal, String> {
        self.skip_space();
        let rest = &self.s[self.pos..];
        if rest.starts_with(b"True") || rest.starts_with(b"False") {
            let b = rest.starts_with(b"True");
            self.pos += if b { 4 } else { 5 };
            return Ok(Literal::Bool(b));
        }
        if self.eat(b'(') {
            return self.tuple().map(Literal::Tuple);
        }
        self.string().map(Literal::Str)
    }

    /// After `(`: integers separated by commas, an optional trailing comma, `)`.
    fn tuple(&mut self) -> Result<Vec<u64>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(items);
            }
            let start = self.pos;
            while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| "bad number")?;
            items.push(
                digits
                    .parse()
                    .map_err(|_| format!("bad dimension at byte {start}"))?,
            );
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(items);
            }
        }
    }
}

/// The bytes of a `.npy` file (format 1.0) holding `data` as float32 of `shape`.
///
/// # Panics
/// If `data` does not have as many values as `shape` calls for.
pub fn npy_f32_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy shape and data length"
    );
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Pad with spaces so the data starts at a multiple of 64 bytes; end with a newline.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    data.iter()
        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

/// Writes `data` of `shape` as a float32 `.npy` file.
///
/// # Panics
/// As [`npy_f32_bytes`].
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), InputError> {
    fs::write(path, npy_f32_bytes(shape, data)).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_aligns() {
        let bytes = npy_f32_bytes(&[1, 2, 3], &[1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]);
        assert_eq!((bytes.len() - 24) % 64, 0);
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape, vec![1, 2, 3]);
        assert_eq!(a.data, vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]);
        let one = parse_npy(&npy_f32_bytes(&[3], &[1.0, 2.0, 3.0])).unwrap();
        assert_eq!(one.shape, vec![3]);
        let scalar = parse_npy(&npy_f32_bytes(&[], &[4.0])).unwrap();
        assert_eq!((scalar.shape.len(), scalar.data[0]), (0, 4.0));
    }

    fn with_header(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[version, 0]);
        if version == 1 {
            b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_float64_and_version_2() {
        let data: Vec<u8> = [0.5f64, -1.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = with_header(
            2,
            "{\"descr\": \"<f8\", \"fortran_order\": True, \"shape\": (2,)}\n",
            &data,
        );
        assert_eq!(parse_npy(&b).unwrap().data, vec![0.5, -1.25]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let err = |b: &[u8]| parse_npy(b).unwrap_err().to_string();
        assert_eq!(err(b"PK\x03\x04 zip"), "not a .npy file (bad magic)");
        let hdr = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
        assert!(err(&with_header(1, hdr, &[0; 4])).contains("'<i4'"));
        let hdr = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
        assert!(err(&with_header(1, hdr, &[0; 16])).contains("Fortran"));
        let hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
        assert!(err(&with_header(1, hdr, &[0; 8])).contains("needs 12 data bytes"));
        let hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
        assert!(err(&with_header(1, hdr, &[])).contains("too large"));
        let good = npy_f32_bytes(&[2, 2], &[1.0; 4]);
        for cut in 0..good.len() {
            assert!(parse_npy(&good[..cut]).is_err());
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x5a;
            let _ = parse_npy(&b);
        }
    }
}
