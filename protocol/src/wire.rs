//! Control messages between the client, the server and the dealer.
//!
//! Every message starts with a tag byte, and every peer's bytes go through
//! [`crate::codec::Reader`]: unknown tags, bad lengths and trailing bytes are
//! [`DecodeError`]s. Flow (each arrow one message):
//!
//! ```text
//! client → server  Hello{model?, backend, label_only, card}
//! server → dealer  Open{plan}              dealer → server  Opened{session} then U's seed (setup)
//! server → client  [Card{card} if the hello asked for it]
//!                  Welcome{plan, session, dealer} | WelcomeTwoParty{plan, linear, ot} | Refused{reason}
//! client → dealer  Join{session, plan hash} dealer → client  Joined | Refused{reason}
//! server → client  E = W − U (setup, engine)
//! per query:  client → server Query;  each party → dealer Fetch, dealer → party material
//!             online (engine);  server → client Stats{its meters for this query}
//! client → server  Done
//! ```
//!
//! Queries made ahead of time (`veil-client precompute`): after setup the client sends
//! `Stash{batch, first, count}`, the server answers `Ready` (or `Refused`), then per query
//! the offline phase runs and the server sends `Stats` once its share is on disk. Later a
//! connection opens with `Spend{batch, piece}` instead of a hello; the server answers
//! `WelcomeKept{plan}` and the online phase runs with no setup, then `Stats`.
//!
//! A server without a dealer answers the hello with `WelcomeTwoParty{plan, linear, ot}` and
//! opens no dealer session; setup is then the base OTs of two-party preprocessing (of the
//! kind named) and the client's RLWE public key, as the layers use them, and per query the
//! parties make the material with each other ([`crate::he`], [`crate::prep`]) instead of
//! fetching it. Older encodings keep their tags: with IKNP OT, a welcome with the linear
//! layers by OT is tag 3, as before there was a choice, and one with a linear byte is tag 6,
//! as before there was a choice of OT; a welcome with silent OT is tag 7, which carries
//! both bytes.
//!
//! Hellos keep their tags too: one that asks for nothing is tag 0, one that asks for the
//! label alone (and nothing else) tag 5, as before cards; any other is tag 7 with a flags
//! byte (bit 0 the label alone, bit 1 the card). A server that answers a hello asking
//! for the card sends `Card{card?}` (tag 8) just before its welcome. Instead of a hello a client may send `List` (tag 6): the server
//! answers `Catalog{models}` (tag 9, [`catalog`]) and the connection ends. A query spent
//! from a kept batch (`Spend`) carries no card: a client that needs it asks with `List`.

pub mod catalog;

use crate::channel::{Meter, Phase, Scope, Tally};
use crate::codec::{DecodeError, Reader, Writer};
use crate::material::{LinearPrep, OtKind};
use crate::plan::card::Card;
use crate::plan::{Backend, Plan};

pub use catalog::ModelInfo;

/// A dealer session's random 128-bit id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// A batch of queries made ahead of time: a random 128-bit id the client draws, unique
/// among the batches the server keeps for that client.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BatchId(pub [u8; 16]);

impl BatchId {
    /// A fresh id drawn from `rng`.
    pub fn from_rng<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> BatchId {
        BatchId(crate::prg::Seed::from_rng(rng).0)
    }
}

impl std::fmt::Display for BatchId {
    /// Lower-case hex, as the batch's folder is named.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Where the client finds the server's dealer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealerInfo {
    /// The dealer's address as the server reached it.
    pub addr: String,
    /// Hex SHA-256 fingerprint of the dealer's key, as the server pinned it.
    pub fingerprint: String,
}

/// Client → server messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToServer {
    /// Opens a session for a model (`None`: the server's only model) with a backend.
    Hello {
        /// The model's name.
        model: Option<String>,
        /// The backend of the non-linear layers.
        backend: Backend,
        /// The client asks for the label alone: the plan then ends in an argmax. (A hello
        /// without it keeps its old tag; with it, tag 5.)
        label_only: bool,
        /// The client asks for the model's card, sent just before the welcome.
        card: bool,
    },
    /// Instead of a hello: what models does the server host? Answered by
    /// [`ToClient::Catalog`], after which the connection ends.
    List,
    /// The client starts a query.
    Query,
    /// The client is finished with the session.
    Done,
    /// After setup: make the material of `count` queries now and keep each party's
    /// share on disk, as pieces `first..first + count` of `batch`, until spent.
    Stash {
        /// The batch the pieces join.
        batch: BatchId,
        /// The first piece's index.
        first: u32,
        /// How many queries.
        count: u32,
    },
    /// Instead of a hello: run the online phase of a query made ahead of time, piece
    /// `piece` of `batch` (the server removes its share before use).
    Spend {
        /// The batch.
        batch: BatchId,
        /// The piece.
        piece: u32,
    },
}

/// Server → client messages.
#[derive(Clone, Debug, PartialEq)]
pub enum ToClient {
    /// The session is open.
    Welcome {
        /// The model's public plan.
        plan: Plan,
        /// The dealer session both parties join.
        session: SessionId,
        /// The server's dealer.
        dealer: DealerInfo,
    },
    /// The session is open and runs without a dealer: the two parties make the
    /// correlated randomness themselves.
    WelcomeTwoParty {
        /// The model's public plan.
        plan: Plan,
        /// How the linear layers' material is made.
        linear: LinearPrep,
        /// How the oblivious transfers are made.
        ot: OtKind,
    },
    /// The server will not serve this request.
    Refused {
        /// True if the request itself was wrong (an unknown model): a usage error.
        bad_request: bool,
        /// What went wrong, for the user.
        reason: String,
    },
    /// The server will make the stashed queries; each is followed by [`ToClient::Stats`]
    /// once the server's share is on disk.
    Ready,
    /// The server holds the kept query asked for; the online phase follows.
    WelcomeKept {
        /// The model's public plan, with the backend the query was made for.
        plan: Plan,
    },
    /// The model's card (`None`: it has none), just before the welcome, when the hello
    /// asked for it.
    Card(Option<Card>),
    /// What the server hosts, answering [`ToServer::List`].
    Catalog {
        /// One entry per hosted model.
        models: Vec<ModelInfo>,
    },
    /// The server's meters for the query just answered (then reset).
    Stats {
        /// Its end of the link to the client.
        peer: Vec<(Scope, Tally)>,
        /// Its end of the link to the dealer.
        dealer: Vec<(Scope, Tally)>,
    },
}

/// Party → dealer messages.
#[derive(Clone, Debug, PartialEq)]
pub enum ToDealer {
    /// The server opens a session for a plan.
    Open {
        /// The plan.
        plan: Plan,
    },
    /// The client joins the server's session, presenting the plan's hash.
    Join {
        /// The session.
        session: SessionId,
        /// SHA-256 of the plan the client was given.
        plan_hash: [u8; 32],
    },
    /// The party asks for its share of the next query's material.
    Fetch,
}

/// Dealer → party messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromDealer {
    /// The session exists; the server is bound to it.
    Opened {
        /// Its id.
        session: SessionId,
    },
    /// The client is bound to the session.
    Joined,
    /// The dealer refuses.
    Refused {
        /// Why, for the user.
        reason: String,
    },
    /// The party's share of the next query's material (an encoded
    /// [`MaterialMsg`](crate::material::MaterialMsg), checked against the plan later).
    Material(Vec<u8>),
}

const MAX_REASON: usize = 4096;
const MAX_SCOPES: usize = 4 * crate::plan::MAX_LAYERS + 8;

fn bad(what: &'static str, tag: u8) -> DecodeError {
    DecodeError::Invalid {
        what,
        detail: format!("unknown tag {tag}"),
    }
}

fn backend_tag(b: Backend) -> u8 {
    match b {
        Backend::Gmw => 0,
        Backend::Gc => 1,
    }
}

fn read_backend(r: &mut Reader<'_>) -> Result<Backend, DecodeError> {
    match r.u8("backend")? {
        0 => Ok(Backend::Gmw),
        1 => Ok(Backend::Gc),
        t => Err(bad("backend", t)),
    }
}

/// A hello's flags byte (tag 7): bit 0 asks for the label alone, bit 1 for the card.
const HELLO_LABEL_ONLY: u8 = 1;
const HELLO_CARD: u8 = 2;

fn finish<T>(r: Reader<'_>, v: T) -> Result<T, DecodeError> {
    r.finish()?;
    Ok(v)
}

impl ToServer {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            ToServer::Hello {
                model,
                backend,
                label_only,
                card,
            } => {
                match (*label_only, *card) {
                    (false, false) => w.u8(0),
                    (true, false) => w.u8(5),
                    _ => w
                        .u8(7)
                        .u8((*label_only as u8 * HELLO_LABEL_ONLY) | (*card as u8 * HELLO_CARD)),
                };
                match model {
                    Some(m) => w.u8(1).str(m),
                    None => w.u8(0),
                };
                w.u8(backend_tag(*backend));
            }
            ToServer::Query => {
                w.u8(1);
            }
            ToServer::Done => {
                w.u8(2);
            }
            ToServer::Stash {
                batch,
                first,
                count,
            } => {
                w.u8(3).bytes(&batch.0).u32(*first).u32(*count);
            }
            ToServer::Spend { batch, piece } => {
                w.u8(4).bytes(&batch.0).u32(*piece);
            }
            ToServer::List => {
                w.u8(6);
            }
        }
        w.into_bytes()
    }

    /// Decodes a message from the client.
    pub fn decode(bytes: &[u8]) -> Result<ToServer, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8("message tag")? {
            tag @ (0 | 5 | 7) => {
                let flags = match tag {
                    0 => 0,
                    5 => HELLO_LABEL_ONLY,
                    _ => match r.u8("hello flags")? {
                        f if f & !(HELLO_LABEL_ONLY | HELLO_CARD) == 0 => f,
                        f => return Err(bad("hello flags", f)),
                    },
                };
                ToServer::Hello {
                    label_only: flags & HELLO_LABEL_ONLY != 0,
                    card: flags & HELLO_CARD != 0,
                    model: match r.u8("model flag")? {
                        0 => None,
                        1 => Some(r.str(catalog::MAX_MODEL_NAME, "model name")?),
                        t => return Err(bad("model flag", t)),
                    },
                    backend: read_backend(&mut r)?,
                }
            }
            1 => ToServer::Query,
            2 => ToServer::Done,
            3 => ToServer::Stash {
                batch: BatchId(r.array("batch id")?),
                first: r.u32("first piece")?,
                count: r.u32("piece count")?,
            },
            4 => ToServer::Spend {
                batch: BatchId(r.array("batch id")?),
                piece: r.u32("piece")?,
            },
            6 => ToServer::List,
            t => return Err(bad("client message", t)),
        };
        finish(r, msg)
    }
}

/// A [`LinearPrep`]'s byte in a welcome.
fn linear_code(linear: LinearPrep) -> u8 {
    match linear {
        LinearPrep::He => 0,
        LinearPrep::Ot => 1,
    }
}

/// The [`LinearPrep`] of a welcome's byte.
fn read_linear(r: &mut Reader<'_>) -> Result<LinearPrep, DecodeError> {
    match r.u8("linear preprocessing")? {
        0 => Ok(LinearPrep::He),
        1 => Ok(LinearPrep::Ot),
        t => Err(bad("linear preprocessing", t)),
    }
}

/// An [`OtKind`]'s byte in a welcome.
fn ot_code(ot: OtKind) -> u8 {
    match ot {
        OtKind::Silent => 0,
        OtKind::Iknp => 1,
    }
}

/// The [`OtKind`] of a welcome's byte.
fn read_ot(r: &mut Reader<'_>) -> Result<OtKind, DecodeError> {
    match r.u8("kind of oblivious transfer")? {
        0 => Ok(OtKind::Silent),
        1 => Ok(OtKind::Iknp),
        t => Err(bad("kind of oblivious transfer", t)),
    }
}

impl ToClient {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            ToClient::Welcome {
                plan,
                session,
                dealer,
            } => {
                w.u8(0);
                plan.encode(&mut w);
                w.bytes(&session.0)
                    .str(&dealer.addr)
                    .str(&dealer.fingerprint);
            }
            ToClient::Refused {
                bad_request,
                reason,
            } => {
                w.u8(1).u8(*bad_request as u8).str(reason);
            }
            ToClient::Stats { peer, dealer } => {
                w.u8(2);
                write_tallies(&mut w, peer);
                write_tallies(&mut w, dealer);
            }
            ToClient::WelcomeTwoParty {
                plan,
                linear: LinearPrep::Ot,
                ot: OtKind::Iknp,
            } => {
                w.u8(3);
                plan.encode(&mut w);
            }
            ToClient::WelcomeTwoParty {
                plan,
                linear,
                ot: OtKind::Iknp,
            } => {
                w.u8(6);
                plan.encode(&mut w);
                w.u8(linear_code(*linear));
            }
            ToClient::WelcomeTwoParty { plan, linear, ot } => {
                w.u8(7);
                plan.encode(&mut w);
                w.u8(linear_code(*linear)).u8(ot_code(*ot));
            }
            ToClient::Ready => {
                w.u8(4);
            }
            ToClient::WelcomeKept { plan } => {
                w.u8(5);
                plan.encode(&mut w);
            }
            ToClient::Card(card) => catalog::write_card(w.u8(8), card.as_ref()),
            ToClient::Catalog { models } => catalog::write_catalog(w.u8(9), models),
        }
        w.into_bytes()
    }

    /// Decodes a message from the server.
    pub fn decode(bytes: &[u8]) -> Result<ToClient, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8("message tag")? {
            0 => ToClient::Welcome {
                plan: Plan::decode(&mut r)?,
                session: SessionId(r.array("session id")?),
                dealer: DealerInfo {
                    addr: r.str(256, "dealer address")?,
                    fingerprint: r.str(128, "dealer fingerprint")?,
                },
            },
            1 => ToClient::Refused {
                bad_request: r.u8("refusal kind")? != 0,
                reason: r.str(MAX_REASON, "reason")?,
            },
            2 => ToClient::Stats {
                peer: read_tallies(&mut r)?,
                dealer: read_tallies(&mut r)?,
            },
            3 => ToClient::WelcomeTwoParty {
                plan: Plan::decode(&mut r)?,
                linear: LinearPrep::Ot,
                ot: OtKind::Iknp,
            },
            6 => ToClient::WelcomeTwoParty {
                plan: Plan::decode(&mut r)?,
                linear: read_linear(&mut r)?,
                ot: OtKind::Iknp,
            },
            7 => ToClient::WelcomeTwoParty {
                plan: Plan::decode(&mut r)?,
                linear: read_linear(&mut r)?,
                ot: read_ot(&mut r)?,
            },
            4 => ToClient::Ready,
            5 => ToClient::WelcomeKept {
                plan: Plan::decode(&mut r)?,
            },
            8 => ToClient::Card(catalog::read_card(&mut r)?),
            9 => ToClient::Catalog {
                models: catalog::read_catalog(&mut r)?,
            },
            t => return Err(bad("server message", t)),
        };
        finish(r, msg)
    }
}

impl ToDealer {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            ToDealer::Open { plan } => {
                w.u8(0);
                plan.encode(&mut w);
            }
            ToDealer::Join { session, plan_hash } => {
                w.u8(1).bytes(&session.0).bytes(plan_hash);
            }
            ToDealer::Fetch => {
                w.u8(2);
            }
        }
        w.into_bytes()
    }

    /// Decodes a message from a party.
    pub fn decode(bytes: &[u8]) -> Result<ToDealer, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8("message tag")? {
            0 => ToDealer::Open {
                plan: Plan::decode(&mut r)?,
            },
            1 => ToDealer::Join {
                session: SessionId(r.array("session id")?),
                plan_hash: r.array("plan hash")?,
            },
            2 => ToDealer::Fetch,
            t => return Err(bad("party message", t)),
        };
        finish(r, msg)
    }
}

impl FromDealer {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            FromDealer::Opened { session } => w.u8(0).bytes(&session.0),
            FromDealer::Joined => w.u8(1),
            FromDealer::Refused { reason } => w.u8(2).str(reason),
            FromDealer::Material(m) => w.u8(3).bytes(m),
        };
        w.into_bytes()
    }

    /// Decodes a message from the dealer.
    pub fn decode(bytes: &[u8]) -> Result<FromDealer, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8("message tag")? {
            0 => FromDealer::Opened {
                session: SessionId(r.array("session id")?),
            },
            1 => FromDealer::Joined,
            2 => FromDealer::Refused {
                reason: r.str(MAX_REASON, "reason")?,
            },
            3 => {
                let rest = r.remaining();
                FromDealer::Material(r.take(rest, "material")?.to_vec())
            }
            t => return Err(bad("dealer message", t)),
        };
        finish(r, msg)
    }
}

/// The tallies of a meter, for [`ToClient::Stats`].
pub fn tallies(m: &Meter) -> Vec<(Scope, Tally)> {
    m.scopes().map(|(s, t)| (*s, *t)).collect()
}

fn write_tallies(w: &mut Writer, v: &[(Scope, Tally)]) {
    w.u32(v.len() as u32);
    for (s, t) in v {
        let phase = match s.phase {
            Phase::Control => 0,
            Phase::Setup => 1,
            Phase::Offline => 2,
            Phase::Online => 3,
        };
        w.u8(phase).u64(s.layer.map_or(u64::MAX, |l| l as u64));
        w.u64(t.sent)
            .u64(t.received)
            .u64(t.first_clock)
            .u64(t.last_clock);
    }
}

fn read_tallies(r: &mut Reader<'_>) -> Result<Vec<(Scope, Tally)>, DecodeError> {
    let n = r.u32("scope count")? as usize;
    if n > MAX_SCOPES {
        return Err(DecodeError::Invalid {
            what: "scope count",
            detail: format!("{n} exceeds {MAX_SCOPES}"),
        });
    }
    (0..n)
        .map(|_| {
            let phase = match r.u8("phase")? {
                0 => Phase::Control,
                1 => Phase::Setup,
                2 => Phase::Offline,
                3 => Phase::Online,
                t => return Err(bad("phase", t)),
            };
            let layer = match r.u64("layer")? {
                u64::MAX => None,
                l if l < crate::plan::MAX_LAYERS as u64 => Some(l as usize),
                l => {
                    return Err(DecodeError::Invalid {
                        what: "layer",
                        detail: format!("{l} is out of range"),
                    })
                }
            };
            let t = Tally {
                sent: r.u64("sent")?,
                received: r.u64("received")?,
                first_clock: r.u64("clock")?,
                last_clock: r.u64("clock")?,
            };
            if t.last_clock < t.first_clock {
                return Err(DecodeError::Invalid {
                    what: "tally",
                    detail: "clock runs backwards".into(),
                });
            }
            Ok((Scope { phase, layer }, t))
        })
        .collect()
}

#[cfg(test)]
mod tests;
