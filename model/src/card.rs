//! A model's card on the server's disk: `<stem>.card.json` beside `<stem>.onnx`.
//!
//! ```json
//! {"image": {"height": 28, "width": 28, "channels": "gray", "scale": 255.0,
//!            "mean": [0.0], "std": [1.0], "layout": "chw"},
//!  "classes": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]}
//! ```
//! - `image` (optional): how a PNG or JPEG becomes the input ([`crate::image`]): `height`
//!   and `width` in pixels (1 to 16384), `channels` `"gray"` or `"rgb"`; optional
//!   `scale` (default 255), `mean` and `std` (one number per channel; default 0 and 1),
//!   `layout` `"chw"` (default) or `"hwc"`. Each 8-bit value p of channel c becomes
//!   `(p / scale − mean[c]) / std[c]` in float32.
//! - `classes` (optional): one name per model output, in order.
//!
//! At least one of the two; any other key is refused (a misspelt key would otherwise be
//! ignored silently). The card must fit the model ([`Card::fits`]): as many values as
//! the input holds, within its calibrated range, one class per output.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use veil_plan::Plan;

pub use veil_plan::card::{Card, CardError, Channels, ImagePrep, Layout};

use crate::error::ModelError;

/// Where the card of the model in `model` lives: `<stem>.card.json` in the same folder.
pub fn card_path(model: &Path) -> PathBuf {
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    model.with_file_name(format!("{stem}.card.json"))
}

/// The card beside the model file `model`, if there is one, checked against the model's
/// `plan`; an error names the card's file and the field.
pub fn read_card_beside(model: &Path, plan: &Plan) -> Result<Option<Card>, ModelError> {
    let path = card_path(model);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ModelError::Io { path, source }),
    };
    let card = parse_card(&text).and_then(|card| card.fits(plan).map(|()| card));
    card.map(Some)
        .map_err(|source| ModelError::Card { path, source })
}

/// Parses and validates a card's JSON text.
pub fn parse_card(text: &str) -> Result<Card, CardError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CardError::new("card", format!("not valid JSON: {e}")))?;
    let top = object(&value, "card")?;
    known_keys(top, "", &["image", "classes"])?;
    let card = Card {
        image: top.get("image").map(image).transpose()?,
        classes: top.get("classes").map(classes).transpose()?,
    };
    card.validate()?;
    Ok(card)
}

/// An image preparation as a card writes it (what `veil-client models --json` shows).
pub fn image_json(prep: &ImagePrep) -> Value {
    serde_json::json!({
        "height": prep.height,
        "width": prep.width,
        "channels": prep.channels.name(),
        "scale": prep.scale,
        "mean": prep.mean,
        "std": prep.std,
        "layout": prep.layout.name(),
    })
}

fn image(value: &Value) -> Result<ImagePrep, CardError> {
    let fields = object(value, "image")?;
    known_keys(
        fields,
        "image.",
        &[
            "height", "width", "channels", "scale", "mean", "std", "layout",
        ],
    )?;
    let required = |key: &str| {
        fields
            .get(key)
            .ok_or_else(|| CardError::new(format!("image.{key}"), "is missing"))
    };
    let side = |key: &str| {
        let v = required(key)?;
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| CardError::new(format!("image.{key}"), "must be a positive integer"))
    };
    let channels = match required("channels")?.as_str() {
        Some("gray") => Channels::Gray,
        Some("rgb") => Channels::Rgb,
        _ => {
            return Err(CardError::new(
                "image.channels",
                "must be \"gray\" or \"rgb\"",
            ))
        }
    };
    let layout = match fields.get("layout").map(Value::as_str) {
        None | Some(Some("chw")) => Layout::Chw,
        Some(Some("hwc")) => Layout::Hwc,
        Some(_) => return Err(CardError::new("image.layout", "must be \"chw\" or \"hwc\"")),
    };
    let per_channel = |key: &str, default: f32| match fields.get(key) {
        None => Ok(vec![default; channels.count()]),
        Some(Value::Array(values)) => values
            .iter()
            .enumerate()
            .map(|(i, v)| number(v, &format!("image.{key}[{i}]")))
            .collect(),
        Some(_) => Err(CardError::new(
            format!("image.{key}"),
            "must be a list of numbers, one per channel",
        )),
    };
    Ok(ImagePrep {
        height: side("height")?,
        width: side("width")?,
        channels,
        scale: match fields.get("scale") {
            None => 255.0,
            Some(v) => number(v, "image.scale")?,
        },
        mean: per_channel("mean", 0.0)?,
        std: per_channel("std", 1.0)?,
        layout,
    })
}

fn classes(value: &Value) -> Result<Vec<String>, CardError> {
    let Value::Array(names) = value else {
        return Err(CardError::new("classes", "must be a list of names"));
    };
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.as_str()
                .map(str::to_string)
                .ok_or_else(|| CardError::new(format!("classes[{i}]"), "must be a string"))
        })
        .collect()
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, CardError> {
    value
        .as_object()
        .ok_or_else(|| CardError::new(field, "must be an object"))
}

fn known_keys(fields: &Map<String, Value>, prefix: &str, known: &[&str]) -> Result<(), CardError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(CardError::new(
            format!("{prefix}{key}"),
            format!("is not a card field (known here: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A finite number that float32 holds.
fn number(value: &Value, field: &str) -> Result<f32, CardError> {
    value
        .as_f64()
        .map(|v| v as f32)
        .filter(|v| v.is_finite())
        .ok_or_else(|| CardError::new(field, "must be a finite number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: &str = r#"{"image": {"height": 28, "width": 28, "channels": "gray",
        "scale": 255.0, "mean": [0.0], "std": [1.0], "layout": "chw"},
        "classes": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                    "nine"]}"#;

    #[test]
    fn the_mnist_card_parses_with_its_defaults_spelt_out_or_not() {
        let card = parse_card(MNIST).unwrap();
        let short = r#"{"image": {"height": 28, "width": 28, "channels": "gray"},
            "classes": ["zero", "one", "two", "three", "four", "five", "six", "seven",
                        "eight", "nine"]}"#;
        assert_eq!(parse_card(short).unwrap(), card);
        assert_eq!(card.class(7), Some("seven"));
        let image = card.image.unwrap();
        assert_eq!((image.len(), image.range(0)), (784, (0.0, 1.0)));
        assert_eq!(image_json(&image)["channels"], "gray");
    }

    #[test]
    fn errors_name_the_field() {
        let field = |text: &str| parse_card(text).unwrap_err().field;
        assert_eq!(field("[]"), "card");
        assert_eq!(field("{"), "card");
        assert_eq!(field("{}"), "card");
        assert_eq!(field(r#"{"clases": ["a"]}"#), "clases");
        assert_eq!(
            field(r#"{"image": {"width": 2, "channels": "gray"}}"#),
            "image.height"
        );
        let image = |rest: &str| format!(r#"{{"image": {{"height": 2, "width": 2, {rest}}}}}"#);
        assert_eq!(field(&image(r#""channels": "cmyk""#)), "image.channels");
        assert_eq!(
            field(&image(r#""channels": "gray", "hieght": 1"#)),
            "image.hieght"
        );
        assert_eq!(
            field(&image(r#""channels": "gray", "layout": "nchw""#)),
            "image.layout"
        );
        assert_eq!(
            field(&image(r#""channels": "rgb", "mean": [0]"#)),
            "image.mean"
        );
        assert_eq!(
            field(&image(r#""channels": "gray", "std": [0]"#)),
            "image.std[0]"
        );
        assert_eq!(
            field(&image(r#""channels": "gray", "std": ["1"]"#)),
            "image.std[0]"
        );
        assert_eq!(
            field(&image(r#""channels": "gray", "scale": -1"#)),
            "image.scale"
        );
        assert_eq!(field(r#"{"classes": ["a", 3]}"#), "classes[1]");
        assert_eq!(field(r#"{"classes": []}"#), "classes");
    }

    #[test]
    fn a_card_is_looked_for_beside_the_model() {
        let path = card_path(Path::new("/srv/models/mnist-mlp.onnx"));
        assert_eq!(path, Path::new("/srv/models/mnist-mlp.card.json"));
    }
}
