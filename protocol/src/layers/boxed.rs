//! The type-erased form of a [`LayerProtocol`], which the engine keeps in a list.
//!
//! A protocol's session state, material and ready states are types of its own. Each object
//! here holds one of them together with the protocol that made it, and each step hands its
//! result on in the next such object: a layer's material can only ever reach its own
//! protocol's offline step, and what that makes only its own online step.

use std::sync::Arc;

use super::{
    ClientCx, ClientMake, Clocks, Half, Inputs, LayerProtocol, LayerSource, ServerCx, ServerMake,
};
use crate::channel::Link;
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::ProtocolError;
use crate::material::{Draw, LinearPrep, OtKind, Preprocessing};
use crate::plan::LinearWeights;
use crate::prep::PairsAhead;
use crate::ring::Ring;
use crate::stored::Stored;

/// One layer's protocol, for its shape: costs, the dealer's drawing, and the start of each
/// party's session.
pub(crate) trait Layer: Send + Sync {
    /// See [`LayerProtocol::online_cost`].
    fn online_cost(&self, clocks: &mut Clocks) -> u64;
    /// See [`LayerProtocol::setup_bytes`].
    fn setup_bytes(&self) -> u64;
    /// See [`LayerProtocol::two_party_bytes`].
    fn two_party_bytes(&self, linear: LinearPrep, ot: OtKind) -> Result<u64, ProtocolError>;
    /// See [`LayerProtocol::mask_len`].
    fn mask_len(&self) -> usize;
    /// See [`LayerProtocol::spends`].
    fn spends(&self) -> Option<PairsAhead>;
    /// Bytes of corrections the dealer sends the client for this layer, per query.
    fn correction_len(&self) -> usize;
    /// The dealer draws both sides of this layer's material for one query.
    fn deal(&self, d: &mut Draw<'_>, u: Option<&[Ring]>) -> Result<(), DecodeError>;
    /// The server's setup of this layer.
    fn server_setup(
        self: Arc<Self>,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        source: LayerSource<'_>,
    ) -> Result<Arc<dyn ServerLayer>, ProtocolError>;
    /// The client's setup of this layer.
    fn client_setup(
        self: Arc<Self>,
        ch: &mut Link,
        source: Preprocessing,
    ) -> Result<Arc<dyn ClientLayer>, ProtocolError>;
    /// Reads a server step that [`ServerStep::put`] wrote for this protocol.
    fn load_server(self: Arc<Self>, r: &mut Reader<'_>)
        -> Result<Box<dyn ServerStep>, DecodeError>;
    /// Reads a client step that [`ClientStep::put`] wrote for this protocol.
    fn load_client(self: Arc<Self>, r: &mut Reader<'_>)
        -> Result<Box<dyn ClientStep>, DecodeError>;
}

/// One layer at the server, set up for a session.
pub(crate) trait ServerLayer: Send + Sync {
    /// This layer's material from the dealer's seed.
    fn expand(self: Arc<Self>, d: &mut Draw<'_>) -> Result<Box<dyn ServerPiece>, ProtocolError>;
    /// See [`LayerProtocol::server_ahead`].
    fn ahead(
        &self,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError>;
    /// This layer's material made with the client.
    fn make(
        self: Arc<Self>,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<Box<dyn ServerPiece>, ProtocolError>;
}

/// One layer's material for one query at the server.
pub(crate) trait ServerPiece: Send {
    /// The offline step.
    fn offline(
        self: Box<Self>,
        ch: &mut Link,
        cx: &mut ServerCx<'_>,
    ) -> Result<Box<dyn ServerStep>, ProtocolError>;
}

/// One layer of one query at the server, ready for the online phase.
pub(crate) trait ServerStep: Send {
    /// Appends the protocol's tag and the ready state.
    fn put(&self, w: &mut Writer);
    /// The online step: the server's output share.
    fn online(
        self: Box<Self>,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError>;
}

/// One layer at the client, set up for a session.
pub(crate) trait ClientLayer: Send + Sync {
    /// This layer's material from the dealer's seed and corrections.
    fn expand(self: Arc<Self>, d: &mut Draw<'_>) -> Result<Box<dyn ClientPiece>, ProtocolError>;
    /// See [`LayerProtocol::client_ahead`].
    fn ahead(
        &self,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError>;
    /// This layer's material made with the server.
    fn make(
        self: Arc<Self>,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<Box<dyn ClientPiece>, ProtocolError>;
}

/// One layer's material for one query at the client.
pub(crate) trait ClientPiece: Send {
    /// The offline step.
    fn offline(
        self: Box<Self>,
        ch: &mut Link,
        cx: &mut ClientCx<'_>,
    ) -> Result<Box<dyn ClientStep>, ProtocolError>;
}

/// One layer of one query at the client, ready for the online phase.
pub(crate) trait ClientStep: Send {
    /// Appends the protocol's tag and the ready state.
    fn put(&self, w: &mut Writer);
    /// The client's output share, if known before the online phase.
    fn known_output(&self) -> Option<&[Ring]>;
    /// The online step: the client's output share.
    fn online(
        self: Box<Self>,
        ch: &mut Link,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError>;
}

const NO_SIDE: ProtocolError = ProtocolError::Internal("material drawn without this party's side");

impl<P: LayerProtocol> Layer for P {
    fn online_cost(&self, clocks: &mut Clocks) -> u64 {
        LayerProtocol::online_cost(self, clocks)
    }

    fn setup_bytes(&self) -> u64 {
        LayerProtocol::setup_bytes(self)
    }

    fn two_party_bytes(&self, linear: LinearPrep, ot: OtKind) -> Result<u64, ProtocolError> {
        LayerProtocol::two_party_bytes(self, linear, ot)
    }

    fn mask_len(&self) -> usize {
        LayerProtocol::mask_len(self)
    }

    fn spends(&self) -> Option<PairsAhead> {
        LayerProtocol::spends(self)
    }

    fn correction_len(&self) -> usize {
        let mut d = Draw::counting();
        // Counting reads and writes nothing, so it cannot fail.
        let _ = self.draw(&mut d, None);
        d.counted()
    }

    fn deal(&self, d: &mut Draw<'_>, u: Option<&[Ring]>) -> Result<(), DecodeError> {
        self.draw(d, u).map(drop)
    }

    fn server_setup(
        self: Arc<Self>,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        source: LayerSource<'_>,
    ) -> Result<Arc<dyn ServerLayer>, ProtocolError> {
        let state = LayerProtocol::server_setup(&*self, ch, weights, source)?;
        Ok(Arc::new(ServerOf {
            protocol: self,
            state,
        }))
    }

    fn client_setup(
        self: Arc<Self>,
        ch: &mut Link,
        source: Preprocessing,
    ) -> Result<Arc<dyn ClientLayer>, ProtocolError> {
        let state = LayerProtocol::client_setup(&*self, ch, source)?;
        Ok(Arc::new(ClientOf {
            protocol: self,
            state,
        }))
    }

    fn load_server(
        self: Arc<Self>,
        r: &mut Reader<'_>,
    ) -> Result<Box<dyn ServerStep>, DecodeError> {
        read_tag::<P>(r)?;
        Ok(Box::new(ServerStepOf {
            ready: P::ServerReady::get(r)?,
            protocol: self,
        }))
    }

    fn load_client(
        self: Arc<Self>,
        r: &mut Reader<'_>,
    ) -> Result<Box<dyn ClientStep>, DecodeError> {
        read_tag::<P>(r)?;
        Ok(Box::new(ClientStepOf {
            ready: P::ClientReady::get(r)?,
            protocol: self,
        }))
    }
}

fn read_tag<P: LayerProtocol>(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    match r.u8("layer kind")? {
        t if t == P::TAG => Ok(()),
        t => Err(DecodeError::Invalid {
            what: "layer kind",
            detail: format!(
                "a kept layer of kind {t} where the plan has kind {}",
                P::TAG
            ),
        }),
    }
}

/// A protocol with the server's session state for its layer.
struct ServerOf<P: LayerProtocol> {
    protocol: Arc<P>,
    state: P::ServerSession,
}

/// A protocol's material for one query at the server, with the layer it is for.
struct ServerPieceOf<P: LayerProtocol> {
    layer: Arc<ServerOf<P>>,
    material: P::ServerMaterial,
}

/// A protocol's ready state for one query at the server.
struct ServerStepOf<P: LayerProtocol> {
    protocol: Arc<P>,
    ready: P::ServerReady,
}

impl<P: LayerProtocol> ServerLayer for ServerOf<P> {
    fn expand(self: Arc<Self>, d: &mut Draw<'_>) -> Result<Box<dyn ServerPiece>, ProtocolError> {
        let (material, _) = self.protocol.draw(d, None)?;
        let material = material.ok_or(NO_SIDE)?;
        Ok(Box::new(ServerPieceOf {
            layer: self,
            material,
        }))
    }

    fn ahead(
        &self,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        self.protocol.server_ahead(&self.state, cx, ch, half)
    }

    fn make(
        self: Arc<Self>,
        cx: &mut ServerMake<'_>,
        ch: &mut Link,
    ) -> Result<Box<dyn ServerPiece>, ProtocolError> {
        let material = self.protocol.server_make(&self.state, cx, ch)?;
        Ok(Box::new(ServerPieceOf {
            layer: self,
            material,
        }))
    }
}

impl<P: LayerProtocol> ServerPiece for ServerPieceOf<P> {
    fn offline(
        self: Box<Self>,
        ch: &mut Link,
        cx: &mut ServerCx<'_>,
    ) -> Result<Box<dyn ServerStep>, ProtocolError> {
        let protocol = self.layer.protocol.clone();
        let ready = protocol.server_offline(ch, cx, self.material)?;
        Ok(Box::new(ServerStepOf { protocol, ready }))
    }
}

impl<P: LayerProtocol> ServerStep for ServerStepOf<P> {
    fn put(&self, w: &mut Writer) {
        w.u8(P::TAG);
        self.ready.put(w);
    }

    fn online(
        self: Box<Self>,
        ch: &mut Link,
        weights: Option<&LinearWeights>,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        self.protocol.server_online(ch, weights, self.ready, input)
    }
}

/// A protocol with the client's session state for its layer.
struct ClientOf<P: LayerProtocol> {
    protocol: Arc<P>,
    state: P::ClientSession,
}

/// A protocol's material for one query at the client, with the layer it is for.
struct ClientPieceOf<P: LayerProtocol> {
    layer: Arc<ClientOf<P>>,
    material: P::ClientMaterial,
}

/// A protocol's ready state for one query at the client.
struct ClientStepOf<P: LayerProtocol> {
    protocol: Arc<P>,
    ready: P::ClientReady,
}

impl<P: LayerProtocol> ClientLayer for ClientOf<P> {
    fn expand(self: Arc<Self>, d: &mut Draw<'_>) -> Result<Box<dyn ClientPiece>, ProtocolError> {
        let (_, material) = self.protocol.draw(d, None)?;
        let material = material.ok_or(NO_SIDE)?;
        Ok(Box::new(ClientPieceOf {
            layer: self,
            material,
        }))
    }

    fn ahead(
        &self,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
        half: Half,
    ) -> Result<(), ProtocolError> {
        self.protocol.client_ahead(&self.state, cx, ch, half)
    }

    fn make(
        self: Arc<Self>,
        cx: &mut ClientMake<'_>,
        ch: &mut Link,
    ) -> Result<Box<dyn ClientPiece>, ProtocolError> {
        let material = self.protocol.client_make(&self.state, cx, ch)?;
        Ok(Box::new(ClientPieceOf {
            layer: self,
            material,
        }))
    }
}

impl<P: LayerProtocol> ClientPiece for ClientPieceOf<P> {
    fn offline(
        self: Box<Self>,
        ch: &mut Link,
        cx: &mut ClientCx<'_>,
    ) -> Result<Box<dyn ClientStep>, ProtocolError> {
        let layer = &self.layer;
        let ready = layer
            .protocol
            .client_offline(ch, cx, &layer.state, self.material)?;
        Ok(Box::new(ClientStepOf {
            protocol: layer.protocol.clone(),
            ready,
        }))
    }
}

impl<P: LayerProtocol> ClientStep for ClientStepOf<P> {
    fn put(&self, w: &mut Writer) {
        w.u8(P::TAG);
        self.ready.put(w);
    }

    fn known_output(&self) -> Option<&[Ring]> {
        P::known_output(&self.ready)
    }

    fn online(
        self: Box<Self>,
        ch: &mut Link,
        input: Inputs<'_>,
    ) -> Result<Vec<Ring>, ProtocolError> {
        self.protocol.client_online(ch, self.ready, input)
    }
}
