//! veil's model side: ONNX import, the float IR, lowering to a fixed-point plan, and the
//! plaintext fixed-point reference that secure inference must match bit for bit.
//!
//! ```text
//! model.onnx ──onnx::proto──▶ ModelProto ──onnx::import──▶ FloatModel (ir)
//!                                 │ metadata_props (veil.f, veil.k, veil.input_*)
//!                                 ▼
//!                       FloatModel ──lower──▶ (Plan, Weights) ──reference──▶ outputs
//! ```
//! Only the server loads a model; the plan it derives is public, the weights stay with it.
//! Inputs come from `.npy` files ([`npy`]), PNG or JPEG images prepared as the model's
//! [`card`] says ([`image`]) or IDX data sets ([`idx`]) and are checked and encoded by
//! [`encode_input`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod card;
pub mod error;
pub mod idx;
pub mod image;
pub mod input;
pub mod ir;
pub mod kernels;
pub mod lower;
pub mod meta;
pub mod npy;
pub mod onnx;
pub mod reference;

use std::path::Path;

use veil_plan::ring::FixedPoint;
use veil_plan::{Plan, Weights};

pub use card::{read_card_beside, Card};
pub use error::{InputError, ModelError};
pub use idx::{read_idx_images, read_idx_labels};
pub use image::{image_input, InputKind};
pub use input::{check_input, encode_input};
pub use ir::{Conv, Dense, FloatModel, Layer, Op};
pub use lower::lower;
pub use meta::{LoadOptions, ModelParams};
pub use npy::{parse_npy, read_npy, write_npy_f32, NpyArray};
pub use reference::{argmax, calibrate, decode_output, reference, Calibration};

/// A model loaded from ONNX, lowered and checked.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// The model's name: the file stem (`mnist-mlp` for `mnist-mlp.onnx`).
    pub name: String,
    /// The float model.
    pub float: FloatModel,
    /// Fixed-point parameters (metadata, defaults or overrides), validated.
    pub fixed: FixedPoint,
    /// The public plan.
    pub plan: Plan,
    /// The server's fixed-point weights.
    pub weights: Weights,
}

/// Loads an ONNX model file with the parameters its metadata gives.
pub fn load(path: &Path) -> Result<LoadedModel, ModelError> {
    load_with(path, &LoadOptions::default())
}

/// Loads an ONNX model file, overriding `f` and `k` as `options` say.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<LoadedModel, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    load_bytes(&bytes, &name, Some(dir), options).map_err(|e| match e {
        ModelError::Decode { path: None, source } => ModelError::Decode {
            path: Some(path.to_path_buf()),
            source,
        },
        other => other,
    })
}

/// Loads a model from the bytes of an ONNX file; `dir` is where external weights live.
pub fn load_bytes(
    bytes: &[u8],
    name: &str,
    dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<LoadedModel, ModelError> {
    let (float, params) = read_onnx(bytes, dir, options)?;
    let (plan, weights) = lower(&float, name, params.fixed)?;
    Ok(LoadedModel {
        name: name.into(),
        float,
        fixed: params.fixed,
        plan,
        weights,
    })
}

/// Decodes and imports an ONNX model to the float IR, with its numeric parameters.
pub fn read_onnx(
    bytes: &[u8],
    dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<(FloatModel, ModelParams), ModelError> {
    let proto = onnx::proto::decode_model(bytes)
        .map_err(|source| ModelError::Decode { path: None, source })?;
    let params = meta::params_from_metadata(&proto.metadata_props, options)?;
    let float = onnx::import::import_model(&proto, dir, params.input_range)?;
    Ok((float, params))
}
