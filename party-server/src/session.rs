//! One client session on the server side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use veil_net::{
    connect, serve_blocking, Connection, Identity, KnownHosts, LinkShape, Listener, NetError,
    QuicTransport,
};
use veil_protocol::channel::{Channel, ChannelError, Phase, Scope};
use veil_protocol::codec::DecodeError;
use veil_protocol::engine::{self, ServerQuery, ServerSetup};
use veil_protocol::material::{expand, MaterialMsg, QueryMaterial, SessionMasks};
use veil_protocol::plan::{Plan, Weights};
use veil_protocol::prg::Seed;
use veil_protocol::share::Role;
use veil_protocol::wire::{
    tallies, DealerInfo, FromDealer, SessionId, ToClient, ToDealer, ToServer,
};
use veil_protocol::ProtocolError;

use crate::kept::{self, Precomputed};

/// A model the server hosts.
pub struct HostedModel {
    /// The name clients ask for.
    pub name: String,
    /// Its public plan.
    pub plan: Plan,
    /// Its secret weights.
    pub weights: Weights,
}

/// How the server reaches its dealer.
pub struct DealerLink {
    /// The dealer's address.
    pub addr: SocketAddr,
    /// The name its key is pinned under (the address as the operator wrote it).
    pub name: String,
    /// Shapes the link as a slower network, for benchmarks; the dealer must shape its
    /// end too (`veil_net::shaper`). `None` in normal use.
    pub shape: Option<LinkShape>,
}

/// Everything a server needs to serve clients.
pub struct ServerConfig {
    /// The hosted models.
    pub models: Vec<HostedModel>,
    /// The dealer, or `None` to run dealer-free (two-party preprocessing with each
    /// client).
    pub dealer: Option<DealerLink>,
    /// The server's identity (its key, which clients pin).
    pub identity: Identity,
    /// The server's pins (for the dealer's key).
    pub pins: KnownHosts,
    /// How long to wait for the dealer to answer a connection.
    pub connect_timeout: Duration,
    /// Where clients' precomputed queries wait (`None`: the server refuses to keep any).
    pub precomputed: Option<Precomputed>,
}

/// Why one client session failed. The server logs it and goes on serving others.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A connection (to the client or the dealer) failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The protocol failed: the peer hung up or sent garbage, or material did not fit.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The dealer refused.
    #[error("the dealer refused: {0}")]
    DealerRefused(String),
    /// A precomputed query could not be kept.
    #[error("cannot keep a precomputed query: {0}")]
    Stash(String),
}

impl From<ChannelError> for ServeError {
    fn from(e: ChannelError) -> Self {
        ServeError::Protocol(e.into())
    }
}

impl From<DecodeError> for ServeError {
    fn from(e: DecodeError) -> Self {
        ServeError::Protocol(e.into())
    }
}

/// Accepts clients until the listener closes; each session runs on a blocking thread and
/// a failing one never stops the others.
pub async fn serve(listener: Listener, config: Arc<ServerConfig>) -> Result<(), NetError> {
    serve_blocking(listener, config, "client session", serve_client).await
}

/// Serves one client connection to its end; returns the number of queries answered.
/// Blocking: call from a plain thread or `spawn_blocking`.
pub fn serve_client(
    conn: &Connection,
    handle: Handle,
    config: &ServerConfig,
) -> Result<usize, ServeError> {
    let mut ch = Channel::new(QuicTransport::accept(conn, handle.clone())?);
    // Kept queries belong to the client's key: no other client can spend or see them.
    let client = conn.peer_fingerprint().to_string();
    let (model, backend) = match ToServer::decode(&ch.recv()?)? {
        ToServer::Hello { model, backend } => (model, backend),
        ToServer::Spend { batch, piece } => {
            return kept::spend(&mut ch, config, &client, batch, piece)
        }
        _ => {
            refuse(&mut ch, false, "the session must start with a hello".into())?;
            return Ok(0);
        }
    };
    let hosted = match pick_model(&config.models, model.as_deref()) {
        Ok(m) => m,
        Err(reason) => {
            refuse(&mut ch, true, reason)?;
            return Ok(0);
        }
    };
    // The session's plan: the model's, with the backend the client asked for.
    let plan = Plan {
        backend,
        ..hosted.plan.clone()
    };
    let (dealer, masks) = welcome(&mut ch, config, &handle, &plan)?;
    let setup = engine::server_setup(&mut ch, &plan, &hosted.weights, masks.as_ref())?;
    drop(masks);
    let mut open = Open {
        ch,
        dealer,
        hosted,
        plan,
        setup,
    };
    let mut queries = 0;
    loop {
        open.ch.enter(Scope::CONTROL);
        let msg = match open.ch.recv() {
            Ok(m) => m,
            // A client that leaves between queries has simply finished.
            Err(ChannelError::Closed) => return Ok(queries),
            Err(e) => return Err(e.into()),
        };
        match ToServer::decode(&msg)? {
            ToServer::Query => {
                open.answer()?;
                queries += 1;
            }
            ToServer::Stash {
                batch,
                first,
                count,
            } => {
                let pieces = first..first.saturating_add(count);
                match kept::stash(&mut open, config, &client, batch, pieces)? {
                    Some(made) => queries += made,
                    None => return Ok(queries),
                }
            }
            ToServer::Done => return Ok(queries),
            ToServer::Hello { .. } | ToServer::Spend { .. } => {
                refuse(
                    &mut open.ch,
                    false,
                    "this session has already started".into(),
                )?;
                return Ok(queries);
            }
        }
    }
}

/// A client session after setup: what each of its queries needs.
pub(crate) struct Open<'a> {
    pub ch: Channel<QuicTransport>,
    dealer: Option<DealerSession>,
    pub hosted: &'a HostedModel,
    pub plan: Plan,
    setup: ServerSetup,
}

impl Open<'_> {
    /// One query: its offline and online phases, then the meters.
    fn answer(&mut self) -> Result<(), ServeError> {
        let query = self.offline()?;
        engine::server_online(&mut self.ch, &self.plan, &self.hosted.weights, query)?;
        self.send_stats()
    }

    /// One query's offline phase: its material fetched from the dealer (or made with the
    /// client when there is none), then the server's offline step.
    pub fn offline(&mut self) -> Result<ServerQuery, ServeError> {
        let (ch, plan, setup) = (&mut self.ch, &self.plan, &mut self.setup);
        let material = match &mut self.dealer {
            Some(dealer) => fetch(&mut dealer.ch, plan)?,
            None => engine::server_material(ch, plan, setup)?,
        };
        Ok(engine::server_offline(ch, plan, setup, material)?)
    }

    /// Sends the client this query's meters (the links to it and to the dealer), then
    /// resets them.
    pub fn send_stats(&mut self) -> Result<(), ServeError> {
        let dealer = self.dealer.as_mut().map(|d| &mut d.ch);
        send_stats(&mut self.ch, dealer)
    }
}

/// Opens the dealer session, if the server has a dealer, and welcomes the client: with
/// the dealer's session (and this session's masks U), or as dealer-free. A client the
/// server cannot serve because its dealer is unreachable is refused.
fn welcome(
    ch: &mut Channel<QuicTransport>,
    config: &ServerConfig,
    handle: &Handle,
    plan: &Plan,
) -> Result<(Option<DealerSession>, Option<SessionMasks>), ServeError> {
    let Some(link) = &config.dealer else {
        ch.send(&ToClient::WelcomeTwoParty { plan: plan.clone() }.encode())?;
        return Ok((None, None));
    };
    let d = match open_dealer_session(config, link, handle, plan) {
        Ok(d) => d,
        Err(e) => {
            refuse(
                ch,
                false,
                format!("the server cannot reach its dealer: {e}"),
            )?;
            return Err(e);
        }
    };
    let welcome = ToClient::Welcome {
        plan: plan.clone(),
        session: d.id,
        dealer: DealerInfo {
            addr: link.name.clone(),
            fingerprint: d.conn.peer_fingerprint().to_string(),
        },
    };
    ch.send(&welcome.encode())?;
    let masks = SessionMasks::expand(plan, d.seed);
    Ok((Some(d), Some(masks)))
}

/// Sends the client this query's meters (the link to it and to the dealer), then resets
/// them.
pub(crate) fn send_stats(
    ch: &mut Channel<QuicTransport>,
    dealer: Option<&mut Channel<QuicTransport>>,
) -> Result<(), ServeError> {
    ch.enter(Scope::CONTROL);
    let stats = ToClient::Stats {
        peer: tallies(&ch.take_meter()),
        dealer: dealer.map_or_else(Vec::new, |d| tallies(&d.take_meter())),
    };
    ch.send(&stats.encode())?;
    Ok(())
}

/// Fetches and expands this query's material from the dealer.
fn fetch(dealer: &mut Channel<QuicTransport>, plan: &Plan) -> Result<QueryMaterial, ServeError> {
    dealer.enter(Scope::phase(Phase::Offline));
    dealer.send(&ToDealer::Fetch.encode())?;
    let material = match FromDealer::decode(&dealer.recv()?)? {
        FromDealer::Material(m) => MaterialMsg::decode(plan, Role::Server, &m)?,
        FromDealer::Refused { reason } => return Err(ServeError::DealerRefused(reason)),
        _ => return Err(ProtocolError::Misuse("the dealer answered out of turn").into()),
    };
    dealer.enter(Scope::CONTROL);
    Ok(expand(plan, Role::Server, material)?)
}

fn pick_model<'a>(
    models: &'a [HostedModel],
    name: Option<&str>,
) -> Result<&'a HostedModel, String> {
    let names = || {
        models
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => models.iter().find(|m| m.name == n).ok_or_else(|| {
            format!(
                "this server has no model named {n:?}; it hosts: {}",
                names()
            )
        }),
        None if models.len() == 1 => Ok(&models[0]),
        None => Err(format!(
            "this server hosts several models; name one with --model: {}",
            names()
        )),
    }
}

/// The server's open session at its dealer.
struct DealerSession {
    ch: Channel<QuicTransport>,
    /// Kept so the connection lives as long as the channel.
    conn: Connection,
    id: SessionId,
    seed: Seed,
}

/// Connects to the dealer, opens a session for `plan`, receives the session's mask seed.
fn open_dealer_session(
    config: &ServerConfig,
    link: &DealerLink,
    handle: &Handle,
    plan: &Plan,
) -> Result<DealerSession, ServeError> {
    let conn = handle
        .block_on(connect(
            link.addr,
            &link.name,
            &config.identity,
            &config.pins,
            config.connect_timeout,
        ))?
        .with_shape(link.shape);
    let mut ch = Channel::new(QuicTransport::open(&conn, handle.clone())?);
    ch.send(&ToDealer::Open { plan: plan.clone() }.encode())?;
    let session = match FromDealer::decode(&ch.recv()?)? {
        FromDealer::Opened { session } => session,
        FromDealer::Refused { reason } => return Err(ServeError::DealerRefused(reason)),
        _ => return Err(ProtocolError::Misuse("the dealer answered out of turn").into()),
    };
    ch.enter(Scope::phase(Phase::Setup));
    let msg = ch.recv()?;
    let mut r = veil_protocol::codec::Reader::new(&msg);
    let seed = Seed(r.array("session seed")?);
    r.finish()?;
    ch.enter(Scope::CONTROL);
    Ok(DealerSession {
        ch,
        conn,
        id: session,
        seed,
    })
}

pub(crate) fn refuse(
    ch: &mut Channel<QuicTransport>,
    bad_request: bool,
    reason: String,
) -> Result<(), ServeError> {
    tracing::info!("refusing a client: {reason}");
    ch.send(
        &ToClient::Refused {
            bad_request,
            reason,
        }
        .encode(),
    )?;
    // Let the refusal reach the client before the connection goes.
    let _ = ch.finish();
    Ok(())
}
