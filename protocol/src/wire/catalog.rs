//! What a server tells of its models: a model's [`Card`] (sent before the welcome to a
//! hello that asks for it) and the [`ModelInfo`] of each hosted model (the catalog that
//! answers `List`).
//!
//! Both are public: the card is the operator's declaration for users, and the catalog
//! says no more than a welcome would (the input shape, the number of outputs, how the
//! material is made). Every count a peer announces is checked against a limit before
//! anything is allocated, and a decoded card is validated as the server validated its
//! file ([`Card::validate`]).
//!
//! ```text
//! card      u8 has card [u8 has image [u32 height, u32 width, u8 channels (0 gray, 1 rgb), f32 scale,
//!           f32 mean × channels, f32 std × channels, u8 layout (0 chw, 1 hwc)]
//!           u8 has classes [u32 count, str name × count]]
//! model     str name, u32 rank, u64 dimension × rank, u64 outputs, u8 label only,
//!           u8 backend count, u8 backend × count (0 gmw, 1 gc),
//!           u8 source (0 dealer, 1 two-party [u8 linear, u8 ot]), card
//! catalog   u32 count, model × count
//! ```

use super::{bad, linear_code, ot_code, read_linear, read_ot};
use crate::codec::{DecodeError, Reader, Writer};
use crate::material::Preprocessing;
use crate::plan::card::{
    Card, Channels, ImagePrep, Layout, MAX_CARD_CLASSES, MAX_CLASS_NAME, MAX_SIDE,
};
use crate::plan::{Backend, MAX_LEN};

/// The most models a catalog may list.
pub const MAX_MODELS: usize = 1024;
/// The longest model name, in bytes (as in a hello).
pub const MAX_MODEL_NAME: usize = 256;
/// The largest rank of an input shape (as in a plan).
pub const MAX_RANK: usize = 8;
/// The most backends a model may offer.
pub const MAX_BACKENDS: usize = 8;

/// What a server says of one hosted model in its catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The name clients ask for.
    pub name: String,
    /// The input tensor's shape.
    pub input_shape: Vec<usize>,
    /// How many outputs (logits) the model has.
    pub outputs: usize,
    /// The server answers with the label alone (`veil-server --label-only`).
    pub label_only: bool,
    /// The backends a client may ask for.
    pub backends: Vec<Backend>,
    /// Where a session's material comes from.
    pub source: Preprocessing,
    /// The model's card, if the server declares one.
    pub card: Option<Card>,
}

/// Appends a card, or its absence.
pub fn write_card(w: &mut Writer, card: Option<&Card>) {
    let Some(card) = card else {
        w.u8(0);
        return;
    };
    w.u8(1);
    match &card.image {
        None => w.u8(0),
        Some(image) => {
            w.u8(1).u32(image.height).u32(image.width);
            w.u8(match image.channels {
                Channels::Gray => 0,
                Channels::Rgb => 1,
            });
            w.u32(image.scale.to_bits());
            for v in image.mean.iter().chain(&image.std) {
                w.u32(v.to_bits());
            }
            w.u8(match image.layout {
                Layout::Chw => 0,
                Layout::Hwc => 1,
            })
        }
    };
    match &card.classes {
        None => w.u8(0),
        Some(classes) => {
            w.u8(1).u32(classes.len() as u32);
            classes.iter().fold(w, |w, name| w.str(name))
        }
    };
}

/// Reads a card, or its absence; a card is validated.
pub fn read_card(r: &mut Reader<'_>) -> Result<Option<Card>, DecodeError> {
    if !flag(r, "card flag")? {
        return Ok(None);
    }
    let image = match flag(r, "image flag")? {
        false => None,
        true => Some(read_image(r)?),
    };
    let classes = match flag(r, "classes flag")? {
        false => None,
        true => {
            let n = count(r, MAX_CARD_CLASSES, "class count")?;
            let names = (0..n).map(|_| r.str(MAX_CLASS_NAME, "class name"));
            Some(names.collect::<Result<Vec<_>, _>>()?)
        }
    };
    let card = Card { image, classes };
    card.validate().map_err(|e| DecodeError::Invalid {
        what: "card",
        detail: e.to_string(),
    })?;
    Ok(Some(card))
}

fn read_image(r: &mut Reader<'_>) -> Result<ImagePrep, DecodeError> {
    let height = side(r, "image height")?;
    let width = side(r, "image width")?;
    let channels = match r.u8("image channels")? {
        0 => Channels::Gray,
        1 => Channels::Rgb,
        t => return Err(bad("image channels", t)),
    };
    let scale = f32::from_bits(r.u32("image scale")?);
    let mut per_channel = |what| {
        (0..channels.count())
            .map(|_| r.u32(what).map(f32::from_bits))
            .collect::<Result<Vec<_>, _>>()
    };
    let mean = per_channel("image mean")?;
    let std = per_channel("image std")?;
    let layout = match r.u8("image layout")? {
        0 => Layout::Chw,
        1 => Layout::Hwc,
        t => return Err(bad("image layout", t)),
    };
    Ok(ImagePrep {
        height,
        width,
        channels,
        scale,
        mean,
        std,
        layout,
    })
}

/// Appends a catalog.
pub fn write_catalog(w: &mut Writer, models: &[ModelInfo]) {
    w.u32(models.len() as u32);
    for m in models {
        w.str(&m.name).u32(m.input_shape.len() as u32);
        for d in &m.input_shape {
            w.u64(*d as u64);
        }
        w.u64(m.outputs as u64).u8(m.label_only as u8);
        w.u8(m.backends.len() as u8);
        for b in &m.backends {
            w.u8(super::backend_tag(*b));
        }
        match m.source {
            Preprocessing::Dealer => w.u8(0),
            Preprocessing::TwoParty(linear, ot) => w.u8(1).u8(linear_code(linear)).u8(ot_code(ot)),
        };
        write_card(w, m.card.as_ref());
    }
}

/// Reads a catalog.
pub fn read_catalog(r: &mut Reader<'_>) -> Result<Vec<ModelInfo>, DecodeError> {
    let n = count(r, MAX_MODELS, "model count")?;
    (0..n).map(|_| read_model(r)).collect()
}

fn read_model(r: &mut Reader<'_>) -> Result<ModelInfo, DecodeError> {
    let name = r.str(MAX_MODEL_NAME, "model name")?;
    let rank = count(r, MAX_RANK, "input rank")?;
    let input_shape = (0..rank)
        .map(|_| dimension(r, "input dimension"))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = dimension(r, "output count")?;
    let label_only = flag(r, "label-only flag")?;
    let backends = usize::from(r.u8("backend count")?);
    if backends > MAX_BACKENDS {
        return Err(too_many("backend count", backends, MAX_BACKENDS));
    }
    let backends = (0..backends)
        .map(|_| super::read_backend(r))
        .collect::<Result<Vec<_>, _>>()?;
    let source = match r.u8("material source")? {
        0 => Preprocessing::Dealer,
        1 => Preprocessing::TwoParty(read_linear(r)?, read_ot(r)?),
        t => return Err(bad("material source", t)),
    };
    let card = read_card(r)?;
    Ok(ModelInfo {
        name,
        input_shape,
        outputs,
        label_only,
        backends,
        source,
        card,
    })
}

fn flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        t => Err(bad(what, t)),
    }
}

fn count(r: &mut Reader<'_>, max: usize, what: &'static str) -> Result<usize, DecodeError> {
    let n = r.u32(what)? as usize;
    if n > max {
        return Err(too_many(what, n, max));
    }
    Ok(n)
}

fn dimension(r: &mut Reader<'_>, what: &'static str) -> Result<usize, DecodeError> {
    match r.u64(what)? {
        d @ 1.. if d <= MAX_LEN as u64 => Ok(d as usize),
        d => Err(DecodeError::Invalid {
            what,
            detail: format!("{d} is outside 1..={MAX_LEN}"),
        }),
    }
}

fn side(r: &mut Reader<'_>, what: &'static str) -> Result<u32, DecodeError> {
    match r.u32(what)? {
        s @ 1.. if s <= MAX_SIDE => Ok(s),
        s => Err(DecodeError::Invalid {
            what,
            detail: format!("{s} is outside 1..={MAX_SIDE}"),
        }),
    }
}

fn too_many(what: &'static str, n: usize, max: usize) -> DecodeError {
    DecodeError::Invalid {
        what,
        detail: format!("{n} exceeds the limit {max}"),
    }
}
