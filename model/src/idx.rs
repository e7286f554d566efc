//! IDX data sets (the MNIST format): unsigned-byte images and labels, headers checked.
//!
//! An IDX file starts with two zero bytes, a type byte (0x08 for unsigned bytes) and the
//! number of dimensions, then each dimension as a big-endian u32, then the data. Images
//! are `n × rows × cols` (magic 0x00000803), labels `n` (magic 0x00000801).

use std::fs;
use std::path::Path;

use crate::error::InputError;

/// Images read from an IDX file: each `rows × cols` pixels scaled to [0, 1].
pub type IdxImages = (Vec<Vec<f32>>, usize, usize);

/// Reads an IDX image file: pixels / 255.0, with the image height and width.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, InputError> {
    parse_idx_images(&read(path)?)
}

/// Reads an IDX label file.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, InputError> {
    parse_idx_labels(&read(path)?)
}

fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    fs::read(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses the bytes of an IDX image file.
pub fn parse_idx_images(bytes: &[u8]) -> Result<IdxImages, InputError> {
    let (dims, data) = parse_idx(bytes, 3, "images")?;
    let [n, rows, cols] = [dims[0], dims[1], dims[2]];
    if rows == 0 || cols == 0 {
        return Err(InputError::Idx(format!("images of {rows} × {cols} pixels")));
    }
    let images = data
        .chunks_exact(rows * cols)
        .map(|img| img.iter().map(|&p| f32::from(p) / 255.0).collect())
        .collect::<Vec<Vec<f32>>>();
    debug_assert_eq!(images.len(), n);
    Ok((images, rows, cols))
}

/// Parses the bytes of an IDX label file.
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, InputError> {
    let (_, data) = parse_idx(bytes, 1, "labels")?;
    Ok(data.to_vec())
}

/// Checks the header (unsigned bytes, `rank` dimensions) and that the data has exactly
/// the size the dimensions give.
fn parse_idx<'a>(
    bytes: &'a [u8],
    rank: u8,
    what: &str,
) -> Result<(Vec<usize>, &'a [u8]), InputError> {
    let err = |m: String| InputError::Idx(m);
    let header = bytes
        .get(..4)
        .ok_or_else(|| err(format!("{what} file shorter than its header")))?;
    if header[..3] != [0, 0, 0x08] || header[3] != rank {
        return Err(err(format!(
            "bad magic {:02x}{:02x}{:02x}{:02x} for {what}: expected 000008{rank:02x} (unsigned bytes, {rank} dimensions)",
            header[0], header[1], header[2], header[3]
        )));
    }
    let dims_end = 4 + 4 * usize::from(rank);
    let dim_bytes = bytes
        .get(4..dims_end)
        .ok_or_else(|| err(format!("{what} file shorter than its header")))?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let size = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err(format!("{what} dimensions {dims:?} overflow")))?;
    let data = &bytes[dims_end..];
    if data.len() != size {
        return Err(err(format!(
            "{what} dimensions {dims:?} need {size} data bytes, the file has {}",
            data.len()
        )));
    }
    Ok((dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, rows, cols] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_images_and_labels() {
        let (imgs, rows, cols) = parse_idx_images(&images(2, 1, 2, &[0, 255, 51, 102])).unwrap();
        assert_eq!((rows, cols), (1, 2));
        assert_eq!(imgs, vec![vec![0.0, 1.0], vec![0.2, 0.4]]);
        let labels = parse_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]).unwrap();
        assert_eq!(labels, vec![7, 2, 1]);
    }

    #[test]
    fn checks_headers_and_sizes() {
        assert!(parse_idx_images(&images(2, 1, 2, &[0, 1, 2])).is_err());
        assert!(parse_idx_images(&images(2, 1, 2, &[0, 1, 2, 3, 4])).is_err());
        assert!(parse_idx_images(&images(1, 0, 2, &[])).is_err());
        assert!(parse_idx_labels(&images(1, 1, 1, &[0]))
            .unwrap_err()
            .to_string()
            .contains("magic"));
        let huge = images(u32::MAX, u32::MAX, u32::MAX, &[]);
        assert!(parse_idx_images(&huge).is_err());
        let good = images(2, 2, 2, &[1; 8]);
        for cut in 0..good.len() {
            assert!(parse_idx_images(&good[..cut]).is_err());
        }
    }
}
