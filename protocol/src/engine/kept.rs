//! A query's ready material as bytes, so it can wait on disk for a later connection
//! (`veil-client precompute`): after the offline phase each party's share of a query needs
//! nothing of the session it was made in — with a dealer the client's linear outputs
//! already hold E·V; a garbled layer carries its own Δ or hash key and tweak counters.

use super::{ClientLayer, PreparedQuery, ServerLayer, ServerQuery, KINDS_DIFFER};
use crate::codec::{Reader, Writer};
use crate::error::ProtocolError;
use crate::plan::{LayerKind, Plan};
use crate::stored::Stored;

const LINEAR: u8 = 0;
const RELU: u8 = 1;
const GARBLED: u8 = 2;

impl ServerQuery {
    /// The server's material for this query, to be kept until the query comes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.layers.len() as u32);
        for layer in &self.layers {
            match layer {
                ServerLayer::Linear(s) => put(&mut w, LINEAR, s),
                ServerLayer::Relu(s) => put(&mut w, RELU, s),
                ServerLayer::Garbled(g) => put(&mut w, GARBLED, g),
            }
        }
        w.into_bytes()
    }

    /// Reads what [`ServerQuery::to_bytes`] wrote, checking its layers against `plan`.
    pub fn from_bytes(plan: &Plan, bytes: &[u8]) -> Result<ServerQuery, ProtocolError> {
        let layers = read(plan, bytes, |r, linear, tag| {
            Ok(match (linear, tag) {
                (true, LINEAR) => ServerLayer::Linear(Stored::get(r)?),
                (false, RELU) => ServerLayer::Relu(Stored::get(r)?),
                (false, GARBLED) => ServerLayer::Garbled(Stored::get(r)?),
                _ => return Err(KINDS_DIFFER),
            })
        })?;
        Ok(ServerQuery { layers })
    }
}

impl PreparedQuery {
    /// The client's prepared query, to be kept until its input comes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.layers.len() as u32);
        for layer in &self.layers {
            match layer {
                ClientLayer::Linear(p) => put(&mut w, LINEAR, p),
                ClientLayer::Relu(s) => put(&mut w, RELU, s),
                ClientLayer::Garbled(g) => put(&mut w, GARBLED, g),
            }
        }
        w.into_bytes()
    }

    /// Reads what [`PreparedQuery::to_bytes`] wrote, checking its layers against `plan`.
    pub fn from_bytes(plan: &Plan, bytes: &[u8]) -> Result<PreparedQuery, ProtocolError> {
        let layers = read(plan, bytes, |r, linear, tag| {
            Ok(match (linear, tag) {
                (true, LINEAR) => ClientLayer::Linear(Stored::get(r)?),
                (false, RELU) => ClientLayer::Relu(Stored::get(r)?),
                (false, GARBLED) => ClientLayer::Garbled(Stored::get(r)?),
                _ => return Err(KINDS_DIFFER),
            })
        })?;
        Ok(PreparedQuery { layers })
    }
}

fn put<T: Stored>(w: &mut Writer, tag: u8, value: &T) {
    w.u8(tag);
    value.put(w);
}

/// Reads one layer per plan layer with `layer(reader, is_linear, tag)`.
fn read<L>(
    plan: &Plan,
    bytes: &[u8],
    mut layer: impl FnMut(&mut Reader<'_>, bool, u8) -> Result<L, ProtocolError>,
) -> Result<Vec<L>, ProtocolError> {
    let mut r = Reader::new(bytes);
    if r.u32("layer count")? as usize != plan.layers.len() {
        return Err(ProtocolError::Material(
            "a kept query has another layer count than the plan".into(),
        ));
    }
    let layers = plan
        .layers
        .iter()
        .map(|l| {
            let tag = r.u8("layer kind")?;
            layer(&mut r, matches!(l.kind, LayerKind::Linear(_)), tag)
        })
        .collect::<Result<Vec<L>, ProtocolError>>()?;
    r.finish()?;
    Ok(layers)
}
