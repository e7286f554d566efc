//! A query's ready material as bytes, so it can wait on disk for a later connection
//! (`veil-client precompute`): after the offline phase each party's share of a query needs
//! nothing of the session it was made in — with a dealer the client's linear outputs
//! already hold E·V; a garbled layer carries its own Δ or hash key and tweak counters.
//!
//! Layout: the layer count (u32), then per layer its protocol's tag (one byte) and its
//! ready state. Reading checks each layer against the plan's protocol for it.

use super::{PreparedQuery, ServerQuery};
use crate::codec::{Reader, Writer};
use crate::error::ProtocolError;
use crate::layers::{Layer, Stack};
use crate::plan::Plan;
use std::sync::Arc;

impl ServerQuery {
    /// The server's material for this query, to be kept until the query comes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.steps.len() as u32);
        self.steps.iter().for_each(|s| s.put(&mut w));
        w.into_bytes()
    }

    /// Reads what [`ServerQuery::to_bytes`] wrote, checking its layers against `plan`.
    pub fn from_bytes(plan: &Plan, bytes: &[u8]) -> Result<ServerQuery, ProtocolError> {
        let steps = read(plan, bytes, |layer, r| Ok(layer.load_server(r)?))?;
        Ok(ServerQuery { steps })
    }
}

impl PreparedQuery {
    /// The client's prepared query, to be kept until its input comes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.steps.len() as u32);
        self.steps.iter().for_each(|s| s.put(&mut w));
        w.into_bytes()
    }

    /// Reads what [`PreparedQuery::to_bytes`] wrote, checking its layers against `plan`.
    pub fn from_bytes(plan: &Plan, bytes: &[u8]) -> Result<PreparedQuery, ProtocolError> {
        let steps = read(plan, bytes, |layer, r| Ok(layer.load_client(r)?))?;
        Ok(PreparedQuery { steps })
    }
}

/// Reads one step per plan layer with `load(its protocol, reader)`.
fn read<S>(
    plan: &Plan,
    bytes: &[u8],
    mut load: impl FnMut(Arc<dyn Layer>, &mut Reader<'_>) -> Result<S, ProtocolError>,
) -> Result<Vec<S>, ProtocolError> {
    let mut r = Reader::new(bytes);
    if r.u32("layer count")? as usize != plan.layers.len() {
        return Err(ProtocolError::Material(
            "a kept query has another layer count than the plan".into(),
        ));
    }
    let steps = Stack::of(plan)
        .iter()
        .map(|layer| load(layer.clone(), &mut r))
        .collect::<Result<Vec<S>, ProtocolError>>()?;
    r.finish()?;
    Ok(steps)
}
