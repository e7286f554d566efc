//! Images as inputs: a PNG or JPEG file turned into a model's input as its card says
//! ([`ImagePrep`]). Pure: bytes in, float32 values out; the caller checks them against the
//! plan as it checks a `.npy` input ([`crate::encode_input`]).
//!
//! The steps, in order:
//! 1. decode (the `image` crate, pure Rust) to 8-bit RGB: a grey image gives R = G = B,
//!    16-bit samples are scaled to 8 bits, transparency is dropped (colour values used as
//!    they are, not blended with a background);
//! 2. if the image is not `width × height`, resize it to exactly that with a triangle
//!    (bilinear) filter, `image::imageops::resize` with `FilterType::Triangle`, rounding to
//!    8 bits (the aspect ratio is not kept);
//! 3. for a grey model, each pixel becomes its luma with ITU-R BT.601 weights in 16-bit
//!    fixed point, `(19595 R + 38470 G + 7471 B + 32768) >> 16`, the same 8-bit value as
//!    Pillow's `Image.convert("L")` (a grey image keeps its values exactly);
//! 4. each 8-bit value p of channel c becomes `(p / scale − mean[c]) / std[c]`, computed in
//!    float32 in that order, laid out as `layout` says.
//!
//! An image already at the model's size goes through no resampling: its values are exact
//! (for the MNIST cards, `p / 255` in float32, as the shipped `.npy` samples were made).
//! A resized image's values depend on the filter, so they match another library's resize
//! only approximately.

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, Limits, RgbImage};

use crate::card::{Channels, ImagePrep, Layout};
use crate::error::InputError;

/// The largest image veil decodes, in pixels per side.
pub const MAX_IMAGE_SIDE: u32 = 1 << 14;
/// The most memory one image's decoding may take.
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// What kind of input file a client was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A `.npy` array.
    Npy,
    /// A PNG image.
    Png,
    /// A JPEG image.
    Jpeg,
}

impl InputKind {
    /// The kind of `path` by its extension (`.npy`, `.png`, `.jpg`, `.jpeg`, any case),
    /// else by the first bytes of the file (`head`); `None` if neither tells.
    pub fn of(path: &Path, head: &[u8]) -> Option<InputKind> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("npy") => Some(InputKind::Npy),
            Some("png") => Some(InputKind::Png),
            Some("jpg" | "jpeg") => Some(InputKind::Jpeg),
            _ if head.starts_with(b"\x93NUMPY") => Some(InputKind::Npy),
            _ if head.starts_with(b"\x89PNG\r\n\x1a\n") => Some(InputKind::Png),
            _ if head.starts_with(&[0xff, 0xd8, 0xff]) => Some(InputKind::Jpeg),
            _ => None,
        }
    }

    /// True for an image format.
    pub fn is_image(self) -> bool {
        self != InputKind::Npy
    }

    fn format(self) -> Option<(ImageFormat, &'static str)> {
        match self {
            InputKind::Npy => None,
            InputKind::Png => Some((ImageFormat::Png, "PNG")),
            InputKind::Jpeg => Some((ImageFormat::Jpeg, "JPEG")),
        }
    }
}

/// Decodes the image `bytes` of kind `kind` and prepares it as `prep` says: the model's
/// input values in float32, `prep.len()` of them. A file that does not decode is
/// [`InputError::Image`].
pub fn image_input(
    bytes: &[u8],
    kind: InputKind,
    prep: &ImagePrep,
) -> Result<Vec<f32>, InputError> {
    let rgb = decode_rgb(bytes, kind)?;
    let rgb = match rgb.dimensions() == (prep.width, prep.height) {
        true => rgb,
        false => image::imageops::resize(&rgb, prep.width, prep.height, FilterType::Triangle),
    };
    let n = prep.channels.count();
    let value = |p: u8, c: usize| (f32::from(p) / prep.scale - prep.mean[c]) / prep.std[c];
    let sample = |x: u32, y: u32, c: usize| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        match prep.channels {
            Channels::Gray => luma(r, g, b),
            Channels::Rgb => [r, g, b][c],
        }
    };
    let (w, h) = (prep.width, prep.height);
    let mut values = Vec::with_capacity(prep.len());
    match prep.layout {
        Layout::Chw => {
            for c in 0..n {
                for y in 0..h {
                    values.extend((0..w).map(|x| value(sample(x, y, c), c)));
                }
            }
        }
        Layout::Hwc => {
            for y in 0..h {
                for x in 0..w {
                    values.extend((0..n).map(|c| value(sample(x, y, c), c)));
                }
            }
        }
    }
    Ok(values)
}

/// Decodes to 8-bit RGB within the size limits.
fn decode_rgb(bytes: &[u8], kind: InputKind) -> Result<RgbImage, InputError> {
    let Some((format, name)) = kind.format() else {
        return Err(InputError::Image {
            format: "image",
            detail: "a .npy array is not an image".into(),
        });
    };
    let fail = |detail: String| InputError::Image {
        format: name,
        detail,
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| fail(e.to_string()))?;
    Ok(image.to_rgb8())
}

/// ITU-R BT.601 luma in 16-bit fixed point, rounded: Pillow's `convert("L")`.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    let sum = 19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000;
    // The weights add up to 2^16, so the sum is at most 255 · 2^16 + 2^15 and fits a u8.
    u8::try_from(sum >> 16).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, ImageBuffer, Rgb};

    use super::*;

    fn prep(channels: Channels, layout: Layout, side: u32) -> ImagePrep {
        let n = channels.count();
        ImagePrep {
            height: side,
            width: side,
            channels,
            scale: 255.0,
            mean: vec![0.0; n],
            std: vec![1.0; n],
            layout,
        }
    }

    fn png(image: &image::DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn grey_values_are_pixel_over_255_exactly() {
        let gray = GrayImage::from_fn(2, 2, |x, y| image::Luma([(x * 100 + y * 55) as u8]));
        let bytes = png(&gray.into());
        let values = image_input(
            &bytes,
            InputKind::Png,
            &prep(Channels::Gray, Layout::Chw, 2),
        );
        let expect: Vec<f32> = [0u8, 100, 55, 155]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        assert_eq!(values.unwrap(), expect);
    }

    #[test]
    fn colour_is_luma_for_grey_models_and_laid_out_as_asked() {
        let rgb: RgbImage = ImageBuffer::from_fn(2, 1, |x, _| match x {
            0 => Rgb([255, 0, 0]),
            _ => Rgb([10, 20, 30]),
        });
        let bytes = png(&rgb.into());
        let gray = image_input(
            &bytes,
            InputKind::Png,
            &ImagePrep {
                height: 1,
                ..prep(Channels::Gray, Layout::Chw, 2)
            },
        );
        // Pillow: L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
        assert_eq!(gray.unwrap(), vec![76.0 / 255.0, 18.0 / 255.0]);
        let prep_rgb = |layout| ImagePrep {
            height: 1,
            scale: 1.0,
            ..prep(Channels::Rgb, layout, 2)
        };
        let chw = image_input(&bytes, InputKind::Png, &prep_rgb(Layout::Chw)).unwrap();
        assert_eq!(chw, vec![255.0, 10.0, 0.0, 20.0, 0.0, 30.0]);
        let hwc = image_input(&bytes, InputKind::Png, &prep_rgb(Layout::Hwc)).unwrap();
        assert_eq!(hwc, vec![255.0, 0.0, 0.0, 10.0, 20.0, 30.0]);
    }

    #[test]
    fn other_sizes_are_resized_and_garbage_is_an_error() {
        let gray = GrayImage::from_pixel(56, 40, image::Luma([200]));
        let values = image_input(
            &png(&gray.into()),
            InputKind::Png,
            &prep(Channels::Gray, Layout::Chw, 28),
        );
        let values = values.unwrap();
        assert_eq!(values.len(), 784);
        assert!(values.iter().all(|&v| v == 200.0 / 255.0));
        let e = image_input(
            b"\x89PNG\r\n\x1a\nnot really",
            InputKind::Png,
            &prep(Channels::Gray, Layout::Chw, 2),
        );
        assert!(
            matches!(e, Err(InputError::Image { format: "PNG", .. })),
            "{e:?}"
        );
    }

    #[test]
    fn the_kind_comes_from_the_extension_or_the_magic() {
        let of = |name: &str, head: &[u8]| InputKind::of(Path::new(name), head);
        assert_eq!(of("a.NPY", b""), Some(InputKind::Npy));
        assert_eq!(of("a.Jpeg", b""), Some(InputKind::Jpeg));
        assert_eq!(of("a.png", b"\x93NUMPY"), Some(InputKind::Png));
        assert_eq!(of("digit", b"\x89PNG\r\n\x1a\n...."), Some(InputKind::Png));
        assert_eq!(
            of("digit.bin", &[0xff, 0xd8, 0xff, 0xe0]),
            Some(InputKind::Jpeg)
        );
        assert_eq!(of("digit", b"\x93NUMPY\x01\x00"), Some(InputKind::Npy));
        assert_eq!(of("digit.txt", b"hello"), None);
    }
}
