//! Constant tensors: typed values from a `TensorProto`, embedded or in an external file.
//!
//! The dynamo exporter keeps small tensors inline and writes larger ones to a side file
//! (`model.onnx.data`) named by `external_data` (`location`, `offset`, `length`), relative
//! to the model's folder. A location must stay inside that folder.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use super::proto::{TensorProto, DATA_LOCATION_EXTERNAL};
use crate::error::ModelError;

/// Largest number of elements veil accepts in one tensor.
pub const MAX_ELEMENTS: usize = 1 << 28;
/// Largest rank veil accepts for a tensor.
pub const MAX_RANK: usize = 16;

/// ONNX `TensorProto.DataType` codes that veil reads.
pub mod data_type {
    /// 32-bit float.
    pub const FLOAT: i64 = 1;
    /// 32-bit signed integer.
    pub const INT32: i64 = 6;
    /// 64-bit signed integer.
    pub const INT64: i64 = 7;
    /// 64-bit float.
    pub const DOUBLE: i64 = 11;
}

/// The values of a constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// float32 values.
    F32(Vec<f32>),
    /// float64 values.
    F64(Vec<f64>),
    /// Integer values (int64, or int32 widened).
    I64(Vec<i64>),
}

/// A constant tensor with checked dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Its dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// Its values in C order; as many as the dimensions say.
    pub data: TensorData,
}

impl Tensor {
    /// The values as f64, if the tensor holds floats.
    pub fn floats(&self) -> Result<Vec<f64>, ModelError> {
        match &self.data {
            TensorData::F32(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            TensorData::F64(v) => Ok(v.clone()),
            TensorData::I64(_) => Err(self.error("expected float values, found integers")),
        }
    }

    /// The values as i64, if the tensor holds integers.
    pub fn ints(&self) -> Result<&[i64], ModelError> {
        match &self.data {
            TensorData::I64(v) => Ok(v),
            _ => Err(self.error("expected integer values, found floats")),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn error(&self, detail: &str) -> ModelError {
        tensor_error(&self.name, detail.into())
    }
}

fn tensor_error(name: &str, detail: String) -> ModelError {
    ModelError::Tensor {
        name: name.into(),
        detail,
    }
}

/// Reads a tensor's values; `dir` is the model's folder, for external data.
pub fn tensor_from_proto(t: &TensorProto, dir: Option<&Path>) -> Result<Tensor, ModelError> {
    let err = |d: String| tensor_error(&t.name, d);
    if t.segmented {
        return Err(err("segmented tensors are not supported".into()));
    }
    let dims = checked_dims(&t.dims).map_err(err)?;
    let count = dims.iter().product::<usize>();
    let elem = elem_size(t.data_type).ok_or_else(|| {
        err(format!(
            "data type {} is not supported (float32, float64, int32 and int64 are)",
            t.data_type
        ))
    })?;
    let data = if t.data_location == DATA_LOCATION_EXTERNAL {
        let bytes = read_external(t, dir, count * elem)?;
        from_raw(t.data_type, &bytes)
    } else if t.data_location != 0 {
        return Err(err(format!("unknown data location {}", t.data_location)));
    } else if let Some(raw) = &t.raw_data {
        if raw.len() != count * elem {
            return Err(err(format!(
                "raw data has {} bytes, expected {} for dims {dims:?}",
                raw.len(),
                count * elem
            )));
        }
        from_raw(t.data_type, raw)
    } else {
        from_typed_fields(t)
    };
    let tensor = Tensor {
        name: t.name.clone(),
        dims,
        data,
    };
    if tensor.len() != count {
        return Err(err(format!(
            "holds {} values, but its dims {:?} call for {count}",
            tensor.len(),
            tensor.dims
        )));
    }
    Ok(tensor)
}

/// Checks dimensions are non-negative and their product is bounded.
pub fn checked_dims(dims: &[i64]) -> Result<Vec<usize>, String> {
    if dims.len() > MAX_RANK {
        return Err(format!("rank {} exceeds {MAX_RANK}", dims.len()));
    }
    let mut count: usize = 1;
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| format!("dims {dims:?} exceed {MAX_ELEMENTS} elements"))?;
        out.push(d);
    }
    Ok(out)
}

fn elem_size(data_type: i64) -> Option<usize> {
    match data_type {
        data_type::FLOAT | data_type::INT32 => Some(4),
        data_type::INT64 | data_type::DOUBLE => Some(8),
        _ => None,
    }
}

/// Little-endian raw bytes (already checked to be a whole number of elements).
fn from_raw(data_type: i64, raw: &[u8]) -> TensorData {
    fn words<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match data_type {
        data_type::FLOAT => TensorData::F32(words::<4>(raw).map(f32::from_le_bytes).collect()),
        data_type::DOUBLE => TensorData::F64(words::<8>(raw).map(f64::from_le_bytes).collect()),
        data_type::INT32 => TensorData::I64(
            words::<4>(raw)
                .map(|w| i64::from(i32::from_le_bytes(w)))
                .collect(),
        ),
        _ => TensorData::I64(words::<8>(raw).map(i64::from_le_bytes).collect()),
    }
}

fn from_typed_fields(t: &TensorProto) -> TensorData {
    match t.data_type {
        data_type::FLOAT => TensorData::F32(t.float_data.clone()),
        data_type::DOUBLE => TensorData::F64(t.double_data.clone()),
        data_type::INT32 => TensorData::I64(t.int32_data.clone()),
        _ => TensorData::I64(t.int64_data.clone()),
    }
}

/// Reads `expected` bytes of an external tensor, checking location, offset and length.
fn read_external(
    t: &TensorProto,
    dir: Option<&Path>,
    expected: usize,
) -> Result<Vec<u8>, ModelError> {
    let err = |d: String| tensor_error(&t.name, d);
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let location = key("location").ok_or_else(|| err("external data without a location".into()))?;
    let number = |k: &str| -> Result<Option<u64>, ModelError> {
        key(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| err(format!("external data {k} {v:?} is not a number")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?.unwrap_or(expected as u64);
    if length != expected as u64 {
        return Err(err(format!(
            "external data length {length}, expected {expected} bytes"
        )));
    }
    let rel = Path::new(location);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(err(format!(
            "external data location {location:?} must be a plain path inside the model's folder"
        )));
    }
    let dir =
        dir.ok_or_else(|| err("external data, but the model was not loaded from a file".into()))?;
    let path = dir.join(rel);
    let io = |source| ModelError::Io {
        path: path.clone(),
        source,
    };
    let mut file = File::open(&path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let fits = matches!(offset.checked_add(length), Some(end) if end <= size);
    if !fits {
        return Err(err(format!(
            "external data at offset {offset}, length {length} runs past the end of {} ({size} bytes)",
            path.display()
        )));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut bytes = vec![0u8; expected];
    file.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}
