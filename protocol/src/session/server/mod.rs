//! The server's side of a session with one client.
//!
//! [`serve`] runs the states from the client's first message to its goodbye:
//! [`ExpectHello`] reads it (a hello, a `Spend` of a query made ahead of time, or a `List`
//! of the hosted models, answered at once with their catalog);
//! [`Greeted`] holds the model picked for the hello, and its welcome opens the session at
//! the dealer (if the server has one), sends the model's card if the hello asked for it,
//! then the plan, and runs setup; [`Open`] then reads
//! the client's requests ([`Request`]), each answered by a state of its own. Every
//! refusal ends the session with a message to the client; the server learns nothing of
//! its input; after each query it sends the client its meters, so the client can report
//! every link's bytes and rounds.
//!
//! With an allow list ([`Hosting::allow`], see [`super::access`]) the list is taken once
//! per connection ([`Allowed`]): a key not listed is refused after its first message,
//! whatever it asked, with [`NOT_ALLOWED`] alone; a listed key sees in the catalog, and may
//! pick or spend kept queries for, only the models its entry names.
//!
//! Without a dealer the server welcomes the client as dealer-free, naming how the linear
//! layers' material is made and which kind of oblivious transfer the session runs: setup takes the client's RLWE public key or runs the base OTs
//! of two-party preprocessing, as the layers use them (no E is sent: without U it would
//! reveal W), and per query the two parties make the material with each other.

pub mod kept;

use std::sync::Arc;

use rand_core::{CryptoRng, RngCore};

use super::access::{Access, AllowList, NOT_ALLOWED};
use super::{fetch, recv_first, recv_or_end, DealerChannel, Dial, KeptStore, Party, SessionError};
use crate::channel::{Channel, Phase, Scope, Transport};
use crate::codec::Reader;
use crate::engine::SessionMasks;
use crate::engine::{self, LinearPrep, ServerQuery, ServerSetup, ServerSource};
use crate::material::{MaterialMsg, OtKind, Preprocessing};
use crate::plan::card::Card;
use crate::plan::{Backend, Plan, Weights};
use crate::prg::Seed;
use crate::wire::{
    tallies, DealerInfo, FromDealer, ModelInfo, SessionId, ToClient, ToDealer, ToServer,
};

pub use kept::Precomputed;

/// A model the server hosts.
pub struct HostedModel {
    /// The name clients ask for.
    pub name: String,
    /// Its public plan.
    pub plan: Plan,
    /// Its secret weights.
    pub weights: Weights,
    /// Its card (image preprocessing, class names), if the operator declared one; checked
    /// against the plan ([`Card::fits`]) when it was loaded.
    pub card: Option<Card>,
}

/// What a server offers its clients.
pub struct Hosting<S> {
    /// The hosted models.
    pub models: Vec<HostedModel>,
    /// Where each client session's correlated randomness comes from.
    pub dealing: Dealing,
    /// Where clients' precomputed queries wait (`None`: the server keeps none).
    pub precomputed: Option<Precomputed<S>>,
    /// Every model answers with the label alone, whatever the client asks.
    pub label_only: bool,
    /// The client keys that may connect, and the models each may query (`None`: every
    /// key, every model).
    pub allow: Option<Arc<AllowList>>,
}

/// What one connection's client key may do: the allow list as it was when the connection
/// came, taken once so that no lock is held while the session runs.
#[derive(Clone, Debug)]
pub struct Allowed {
    access: Option<Arc<Access>>,
    key: String,
}

impl Allowed {
    /// The rights of the client key `key` under `hosting`'s allow list, as it is now.
    pub fn of<S>(hosting: &Hosting<S>, key: &str) -> Allowed {
        Allowed {
            access: hosting.allow.as_ref().map(|list| list.current()),
            key: key.to_string(),
        }
    }

    /// Every key, every model: a server without an allow list.
    pub fn everyone() -> Allowed {
        Allowed {
            access: None,
            key: String::new(),
        }
    }

    /// Whether the key may connect at all.
    pub fn admitted(&self) -> bool {
        self.access.as_ref().is_none_or(|a| a.admits(&self.key))
    }

    /// Whether the key may query the model named `model`.
    pub fn model(&self, model: &str) -> bool {
        self.access
            .as_ref()
            .is_none_or(|a| a.may_query(&self.key, model))
    }
}

/// Where a server's sessions take their correlated randomness from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dealing {
    /// The dealer at `host:port` (the name its key is pinned under), dialled once per
    /// client session.
    Dealer(String),
    /// No dealer: each session makes it with its client, the linear layers' part as the
    /// [`LinearPrep`] says, the oblivious transfers as the [`OtKind`] does.
    TwoParty(LinearPrep, OtKind),
}

impl<S> Hosting<S> {
    /// Checks that every model can be served as `dealing` says: without a dealer, the
    /// homomorphic linear layers carry weights up to a bound and outputs up to a count;
    /// label-only, every model ends in a linear layer of few enough outputs. A usage error
    /// naming the model and what to do if not.
    pub fn check(&self) -> Result<(), SessionError> {
        if self.label_only {
            for m in &self.models {
                m.plan.clone().with_label_only().map_err(|why| {
                    SessionError::usage(format!(
                        "the model {} cannot answer with the label alone: {}; serve it \
                         without --label-only",
                        m.name, why.0
                    ))
                })?;
            }
        }
        if !matches!(self.dealing, Dealing::TwoParty(LinearPrep::He, _)) {
            return Ok(());
        }
        self.models.iter().try_for_each(|m| {
            crate::he::weights_fit(&m.plan, &m.weights).map_err(|why| {
                SessionError::usage(format!(
                    "the model {} cannot be served with homomorphic linear layers: {why}; \
                     serve it with --linear ot or with a dealer",
                    m.name
                ))
            })
        })
    }
}

impl<S> Hosting<S> {
    /// What the server tells a client that asks what it hosts: each model's name, input
    /// shape, outputs, kind of answer, backends, material source and card.
    pub fn catalog(&self) -> Vec<ModelInfo> {
        let source = match self.dealing {
            Dealing::Dealer(_) => Preprocessing::Dealer,
            Dealing::TwoParty(linear, ot) => Preprocessing::TwoParty(linear, ot),
        };
        let info = |m: &HostedModel| ModelInfo {
            name: m.name.clone(),
            input_shape: m.plan.input_shape.clone(),
            outputs: m.plan.output_len(),
            label_only: self.label_only,
            backends: vec![Backend::Gmw, Backend::Gc],
            source,
            card: m.card.clone(),
        };
        self.models.iter().map(info).collect()
    }
}

impl Dealing {
    /// The dealer's address, if there is one.
    pub fn dealer(&self) -> Option<&str> {
        match self {
            Dealing::Dealer(addr) => Some(addr),
            Dealing::TwoParty(..) => None,
        }
    }
}

/// How a client session ended without a fault.
#[derive(Debug, Default)]
pub struct Served {
    /// Queries answered or made ahead of time.
    pub queries: usize,
    /// Why the client was refused, if it was.
    pub refused: Option<String>,
}

/// Serves one client connection to its end. `client` is the client's key fingerprint:
/// queries it keeps here belong to it alone.
pub fn serve<T: Transport, D: Dial, S: KeptStore>(
    transport: T,
    client: &str,
    hosting: &Hosting<S>,
    dial: &mut D,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Served, SessionError> {
    let allowed = Allowed::of(hosting, client);
    let greeted = match ExpectHello::new(transport).read_as(hosting, &allowed)? {
        First::Hello(greeted) => greeted,
        First::Spend(spend) => return spend.run(client, hosting, &allowed),
        First::Listed(served) | First::Refused(served) => return Ok(served),
    };
    let mut open = greeted.welcome(&hosting.dealing, dial, rng)?;
    loop {
        open = match open.next()? {
            Request::Query(query) => query.answer(rng)?,
            Request::Stash(stash) => match stash.make(client, hosting, rng)? {
                Ok(open) => open,
                Err(served) => return Ok(served),
            },
            Request::End(served) => return Ok(served),
        };
    }
}

/// A new connection: the client's first message is next.
pub struct ExpectHello<T: Transport> {
    ch: Channel<T>,
}

/// What the first message asked for.
pub enum First<'h, T: Transport> {
    /// A session for a hosted model.
    Hello(Greeted<'h, T>),
    /// The online phase of a query made ahead of time.
    Spend(kept::Spend<T>),
    /// What the server hosts: the client was sent the catalog, and the session is over.
    Listed(Served),
    /// Nothing this server can do: the client was told why.
    Refused(Served),
}

impl<T: Transport> ExpectHello<T> {
    /// A client's new connection.
    pub fn new(transport: T) -> ExpectHello<T> {
        ExpectHello {
            ch: Channel::new(transport),
        }
    }

    /// Reads the first message and picks the model the hello asks for among those
    /// `hosting` offers; the plan ends in an argmax if the client or the server wants the
    /// label alone. A `List` is answered here with the catalog.
    pub fn read<S>(self, hosting: &Hosting<S>) -> Result<First<'_, T>, SessionError> {
        self.read_as(hosting, &Allowed::everyone())
    }

    /// [`ExpectHello::read`] for a client key with the rights `allowed`: a key not
    /// admitted is refused whatever it asks, told only that it is not allowed; a key
    /// admitted sees and may pick only the models it may query.
    pub fn read_as<'h, S>(
        mut self,
        hosting: &'h Hosting<S>,
        allowed: &Allowed,
    ) -> Result<First<'h, T>, SessionError> {
        let first = ToServer::decode(&recv_first(&mut self.ch)?)?;
        if !allowed.admitted() {
            return refuse(&mut self.ch, false, NOT_ALLOWED.into()).map(First::Refused);
        }
        let (model, backend, label_only, card) = match first {
            ToServer::Hello {
                model,
                backend,
                label_only,
                card,
            } => (model, backend, label_only || hosting.label_only, card),
            ToServer::Spend { batch, piece } => {
                return Ok(First::Spend(kept::Spend::new(self.ch, batch, piece)))
            }
            ToServer::List => {
                let mut models = hosting.catalog();
                models.retain(|m| allowed.model(&m.name));
                let catalog = ToClient::Catalog { models };
                self.ch.send(&catalog.encode())?;
                // Let the catalog reach the client before the connection goes.
                let _ = self.ch.finish();
                return Ok(First::Listed(Served::default()));
            }
            _ => {
                let reason = "the session must start with a hello".to_string();
                return out_of_turn(&mut self.ch, reason);
            }
        };
        let hosted = match pick_model(&hosting.models, allowed, model.as_deref()) {
            Ok(m) => m,
            // A model not allowed is the key's fault, not the request's: exit code 1.
            Err(reason) => {
                let bad_request = reason != NOT_ALLOWED;
                return refuse(&mut self.ch, bad_request, reason).map(First::Refused);
            }
        };
        // The session's plan: the model's, with the backend the client asked for.
        let mut plan = Plan {
            backend,
            ..hosted.plan.clone()
        };
        if label_only {
            plan = match plan.with_label_only() {
                Ok(plan) => plan,
                Err(why) => {
                    let reason = format!(
                        "the model {} cannot answer with the label alone: {}",
                        hosted.name, why.0
                    );
                    return refuse(&mut self.ch, true, reason).map(First::Refused);
                }
            };
        }
        Ok(First::Hello(Greeted {
            ch: self.ch,
            hosted,
            plan,
            card,
        }))
    }
}

/// A hello for a hosted model: the welcome and setup are next.
pub struct Greeted<'h, T: Transport> {
    ch: Channel<T>,
    hosted: &'h HostedModel,
    plan: Plan,
    /// The hello asked for the model's card.
    card: bool,
}

impl<'h, T: Transport> Greeted<'h, T> {
    /// Opens the session at the dealer (if `dealing` names one), welcomes the client with
    /// it (or as dealer-free), after the model's card if the hello asked, and runs setup. A client the server cannot serve because its
    /// dealer is unreachable or refuses is refused, and the error returned.
    pub fn welcome<D: Dial>(
        mut self,
        dealing: &Dealing,
        dial: &mut D,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Open<'h, T>, SessionError> {
        let weights = &self.hosted.weights;
        let (dealer, setup) = match dealing {
            Dealing::TwoParty(linear, ot) => {
                let welcome = ToClient::WelcomeTwoParty {
                    plan: self.plan.clone(),
                    linear: *linear,
                    ot: *ot,
                };
                self.send_card()?;
                self.ch.send(&welcome.encode())?;
                let source = ServerSource::TwoParty(*linear, *ot);
                let setup = ServerSetup::run(&mut self.ch, &self.plan, weights, source, rng)?;
                (None, setup)
            }
            Dealing::Dealer(name) => {
                let d = match open_dealer_session(dial, name, &self.plan) {
                    Ok(d) => d,
                    Err(e) => {
                        let reason = format!("the server cannot reach its dealer: {e}");
                        refuse(&mut self.ch, false, reason)?;
                        return Err(e);
                    }
                };
                let welcome = ToClient::Welcome {
                    plan: self.plan.clone(),
                    session: d.id,
                    dealer: DealerInfo {
                        addr: name.to_string(),
                        fingerprint: d.key,
                    },
                };
                self.send_card()?;
                self.ch.send(&welcome.encode())?;
                let masks = SessionMasks::expand(&self.plan, d.seed);
                let source = ServerSource::Dealer(&masks);
                let setup = ServerSetup::run(&mut self.ch, &self.plan, weights, source, rng)?;
                (Some(d.ch), setup)
            }
        };
        Ok(Open {
            ch: self.ch,
            dealer,
            hosted: self.hosted,
            plan: self.plan,
            setup,
            queries: 0,
        })
    }
}

impl<T: Transport> Greeted<'_, T> {
    /// Sends the model's card (or its absence) if the hello asked for it.
    fn send_card(&mut self) -> Result<(), SessionError> {
        if self.card {
            let card = ToClient::Card(self.hosted.card.clone());
            self.ch.send(&card.encode())?;
        }
        Ok(())
    }
}

/// A client session after setup: the client's next request is awaited.
pub struct Open<'h, T: Transport> {
    ch: Channel<T>,
    dealer: Option<DealerChannel>,
    hosted: &'h HostedModel,
    plan: Plan,
    setup: ServerSetup,
    queries: usize,
}

/// What the client asked for next.
pub enum Request<'h, T: Transport> {
    /// A query: [`Answering::answer`] it.
    Query(Answering<'h, T>),
    /// Queries to make now and keep: [`kept::Stashing::make`] them.
    Stash(kept::Stashing<'h, T>),
    /// The session is over: a goodbye or a hang-up between requests.
    End(Served),
}

/// A query asked for: its offline and online phases are next.
pub struct Answering<'h, T: Transport>(Open<'h, T>);

impl<'h, T: Transport> Open<'h, T> {
    /// Reads the client's next request.
    pub fn next(mut self) -> Result<Request<'h, T>, SessionError> {
        self.ch.enter(Scope::CONTROL);
        let served = Served {
            queries: self.queries,
            refused: None,
        };
        // A client that leaves between queries has simply finished.
        let Some(msg) = recv_or_end(&mut self.ch)? else {
            return Ok(Request::End(served));
        };
        match ToServer::decode(&msg)? {
            ToServer::Query => Ok(Request::Query(Answering(self))),
            ToServer::Stash {
                batch,
                first,
                count,
            } => Ok(Request::Stash(kept::Stashing::new(
                self,
                batch,
                first..first.saturating_add(count),
            ))),
            ToServer::Done => Ok(Request::End(served)),
            ToServer::Hello { .. } | ToServer::Spend { .. } | ToServer::List => {
                out_of_turn(&mut self.ch, "this session has already started".into())
            }
        }
    }

    /// One query's offline phase: its material fetched from the dealer (or made with the
    /// client when there is none), then the server's offline step.
    fn offline(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ServerQuery, SessionError> {
        let material = match &mut self.dealer {
            Some(dealer) => {
                let msg = fetch(dealer)?;
                // The server's share is its seed alone: no corrections.
                self.setup.expand(MaterialMsg::decode(0, &msg)?)?
            }
            None => self.setup.make(&mut self.ch)?,
        };
        Ok(self.setup.offline(&mut self.ch, material, rng)?)
    }

    /// Sends the client this query's meters (the links to it and to the dealer), then
    /// resets them.
    fn send_stats(&mut self) -> Result<(), SessionError> {
        send_stats(&mut self.ch, self.dealer.as_mut())
    }
}

impl<'h, T: Transport> Answering<'h, T> {
    /// Runs the query's offline and online phases, then sends the meters.
    pub fn answer(self, rng: &mut (impl RngCore + CryptoRng)) -> Result<Open<'h, T>, SessionError> {
        let mut open = self.0;
        let query = open.offline(rng)?;
        engine::server_online(&mut open.ch, &open.plan, &open.hosted.weights, query)?;
        open.send_stats()?;
        open.queries += 1;
        Ok(open)
    }
}

/// Sends the client this query's meters (the link to it and to the dealer), then resets
/// them.
fn send_stats<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    dealer: Option<&mut DealerChannel>,
) -> Result<(), SessionError> {
    ch.enter(Scope::CONTROL);
    let stats = ToClient::Stats {
        peer: tallies(&ch.take_meter()),
        dealer: dealer.map_or_else(Vec::new, |d| tallies(&d.take_meter())),
    };
    ch.send(&stats.encode())?;
    Ok(())
}

/// The model `name` asks for (or the only one) among those `allowed` may query; a model
/// hosted but not allowed is refused as such, and the names listed are the allowed ones.
fn pick_model<'a>(
    hosted: &'a [HostedModel],
    allowed: &Allowed,
    name: Option<&str>,
) -> Result<&'a HostedModel, String> {
    if name.is_some_and(|n| !allowed.model(n) && hosted.iter().any(|m| m.name == n)) {
        return Err(NOT_ALLOWED.into());
    }
    let models: Vec<&HostedModel> = hosted.iter().filter(|m| allowed.model(&m.name)).collect();
    let names = || {
        models
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => models.iter().copied().find(|m| m.name == n).ok_or_else(|| {
            format!(
                "this server has no model named {n:?}; it hosts: {}",
                names()
            )
        }),
        None if models.len() == 1 => Ok(models[0]),
        None => Err(format!(
            "this server hosts several models; name one with --model: {}",
            names()
        )),
    }
}

/// The server's open session at its dealer.
struct DealerSession {
    ch: DealerChannel,
    /// The dealer's key, as pinned.
    key: String,
    id: SessionId,
    seed: Seed,
}

/// Dials the dealer, opens a session for `plan`, receives the session's mask seed.
fn open_dealer_session<D: Dial>(
    dial: &mut D,
    name: &str,
    plan: &Plan,
) -> Result<DealerSession, SessionError> {
    let dialed = dial.dial(name)?;
    let transport: Box<dyn Transport> = Box::new(dialed.transport);
    let mut ch = Channel::new(transport);
    ch.send(&ToDealer::Open { plan: plan.clone() }.encode())?;
    let id = match FromDealer::decode(&ch.recv()?)? {
        FromDealer::Opened { session } => session,
        FromDealer::Refused { reason } => return Err(SessionError::refused(Party::Dealer, reason)),
        _ => return Err(SessionError::out_of_turn(Party::Dealer)),
    };
    ch.enter(Scope::phase(Phase::Setup));
    let msg = ch.recv()?;
    let mut r = Reader::new(&msg);
    let seed = Seed(r.array("session seed")?);
    r.finish()?;
    ch.enter(Scope::CONTROL);
    Ok(DealerSession {
        ch,
        key: dialed.key,
        id,
        seed,
    })
}

/// Refuses a message out of turn, which is the client's fault: an error once it is told.
fn out_of_turn<T: Transport + ?Sized, R>(
    ch: &mut Channel<T>,
    reason: String,
) -> Result<R, SessionError> {
    refuse(ch, false, reason)?;
    Err(SessionError::out_of_turn(Party::Client))
}

/// Tells the client why it is refused and lets the refusal reach it before the connection
/// goes; `bad_request` if the request itself was wrong (a usage error for the client).
fn refuse<T: Transport + ?Sized>(
    ch: &mut Channel<T>,
    bad_request: bool,
    reason: String,
) -> Result<Served, SessionError> {
    let refusal = ToClient::Refused {
        bad_request,
        reason: reason.clone(),
    };
    ch.send(&refusal.encode())?;
    let _ = ch.finish();
    Ok(Served {
        queries: 0,
        refused: Some(reason),
    })
}
