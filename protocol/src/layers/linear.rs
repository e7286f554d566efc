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
//! Without a dealer there is no U and no E: the parties make shares of `W ⋆ V` under the
//! client's RLWE key ([`crate::he`]: one round trip, a few hundred kilobytes per layer) or
//! by oblivious transfer ([`crate::prep`]: Gilboa's product with the layer as a sparse
//! matrix M(W), 1,024 bytes per column plus 260 per nonzero); the client's output share is
//! `[W⋆V]_c` and the server's steps are unchanged, with `[W⋆V]_s` in place of `[U⋆V]_s`.
//!
//! A residual input is re-shared so that the client's output share stays known offline
//! ([`super::residual`]).
//! Online cost: one message of `8 · (inputs + residual outputs)` bytes, one round. Setup
//! with a dealer: `8 · weights` bytes; the dealer's corrections, `8 · outputs` per query.

use rand_core::CryptoRngCore;

use super::{
    residual, ClientCx, ClientMake, Clocks, Half, Inputs, LayerProtocol, LayerSource, ServerCx,
    ServerMake,
};
use crate::channel::{Channel, Link, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::he::exchange::{HeLayer, ServerKernels};
use crate::material::{Draw, LinearPrep, LinearShare, OtKind, Pair, Preprocessing};
use crate::plan::{Linear, LinearWeights};
use crate::prep::{linear_bytes, mask_share, weights_share, LinearMatrix};
use crate::ring::{FixedPoint, Ring};
use crate::share;
use crate::stored::Stored;

/// The client's per-query state for one linear layer, computed offline.
pub struct PreparedLinear {
    mask: Vec<Ring>,
    /// T, the re-sharing mask of the residual input, if the layer has one.
    residual_mask: Option<Vec<Ring>>,
    output: Vec<Ring>,
}

redacted_debug!(PreparedLinear, |p: &PreparedLinear| p.output.len());

impl PreparedLinear {
    /// The client's output share, known before the online phase.
    pub fn output(&self) -> &[Ring] {
        &self.output
    }

    /// V, T (for a residual input) and the output share, for tests of the material.
    #[cfg(test)]
    pub(crate) fn parts(&self) -> (&[Ring], Option<&[Ring]>, &[Ring]) {
        (&self.mask, self.residual_mask.as_deref(), &self.output)
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
    8 * layer.input_len() + residual::online_bytes(residual)
}

/// The client's offline step: its output share `E ⋆ V + [U⋆V]_c (+ 2^f · T)` with a
/// dealer; without one (`masked_weights` = `None`, its material holding `[W⋆V]_c`),
/// `[W⋆V]_c (+ 2^f · T)`. T, for a residual input, comes from `rng`.
pub(crate) fn client_prepare(
    masked_weights: Option<&[Ring]>,
    layer: &Linear,
    f: u32,
    material: LinearShare,
    rng: &mut dyn CryptoRngCore,
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
    let residual_mask = layer
        .residual
        .map(|_| residual::client_mask(&mut output, f, rng));
    Ok(PreparedLinear {
        mask: material.mask,
        residual_mask,
        output,
    })
}

/// The client's online step: sends `F = x_c − V` (and `G = r_c − T` for a residual
/// input `r_c`), returns its output share.
pub(crate) fn client_online<T: Transport + ?Sized>(
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
        (Some(r), Some(t)) if r.len() == t.len() => residual::client_write(&mut w, r, t),
        (None, None) => {}
        _ => return Err(ProtocolError::Misuse("the residual input does not fit")),
    };
    ch.send(&w.into_bytes())?;
    Ok(prepared.output)
}

/// The server's online step: receives F (and G), returns
/// `W ⋆ (x_s + F) + [U⋆V]_s + b (+ 2^f · (r_s + G))`. `x` is the server's input share,
/// `None` for the first layer (the client holds it all); `residual` its share of the
/// residual input.
pub(crate) fn server_online<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    layer: &Linear,
    weights: &LinearWeights,
    f: u32,
    input: Inputs<'_>,
    material: LinearShare,
) -> Result<Vec<Ring>, ProtocolError> {
    let rows = layer.output_len();
    if material.uv.len() != rows || weights.bias.len() != rows {
        return Err(ProtocolError::Material(
            "linear material of the wrong shape".into(),
        ));
    }
    if input.residual.map(<[Ring]>::len) != layer.residual.map(|_| rows) {
        return Err(ProtocolError::Misuse("the residual input does not fit"));
    }
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let masked = r.ring(layer.input_len(), "masked input F")?;
    let g = match input.residual {
        Some(_) => Some(residual::server_read(&mut r, rows)?),
        None => None,
    };
    r.finish()?;
    let z = match input.x {
        Some(x) => share::add(x, &masked),
        None => masked,
    };
    let mut y = layer.apply(&weights.w, &z);
    for (i, v) in y.iter_mut().enumerate() {
        *v = v.wrapping_add(material.uv[i]).wrapping_add(weights.bias[i]);
    }
    if let (Some(rs), Some(g)) = (input.residual, g) {
        residual::server_add(&mut y, rs, &g, f);
    }
    Ok(y)
}

/// The layer's protocol: its shape, fixed point, and the width its consumer reads of its
/// outputs (64 for the last layer, `k` where a ReLU reads them).
pub(crate) struct LinearLayer {
    layer: Linear,
    fixed: FixedPoint,
    bits: u32,
}

impl LinearLayer {
    /// The protocol of a layer of this shape whose outputs are read on `bits` bits.
    pub fn new(layer: Linear, fixed: FixedPoint, bits: u32) -> LinearLayer {
        LinearLayer { layer, fixed, bits }
    }
}

/// What the server keeps of the session: nothing with a dealer (W is passed in online);
/// without one, W laid out for its products: kernel polynomials, or the matrix M(W).
pub(crate) enum ServerSession {
    Dealer,
    He(Box<ServerKernels>),
    Ot {
        matrix: LinearMatrix,
        values: Vec<Ring>,
    },
}

/// What the client keeps of the session: E = W − U with a dealer; without one, the
/// layer's layout for the products, or M's pattern.
pub(crate) enum ClientSession {
    Dealer { masked_weights: Vec<Ring> },
    He(Box<HeLayer>),
    Ot { matrix: LinearMatrix },
}

const NOT_TWO_PARTY: ProtocolError =
    ProtocolError::Internal("two-party material in a session set up with a dealer");

impl LayerProtocol for LinearLayer {
    const TAG: u8 = 0;
    type ServerSession = ServerSession;
    type ClientSession = ClientSession;
    type ServerMaterial = LinearShare;
    type ClientMaterial = LinearShare;
    type ServerReady = LinearShare;
    type ClientReady = PreparedLinear;

    fn online_cost(&self, clocks: &mut Clocks) -> u64 {
        clocks.client_to_server();
        online_bytes(&self.layer) as u64
    }

    fn setup_bytes(&self) -> u64 {
        8 * self.layer.op.weight_len() as u64
    }

    fn two_party_bytes(&self, linear: LinearPrep, ot: OtKind) -> Result<u64, ProtocolError> {
        let (up, down) = match linear {
            LinearPrep::He => HeLayer::new(self.layer, self.bits).bytes(),
            LinearPrep::Ot => {
                let pattern = LinearMatrix::of(&self.layer)?;
                let (server, client) = linear_bytes(pattern.pattern(), ot);
                (server as u64, client as u64)
            }
        };
        Ok(up + down)
    }

    fn mask_len(&self) -> usize {
        self.layer.op.weight_len()
    }

    /// With the dealer's U: sends `E = W − U`. Without: lays W out for its products.
    fn server_setup(
        &self,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        source: LayerSource<'_>,
    ) -> Result<ServerSession, ProtocolError> {
        let weights = weights.ok_or(ProtocolError::Misuse("a linear layer without weights"))?;
        match source {
            LayerSource::Dealer(u) => {
                let e = share::sub(&weights.w, u);
                let mut w = Writer::with_capacity(8 * e.len());
                w.ring(&e);
                ch.send(&w.into_bytes())?;
                Ok(ServerSession::Dealer)
            }
            LayerSource::TwoParty(LinearPrep::He) => Ok(ServerSession::He(Box::new(
                HeLayer::new(self.layer, self.bits).kernels(&weights.w)?,
            ))),
            LayerSource::TwoParty(LinearPrep::Ot) => {
                let matrix = LinearMatrix::of(&self.layer)?;
                let values = matrix.weights(&weights.w)?;
                Ok(ServerSession::Ot { matrix, values })
            }
        }
    }

    /// With a dealer: receives E. Without: the layout of the products.
    fn client_setup(
        &self,
        ch: &mut Link,
        source: Preprocessing,
    ) -> Result<ClientSession, ProtocolError> {
        match source {
            Preprocessing::Dealer => {
                let msg = ch.recv()?;
                let mut r = Reader::new(&msg);
                let masked_weights = r.ring(self.layer.op.weight_len(), "masked weights E")?;
                r.finish()?;
                Ok(ClientSession::Dealer { masked_weights })
            }
            Preprocessing::TwoParty(LinearPrep::He, _) => Ok(ClientSession::He(Box::new(
                HeLayer::new(self.layer, self.bits),
            ))),
            Preprocessing::TwoParty(LinearPrep::Ot, _) => Ok(ClientSession::Ot {
                matrix: LinearMatrix::of(&self.layer)?,
            }),
        }
    }

    fn draw(&self, d: &mut Draw<'_>, u: Option<&[Ring]>) -> Result<Pair<LinearShare>, DecodeError> {
        d.linear(&self.layer, u)
    }

    /// Made ahead by RLWE: the server reads the client's encrypted mask.
    fn server_ahead(
        &self,
        session: &ServerSession,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        match (session, half) {
            (ServerSession::He(kernels), Half::In) => kernels.read_ahead(cx.he()?, ch),
            _ => Ok(()),
        }
    }

    /// Made ahead by RLWE: the client sends its encrypted mask.
    fn client_ahead(
        &self,
        session: &ClientSession,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        match (session, half) {
            (ClientSession::He(shape), Half::Out) => shape.upload_ahead(cx.he()?, ch),
            _ => Ok(()),
        }
    }

    fn server_make(
        &self,
        session: &ServerSession,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<LinearShare, ProtocolError> {
        let uv = match session {
            ServerSession::Dealer => return Err(NOT_TWO_PARTY),
            ServerSession::He(kernels) => kernels.make(cx.he()?, ch)?,
            ServerSession::Ot { matrix, values } => {
                weights_share(cx.ot()?, ch, matrix.pattern(), values)?
            }
        };
        Ok(LinearShare {
            mask: Vec::new(),
            uv,
        })
    }

    /// The client's fresh mask V, from the session's generator.
    fn client_make(
        &self,
        session: &ClientSession,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<LinearShare, ProtocolError> {
        match session {
            ClientSession::Dealer { .. } => Err(NOT_TWO_PARTY),
            ClientSession::He(shape) => {
                let (mask, uv) = shape.client_make(cx.he()?, ch)?;
                Ok(LinearShare { mask, uv })
            }
            ClientSession::Ot { matrix } => {
                let (mask, uv) = mask_share(cx.ot()?, ch, matrix.pattern())?;
                Ok(LinearShare { mask, uv })
            }
        }
    }

    fn server_offline(
        &self,
        _: &mut Link,
        _: &mut ServerCx<'_>,
        material: LinearShare,
    ) -> Result<LinearShare, ProtocolError> {
        Ok(material)
    }

    fn client_offline(
        &self,
        _: &mut Link,
        cx: &mut ClientCx<'_>,
        session: &ClientSession,
        material: LinearShare,
    ) -> Result<PreparedLinear, ProtocolError> {
        let e = match session {
            ClientSession::Dealer { masked_weights } => Some(masked_weights.as_slice()),
            ClientSession::He(_) | ClientSession::Ot { .. } => None,
        };
        client_prepare(e, &self.layer, self.fixed.f, material, &mut *cx.rng)
    }

    fn known_output(ready: &PreparedLinear) -> Option<&[Ring]> {
        Some(ready.output())
    }

    fn server_online(
        &self,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        material: LinearShare,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let weights = weights.ok_or(ProtocolError::Misuse("a linear layer without weights"))?;
        server_online(ch, &self.layer, weights, self.fixed.f, input, material)
    }

    fn client_online(
        &self,
        ch: &mut Link,
        prepared: PreparedLinear,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        let x = input.x.ok_or(ProtocolError::Misuse(
            "the client holds every layer's input",
        ))?;
        client_online(ch, x, input.residual, prepared)
    }
}
