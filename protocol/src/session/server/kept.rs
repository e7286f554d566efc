//! Queries made ahead of time on the server's side: its shares wait in its store (one
//! batch per client key and batch id) until the client spends them.
//!
//! Each batch's header names the model, a digest of its plan and weights, and the
//! backend: a query made for other weights would give a wrong answer, so a model that
//! changed refuses its old batches. A piece is removed from disk before its online phase
//! begins ([`KeptBatch::take`]), so a crash, a hang-up or a replayed `Spend` can
//! never run it twice.

use std::ops::Range;

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::{out_of_turn, refuse, send_stats, Allowed, HostedModel, Hosting, Open, Served};
use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::engine::{self, ServerQuery};
use crate::plan::{Backend, Plan};
use crate::session::access::NOT_ALLOWED;
use crate::session::{recv_or_end, KeptBatch, KeptStore, SessionError};
use crate::wire::{BatchId, ToClient, ToServer};

/// Where the server keeps its clients' precomputed queries, and how many per client.
pub struct Precomputed<S> {
    /// The store (the state folder's `precomputed/` in the binary).
    pub store: S,
    /// Pieces one client may have waiting at once.
    pub max_per_client: usize,
}

/// What a batch was made for.
struct Header {
    model: String,
    digest: [u8; 32],
    backend: Backend,
    /// The queries answer with the label alone.
    label_only: bool,
}

impl Header {
    /// The header of queries of `hosted` made for the session's `plan`.
    fn of(hosted: &HostedModel, plan: &Plan) -> Header {
        Header {
            model: hosted.name.clone(),
            digest: digest(hosted),
            backend: plan.backend,
            label_only: plan.label_only(),
        }
    }

    /// One byte holds the backend (bit 0: GC) and label-only (bit 1), so that batches
    /// kept before label-only answers read as before.
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let answer = (self.backend == Backend::Gc) as u8 | (self.label_only as u8) << 1;
        w.str(&self.model).bytes(&self.digest).u8(answer);
        w.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(bytes);
        let (model, digest) = (r.str(256, "model name")?, r.array("model digest")?);
        let answer = r.u8("backend")?;
        if answer > 3 {
            return Err(DecodeError::Invalid {
                what: "backend",
                detail: format!("unknown tag {answer}"),
            });
        }
        let header = Header {
            model,
            digest,
            backend: if answer & 1 == 1 {
                Backend::Gc
            } else {
                Backend::Gmw
            },
            label_only: answer & 2 == 2,
        };
        r.finish()?;
        Ok(header)
    }

    /// The plan the queries were made for.
    fn plan(&self, hosted: &HostedModel) -> Result<Plan, Refusal> {
        let plan = Plan {
            backend: self.backend,
            ..hosted.plan.clone()
        };
        match self.label_only {
            false => Ok(plan),
            true => plan.with_label_only().map_err(|why| Refusal(why.0)),
        }
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

/// A stash asked for in an open session: `pieces` of `batch` to make now and keep.
pub struct Stashing<'h, T: Transport> {
    open: Open<'h, T>,
    batch: BatchId,
    pieces: Range<u32>,
}

impl<'h, T: Transport> Stashing<'h, T> {
    pub(super) fn new(open: Open<'h, T>, batch: BatchId, pieces: Range<u32>) -> Self {
        Stashing {
            open,
            batch,
            pieces,
        }
    }

    /// Makes the material of the queries asked for and keeps the server's shares for
    /// `client`, sending the client the meters after each one is kept. A refusal (no
    /// store, the client's allowance, another model's batch) ends the session: `Err` then
    /// holds how it ended.
    pub fn make<S: KeptStore>(
        self,
        client: &str,
        hosting: &Hosting<S>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Result<Open<'h, T>, Served>, SessionError> {
        let Stashing {
            mut open,
            batch,
            pieces,
        } = self;
        let Some(kept) = &hosting.precomputed else {
            let reason = "this server does not keep precomputed queries".to_string();
            return ended(&mut open, reason);
        };
        let header = Header::of(open.hosted, &open.plan);
        let batch = match open_for_stash(kept, client, batch, &header, pieces.len()) {
            Ok(b) => b,
            Err(Refusal(reason)) => return ended(&mut open, reason),
        };
        open.ch.send(&ToClient::Ready.encode())?;
        for piece in pieces {
            let query = open.offline(rng)?;
            if !batch.put(piece, &query.to_bytes())? {
                return Err(SessionError::Internal(
                    "a kept piece's index was used twice",
                ));
            }
            open.send_stats()?;
            open.queries += 1;
        }
        Ok(Ok(open))
    }
}

/// Refuses the stash, which ends the session.
fn ended<'h, T: Transport>(
    open: &mut Open<'h, T>,
    reason: String,
) -> Result<Result<Open<'h, T>, Served>, SessionError> {
    let served = refuse(&mut open.ch, false, reason)?;
    Ok(Err(Served {
        queries: open.queries,
        ..served
    }))
}

/// Why a stash or spend is refused, for the client.
struct Refusal(String);

/// The store's own failure is not the client's business: it is told only that the store
/// cannot be used.
impl From<SessionError> for Refusal {
    fn from(_: SessionError) -> Self {
        Refusal("the server cannot use its store of precomputed queries".into())
    }
}

/// The batch to add `count` pieces to: a new one, or the client's own for the same model
/// and backend; within the client's allowance.
fn open_for_stash<S: KeptStore>(
    kept: &Precomputed<S>,
    client: &str,
    id: BatchId,
    header: &Header,
    count: usize,
) -> Result<S::Batch, Refusal> {
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

/// A connection that opened with `Spend{batch, piece}`: the online phase of a query made
/// ahead of time is next.
pub struct Spend<T: Transport> {
    ch: Channel<T>,
    batch: BatchId,
    piece: u32,
}

impl<T: Transport> Spend<T> {
    pub(super) fn new(ch: Channel<T>, batch: BatchId, piece: u32) -> Self {
        Spend { ch, batch, piece }
    }

    /// Takes the server's piece out of the store, then runs the query's online phase and
    /// waits for the client's goodbye (or its hang-up), so the meters reach it.
    pub fn run<S: KeptStore>(
        self,
        client: &str,
        hosting: &Hosting<S>,
        allowed: &Allowed,
    ) -> Result<Served, SessionError> {
        let Spend {
            mut ch,
            batch,
            piece,
        } = self;
        let (hosted, plan, query) = match take(hosting, client, allowed, batch, piece) {
            Ok(found) => found,
            Err(Refusal(reason)) => return refuse(&mut ch, false, reason),
        };
        ch.send(&ToClient::WelcomeKept { plan: plan.clone() }.encode())?;
        engine::server_online(&mut ch, &plan, &hosted.weights, query)?;
        send_stats(&mut ch, None)?;
        let answered = Served {
            queries: 1,
            refused: None,
        };
        match recv_or_end(&mut ch)? {
            None => Ok(answered),
            Some(msg) => match ToServer::decode(&msg)? {
                ToServer::Done => Ok(answered),
                _ => out_of_turn(
                    &mut ch,
                    "a precomputed query's connection ends after it".into(),
                ),
            },
        }
    }
}

/// Finds the batch, checks it fits a hosted model as it is now, and takes the piece.
fn take<'a, S: KeptStore>(
    hosting: &'a Hosting<S>,
    client: &str,
    allowed: &Allowed,
    id: BatchId,
    piece: u32,
) -> Result<(&'a HostedModel, Plan, ServerQuery), Refusal> {
    let kept = hosting
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
    // Kept for a model this key may no longer query: refused, and kept in case it may again.
    if !allowed.model(&header.model) {
        return Err(Refusal(NOT_ALLOWED.into()));
    }
    let hosted = hosting
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
    let plan = header.plan(hosted)?;
    let query = ServerQuery::from_bytes(&plan, &bytes).map_err(|_| {
        Refusal(format!(
            "precomputed query {piece} of batch {id} is damaged"
        ))
    })?;
    Ok((hosted, plan, query))
}
