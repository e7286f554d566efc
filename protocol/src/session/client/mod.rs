//! The client's side of a session: hello, welcome, joining the dealer, setup, then any
//! number of queries or stashes, then goodbye.
//!
//! [`open`] runs the states from the first dial to an [`Open`] session: [`ExpectWelcome`]
//! (hello sent, the welcome next), [`JoinDealer`] (a dealer to join: the user's, or the one
//! the server announced, whose key must then be the one announced), [`ExpectSetup`]. Each
//! step consumes its state; so does a query ([`Open::query`]), which hands the session
//! back only if it succeeded: a failed query leaves nothing to query again.
//!
//! The server learns nothing about the inputs; the client learns only the outputs.
//! Queries can also be made ahead of time ([`Open::stash`]) and spent later on a
//! connection of their own ([`kept::spend`]).
//!
//! Every hello asks for the model's card (how an image becomes its input, its class
//! names): the server sends it just before the welcome, and [`Open::card`] holds it. A
//! kept query's connection carries no card; [`list`] asks a server what it hosts, cards
//! included, on a connection of its own.

mod catalog;
pub mod kept;

use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::report::{query_report, Meters, QueryReport, Times};
use super::{fetch, DealerChannel, Dial, Dialed, KeptBatch, Party, SessionError, Usage};
use crate::channel::{Channel, Meter, Scope, Transport};
use crate::engine::cost;
use crate::engine::{self, ClientSetup, LayerTimes, LinearPrep, PreparedQuery, Preprocessing};
use crate::material::OtKind;
use crate::plan::card::Card;
use crate::plan::{Backend, Plan};
use crate::ring::Ring;
use crate::wire::{DealerInfo, FromDealer, SessionId, ToClient, ToDealer, ToServer};

pub use catalog::list;
pub use kept::{spend, Kept, KeptQueries, Spent};

/// What the client asks of a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server, as `host:port`.
    pub server: String,
    /// The model to query (`None`: the server's only one).
    pub model: Option<String>,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// The dealer the user trusts, as `host:port` (`None`: the one the server announces).
    pub dealer: Option<String>,
    /// Ask for the label alone: the logits' shares never reach the client. (A server may
    /// answer with the label alone anyway: the plan says, [`Plan::label_only`].)
    pub label_only: bool,
}

impl Options {
    /// The kind of answer these options ask for.
    pub fn answer(&self) -> AnswerKind {
        AnswerKind {
            backend: self.backend,
            label_only: self.label_only,
        }
    }
}

/// The kind of answer a query gives: which backend computes it, and whether it is the
/// label alone. Queries made ahead of time are spent only on queries of their kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerKind {
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// The label alone (the plan ends in an argmax).
    pub label_only: bool,
}

impl AnswerKind {
    /// The kind of answer `plan` gives.
    pub fn of(plan: &Plan) -> AnswerKind {
        AnswerKind {
            backend: plan.backend,
            label_only: plan.label_only(),
        }
    }
}

/// Told (bytes done, bytes in all) as each layer's dealer-free preprocessing completes.
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

/// Dials the server, says hello, joins the dealer (dialled the same way) and runs setup.
/// Returns the open session and, when the client trusted a dealer that the server
/// announced on first contact, a notice for the user.
pub fn open<D: Dial>(
    dial: &mut D,
    opts: &Options,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Open<D::Transport>, Option<String>), SessionError> {
    let start = Instant::now();
    let server = dial.dial(&opts.server)?;
    let (setup, notice) = match ExpectWelcome::new(server).hello(opts)? {
        Welcomed::Dealer(join) => {
            let dealer = dial.dial(join.dealer_name(opts))?;
            join.join(dealer, opts)?
        }
        Welcomed::TwoParty(setup) => (setup, None),
    };
    let mut open = setup.setup(rng)?;
    open.setup_ms = Some(start.elapsed().as_secs_f64() * 1e3);
    Ok((open, notice))
}

/// Connected to a server: the hello is next, then the welcome.
pub struct ExpectWelcome<T: Transport> {
    ch: Channel<T>,
    key: String,
}

/// What the welcome said: join a dealer session, or make the material with the server.
pub enum Welcomed<T: Transport> {
    /// The server named its dealer and the session there.
    Dealer(JoinDealer<T>),
    /// The server runs dealer-free.
    TwoParty(ExpectSetup<T>),
}

impl<T: Transport> ExpectWelcome<T> {
    /// A fresh connection to the server.
    pub fn new(server: Dialed<T>) -> ExpectWelcome<T> {
        ExpectWelcome {
            ch: Channel::new(server.transport),
            key: server.key,
        }
    }

    /// Sends the hello for `opts.model` and `opts.backend` (asking for the model's card),
    /// then reads the card and the welcome. A dealer-free server is refused if the user
    /// named a dealer.
    pub fn hello(mut self, opts: &Options) -> Result<Welcomed<T>, SessionError> {
        let base = self.ch.clock();
        let hello = ToServer::Hello {
            model: opts.model.clone(),
            backend: opts.backend,
            label_only: opts.label_only,
            card: true,
        };
        self.ch.send(&hello.encode())?;
        // The card comes first, unless the server refuses.
        let mut card = None;
        let mut reply = ToClient::decode(&self.ch.recv()?)?;
        if let ToClient::Card(sent) = reply {
            card = sent;
            reply = ToClient::decode(&self.ch.recv()?)?;
        }
        // Joined to no dealer yet: the welcome says whether there is one to join.
        let setup = |ch, plan, linear, ot| ExpectSetup {
            ch,
            dealer: None,
            linear,
            ot,
            plan,
            card,
            key: self.key.clone(),
            base,
        };
        match reply {
            ToClient::Welcome {
                plan,
                session,
                dealer,
            } => Ok(Welcomed::Dealer(JoinDealer {
                setup: setup(self.ch, plan, LinearPrep::default(), OtKind::default()),
                session,
                info: dealer,
            })),
            ToClient::WelcomeTwoParty { plan, linear, ot } => match &opts.dealer {
                Some(dealer) => Err(Usage::DealerUnused {
                    dealer: dealer.clone(),
                    server: opts.server.clone(),
                }
                .into()),
                None => Ok(Welcomed::TwoParty(setup(self.ch, plan, linear, ot))),
            },
            ToClient::Refused {
                bad_request,
                reason,
            } => Err(refusal(bad_request, reason)),
            _ => Err(SessionError::out_of_turn(Party::Server)),
        }
    }
}

/// Welcomed with a dealer session: the dealer is to be joined next.
pub struct JoinDealer<T: Transport> {
    setup: ExpectSetup<T>,
    session: SessionId,
    info: DealerInfo,
}

impl<T: Transport> JoinDealer<T> {
    /// The model's public plan, as the server described it.
    pub fn plan(&self) -> &Plan {
        &self.setup.plan
    }

    /// The dealer to dial: the user's own, or the one the server announced.
    pub fn dealer_name<'a>(&'a self, opts: &'a Options) -> &'a str {
        opts.dealer.as_deref().unwrap_or(&self.info.addr)
    }

    /// Joins the dealer session over `dealer` (dialled at [`JoinDealer::dealer_name`]).
    /// A dealer the server announced must present the key it announced; if the client
    /// pinned it just now, the returned notice tells the user once.
    pub fn join<D: Transport + 'static>(
        self,
        dealer: Dialed<D>,
        opts: &Options,
    ) -> Result<(ExpectSetup<T>, Option<String>), SessionError> {
        let name = self.dealer_name(opts).to_string();
        let mut notice = None;
        if opts.dealer.is_none() {
            if dealer.key != self.info.fingerprint {
                return Err(super::PeerError::DealerMismatch {
                    addr: name,
                    seen: dealer.key,
                    announced: self.info.fingerprint,
                }
                .into());
            }
            if dealer.newly_pinned {
                notice = Some(format!(
                    "trusting the dealer at {name} (key {}) that the server announced; it \
                     must not collude with the server. Pass --dealer ADDR to choose your own.",
                    dealer.key
                ));
            }
        }
        let transport: Box<dyn Transport> = Box::new(dealer.transport);
        let mut ch = Channel::new(transport);
        let join = ToDealer::Join {
            session: self.session,
            plan_hash: self.setup.plan.hash(),
        };
        ch.send(&join.encode())?;
        match FromDealer::decode(&ch.recv()?)? {
            FromDealer::Joined => Ok((
                ExpectSetup {
                    dealer: Some(ch),
                    ..self.setup
                },
                notice,
            )),
            FromDealer::Refused { reason } => Err(SessionError::refused(Party::Dealer, reason)),
            _ => Err(SessionError::out_of_turn(Party::Dealer)),
        }
    }
}

/// Welcomed (and joined to the dealer, if there is one): setup is next.
pub struct ExpectSetup<T: Transport> {
    ch: Channel<T>,
    dealer: Option<DealerChannel>,
    /// Without a dealer, how the server makes the linear layers' material.
    linear: LinearPrep,
    /// Without a dealer, the kind of oblivious transfer the session runs.
    ot: OtKind,
    plan: Plan,
    /// The model's card, if it has one.
    card: Option<Card>,
    /// The server's key.
    key: String,
    /// The client's clock on the server link before its hello: setup's depth counts from it.
    base: u64,
}

impl<T: Transport> ExpectSetup<T> {
    /// The model's public plan, as the server described it.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Runs setup: with a dealer, receives E for each linear layer; without, the base OTs
    /// of two-party preprocessing and the RLWE key, as the layers use them; under GC, the
    /// garbling session.
    pub fn setup(mut self, rng: &mut (impl RngCore + CryptoRng)) -> Result<Open<T>, SessionError> {
        let source = match self.dealer {
            Some(_) => Preprocessing::Dealer,
            None => Preprocessing::TwoParty(self.linear, self.ot),
        };
        let setup = ClientSetup::run(&mut self.ch, &self.plan, source, rng)?;
        self.ch.enter(Scope::CONTROL);
        let offline_weights = match source {
            Preprocessing::Dealer => Vec::new(),
            Preprocessing::TwoParty(linear, ot) => cost::two_party(&self.plan, linear, ot)?,
        };
        Ok(Open {
            ch: self.ch,
            source,
            dealer: self.dealer,
            plan: self.plan,
            card: self.card,
            key: self.key,
            setup,
            base: self.base,
            setup_ms: None,
            wire_mark: 0,
            offline_weights,
            progress: None,
        })
    }
}

/// An open session: queries and stashes, then [`Open::close`].
pub struct Open<T: Transport> {
    ch: Channel<T>,
    source: Preprocessing,
    dealer: Option<DealerChannel>,
    plan: Plan,
    card: Option<Card>,
    key: String,
    setup: ClientSetup,
    /// Where setup's depth starts, and its wall time until the first report takes it.
    base: u64,
    setup_ms: Option<f64>,
    /// The links' wire bytes at the last report.
    wire_mark: u64,
    /// Without a dealer: each layer's two-party preprocessing bytes, to weigh progress.
    offline_weights: Vec<u64>,
    progress: Option<Progress>,
}

/// One answered query: the opened output (scale 2^`plan.output_frac()`) and its costs.
pub struct Answer {
    /// The output.
    pub output: Vec<Ring>,
    /// What the query cost.
    pub report: QueryReport,
}

impl<T: Transport> Open<T> {
    /// The model's public plan, as the server described it.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The model's card (image preprocessing, class names), if the server declares one.
    pub fn card(&self) -> Option<&Card> {
        self.card.as_ref()
    }

    /// The server's key fingerprint, as pinned.
    pub fn server_key(&self) -> &str {
        &self.key
    }

    /// True when a dealer prepares the material; false when the session is dealer-free.
    pub fn has_dealer(&self) -> bool {
        self.dealer.is_some()
    }

    /// Where the session's material comes from.
    pub fn source(&self) -> Preprocessing {
        self.source
    }

    /// Reports the progress of each query's dealer-free preprocessing (the long part of
    /// its offline phase) to `progress`; nothing is reported when a dealer serves.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// Runs one query on an encoded input. The session comes back only if it succeeded.
    pub fn query(
        mut self,
        input: &[Ring],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Open<T>, Answer), SessionError> {
        if input.len() != self.plan.input_len() {
            return Err(SessionError::usage(
                "the input length differs from the model's",
            ));
        }
        self.ch.send(&ToServer::Query.encode())?;
        let offline = Instant::now();
        let (prepared, made) = self.offline(rng)?;
        let offline_ms = offline.elapsed().as_secs_f64() * 1e3;
        let online = Instant::now();
        let (output, layer_times) =
            engine::client_online(&mut self.ch, &self.plan, prepared, input)?;
        let online_ms = online.elapsed().as_secs_f64() * 1e3;
        let report = self.report((offline_ms, &made), (online_ms, &layer_times))?;
        Ok((self, Answer { output, report }))
    }

    /// Makes the material of `count` queries now and keeps it in `batch` as pieces
    /// `first..first + count`, each after the server has kept its share, to be spent
    /// later ([`kept::spend`]); `kept(index, report)` is told of each. The server may
    /// refuse (it keeps a limited number per client): that ends the session.
    pub fn stash(
        mut self,
        batch: &impl KeptBatch,
        (first, count): (u32, u32),
        rng: &mut (impl RngCore + CryptoRng),
        kept: &mut dyn FnMut(u32, &QueryReport),
    ) -> Result<Open<T>, SessionError> {
        let stash = ToServer::Stash {
            batch: batch.id(),
            first,
            count,
        };
        self.ch.send(&stash.encode())?;
        match ToClient::decode(&self.ch.recv()?)? {
            ToClient::Ready => {}
            ToClient::Refused {
                bad_request,
                reason,
            } => return Err(refusal(bad_request, reason)),
            _ => return Err(SessionError::out_of_turn(Party::Server)),
        }
        for piece in first..first.saturating_add(count) {
            let offline = Instant::now();
            let (prepared, made) = self.offline(rng)?;
            let offline_ms = offline.elapsed().as_secs_f64() * 1e3;
            // The server's Stats come once its share is on disk: only then is ours kept,
            // so every piece the client holds has its other half at the server.
            let report = self.report((offline_ms, &made), (0.0, &LayerTimes::default()))?;
            kept::put(batch, piece, &report, &prepared)?;
            kept(piece, &report);
        }
        Ok(self)
    }

    /// Ends the session politely: tells the server, and waits until it has every frame.
    pub fn close(mut self) {
        say_done(&mut self.ch);
    }

    /// One query's offline phase: its material from the dealer, or made with the server
    /// (progress reported, each layer's making timed), then the client's offline step.
    fn offline(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(PreparedQuery, LayerTimes), SessionError> {
        let mut made = LayerTimes::default();
        let material = match &mut self.dealer {
            Some(dealer) => {
                let msg = fetch(dealer)?;
                self.setup.expand(self.setup.decode_material(&msg)?)?
            }
            None => {
                let (weights, progress) = (&self.offline_weights, &mut self.progress);
                let total: u64 = weights.iter().sum();
                let mut done = 0;
                let mut since = Instant::now();
                let mut layer_done = |i: usize| {
                    made.0.push(since.elapsed());
                    since = Instant::now();
                    done += weights.get(i).copied().unwrap_or_default();
                    if let Some(p) = progress.as_mut() {
                        p(done, total);
                    }
                };
                self.setup.make(&mut self.ch, &mut layer_done)?
            }
        };
        let prepared = self.setup.offline(&mut self.ch, material, rng)?;
        Ok((prepared, made))
    }

    /// Receives the server's meters for the query just run and reports its costs.
    /// `offline` and `online`: each phase's time, and its layers' (the making of each
    /// layer's material without a dealer, each layer's online step).
    fn report(
        &mut self,
        (offline_ms, made): (f64, &LayerTimes),
        (online_ms, layer_times): (f64, &LayerTimes),
    ) -> Result<QueryReport, SessionError> {
        let meters = receive_meters(&mut self.ch, self.dealer.as_mut())?;
        let times = Times {
            setup_base: self.base,
            setup_ms: self.setup_ms.take().unwrap_or_default(),
            wire_bytes: self.wire_since_last(),
            offline_ms,
            online_ms,
            layer_ms: layer_times.ms(),
            made_ms: made.ms(),
        };
        Ok(query_report(&self.plan, self.has_dealer(), &meters, times))
    }

    /// Wire bytes on the links since the last call, if the transports can tell.
    fn wire_since_last(&mut self) -> Option<u64> {
        let dealer = match &self.dealer {
            Some(d) => d.wire_bytes()?,
            None => 0,
        };
        let total = self.ch.wire_bytes()? + dealer;
        let since = total - self.wire_mark;
        self.wire_mark = total;
        Some(since)
    }
}

/// The error of the server's refusal: a usage error if the request itself was wrong.
fn refusal(bad_request: bool, reason: String) -> SessionError {
    match bad_request {
        true => Usage::Refused(reason).into(),
        false => SessionError::refused(Party::Server, reason),
    }
}

/// Tells the server the session is over and finishes the stream, so it sees a clean end.
fn say_done<T: Transport + ?Sized>(peer: &mut Channel<T>) {
    if peer.send(&ToServer::Done.encode()).is_ok() {
        let _ = peer.finish();
    }
}

/// Receives the server's meters for the query just run (its `Stats`) and takes the
/// client's own, resetting them.
fn receive_meters<T: Transport + ?Sized>(
    peer: &mut Channel<T>,
    dealer: Option<&mut DealerChannel>,
) -> Result<Meters, SessionError> {
    peer.enter(Scope::CONTROL);
    let ToClient::Stats {
        peer: server_peer,
        dealer: server_dealer,
    } = ToClient::decode(&peer.recv()?)?
    else {
        return Err(SessionError::out_of_turn(Party::Server));
    };
    Ok(Meters {
        peer: peer.take_meter(),
        server_peer: server_peer.into_iter().collect::<Meter>(),
        dealer: dealer.map(Channel::take_meter).unwrap_or_default(),
        server_dealer: server_dealer.into_iter().collect::<Meter>(),
    })
}
