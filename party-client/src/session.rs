//! A client session: connect, learn the plan, join the dealer (if the server has one),
//! set up, then query. Without a dealer each query's material is made with the server by
//! oblivious transfer, counted in the offline phase.

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use veil_net::{
    connect, resolve, Batch, Connection, Identity, KnownHosts, LinkShape, QuicTransport,
};
use veil_protocol::channel::{Channel, Meter, Phase, Scope};
use veil_protocol::engine::{self, ClientSetup, LayerTimes, PreparedQuery, Preprocessing};
use veil_protocol::material::{expand, MaterialMsg};
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::prep::offline_bytes;
use veil_protocol::ring::Ring;
use veil_protocol::share::Role;
use veil_protocol::wire::{DealerInfo, FromDealer, SessionId, ToClient, ToDealer, ToServer};
use veil_protocol::ProtocolError;

use crate::error::ClientError;
use crate::report::{query_report, Meters, QueryReport, Times};

/// What to connect to.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server, as `host:port`; its key is pinned under this name.
    pub server: String,
    /// The model to ask for (`None`: the server's only model).
    pub model: Option<String>,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// The dealer the client trusts, as `host:port` (`None`: the one the server announces).
    pub dealer: Option<String>,
    /// How long to wait for a peer to answer a connection.
    pub connect_timeout: Duration,
    /// Shapes both links (server and dealer) as a slower network, for benchmarks; the
    /// peers must shape their ends too (`veil_net::shaper`). `None` in normal use.
    pub shape: Option<LinkShape>,
}

/// An open session with a server and, unless the server runs dealer-free, a dealer.
pub struct Session {
    plan: Plan,
    setup: Option<ClientSetup>,
    peer: Channel<QuicTransport>,
    dealer: Option<Channel<QuicTransport>>,
    // The connections live as long as their channels; closed on close or drop.
    conns: (Connection, Option<Connection>),
    handle: Handle,
    setup_ms: Option<f64>,
    setup_base: u64,
    /// The links' wire bytes at the last report.
    wire_mark: u64,
    dealer_notice: Option<String>,
    /// Without a dealer: each layer's two-party preprocessing bytes, to weigh progress.
    offline_weights: Vec<u64>,
    progress: Option<Progress>,
}

/// Told (bytes done, bytes in all) as each layer's dealer-free preprocessing completes.
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

impl Session {
    /// Connects, joins the dealer session and runs setup. Blocking: call it from a plain
    /// thread with the runtime's `handle`, never from inside an async task.
    pub fn open(
        opts: &Options,
        identity: &Identity,
        pins: &KnownHosts,
        handle: &Handle,
    ) -> Result<Session, ClientError> {
        let start = Instant::now();
        let conn = dial(opts, &opts.server, identity, pins, handle)?;
        let mut peer = Channel::new(QuicTransport::open(&conn, handle.clone())?);
        let setup_base = peer.clock();
        let hello = ToServer::Hello {
            model: opts.model.clone(),
            backend: opts.backend,
        };
        peer.send(&hello.encode())?;
        let (plan, dealing) = match ToClient::decode(&peer.recv()?)? {
            ToClient::Welcome {
                plan,
                session,
                dealer,
            } => (plan, Some((session, dealer))),
            ToClient::WelcomeTwoParty { plan } => match &opts.dealer {
                Some(dealer) => {
                    return Err(ClientError::DealerUnused {
                        dealer: dealer.clone(),
                        server: opts.server.clone(),
                    })
                }
                None => (plan, None),
            },
            ToClient::Refused {
                bad_request,
                reason,
            } => {
                return Err(ClientError::Refused {
                    bad_request,
                    reason,
                })
            }
            _ => return Err(out_of_turn("server")),
        };
        let (dconn, dealer, dealer_notice, preprocessing) = match dealing {
            Some((session, info)) => {
                let (conn, ch, notice) =
                    join_dealer(opts, identity, pins, handle, &plan, session, &info)?;
                (Some(conn), Some(ch), notice, Preprocessing::Dealer)
            }
            None => (None, None, None, Preprocessing::TwoParty),
        };
        let setup = engine::client_setup(&mut peer, &plan, preprocessing)?;
        peer.enter(Scope::CONTROL);
        let offline_weights = match preprocessing {
            Preprocessing::Dealer => Vec::new(),
            Preprocessing::TwoParty => offline_bytes(&plan)?,
        };
        Ok(Session {
            plan,
            setup: Some(setup),
            peer,
            dealer,
            conns: (conn, dconn),
            handle: handle.clone(),
            setup_ms: Some(start.elapsed().as_secs_f64() * 1e3),
            setup_base,
            wire_mark: 0,
            dealer_notice,
            offline_weights,
            progress: None,
        })
    }

    /// The model's public plan, as the server described it.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Reports the progress of each query's dealer-free preprocessing (the long part of
    /// its offline phase) to `progress`; nothing is reported when a dealer serves.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// The server's key fingerprint, as pinned.
    pub fn server_fingerprint(&self) -> String {
        self.conns.0.peer_fingerprint().to_string()
    }

    /// True when a dealer prepares the material; false when the session is dealer-free.
    pub fn has_dealer(&self) -> bool {
        self.dealer.is_some()
    }

    /// Set when the client trusted, on first contact, a dealer that the server announced:
    /// the caller should tell the user once.
    pub fn dealer_notice(&self) -> Option<&str> {
        self.dealer_notice.as_deref()
    }

    /// Runs one query on an encoded input; returns the opened output (scale
    /// 2^`plan.output_frac()`) and what the query cost.
    pub fn query(&mut self, input: &[Ring]) -> Result<(Vec<Ring>, QueryReport), ClientError> {
        if input.len() != self.plan.input_len() {
            return Err(ProtocolError::Misuse("the input length differs from the plan's").into());
        }
        // A failure mid-query leaves the session unusable: setup comes back on success only.
        let mut setup = self.setup.take().ok_or(ProtocolError::Misuse(
            "an earlier query failed; open a new session",
        ))?;
        self.peer.send(&ToServer::Query.encode())?;
        let offline = Instant::now();
        let prepared = self.offline(&mut setup)?;
        let offline_ms = offline.elapsed().as_secs_f64() * 1e3;
        let online = Instant::now();
        let (output, layer_times) =
            engine::client_online(&mut self.peer, &self.plan, prepared, input)?;
        let online_ms = online.elapsed().as_secs_f64() * 1e3;
        let report = self.report(offline_ms, online_ms, &layer_times)?;
        self.setup = Some(setup);
        Ok((output, report))
    }

    /// Makes the material of `count` queries now and keeps it on disk as pieces
    /// `first..first + count` of `batch`, each after the server has kept its share, for
    /// [`crate::kept`] to spend later; `kept(index, report)` is told of each. The server
    /// may refuse (it keeps a limited number per client); the session ends then.
    pub fn stash(
        &mut self,
        batch: &Batch,
        first: u32,
        count: u32,
        kept: &mut dyn FnMut(u32, &QueryReport),
    ) -> Result<(), ClientError> {
        let mut setup = self.setup.take().ok_or(ProtocolError::Misuse(
            "an earlier query failed; open a new session",
        ))?;
        let stash = ToServer::Stash {
            batch: batch.id(),
            first,
            count,
        };
        self.peer.send(&stash.encode())?;
        match ToClient::decode(&self.peer.recv()?)? {
            ToClient::Ready => {}
            ToClient::Refused {
                bad_request,
                reason,
            } => {
                return Err(ClientError::Refused {
                    bad_request,
                    reason,
                })
            }
            _ => return Err(out_of_turn("server")),
        }
        for piece in first..first.saturating_add(count) {
            let offline = Instant::now();
            let prepared = self.offline(&mut setup)?;
            let offline_ms = offline.elapsed().as_secs_f64() * 1e3;
            // The server's Stats come once its share is on disk: only then is ours kept,
            // so every piece the client holds has its other half at the server.
            let report = self.report(offline_ms, 0.0, &LayerTimes::default())?;
            crate::kept::put(batch, piece, &report, &prepared)?;
            kept(piece, &report);
        }
        self.setup = Some(setup);
        Ok(())
    }

    /// One query's offline phase: its material from the dealer, or made with the server
    /// (progress reported), then the client's offline step.
    fn offline(&mut self, setup: &mut ClientSetup) -> Result<PreparedQuery, ClientError> {
        let material = match &mut self.dealer {
            Some(dealer) => fetch(dealer, &self.plan)?,
            None => {
                let (weights, progress) = (&self.offline_weights, &mut self.progress);
                let total: u64 = weights.iter().sum();
                let mut done = 0;
                let mut layer_done = |i: usize| {
                    done += weights.get(i).copied().unwrap_or_default();
                    if let Some(p) = progress.as_mut() {
                        p(done, total);
                    }
                };
                engine::client_material(&mut self.peer, &self.plan, setup, &mut layer_done)?
            }
        };
        Ok(engine::client_offline(
            &mut self.peer,
            &self.plan,
            setup,
            material,
        )?)
    }

    /// Receives the server's meters for the query just run and reports its costs.
    fn report(
        &mut self,
        offline_ms: f64,
        online_ms: f64,
        layer_times: &LayerTimes,
    ) -> Result<QueryReport, ClientError> {
        let meters = receive_meters(&mut self.peer, self.dealer.as_mut())?;
        let times = Times {
            setup_base: self.setup_base,
            setup_ms: self.setup_ms.take().unwrap_or_default(),
            wire_bytes: self.wire_since_last(),
            offline_ms,
            online_ms,
            layer_ms: layer_times.ms(),
        };
        Ok(query_report(&self.plan, self.has_dealer(), &meters, times))
    }

    /// Wire bytes on the links since the last call, if the transports can tell.
    fn wire_since_last(&mut self) -> Option<u64> {
        let dealer = match &self.dealer {
            Some(d) => d.wire_bytes()?,
            None => 0,
        };
        let total = self.peer.wire_bytes()? + dealer;
        let since = total - self.wire_mark;
        self.wire_mark = total;
        Some(since)
    }

    /// Ends the session politely: tells the server, then closes the connections and
    /// waits (at most a second each) for the closes to reach the peers, so that neither
    /// holds the session until its idle timeout.
    pub fn close(mut self) {
        say_done(&mut self.peer);
        let (server, dealer) = self.conns.clone();
        self.handle.block_on(async move {
            server.close().await;
            if let Some(dealer) = dealer {
                dealer.close().await;
            }
        });
    }
}

impl Drop for Session {
    /// A session dropped without [`Session::close`] (a failed query, a refused input)
    /// still closes its connections, without waiting.
    fn drop(&mut self) {
        self.conns.0.close_now();
        if let Some(dealer) = &self.conns.1 {
            dealer.close_now();
        }
    }
}

/// Connects to the dealer (the user's, or the one the server announced) and joins.
fn join_dealer(
    opts: &Options,
    identity: &Identity,
    pins: &KnownHosts,
    handle: &Handle,
    plan: &Plan,
    session: SessionId,
    info: &DealerInfo,
) -> Result<(Connection, Channel<QuicTransport>, Option<String>), ClientError> {
    let name = opts.dealer.clone().unwrap_or_else(|| info.addr.clone());
    let conn = dial(opts, &name, identity, pins, handle)?;
    let seen = conn.peer_fingerprint().to_string();
    let mut notice = None;
    if opts.dealer.is_none() {
        if seen != info.fingerprint {
            return Err(ClientError::DealerMismatch {
                addr: name,
                seen,
                announced: info.fingerprint.clone(),
            });
        }
        if conn.newly_pinned() {
            notice = Some(format!(
                "trusting the dealer at {name} (key {seen}) that the server announced; it must \
                 not collude with the server. Pass --dealer ADDR to choose your own."
            ));
        }
    }
    let mut ch = Channel::new(QuicTransport::open(&conn, handle.clone())?);
    let join = ToDealer::Join {
        session,
        plan_hash: plan.hash(),
    };
    ch.send(&join.encode())?;
    match FromDealer::decode(&ch.recv()?)? {
        FromDealer::Joined => Ok((conn, ch, notice)),
        FromDealer::Refused { reason } => Err(ClientError::DealerRefused(reason)),
        _ => Err(out_of_turn("dealer")),
    }
}

/// Tells the server the session is over and finishes the stream, so it sees a clean end.
pub(crate) fn say_done(peer: &mut Channel<QuicTransport>) {
    if peer.send(&ToServer::Done.encode()).is_ok() {
        let _ = peer.finish();
    }
}

/// Receives the server's meters for the query just run (its `Stats`) and takes the
/// client's own, resetting them.
pub(crate) fn receive_meters(
    peer: &mut Channel<QuicTransport>,
    dealer: Option<&mut Channel<QuicTransport>>,
) -> Result<Meters, ClientError> {
    peer.enter(Scope::CONTROL);
    let ToClient::Stats {
        peer: server_peer,
        dealer: server_dealer,
    } = ToClient::decode(&peer.recv()?)?
    else {
        return Err(out_of_turn("server"));
    };
    Ok(Meters {
        peer: peer.take_meter(),
        server_peer: server_peer.into_iter().collect::<Meter>(),
        dealer: dealer.map(Channel::take_meter).unwrap_or_default(),
        server_dealer: server_dealer.into_iter().collect::<Meter>(),
    })
}

/// Connects to the peer `name` (`host:port`), its key checked against the pins.
pub(crate) fn dial(
    opts: &Options,
    name: &str,
    identity: &Identity,
    pins: &KnownHosts,
    handle: &Handle,
) -> Result<Connection, ClientError> {
    let conn = handle.block_on(connect(
        resolve(name)?,
        name,
        identity,
        pins,
        opts.connect_timeout,
    ))?;
    Ok(conn.with_shape(opts.shape))
}

/// Fetches and expands this query's material.
fn fetch(
    dealer: &mut Channel<QuicTransport>,
    plan: &Plan,
) -> Result<veil_protocol::material::QueryMaterial, ClientError> {
    dealer.enter(Scope::phase(Phase::Offline));
    dealer.send(&ToDealer::Fetch.encode())?;
    let msg = match FromDealer::decode(&dealer.recv()?)? {
        FromDealer::Material(m) => MaterialMsg::decode(plan, Role::Client, &m)?,
        FromDealer::Refused { reason } => return Err(ClientError::DealerRefused(reason)),
        _ => return Err(out_of_turn("dealer")),
    };
    dealer.enter(Scope::CONTROL);
    Ok(expand(plan, Role::Client, msg)?)
}

/// The peer sent a well-formed message that does not belong at this point.
pub(crate) fn out_of_turn(who: &'static str) -> ClientError {
    ClientError::Protocol(ProtocolError::Peer(
        veil_protocol::codec::DecodeError::Invalid {
            what: "message order",
            detail: format!("the {who} sent a message out of turn"),
        },
    ))
}
