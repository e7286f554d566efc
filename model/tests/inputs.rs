//! Inputs from files: `.npy` arrays and IDX data sets, checked against a loaded plan.

mod common;

use common::{fixture, TempDir};
use veil_model::idx::IdxImages;
use veil_model::{
    encode_input, load, read_idx_images, read_idx_labels, read_npy, write_npy_f32, InputError,
};

#[test]
fn npy_files_of_any_matching_shape_encode() {
    let tmp = TempDir::new("npy-ok");
    let model = load(&fixture("mlp-dynamo.onnx")).unwrap();
    let values: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
    for shape in [vec![1, 1, 4, 4], vec![16], vec![4, 4]] {
        let path = tmp.path("x.npy");
        write_npy_f32(&path, &shape, &values).unwrap();
        let array = read_npy(&path).unwrap();
        assert_eq!((array.shape, &array.data), (shape, &values));
        let encoded = encode_input(&model.plan, &array.data).unwrap();
        assert_eq!(encoded[0], (-1024i64) as u64);
        assert_eq!(encoded[12], 512);
    }
}

#[test]
fn npy_errors_say_what_was_expected() {
    let tmp = TempDir::new("npy-err");
    let model = load(&fixture("mlp-dynamo.onnx")).unwrap();
    let path = tmp.path("x.npy");
    write_npy_f32(&path, &[15], &[0.0; 15]).unwrap();
    let err = encode_input(&model.plan, &read_npy(&path).unwrap().data).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected 16 values (shape [1, 1, 4, 4]), got 15"
    );
    let mut values = vec![0.5f32; 16];
    values[5] = 3.2;
    let err = encode_input(&model.plan, &values).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value 3.2 at index 5 is outside the model's input range [-2, 2]"
    );
    values[5] = f32::NAN;
    assert!(matches!(
        encode_input(&model.plan, &values),
        Err(InputError::NotFinite { index: 5, .. })
    ));
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n....").unwrap();
    assert_eq!(
        read_npy(&path).unwrap_err().to_string(),
        "not a .npy file (bad magic)"
    );
    let err = read_npy(&tmp.path("missing.npy")).unwrap_err();
    assert!(err.to_string().contains("missing.npy"), "{err}");
}

fn idx_bytes(magic: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, magic];
    dims.iter()
        .for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b.extend_from_slice(data);
    b
}

#[test]
fn idx_files_read_with_checked_headers() {
    let tmp = TempDir::new("idx");
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 256) as u8).collect();
    let images = tmp.path("images.idx3-ubyte");
    std::fs::write(&images, idx_bytes(3, &[3, 28, 28], &pixels)).unwrap();
    let labels = tmp.path("labels.idx1-ubyte");
    std::fs::write(&labels, idx_bytes(1, &[3], &[7, 2, 1])).unwrap();
    let (imgs, rows, cols): IdxImages = read_idx_images(&images).unwrap();
    assert_eq!((imgs.len(), rows, cols), (3, 28, 28));
    assert_eq!(imgs[0][255], 1.0);
    assert_eq!(imgs[1][0], f32::from(pixels[784]) / 255.0);
    assert_eq!(read_idx_labels(&labels).unwrap(), vec![7, 2, 1]);
    assert!(matches!(read_idx_images(&labels), Err(InputError::Idx(_))));
    assert!(matches!(read_idx_labels(&images), Err(InputError::Idx(_))));
    std::fs::write(&images, idx_bytes(3, &[4, 28, 28], &pixels)).unwrap();
    assert!(read_idx_images(&images)
        .unwrap_err()
        .to_string()
        .contains("need 3136 data bytes"));
}
