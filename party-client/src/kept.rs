//! Queries made ahead of time on the client's side (`veil-client precompute`).
//!
//! A batch is made in one session: for each query the offline phase runs, the server
//! keeps its share and the client keeps its prepared query ([`PreparedQuery`]) with what
//! the offline phase cost. Batches live in the state folder under `precomputed/<server>/`.
//! Spending one takes the piece off the disk *before* anything is sent
//! ([`veil_net::Batch::take`]), then runs only the online phase on a new connection; if
//! the server no longer holds its half it refuses, and the caller runs a fresh query.

use std::path::Path;
use std::time::Instant;

use tokio::runtime::Handle;
use veil_net::{Batch, Identity, KnownHosts, QuicTransport, Store};
use veil_protocol::channel::Channel;
use veil_protocol::codec::{DecodeError, Reader, Writer};
use veil_protocol::engine::{self, PreparedQuery};
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::ring::Ring;
use veil_protocol::wire::{BatchId, ToClient, ToServer};
use veil_protocol::ProtocolError;

use crate::error::ClientError;
use crate::report::{query_report, QueryReport, Times};
use crate::session::{dial, out_of_turn, receive_meters, say_done, Options, Session};

/// The client's precomputed queries, in `precomputed/` under the state folder.
pub struct Kept {
    store: Store,
}

/// A batch with pieces left, and what it was made for.
pub struct KeptBatch {
    batch: Batch,
    header: Header,
}

/// What a batch was made for: the server's key (its name is the batch's folder), the
/// model's plan (with the backend) and whether a dealer made the material.
struct Header {
    fingerprint: String,
    dealer: bool,
    plan: Plan,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.fingerprint).u8(self.dealer as u8);
        self.plan.encode(&mut w);
        w.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header {
            fingerprint: r.str(128, "server key")?,
            dealer: r.u8("dealer flag")? != 0,
            plan: Plan::decode(&mut r)?,
        };
        r.finish()?;
        Ok(header)
    }
}

/// How a kept query went.
pub enum Spent {
    /// The output (as [`Session::query`] returns it), with the query's costs: offline as
    /// measured when it was made, online now.
    Answered(Vec<Ring>, Box<QueryReport>),
    /// The piece could not be used (already spent at the server, damaged, made with
    /// another key); it is gone. Why, for the user.
    Unusable(String),
}

impl Kept {
    /// The store under the state folder `state`.
    pub fn open(state: &Path) -> Kept {
        Kept {
            store: Store::new(state.join("precomputed")),
        }
    }

    /// Where the batches live.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// Starts a batch for queries made in `session` with the server named `server`.
    pub fn create(&self, server: &str, session: &Session) -> Result<Batch, ClientError> {
        let header = Header {
            fingerprint: session.server_fingerprint(),
            dealer: session.has_dealer(),
            plan: session.plan().clone(),
        };
        Ok(self
            .store
            .create(server, BatchId::random(), &header.encode())?)
    }

    /// The first batch made with `server` for `backend` and the model `model` that still
    /// holds a piece. Without a model name, the batches must all be for one model (as a
    /// server with one model would answer); otherwise none is chosen.
    pub fn find(
        &self,
        server: &str,
        model: Option<&str>,
        backend: Backend,
    ) -> Result<Option<KeptBatch>, ClientError> {
        let found = self.matching(server, model, backend)?;
        let one_model = found
            .windows(2)
            .all(|w| w[0].header.plan.model == w[1].header.plan.model);
        Ok(found.into_iter().next().filter(|_| one_model))
    }

    /// Pieces waiting for `server`, `model` and `backend`.
    pub fn waiting(
        &self,
        server: &str,
        model: &str,
        backend: Backend,
    ) -> Result<usize, ClientError> {
        let mut n = 0;
        for kept in self.matching(server, Some(model), backend)? {
            n += kept.batch.pieces()?.len();
        }
        Ok(n)
    }

    /// The batches made with `server` for `backend` (and `model`, if named) with pieces
    /// left, in id order.
    fn matching(
        &self,
        server: &str,
        model: Option<&str>,
        backend: Backend,
    ) -> Result<Vec<KeptBatch>, ClientError> {
        let mut found = Vec::new();
        for batch in self.store.batches(server)? {
            // A header that cannot be read belongs to another version: leave it alone.
            let Ok(header) = Header::decode(batch.header()) else {
                continue;
            };
            let plan = &header.plan;
            let named = match model {
                Some(m) => plan.model == m,
                None => true,
            };
            if plan.backend == backend && named {
                found.push(KeptBatch { batch, header });
            }
        }
        Ok(found)
    }
}

impl KeptBatch {
    /// The plan the batch was made for (encode the input with it).
    pub fn plan(&self) -> &Plan {
        &self.header.plan
    }

    /// True if a dealer made the batch's material.
    pub fn has_dealer(&self) -> bool {
        self.header.dealer
    }
}

/// Keeps the client's half of piece `piece`: what the offline phase cost, then the query.
pub(crate) fn put(
    batch: &Batch,
    piece: u32,
    report: &QueryReport,
    query: &PreparedQuery,
) -> Result<(), ClientError> {
    let costs = serde_json::to_vec(report)
        .map_err(|_| ProtocolError::Misuse("the costs of a kept query cannot be written"))?;
    let mut w = Writer::default();
    w.var_bytes(&costs).bytes(&query.to_bytes());
    match batch.put(piece, &w.into_bytes())? {
        true => Ok(()),
        false => Err(ProtocolError::Misuse("a kept query's index was used twice").into()),
    }
}

/// Spends the next piece of `kept` on `input` (encoded with [`KeptBatch::plan`]): takes
/// it off the disk, then asks the server for the online phase.
pub fn spend(
    opts: &Options,
    identity: &Identity,
    pins: &KnownHosts,
    handle: &Handle,
    kept: &KeptBatch,
    input: &[Ring],
) -> Result<Spent, ClientError> {
    let (piece, bytes) = match kept.batch.take_first() {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(Spent::Unusable("no precomputed query is left".into())),
        Err(e) => return Ok(Spent::Unusable(e.to_string())),
    };
    let what = format!("precomputed query {piece} of batch {}", kept.batch.id());
    let Some((costs, prepared)) = read_piece(&kept.header.plan, &bytes) else {
        return Ok(Spent::Unusable(format!("{what} is damaged")));
    };
    let conn = dial(opts, &opts.server, identity, pins, handle)?;
    if conn.peer_fingerprint().to_string() != kept.header.fingerprint {
        return Ok(Spent::Unusable(format!(
            "{what} was made with another key of the server {}",
            opts.server
        )));
    }
    let mut peer = Channel::new(QuicTransport::open(&conn, handle.clone())?);
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
        _ => return Err(out_of_turn("server")),
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
    };
    let report = query_report(&plan, kept.header.dealer, &meters, times).with_offline_of(&costs);
    say_done(&mut peer);
    handle.block_on(conn.close());
    Ok(Spent::Answered(output, Box::new(report)))
}

/// A kept piece's costs and prepared query; `None` if it does not read back.
fn read_piece(plan: &Plan, bytes: &[u8]) -> Option<(QueryReport, PreparedQuery)> {
    let mut r = Reader::new(bytes);
    let costs = serde_json::from_slice(r.var_bytes(1 << 24, "costs").ok()?).ok()?;
    let rest = r.take(r.remaining(), "query").ok()?;
    Some((costs, PreparedQuery::from_bytes(plan, rest).ok()?))
}
