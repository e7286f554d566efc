//! A model's card: what the server declares beside a model for its users, public like the
//! plan — how an image becomes the model's input, and the names of its classes.
//!
//! The server reads a card from a JSON file beside the model (`veil-model`'s `card`
//! module has the schema), checks it against the plan ([`Card::fits`]) and sends it to
//! clients that ask (`veil-protocol`'s `wire`); a client turns an image into the model's
//! input with it (`veil-model`'s `image` module). Every value is checked by
//! [`Card::validate`] whichever way it came, so the client never trusts a server's card
//! more than the server trusted its file.

use crate::Plan;

/// The largest side of an image a card may declare, in pixels.
pub const MAX_SIDE: u32 = 1 << 14;
/// The most classes a card may name.
pub const MAX_CARD_CLASSES: usize = 1 << 16;
/// The longest class name, in bytes of UTF-8.
pub const MAX_CLASS_NAME: usize = 256;

/// What a server says about a model beyond its plan.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Card {
    /// How an image becomes the model's input; `None`: the model takes no images.
    pub image: Option<ImagePrep>,
    /// The name of each output, in order; `None`: outputs are known by index only.
    pub classes: Option<Vec<String>>,
}

/// How an image becomes the model's input: resized to `height × width`, converted to
/// `channels`, each 8-bit value `p` of channel `c` becoming `(p / scale − mean[c]) / std[c]`
/// in float32, laid out as `layout` says.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePrep {
    /// Rows of pixels the model takes.
    pub height: u32,
    /// Columns of pixels the model takes.
    pub width: u32,
    /// The colour channels the model takes.
    pub channels: Channels,
    /// What each 8-bit value is divided by first (255: values in [0, 1]).
    pub scale: f32,
    /// Subtracted per channel after scaling (one value per channel).
    pub mean: Vec<f32>,
    /// Divided by per channel last (one value per channel, each positive).
    pub std: Vec<f32>,
    /// The order of the values.
    pub layout: Layout,
}

/// The colour channels a model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// One channel: grey levels (colour images are converted with the luma weights).
    Gray,
    /// Three channels: red, green, blue.
    Rgb,
}

/// The order of an image's values in the model's input (C order either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Channel, then row, then column (PyTorch's `[C, H, W]`).
    Chw,
    /// Row, then column, then channel (`[H, W, C]`).
    Hwc,
}

/// What is wrong with a card: the field (`image.std[0]`) and the trouble.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct CardError {
    /// The field, as a path in the card's JSON.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl CardError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> CardError {
        CardError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Channels {
    /// How many values per pixel.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        }
    }

    /// The name in a card (`gray`, `rgb`).
    pub fn name(self) -> &'static str {
        match self {
            Channels::Gray => "gray",
            Channels::Rgb => "rgb",
        }
    }
}

impl Layout {
    /// The name in a card (`chw`, `hwc`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Chw => "chw",
            Layout::Hwc => "hwc",
        }
    }
}

impl ImagePrep {
    /// How many values an image makes: height × width × channels.
    pub fn len(&self) -> usize {
        (self.height as usize)
            .saturating_mul(self.width as usize)
            .saturating_mul(self.channels.count())
    }

    /// Never: a checked preparation makes at least one value (for clippy's `len`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest and largest value channel `c` can make (8-bit values 0 and 255).
    pub fn range(&self, c: usize) -> (f32, f32) {
        let value = |p: f32| (p / self.scale - self.mean[c]) / self.std[c];
        (value(0.0), value(255.0))
    }

    fn validate(&self) -> Result<(), CardError> {
        for (field, side) in [("image.height", self.height), ("image.width", self.width)] {
            if side == 0 || side > MAX_SIDE {
                return Err(CardError::new(field, format!("must be 1 to {MAX_SIDE}")));
            }
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(CardError::new("image.scale", "must be a positive number"));
        }
        let n = self.channels.count();
        for (name, values) in [("image.mean", &self.mean), ("image.std", &self.std)] {
            if values.len() != n {
                return Err(CardError::new(
                    name,
                    format!(
                        "must hold one value per channel: {n} for {}, not {}",
                        self.channels.name(),
                        values.len()
                    ),
                ));
            }
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(CardError::new(format!("{name}[{i}]"), "must be finite"));
            }
        }
        if let Some(i) = self.std.iter().position(|s| *s <= 0.0) {
            return Err(CardError::new(
                format!("image.std[{i}]"),
                "must be positive",
            ));
        }
        Ok(())
    }
}

impl Card {
    /// Checks every value: a card declares something, sides and names within their limits,
    /// finite numbers, one mean and std per channel, positive scale and std.
    pub fn validate(&self) -> Result<(), CardError> {
        if self.image.is_none() && self.classes.is_none() {
            return Err(CardError::new(
                "card",
                "declares nothing: give \"image\", \"classes\" or both",
            ));
        }
        if let Some(image) = &self.image {
            image.validate()?;
        }
        if let Some(classes) = &self.classes {
            if classes.is_empty() || classes.len() > MAX_CARD_CLASSES {
                return Err(CardError::new(
                    "classes",
                    format!("must name 1 to {MAX_CARD_CLASSES} classes"),
                ));
            }
            for (i, name) in classes.iter().enumerate() {
                if name.is_empty() || name.len() > MAX_CLASS_NAME {
                    return Err(CardError::new(
                        format!("classes[{i}]"),
                        format!("must be 1 to {MAX_CLASS_NAME} bytes"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the card against the model it describes: an image makes exactly the input's
    /// element count, within its calibrated range; one class name per output.
    pub fn fits(&self, plan: &Plan) -> Result<(), CardError> {
        if let Some(image) = &self.image {
            if image.len() != plan.input_len() {
                return Err(CardError::new(
                    "image",
                    format!(
                        "{}x{} {} makes {} values, but the model's input {:?} holds {}",
                        image.width,
                        image.height,
                        image.channels.name(),
                        image.len(),
                        plan.input_shape,
                        plan.input_len()
                    ),
                ));
            }
            let (lo, hi) = plan.input_range;
            for c in 0..image.channels.count() {
                let (a, b) = image.range(c);
                if a.min(b) < lo || a.max(b) > hi {
                    return Err(CardError::new(
                        "image",
                        format!(
                            "channel {c} makes values in [{}, {}], outside the model's \
                             input range [{lo}, {hi}]",
                            a.min(b),
                            a.max(b)
                        ),
                    ));
                }
            }
        }
        if let Some(classes) = &self.classes {
            let outputs = plan.output_len();
            if classes.len() != outputs {
                return Err(CardError::new(
                    "classes",
                    format!(
                        "names {} classes, but the model has {outputs} outputs",
                        classes.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The name of class `label`, if the card names classes.
    pub fn class(&self, label: usize) -> Option<&str> {
        self.classes.as_ref()?.get(label).map(String::as_str)
    }
}
