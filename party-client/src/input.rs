//! What a query is asked on: values (a `.npy` file, or an array), or a PNG or JPEG image
//! that the model's card turns into values. Either way the values are checked against
//! the plan (count, finite, calibrated range) before anything is sent.

use std::path::Path;

use veil_model::{Card, InputKind, NpyArray};
use veil_protocol::plan::Plan;
use veil_protocol::ring::Ring;
use veil_protocol::session::SessionError;

/// A query's input.
#[derive(Clone, Debug)]
pub enum Input {
    /// The model's input values, C order, with the shape they came in (a `.npy` file's, or
    /// flat): any shape with as many elements as the model's input is the input.
    Values(NpyArray),
    /// An image file's bytes, prepared as the model's card says once the card is known.
    Image {
        /// The file's bytes.
        bytes: Vec<u8>,
        /// PNG or JPEG.
        kind: InputKind,
    },
}

impl Input {
    /// Reads `path`: a `.npy` array, or a `.png`, `.jpg` or `.jpeg` image (by extension,
    /// else by the file's first bytes). A file that cannot be read, or is none of these, is
    /// a usage error.
    pub fn read(path: &Path) -> Result<Input, SessionError> {
        let bytes = std::fs::read(path)
            .map_err(|e| SessionError::usage(format!("cannot read {}: {e}", path.display())))?;
        match InputKind::of(path, &bytes) {
            Some(InputKind::Npy) => veil_model::parse_npy(&bytes)
                .map(Input::Values)
                .map_err(|e| SessionError::usage(format!("{}: {e}", path.display()))),
            Some(kind) => Ok(Input::Image { bytes, kind }),
            None => Err(SessionError::usage(format!(
                "{} is neither a .npy array nor a PNG or JPEG image; give a file ending in \
                 .npy, .png, .jpg or .jpeg",
                path.display()
            ))),
        }
    }

    /// True for an image, which needs the model's card.
    pub fn is_image(&self) -> bool {
        matches!(self, Input::Image { .. })
    }

    /// The input encoded for `plan`: the values, or the image prepared as `card` says,
    /// checked as the model's input. An image for a model whose card declares no image
    /// preparation is a usage error saying what to do.
    pub fn encode(&self, plan: &Plan, card: Option<&Card>) -> Result<Vec<Ring>, SessionError> {
        let prepared;
        let values = match self {
            Input::Values(array) => &array.data,
            Input::Image { bytes, kind } => {
                let Some(prep) = card.and_then(|c| c.image.as_ref()) else {
                    return Err(SessionError::usage(format!(
                        "the model {} declares no image preprocessing (its server has no card \
                         with \"image\" for it), so it cannot take an image; give a .npy input, \
                         or ask the server's operator to add a card (<model>.card.json beside \
                         the ONNX file)",
                        plan.model
                    )));
                };
                prepared =
                    veil_model::image_input(bytes, *kind, prep).map_err(SessionError::usage)?;
                &prepared
            }
        };
        veil_model::encode_input(plan, values).map_err(SessionError::usage)
    }
}
