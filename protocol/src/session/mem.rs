//! A dealer and a server in this process, reached over in-memory pipes: whole sessions
//! (every wire message, the dealer's table, kept queries) with no socket, for tests and
//! examples.
//!
//! A [`MemNet`] hosts models as a server would and keeps one dealer's table. Its dialers
//! ([`MemNet::dialer`]) know two names: [`SERVER`] starts a server session for the caller
//! on a thread of its own, [`DEALER`] a dealer connection. Each thread gets a generator
//! split off its dialer's, so a whole run replays from the seeds the caller gives; every
//! frame sent on every link is kept ([`MemNet::transcript`]) so two runs can be compared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::dealer::{self, Sessions};
use super::server::{self, Hosting};
use super::{Dial, Dialed, MemStore, SessionError};
use crate::channel::{ChannelError, MemTransport, Transport};
use crate::prg::Prg;

/// The server's name on a [`MemNet`].
pub const SERVER: &str = "server";
/// The dealer's name on a [`MemNet`].
pub const DEALER: &str = "dealer";
/// The key fingerprint the server presents.
pub const SERVER_KEY: &str = "server-key";
/// The key fingerprint the dealer presents.
pub const DEALER_KEY: &str = "dealer-key";

/// Every frame sent on every link, by link (`dialer/n→peer` and back) in order.
pub type Transcript = BTreeMap<String, Vec<Vec<u8>>>;

/// How each session thread ended, by link.
pub type Outcomes = BTreeMap<String, Result<String, String>>;

/// A server hosting models, and a dealer, in this process.
#[derive(Clone)]
pub struct MemNet {
    shared: Arc<Shared>,
}

struct Shared {
    hosting: Hosting<MemStore>,
    sessions: Sessions,
    transcript: Mutex<Transcript>,
    outcomes: Mutex<Outcomes>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemNet {
    /// A server offering `hosting` (its dealer, if any, must be named [`DEALER`]) and a
    /// dealer with an empty table.
    pub fn new(hosting: Hosting<MemStore>) -> MemNet {
        MemNet {
            shared: Arc::new(Shared {
                hosting,
                sessions: Sessions::new(),
                transcript: Mutex::default(),
                outcomes: Mutex::default(),
                threads: Mutex::default(),
            }),
        }
    }

    /// A dialer for a client presenting the key `key`, its sessions' generators split off
    /// `rng`. Its links are named `name/n→peer`, `n` counting its dials.
    pub fn dialer(&self, name: &str, key: &str, rng: Prg) -> MemDialer {
        MemDialer {
            net: self.clone(),
            name: name.to_string(),
            key: key.to_string(),
            rng,
            dialed: 0,
            pinned: BTreeSet::new(),
        }
    }

    /// The dealer's table.
    pub fn sessions(&self) -> &Sessions {
        &self.shared.sessions
    }

    /// The server's store of kept queries, if it keeps any.
    pub fn store(&self) -> Option<&MemStore> {
        self.shared.hosting.precomputed.as_ref().map(|p| &p.store)
    }

    /// Waits for every server session and dealer connection to end; returns how each
    /// ended (its `Debug` on success, its error message on failure), by link.
    pub fn finish(&self) -> Outcomes {
        loop {
            let Some(thread) = lock(&self.shared.threads).pop() else {
                break;
            };
            // A thread that panicked leaves its link without an outcome: the caller sees it.
            let _ = thread.join();
        }
        lock(&self.shared.outcomes).clone()
    }

    /// Every frame sent so far, by link.
    pub fn transcript(&self) -> Transcript {
        lock(&self.shared.transcript).clone()
    }

    /// Starts the peer `name`'s side of a new link on a thread, for the client whose key is
    /// `client`; returns the key the peer presents.
    fn answer(
        &self,
        name: &str,
        link: String,
        end: Tap,
        client: &str,
        mut rng: Prg,
    ) -> Result<&'static str, SessionError> {
        type Run = Box<dyn FnOnce() -> Result<String, SessionError> + Send>;
        let label = link.clone();
        let (key, run): (&'static str, Run) = match name {
            SERVER => {
                let (net, client) = (self.clone(), client.to_string());
                let run = move || {
                    let mut dial = net.dialer(&link, SERVER_KEY, rng.split());
                    let hosting = &net.shared.hosting;
                    let served = server::serve(end, &client, hosting, &mut dial, &mut rng);
                    served.map(|s| format!("{s:?}"))
                };
                (SERVER_KEY, Box::new(run))
            }
            DEALER => {
                let shared = self.shared.clone();
                let run = move || {
                    let dealt = dealer::serve(end, &shared.sessions, &mut rng);
                    dealt.map(|d| format!("{d:?}"))
                };
                (DEALER_KEY, Box::new(run))
            }
            _ => {
                let unknown = format!("no peer is named {name:?} here");
                return Err(SessionError::connection(unknown));
            }
        };
        let shared = self.shared.clone();
        let thread = std::thread::spawn(move || {
            let outcome = run().map_err(|e| e.to_string());
            lock(&shared.outcomes).insert(label, outcome);
        });
        lock(&self.shared.threads).push(thread);
        Ok(key)
    }
}

/// A [`Dial`] on a [`MemNet`].
pub struct MemDialer {
    net: MemNet,
    name: String,
    key: String,
    rng: Prg,
    dialed: usize,
    pinned: BTreeSet<String>,
}

impl Dial for MemDialer {
    type Transport = Tap;

    fn dial(&mut self, name: &str) -> Result<Dialed<Tap>, SessionError> {
        let link = format!("{}/{}→{name}", self.name, self.dialed);
        let back = format!("{}/{}←{name}", self.name, self.dialed);
        let (mine, theirs) = MemTransport::pair();
        let shared = &self.net.shared;
        let mine = Tap::new(mine, link.clone(), shared.clone());
        let theirs = Tap::new(theirs, back, shared.clone());
        let rng = self.rng.split();
        let key = self.net.answer(name, link, theirs, &self.key, rng)?;
        self.dialed += 1;
        Ok(Dialed {
            transport: mine,
            key: key.to_string(),
            newly_pinned: self.pinned.insert(name.to_string()),
        })
    }
}

/// One end of an in-memory link that keeps a copy of every frame it sends.
pub struct Tap {
    inner: MemTransport,
    link: String,
    shared: Arc<Shared>,
}

impl Tap {
    fn new(inner: MemTransport, link: String, shared: Arc<Shared>) -> Tap {
        Tap {
            inner,
            link,
            shared,
        }
    }
}

impl Transport for Tap {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.send_owned(frame.to_vec())
    }

    fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        lock(&self.shared.transcript)
            .entry(self.link.clone())
            .or_default()
            .push(frame.clone());
        self.inner.send_owned(frame)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.recv()
    }

    fn limit_incoming(&mut self, max: Option<usize>) {
        self.inner.limit_incoming(max)
    }
}
