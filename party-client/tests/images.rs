//! `veil-client infer --input IMAGE` through the binary: a PNG of a shipped digit answers
//! exactly as its `.npy` does (the MNIST card's preprocessing is exact), a JPEG gives the
//! reference's label, colour is converted, other sizes are resized, and what cannot be
//! an input (no card, a broken file) is bad input, exit 2.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::{infer, phase, sample, Run};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};
use serde_json::Value;
use veil_tests::{model_path, Harness};

/// The first shipped sample's pixels: its values × 255, as 8-bit grey (label 7).
fn digit() -> GrayImage {
    let values = veil_model::read_npy(&sample(0)).unwrap().data;
    let pixels = values.iter().map(|v| (v * 255.0).round() as u8).collect();
    GrayImage::from_raw(28, 28, pixels).unwrap()
}

/// Writes `image` as `name` (its format from the extension) in `dir`.
fn write(dir: &Path, name: &str, image: &DynamicImage) -> PathBuf {
    let path = dir.join(name);
    image.save(&path).unwrap();
    path
}

fn json_of(run: &Run) -> Value {
    assert_eq!(run.code(), Some(0), "{run:?}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {run:?}"))
}

/// Exit 2, nothing on stdout, `needle` on stderr.
fn expect_bad_input(run: &Run, needle: &str) {
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains(needle), "expected {needle:?}: {run:?}");
}

#[test]
fn a_png_answers_as_its_npy_bit_for_bit_and_names_the_class() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npy = json_of(&infer(&h, home.path(), &sample(0), &["--json"]));
    assert_eq!(
        (npy["label"].as_u64(), npy["class"].as_str()),
        (Some(7), Some("seven"))
    );
    let made = write(dir.path(), "digit.png", &digit().into());
    // An RGB PNG of the same grey levels: the luma of R = G = B is the level itself.
    let rgb = write(
        dir.path(),
        "rgb.png",
        &DynamicImage::from(digit()).to_rgb8().into(),
    );
    // The shipped PNG, and one named without an extension: known by its first bytes.
    let bare = dir.path().join("digit");
    std::fs::copy(&made, &bare).unwrap();
    for path in [made, rgb, bare, model_path("samples/mnist-0.png")] {
        let json = json_of(&infer(&h, home.path(), &path, &["--json"]));
        assert_eq!(json["logits"], npy["logits"], "{}", path.display());
        assert_eq!(json["class"], "seven");
        // The same query: the same online cost.
        assert_eq!(phase(&json, "online"), phase(&npy, "online"));
    }
    let text = infer(&h, home.path(), &model_path("samples/mnist-0.png"), &[]);
    assert!(
        text.stdout.contains("model mnist-mlp: label 7 (seven)"),
        "{text:?}"
    );
    let label_only = infer(&h, home.path(), &sample(0), &["--label-only"]);
    assert!(
        label_only.stdout.contains("label 7 (seven)"),
        "{label_only:?}"
    );
    h.shutdown();
}

#[test]
fn jpeg_colour_and_other_sizes_give_the_digits_label() {
    let h = Harness::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let digit = digit();
    // Lossy: the label, not the logits.
    let jpeg = write(dir.path(), "digit.jpg", &digit.clone().into());
    // A reddish colour image: converted to grey with the luma weights.
    let tinted = RgbImage::from_fn(28, 28, |x, y| {
        let p = digit.get_pixel(x, y).0[0];
        image::Rgb([p, p.saturating_sub(20), p / 2])
    });
    let tinted = write(dir.path(), "tinted.png", &tinted.into());
    // Twice the size, and a non-square stretch: resized to 28 × 28 for the model.
    let big = image::imageops::resize(&digit, 56, 56, image::imageops::FilterType::Nearest);
    let big = write(dir.path(), "big.png", &big.into());
    let wide = image::imageops::resize(&digit, 40, 30, image::imageops::FilterType::Triangle);
    let wide = write(dir.path(), "wide.jpeg", &wide.into());
    for path in [jpeg, tinted, big, wide] {
        let json = json_of(&infer(&h, home.path(), &path, &["--json"]));
        assert_eq!(
            json["label"].as_u64(),
            Some(7),
            "{}: {json}",
            path.display()
        );
        assert_eq!(json["logits"].as_array().map(Vec::len), Some(10));
    }
    h.shutdown();
}

#[test]
fn images_that_cannot_be_inputs_are_bad_input() {
    let bare = tempfile::tempdir().unwrap();
    // The MLP copied without its card, hosted beside the shipped one.
    let no_card = bare.path().join("plain.onnx");
    std::fs::copy(model_path("mnist-mlp.onnx"), &no_card).unwrap();
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .model(None, &no_card)
        .start();
    let home = tempfile::tempdir().unwrap();
    let png = model_path("samples/mnist-0.png");
    let run = infer(&h, home.path(), &png, &["--model", "plain"]);
    expect_bad_input(&run, "the model plain declares no image preprocessing");
    assert!(run.stderr.contains("give a .npy input"), "{run:?}");
    // The same model answers a .npy, without class names.
    let json = json_of(&infer(
        &h,
        home.path(),
        &sample(0),
        &["--model", "plain", "--json"],
    ));
    assert!(json.get("class").is_none(), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let mut broken = Vec::new();
    DynamicImage::from(digit())
        .write_to(&mut Cursor::new(&mut broken), ImageFormat::Png)
        .unwrap();
    broken.truncate(broken.len() / 2);
    let broken_png = dir.path().join("broken.png");
    std::fs::write(&broken_png, &broken).unwrap();
    let run = infer(&h, home.path(), &broken_png, &["--model", "mnist-mlp"]);
    expect_bad_input(&run, "not a readable PNG image");
    let text = dir.path().join("digit.txt");
    std::fs::write(&text, "seven").unwrap();
    let run = infer(&h, home.path(), &text, &["--model", "mnist-mlp"]);
    expect_bad_input(&run, "neither a .npy array nor a PNG or JPEG image");
    h.abandon();
}
