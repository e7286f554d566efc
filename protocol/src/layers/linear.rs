//! A linear layer `y = W·x + b` on additive shares, with a matrix triple.
//!
//! The server holds W. Setup (once per client session): the server sends the client
//! `E = W − U`, U being the dealer's uniform session mask. Per query the client holds a
//! fresh uniform V and a share of U·V; the server holds the other share. Online the client
//! sends `F = x_c − V` (uniform: V masks it) and takes `E·V + [UV]_c` as its output share,
//! which it computed offline; the server takes `W·(x_s + F) + [UV]_s + b`. The shares sum
//! to `W·x + b`. Online cost: one message of `8 · cols` bytes, one round.

use crate::channel::{Channel, Transport};
use crate::codec::Reader;
use crate::error::ProtocolError;
use crate::linalg::matvec;
use crate::material::LinearShare;
use crate::plan::LinearWeights;
use crate::ring::Ring;

/// The client's per-query state for one linear layer, computed offline.
#[derive(Debug)]
pub struct PreparedLinear {
    mask: Vec<Ring>,
    output: Vec<Ring>,
}

impl PreparedLinear {
    /// The client's output share, known before the online phase.
    pub fn output(&self) -> &[Ring] {
        &self.output
    }
}

/// The client's offline step: its output share `E·V + [UV]_c`.
pub fn client_prepare(
    masked_weights: &[Ring],
    rows: usize,
    cols: usize,
    material: LinearShare,
) -> Result<PreparedLinear, ProtocolError> {
    if material.mask.len() != cols || material.uv.len() != rows {
        return Err(ProtocolError::Material(
            "linear material of the wrong shape".into(),
        ));
    }
    let ev = matvec(masked_weights, rows, cols, &material.mask);
    Ok(PreparedLinear {
        output: crate::share::add(&ev, &material.uv),
        mask: material.mask,
    })
}

/// The client's online step: sends `F = x_c − V`, returns its output share.
pub fn client_online<T: Transport>(
    ch: &mut Channel<T>,
    x: &[Ring],
    prepared: PreparedLinear,
) -> Result<Vec<Ring>, ProtocolError> {
    if x.len() != prepared.mask.len() {
        return Err(ProtocolError::Misuse(
            "input length differs from the layer's",
        ));
    }
    let f = crate::share::sub(x, &prepared.mask);
    let mut w = crate::codec::Writer::with_capacity(8 * f.len());
    w.ring(&f);
    ch.send(&w.into_bytes())?;
    Ok(prepared.output)
}

/// The server's online step: receives F, returns `W·(x_s + F) + [UV]_s + b`.
/// `x` is the server's input share, `None` for the first layer (the client holds it all).
pub fn server_online<T: Transport>(
    ch: &mut Channel<T>,
    weights: &LinearWeights,
    x: Option<&[Ring]>,
    material: LinearShare,
) -> Result<Vec<Ring>, ProtocolError> {
    if material.uv.len() != weights.rows {
        return Err(ProtocolError::Material(
            "linear material of the wrong shape".into(),
        ));
    }
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let f = r.ring(weights.cols, "masked input F")?;
    r.finish()?;
    let z = match x {
        Some(x) => crate::share::add(x, &f),
        None => f,
    };
    let wz = matvec(&weights.w, weights.rows, weights.cols, &z);
    Ok((0..weights.rows)
        .map(|i| {
            wz[i]
                .wrapping_add(material.uv[i])
                .wrapping_add(weights.bias[i])
        })
        .collect())
}

/// The server's setup: `E = W − U` for one layer, sent to the client.
pub fn server_setup<T: Transport>(
    ch: &mut Channel<T>,
    weights: &LinearWeights,
    mask: &[Ring],
) -> Result<(), ProtocolError> {
    let e = crate::share::sub(&weights.w, mask);
    let mut w = crate::codec::Writer::with_capacity(8 * e.len());
    w.ring(&e);
    ch.send(&w.into_bytes())?;
    Ok(())
}

/// The client's setup: receives `E` for one `rows × cols` layer.
pub fn client_setup<T: Transport>(
    ch: &mut Channel<T>,
    rows: usize,
    cols: usize,
) -> Result<Vec<Ring>, ProtocolError> {
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let e = r.ring(rows * cols, "masked weights E")?;
    r.finish()?;
    Ok(e)
}
