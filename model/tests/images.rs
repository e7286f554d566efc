//! Images through the shipped cards: the committed sample PNG (`models/samples/mnist-0.png`)
//! is the `.npy` sample's pixels, and the MNIST card turns it back into the very same
//! float32 values. `VEIL_WRITE_SAMPLES=1 cargo test -p veil-model --test images` writes
//! the PNG anew (models/samples/README.md).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageFormat};
use veil_model::card::{card_path, parse_card};
use veil_model::{image_input, InputKind};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The 8-bit pixels of a shipped `.npy` sample: value × 255, which must be a whole number
/// whose float32 quotient by 255 is the value again, bit for bit.
fn pixels(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&v| {
            let p = (v * 255.0).round();
            assert!((0.0..=255.0).contains(&p), "{v}");
            let p = p as u8;
            assert_eq!((f32::from(p) / 255.0).to_bits(), v.to_bits(), "{v}");
            p
        })
        .collect()
}

fn png(pixels: Vec<u8>) -> Vec<u8> {
    let image = GrayImage::from_raw(28, 28, pixels).expect("28 × 28 pixels");
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .expect("encoding a PNG");
    bytes
}

#[test]
fn the_sample_png_is_the_npy_sample_bit_for_bit() {
    let npy = veil_model::read_npy(&models().join("samples/mnist-0.npy")).unwrap();
    let made = png(pixels(&npy.data));
    let path = models().join("samples/mnist-0.png");
    if std::env::var_os("VEIL_WRITE_SAMPLES").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let shipped = std::fs::read(&path).expect("models/samples/mnist-0.png");
    let card_text = std::fs::read_to_string(card_path(&models().join("mnist-mlp.onnx"))).unwrap();
    let card = parse_card(&card_text).unwrap();
    let prep = card.image.as_ref().expect("the MNIST card prepares images");
    for bytes in [&made, &shipped] {
        let values = image_input(bytes, InputKind::Png, prep).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&npy.data));
    }
}

#[test]
fn every_shipped_mnist_model_has_a_card_that_fits_it() {
    for stem in [
        "mnist-mlp",
        "mnist-mlp-dynamo",
        "mnist-cnn-minionn",
        "mnist-cnn-minionn-dynamo",
        "mnist-cnn-chameleon",
        "mnist-resnet",
    ] {
        let path = models().join(format!("{stem}.onnx"));
        let model = veil_model::load(&path).unwrap();
        let card = veil_model::read_card_beside(&path, &model.plan)
            .unwrap()
            .unwrap_or_else(|| panic!("{stem} has no card"));
        assert_eq!(card.class(7), Some("seven"), "{stem}");
        assert_eq!(card.image.map(|i| i.len()), Some(784), "{stem}");
    }
    // A model without a card has none, and that is fine.
    let cifar = models().join("cifar10-minionn.onnx");
    let model = veil_model::load(&cifar).unwrap();
    assert!(veil_model::read_card_beside(&cifar, &model.plan)
        .unwrap()
        .is_none());
}

#[test]
fn a_card_that_does_not_fit_its_model_names_the_file_and_the_field() {
    let dir = std::env::temp_dir().join(format!("veil-card-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = veil_model::load(&models().join("mnist-mlp.onnx")).unwrap();
    let onnx = dir.join("m.onnx");
    for (card, field) in [
        (r#"{"classes": ["a", "b"]}"#, "classes: names 2 classes"),
        (
            r#"{"image": {"height": 28, "width": 28, "channels": "rgb"}}"#,
            "image: 28x28 rgb",
        ),
        (
            r#"{"image": {"height": 28, "width": 28, "channels": "gray", "scale": 1}}"#,
            "outside",
        ),
        (
            r#"{"image": {"height": 28, "width": 28, "channels": "grey"}}"#,
            "image.channels",
        ),
    ] {
        std::fs::write(dir.join("m.card.json"), card).unwrap();
        let e = veil_model::read_card_beside(&onnx, &model.plan)
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.card.json") && e.contains(field), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_jpeg_of_a_digit_decodes_close_to_its_pixels() {
    let npy = veil_model::read_npy(&models().join("samples/mnist-0.npy")).unwrap();
    let image = GrayImage::from_raw(28, 28, pixels(&npy.data)).unwrap();
    let mut jpeg = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    let card_text = std::fs::read_to_string(models().join("mnist-mlp.card.json")).unwrap();
    let prep = parse_card(&card_text).unwrap().image.unwrap();
    let values = image_input(&jpeg, InputKind::Jpeg, &prep).unwrap();
    let worst = values
        .iter()
        .zip(&npy.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Lossy, but a digit stays a digit.
    assert!(worst < 0.5, "largest difference {worst}");
}
