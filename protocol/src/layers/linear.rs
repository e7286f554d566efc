//! A linear layer `y = W ⋆ x + b` on additive shares, with a matrix triple.
//!
//! `W ⋆ x` is any map bilinear in the weights and the input ([`Linear::apply`]: a dense
//! layer, a convolution, either after a sum-pool). The server holds W. Setup (once per
//! client session): the server sends the client `E = W − U`, U being the dealer's uniform
//! session mask. Per query the client holds a fresh uniform V and a share of `U ⋆ V`; the
//! server holds the other share. Online the client sends `F = x_c − V` (uniform: V masks
//! it) and takes `E ⋆ V + [U⋆V]_c` as its output share, which it computed offline; the
//! server takes `W ⋆ (x_s + F) + [U⋆V]_s + b`. The shares sum to `W ⋆ x + b`.
//!
//! Without a dealer there is no U and no E: the parties make shares of `W ⋆ V` by
//! oblivious transfer ([`crate::prep`]), the client's output share is `[W⋆V]_c` and the
//! server's steps are unchanged, with `[W⋆V]_s` in place of `[U⋆V]_s`.
//!
//! A residual input r (an earlier ReLU's output, scale 2^f) adds `2^f · r`. So that the
//! client's output share stays known offline (the garbled-circuit ReLU after it needs that
//! for its OTs), the client re-shares: it draws a uniform T offline, adds `2^f · T` to its
//! share, and sends `G = r_c − T` with F; the server adds `2^f · (r_s + G)`.
//! Online cost: one message of `8 · (inputs + residual outputs)` bytes, one round.

use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::material::LinearShare;
use crate::plan::{Linear, LinearWeights};
use crate::prg::Prg;
use crate::ring::Ring;
use crate::share;
use crate::stored::Stored;

/// The client's per-query state for one linear layer, computed offline.
#[derive(Debug)]
pub struct PreparedLinear {
    mask: Vec<Ring>,
    /// T, the re-sharing mask of the residual input, if the layer has one.
    residual_mask: Option<Vec<Ring>>,
    output: Vec<Ring>,
}

impl PreparedLinear {
    /// The client's output share, known before the online phase.
    pub fn output(&self) -> &[Ring] {
        &self.output
    }
}

impl Stored for PreparedLinear {
    fn put(&self, w: &mut Writer) {
        self.mask.put(w);
        self.residual_mask.put(w);
        self.output.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PreparedLinear {
            mask: Stored::get(r)?,
            residual_mask: Stored::get(r)?,
            output: Stored::get(r)?,
        })
    }
}

/// Payload bytes of the layer's online message.
pub fn online_bytes(layer: &Linear) -> usize {
    let residual = layer.residual.map_or(0, |_| layer.output_len());
    8 * (layer.input_len() + residual)
}

/// The client's offline step: its output share `E ⋆ V + [U⋆V]_c (+ 2^f · T)` with a
/// dealer; without one (`masked_weights` = `None`, its material holding `[W⋆V]_c`),
/// `[W⋆V]_c (+ 2^f · T)`.
pub fn client_prepare(
    masked_weights: Option<&[Ring]>,
    layer: &Linear,
    f: u32,
    material: LinearShare,
) -> Result<PreparedLinear, ProtocolError> {
    if material.mask.len() != layer.input_len() || material.uv.len() != layer.output_len() {
        return Err(ProtocolError::Material(
            "linear material of the wrong shape".into(),
        ));
    }
    let mut output = match masked_weights {
        Some(e) => share::add(&layer.apply(e, &material.mask), &material.uv),
        None => material.uv,
    };
    let residual_mask = layer.residual.map(|_| {
        let t = Prg::from_os().ring_vec(output.len());
        for (o, t) in output.iter_mut().zip(&t) {
            *o = o.wrapping_add(t << f);
        }
        t
    });
    Ok(PreparedLinear {
        mask: material.mask,
        residual_mask,
        output,
    })
}

/// The client's online step: sends `F = x_c − V` (and `G = r_c − T` for a residual
/// input `r_c`), returns its output share.
pub fn client_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    x: &[Ring],
    residual: Option<&[Ring]>,
    prepared: PreparedLinear,
) -> Result<Vec<Ring>, ProtocolError> {
    if x.len() != prepared.mask.len() {
        return Err(ProtocolError::Misuse(
            "input length differs from the layer's",
        ));
    }
    let mut w = Writer::with_capacity(8 * (x.len() + prepared.output.len()));
    w.ring(&share::sub(x, &prepared.mask));
    match (residual, &prepared.residual_mask) {
        (Some(r), Some(t)) if r.len() == t.len() => w.ring(&share::sub(r, t)),
        (None, None) => &mut w,
        _ => return Err(ProtocolError::Misuse("the residual input does not fit")),
    };
    ch.send(&w.into_bytes())?;
    Ok(prepared.output)
}

/// The server's online step: receives F (and G), returns
/// `W ⋆ (x_s + F) + [U⋆V]_s + b (+ 2^f · (r_s + G))`. `x` is the server's input share,
/// `None` for the first layer (the client holds it all); `residual` its share of the
/// residual input.
pub fn server_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    layer: &Linear,
    weights: &LinearWeights,
    f: u32,
    x: Option<&[Ring]>,
    residual: Option<&[Ring]>,
    material: LinearShare,
) -> Result<Vec<Ring>, ProtocolError> {
    let rows = layer.output_len();
    if material.uv.len() != rows || weights.bias.len() != rows {
        return Err(ProtocolError::Material(
            "linear material of the wrong shape".into(),
        ));
    }
    if residual.map(<[Ring]>::len) != layer.residual.map(|_| rows) {
        return Err(ProtocolError::Misuse("the residual input does not fit"));
    }
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let masked = r.ring(layer.input_len(), "masked input F")?;
    let g = match residual {
        Some(_) => Some(r.ring(rows, "re-shared residual G")?),
        None => None,
    };
    r.finish()?;
    let z = match x {
        Some(x) => share::add(x, &masked),
        None => masked,
    };
    let mut y = layer.apply(&weights.w, &z);
    for (i, v) in y.iter_mut().enumerate() {
        *v = v.wrapping_add(material.uv[i]).wrapping_add(weights.bias[i]);
    }
    if let (Some(rs), Some(g)) = (residual, g) {
        for ((v, rs), g) in y.iter_mut().zip(rs).zip(&g) {
            *v = v.wrapping_add(rs.wrapping_add(*g) << f);
        }
    }
    Ok(y)
}

/// The server's setup: `E = W − U` for one layer, sent to the client.
pub fn server_setup<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    weights: &LinearWeights,
    mask: &[Ring],
) -> Result<(), ProtocolError> {
    let e = share::sub(&weights.w, mask);
    let mut w = Writer::with_capacity(8 * e.len());
    w.ring(&e);
    ch.send(&w.into_bytes())?;
    Ok(())
}

/// The client's setup: receives `E` for one layer.
pub fn client_setup<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    layer: &Linear,
) -> Result<Vec<Ring>, ProtocolError> {
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let e = r.ring(layer.op.weight_len(), "masked weights E")?;
    r.finish()?;
    Ok(e)
}
