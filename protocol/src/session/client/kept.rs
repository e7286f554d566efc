//! Queries made ahead of time on the client's side (`veil-client precompute`).
//!
//! A batch is made in one session ([`super::Open::stash`]): for each query the offline
//! phase runs, the server keeps its share and the client keeps its prepared query with
//! what the offline phase cost. Batches are grouped by the server's name. Spending one
//! ([`spend`]) takes the piece out of the store *before* anything is sent, then runs only
//! the online phase on a new connection; if the server no longer holds its half it
//! refuses, and the caller runs a fresh query.

use std::time::Instant;

use super::{receive_meters, say_done, AnswerKind, Open, Options};
use crate::channel::{Channel, Transport};
use crate::codec::{DecodeError, Reader, Writer};
use crate::engine::{self, PreparedQuery};
use crate::material::{LinearPrep, OtKind, Preprocessing};
use crate::plan::Plan;
use crate::ring::Ring;
use crate::session::report::{query_report, QueryReport, Times};
use crate::session::{Dial, KeptBatch, KeptStore, Party, SessionError};
use crate::wire::{BatchId, ToClient, ToServer};

/// The client's queries made ahead of time, in a store.
pub struct Kept<S> {
    store: S,
}

/// A batch with pieces left, and what it was made for.
pub struct KeptQueries<B> {
    batch: B,
    header: Header,
}

/// What a batch was made for: the server's key (its name is the batch's owner), the
/// model's plan (with the backend) and whether a dealer made the material (and without
/// one, how: the linear layers' way and the kind of OT).
struct Header {
    fingerprint: String,
    source: Preprocessing,
    plan: Plan,
}

/// The header's byte for each source. Batches made before the homomorphic linear layers
/// hold 0 or 1, a flag "dealer": without one, their linear material was made by OT. Those
/// made before the choice of OT hold 0, 1 or 2, and their OTs were IKNP's.
const SOURCES: [(u8, Preprocessing); 5] = [
    (0, Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Iknp)),
    (1, Preprocessing::Dealer),
    (2, Preprocessing::TwoParty(LinearPrep::He, OtKind::Iknp)),
    (3, Preprocessing::TwoParty(LinearPrep::He, OtKind::Silent)),
    (4, Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Silent)),
];

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let tag = SOURCES
            .iter()
            .find(|(_, s)| *s == self.source)
            .map(|(t, _)| *t);
        w.str(&self.fingerprint).u8(tag.unwrap_or_default());
        self.plan.encode(&mut w);
        w.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(bytes);
        let fingerprint = r.str(128, "server key")?;
        let tag = r.u8("material source")?;
        let Some(&(_, source)) = SOURCES.iter().find(|(t, _)| *t == tag) else {
            return Err(DecodeError::Invalid {
                what: "material source",
                detail: format!("tag {tag}"),
            });
        };
        let header = Header {
            fingerprint,
            source,
            plan: Plan::decode(&mut r)?,
        };
        r.finish()?;
        Ok(header)
    }
}

/// How a kept query went.
pub enum Spent {
    /// The output (as [`super::Open::query`] returns it), with the query's costs: offline
    /// as measured when it was made, online now.
    Answered(Vec<Ring>, Box<QueryReport>),
    /// The piece could not be used (already spent at the server, damaged, made with
    /// another key); it is gone. Why, for the user.
    Unusable(String),
}

impl<S: KeptStore> Kept<S> {
    /// The client's queries in `store`.
    pub fn new(store: S) -> Kept<S> {
        Kept { store }
    }

    /// Starts a batch for queries made in `session` with the server named `server`.
    pub fn create<T: Transport>(
        &self,
        server: &str,
        session: &Open<T>,
        id: BatchId,
    ) -> Result<S::Batch, SessionError> {
        let header = Header {
            fingerprint: session.server_key().to_string(),
            source: session.source(),
            plan: session.plan().clone(),
        };
        self.store.create(server, id, &header.encode())
    }

    /// The first batch made with `server` for answers of kind `answer` of the model
    /// `model` that still holds a piece. Without a model name, the batches must all be for
    /// one model (as a server with one model would answer); otherwise none is chosen.
    pub fn find(
        &self,
        server: &str,
        model: Option<&str>,
        answer: AnswerKind,
    ) -> Result<Option<KeptQueries<S::Batch>>, SessionError> {
        let found = self.matching(server, model, answer)?;
        let one_model = found
            .windows(2)
            .all(|w| w[0].header.plan.model == w[1].header.plan.model);
        Ok(found.into_iter().next().filter(|_| one_model))
    }

    /// Pieces waiting for `server`, `model` and answers of kind `answer`.
    pub fn waiting(
        &self,
        server: &str,
        model: &str,
        answer: AnswerKind,
    ) -> Result<usize, SessionError> {
        let mut n = 0;
        for kept in self.matching(server, Some(model), answer)? {
            n += kept.batch.pieces()?.len();
        }
        Ok(n)
    }

    /// The batches made with `server` for answers of kind `answer` (and `model`, if
    /// named) with pieces left, in id order.
    fn matching(
        &self,
        server: &str,
        model: Option<&str>,
        answer: AnswerKind,
    ) -> Result<Vec<KeptQueries<S::Batch>>, SessionError> {
        let mut found = Vec::new();
        for batch in self.store.batches(server)? {
            // A header that cannot be read belongs to another version: leave it alone.
            let Ok(header) = Header::decode(batch.header()) else {
                continue;
            };
            let plan = &header.plan;
            if AnswerKind::of(plan) == answer && model.is_none_or(|m| plan.model == m) {
                found.push(KeptQueries { batch, header });
            }
        }
        Ok(found)
    }
}

impl<B: KeptBatch> KeptQueries<B> {
    /// The plan the batch was made for (encode the input with it).
    pub fn plan(&self) -> &Plan {
        &self.header.plan
    }

    /// True if a dealer made the batch's material.
    pub fn has_dealer(&self) -> bool {
        self.header.source == Preprocessing::Dealer
    }

    /// Where the batch's material came from.
    pub fn source(&self) -> Preprocessing {
        self.header.source
    }
}

/// Keeps the client's half of piece `piece`: what the offline phase cost, then the query.
pub(super) fn put(
    batch: &impl KeptBatch,
    piece: u32,
    report: &QueryReport,
    query: &PreparedQuery,
) -> Result<(), SessionError> {
    let costs = serde_json::to_vec(report)
        .map_err(|_| SessionError::Internal("the costs of a kept query cannot be written"))?;
    let mut w = Writer::default();
    w.var_bytes(&costs).bytes(&query.to_bytes());
    match batch.put(piece, &w.into_bytes())? {
        true => Ok(()),
        false => Err(SessionError::Internal(
            "a kept query's index was used twice",
        )),
    }
}

/// Spends the next piece of `kept` on `input` (encoded with [`KeptQueries::plan`]): takes
/// it out of the store, then dials the server and asks for the online phase.
pub fn spend<D: Dial, B: KeptBatch>(
    dial: &mut D,
    opts: &Options,
    kept: &KeptQueries<B>,
    input: &[Ring],
) -> Result<Spent, SessionError> {
    let (piece, bytes) = match kept.batch.take_first() {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(Spent::Unusable("no precomputed query is left".into())),
        Err(e) => return Ok(Spent::Unusable(e.to_string())),
    };
    let what = format!("precomputed query {piece} of batch {}", kept.batch.id());
    let Some((costs, prepared)) = read_piece(&kept.header.plan, &bytes) else {
        return Ok(Spent::Unusable(format!("{what} is damaged")));
    };
    let server = dial.dial(&opts.server)?;
    if server.key != kept.header.fingerprint {
        return Ok(Spent::Unusable(format!(
            "{what} was made with another key of the server {}",
            opts.server
        )));
    }
    let mut peer = Channel::new(server.transport);
    let spend = ToServer::Spend {
        batch: kept.batch.id(),
        piece,
    };
    peer.send(&spend.encode())?;
    let plan = match ToClient::decode(&peer.recv()?)? {
        ToClient::WelcomeKept { plan } if plan.hash() == kept.header.plan.hash() => plan,
        ToClient::WelcomeKept { .. } => {
            return Ok(Spent::Unusable(format!(
                "the server describes the model of {what} differently now"
            )))
        }
        ToClient::Refused { reason, .. } => return Ok(Spent::Unusable(reason)),
        _ => return Err(SessionError::out_of_turn(Party::Server)),
    };
    let online = Instant::now();
    let (output, layer_times) = engine::client_online(&mut peer, &plan, prepared, input)?;
    let online_ms = online.elapsed().as_secs_f64() * 1e3;
    let meters = receive_meters(&mut peer, None)?;
    let times = Times {
        setup_base: 0,
        setup_ms: 0.0,
        wire_bytes: peer.wire_bytes(),
        offline_ms: 0.0,
        online_ms,
        layer_ms: layer_times.ms(),
        made_ms: Vec::new(),
    };
    let report = query_report(&plan, kept.has_dealer(), &meters, times).with_offline_of(&costs);
    say_done(&mut peer);
    Ok(Spent::Answered(output, Box::new(report)))
}

/// A kept piece's costs and prepared query; `None` if it does not read back.
fn read_piece(plan: &Plan, bytes: &[u8]) -> Option<(QueryReport, PreparedQuery)> {
    let mut r = Reader::new(bytes);
    let costs = serde_json::from_slice(r.var_bytes(1 << 24, "costs").ok()?).ok()?;
    let rest = r.take(r.remaining(), "query").ok()?;
    Some((costs, PreparedQuery::from_bytes(plan, rest).ok()?))
}
