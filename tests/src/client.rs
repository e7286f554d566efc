//! A client as the tests drive it: a session over real QUIC with its own dialer and
//! generator, whose queries keep the session open between calls.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use veil_net::{Identity, KnownHosts, QuicDialer, QuicTransport, Store};
use veil_protocol::plan::Plan;
use veil_protocol::prg::Prg;
use veil_protocol::ring::Ring;
use veil_protocol::session::client::{self, KeptQueries, Open, Options, Spent};
use veil_protocol::session::{QueryReport, SessionError};

/// A dialer for a test client: its key, its pins, waiting `timeout` for each handshake.
fn dialer(
    identity: &Arc<Identity>,
    pins: &Arc<KnownHosts>,
    handle: &Handle,
    timeout: Duration,
) -> QuicDialer {
    QuicDialer::new(identity.clone(), pins.clone(), handle.clone(), timeout)
}

/// An open session, its connections and its generator (seeded from the OS).
pub struct Session {
    open: Option<Open<QuicTransport>>,
    plan: Plan,
    has_dealer: bool,
    notice: Option<String>,
    dialer: QuicDialer,
    rng: Prg,
}

const FAILED: SessionError = SessionError::Internal("an earlier step of this session failed");

impl Session {
    /// Dials the server (and the dealer) as `identity`, trusting `pins`, waiting `timeout`
    /// for each handshake, and runs setup.
    pub fn open(
        opts: &Options,
        identity: &Arc<Identity>,
        pins: &Arc<KnownHosts>,
        handle: &Handle,
        timeout: Duration,
    ) -> Result<Session, SessionError> {
        let mut dialer = dialer(identity, pins, handle, timeout);
        let mut rng = Prg::from_os();
        let (open, notice) = client::open(&mut dialer, opts, &mut rng)?;
        Ok(Session {
            plan: open.plan().clone(),
            has_dealer: open.has_dealer(),
            open: Some(open),
            notice,
            dialer,
            rng,
        })
    }

    /// The model's public plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// True when a dealer prepares the material.
    pub fn has_dealer(&self) -> bool {
        self.has_dealer
    }

    /// The notice about a dealer trusted on first contact, if there was one.
    pub fn dealer_notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The open session, for what this wrapper does not cover.
    pub fn open_session(&self) -> Option<&Open<QuicTransport>> {
        self.open.as_ref()
    }

    /// One query on an encoded input: the output and its costs. A failed query leaves no
    /// session to query again.
    pub fn query(&mut self, input: &[Ring]) -> Result<(Vec<Ring>, QueryReport), SessionError> {
        let open = self.open.take().ok_or(FAILED)?;
        let (open, answer) = open.query(input, &mut self.rng)?;
        self.open = Some(open);
        Ok((answer.output, answer.report))
    }

    /// Makes `count` queries now and keeps them in `batch` as pieces from `first`.
    pub fn stash(
        &mut self,
        batch: &veil_net::Batch,
        first: u32,
        count: u32,
        kept: &mut dyn FnMut(u32, &QueryReport),
    ) -> Result<(), SessionError> {
        let open = self.open.take().ok_or(FAILED)?;
        self.open = Some(open.stash(batch, (first, count), &mut self.rng, kept)?);
        Ok(())
    }

    /// Says goodbye and closes the connections, waiting for the closes to go out.
    pub fn close(mut self) {
        if let Some(open) = self.open.take() {
            open.close();
        }
        self.dialer.close();
    }
}

/// Spends the next kept query of `kept` on `input` over a new connection.
pub fn spend(
    opts: &Options,
    identity: &Arc<Identity>,
    pins: &Arc<KnownHosts>,
    handle: &Handle,
    kept: &KeptQueries<veil_net::Batch>,
    input: &[Ring],
) -> Result<Spent, SessionError> {
    let mut dialer = dialer(identity, pins, handle, crate::CONNECT);
    let spent = client::spend(&mut dialer, opts, kept, input);
    dialer.close();
    spent
}

/// The client's kept queries in the state folder `home` (under `precomputed/`).
pub fn kept_in(home: &std::path::Path) -> client::Kept<Store> {
    client::Kept::new(Store::new(home.join("precomputed")))
}
