//! Queries made ahead of time on the server's side: its shares wait in the state folder
//! (one batch folder per client key and batch) until the client spends them.
//!
//! Each batch's header names the model, a digest of its plan and weights, and the
//! backend: a query made for other weights would give a wrong answer, so a model that
//! changed refuses its old batches. A piece is removed from disk before its online phase
//! begins ([`veil_net::Batch::take`]), so a crash, a hang-up or a replayed `Spend` can
//! never run it twice.

use std::ops::Range;

use sha2::{Digest, Sha256};
use veil_net::{Batch, QuicTransport, Store};
use veil_protocol::channel::{Channel, ChannelError};
use veil_protocol::codec::{DecodeError, Reader, Writer};
use veil_protocol::engine::{self, ServerQuery};
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::wire::{BatchId, ToClient, ToServer};

use crate::session::{refuse, send_stats, HostedModel, Open, ServeError, ServerConfig};

/// Where the server keeps its clients' precomputed queries, and how many per client.
pub struct Precomputed {
    /// The store (by default `precomputed/` in the state folder).
    pub store: Store,
    /// Pieces one client may have waiting at once.
    pub max_per_client: usize,
}

/// What a batch was made for.
struct Header {
    model: String,
    digest: [u8; 32],
    backend: Backend,
}

impl Header {
    fn of(hosted: &HostedModel, backend: Backend) -> Header {
        Header {
            model: hosted.name.clone(),
            digest: digest(hosted),
            backend,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.model)
            .bytes(&self.digest)
            .u8((self.backend == Backend::Gc) as u8);
        w.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header {
            model: r.str(256, "model name")?,
            digest: r.array("model digest")?,
            backend: match r.u8("backend")? {
                0 => Backend::Gmw,
                1 => Backend::Gc,
                t => {
                    return Err(DecodeError::Invalid {
                        what: "backend",
                        detail: format!("unknown tag {t}"),
                    })
                }
            },
        };
        r.finish()?;
        Ok(header)
    }
}

/// SHA-256 of the model's plan and weights: changes whenever either does.
fn digest(hosted: &HostedModel) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(hosted.plan.hash());
    for layer in &hosted.weights.linear {
        for v in layer.w.iter().chain(&layer.bias) {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().into()
}

/// Answers `Stash{batch, first, count}` in an open session: makes the material of the
/// queries `pieces` and keeps the server's shares, sending the client the meters after
/// each one is on disk. Returns the pieces made, or `None` if it refused (which ends the
/// session).
pub(crate) fn stash(
    open: &mut Open<'_>,
    config: &ServerConfig,
    client: &str,
    batch: BatchId,
    pieces: Range<u32>,
) -> Result<Option<usize>, ServeError> {
    let Some(kept) = &config.precomputed else {
        refuse(
            &mut open.ch,
            false,
            "this server does not keep precomputed queries".into(),
        )?;
        return Ok(None);
    };
    let header = Header::of(open.hosted, open.plan.backend);
    let batch = match open_for_stash(kept, client, batch, &header, pieces.len()) {
        Ok(b) => b,
        Err(Refusal(reason)) => {
            refuse(&mut open.ch, false, reason)?;
            return Ok(None);
        }
    };
    open.ch.send(&ToClient::Ready.encode())?;
    for piece in pieces.clone() {
        let query = open.offline()?;
        if !batch.put(piece, &query.to_bytes())? {
            return Err(ServeError::Stash(format!(
                "piece {piece} of batch {} is already stored",
                batch.id()
            )));
        }
        open.send_stats()?;
    }
    tracing::info!(
        "kept {} queries of {} for client {client} (batch {})",
        pieces.len(),
        open.hosted.name,
        batch.id()
    );
    Ok(Some(pieces.len()))
}

/// Why a stash or spend is refused, for the client.
struct Refusal(String);

impl From<veil_net::NetError> for Refusal {
    fn from(e: veil_net::NetError) -> Self {
        tracing::warn!("precomputed store: {e}");
        Refusal("the server cannot use its store of precomputed queries".into())
    }
}

/// The batch to add `count` pieces to: a new one, or the client's own for the same model
/// and backend; within the client's allowance.
fn open_for_stash(
    kept: &Precomputed,
    client: &str,
    id: BatchId,
    header: &Header,
    count: usize,
) -> Result<Batch, Refusal> {
    let held: usize = kept
        .store
        .batches(client)?
        .iter()
        .map(|b| b.pieces().map(|p| p.len()).unwrap_or(0))
        .sum();
    if held + count > kept.max_per_client {
        return Err(Refusal(format!(
            "this server keeps at most {} precomputed queries per client and holds {held} of \
             yours; spend some first, or ask for fewer",
            kept.max_per_client
        )));
    }
    match kept.store.batch(client, id)? {
        None => Ok(kept.store.create(client, id, &header.encode())?),
        Some(b) if b.header() == header.encode() => Ok(b),
        Some(_) => Err(Refusal(format!(
            "batch {id} was made for another model or backend; start a new batch"
        ))),
    }
}

/// Serves a connection that opened with `Spend{batch, piece}`: takes the server's piece
/// off the disk, then runs the query's online phase. Returns the queries answered.
pub(crate) fn spend(
    ch: &mut Channel<QuicTransport>,
    config: &ServerConfig,
    client: &str,
    batch: BatchId,
    piece: u32,
) -> Result<usize, ServeError> {
    let (hosted, plan, query) = match take(config, client, batch, piece) {
        Ok(found) => found,
        Err(Refusal(reason)) => {
            refuse(ch, false, reason)?;
            return Ok(0);
        }
    };
    ch.send(&ToClient::WelcomeKept { plan: plan.clone() }.encode())?;
    engine::server_online(ch, &plan, &hosted.weights, query)?;
    send_stats(ch, None)?;
    // Wait for the client's goodbye (or its hang-up), so the stats reach it before the
    // connection goes.
    match ch.recv() {
        Ok(msg) if ToServer::decode(&msg) == Ok(ToServer::Done) => Ok(1),
        Ok(_) => {
            refuse(
                ch,
                false,
                "a precomputed query's connection ends after it".into(),
            )?;
            Ok(1)
        }
        Err(ChannelError::Closed) => Ok(1),
        Err(e) => Err(e.into()),
    }
}

/// Finds the batch, checks it fits a hosted model as it is now, and takes the piece.
fn take<'a>(
    config: &'a ServerConfig,
    client: &str,
    id: BatchId,
    piece: u32,
) -> Result<(&'a HostedModel, Plan, ServerQuery), Refusal> {
    let kept = config
        .precomputed
        .as_ref()
        .ok_or_else(|| Refusal("this server does not keep precomputed queries".into()))?;
    let gone = || {
        Refusal(format!(
            "precomputed query {piece} of batch {id} was already spent or never made here"
        ))
    };
    let batch = kept.store.batch(client, id)?.ok_or_else(gone)?;
    let header =
        Header::decode(batch.header()).map_err(|_| Refusal(format!("batch {id} is damaged")))?;
    let hosted = config
        .models
        .iter()
        .find(|m| m.name == header.model && digest(m) == header.digest);
    let Some(hosted) = hosted else {
        batch.remove();
        return Err(Refusal(format!(
            "the model {:?} has changed or is no longer hosted since these queries were \
             made; they were discarded: run precompute again",
            header.model
        )));
    };
    let bytes = batch.take(piece)?.ok_or_else(gone)?;
    let plan = Plan {
        backend: header.backend,
        ..hosted.plan.clone()
    };
    let query = ServerQuery::from_bytes(&plan, &bytes).map_err(|e| {
        tracing::warn!("precomputed piece {piece} of batch {id}: {e}");
        Refusal(format!(
            "precomputed query {piece} of batch {id} is damaged"
        ))
    })?;
    Ok((hosted, plan, query))
}
