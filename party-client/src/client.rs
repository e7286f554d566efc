//! [`Client`]: the client's keys, pins and runtime, and at most one open session, which
//! answers many queries (setup paid once) until [`Client::close`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_model::{Card, NpyArray};
use veil_net::cli::runtime;
use veil_net::{
    state_dir, Identity, KnownHosts, QuicDialer, QuicTransport, Store, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
};
use veil_protocol::plan::{Backend, Plan};
use veil_protocol::prg::Prg;
use veil_protocol::session::client::{
    self, AnswerKind, Kept, KeptQueries, Open, Options, Progress, Spent,
};
use veil_protocol::session::{PhaseCost, SessionError};
use veil_protocol::wire::{BatchId, ModelInfo};

use crate::input::Input;
use crate::json::{Answered, Made};

/// Whom to ask, for what: the same for every query of a [`Client`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// The server, as `host:port`.
    pub server: String,
    /// The model to query (`None`: the server's only one).
    pub model: Option<String>,
    /// The backend of the non-linear layers.
    pub backend: Backend,
    /// The dealer the user trusts, as `host:port` (`None`: the one the server announces,
    /// pinned on first contact).
    pub dealer: Option<String>,
}

/// Told each notice meant for the user (a dealer trusted on first contact, a precomputed
/// query that could not be used), as one sentence.
pub type Notify = Box<dyn FnMut(&str) + Send>;

/// A session left idle this long is closed and a new one opened before the next query:
/// a server stops waiting for a client's next message after [`DEFAULT_TIMEOUT`].
const IDLE_REOPEN: Duration = Duration::from_secs(DEFAULT_TIMEOUT.as_secs() / 2);

/// The client's keys (`$VEIL_HOME` or `~/.veil`), pins, runtime and kept queries, and the
/// session it holds open with the server between queries.
///
/// A fresh query runs on the open session (opened on first use, or by
/// [`Client::connect`]): only the session's first query reports its setup, later ones
/// report setup as zero. A query made ahead of time ([`Client::precompute`]) is spent
/// first, each on a connection of its own. A failed query ends the session; the next one
/// opens a new session.
pub struct Client {
    /// The open session, dropped (and its connections closed) before the runtime.
    live: Option<Live>,
    settings: Settings,
    identity: Arc<Identity>,
    pins: Arc<KnownHosts>,
    kept: Kept<Store>,
    /// Where the kept queries live.
    kept_root: PathBuf,
    notify: Notify,
    /// The user was told that the server answers with the label alone.
    told_label_only: bool,
    progress: Option<Progress>,
    /// The cards of the models seen so far, by name (`None`: the model has none).
    cards: HashMap<String, Option<Card>>,
    /// Every random choice of the client's sessions, seeded from the OS at the top.
    rng: Prg,
    runtime: tokio::runtime::Runtime,
}

/// An open session, the dialer holding its connections, whether its answers are the
/// label alone, and when it was last used.
struct Live {
    session: Open<QuicTransport>,
    dialer: QuicDialer,
    label_only: bool,
    used: Instant,
}

impl Live {
    /// Says goodbye to the server and closes the connections.
    fn close(self) {
        self.session.close();
        self.dialer.close();
    }
}

impl Client {
    /// Loads (or makes) the client's key and pins from the state folder and starts the
    /// runtime; connects to nothing yet. `notify` is told what the user should know.
    pub fn new(settings: Settings, notify: Notify) -> Result<Client, SessionError> {
        let dir = state_dir();
        let kept_root = dir.join("precomputed");
        Ok(Client {
            live: None,
            identity: Arc::new(Identity::load_or_create(&dir, "client")?),
            pins: Arc::new(KnownHosts::open(&dir)?),
            kept: Kept::new(Store::new(&kept_root)),
            kept_root,
            settings,
            notify,
            told_label_only: false,
            progress: None,
            cards: HashMap::new(),
            rng: Prg::from_os(),
            runtime: runtime()?,
        })
    }

    /// What this client asks for.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where the queries made ahead of time wait.
    pub fn kept_root(&self) -> &Path {
        &self.kept_root
    }

    /// Reports the dealer-free preprocessing's progress of the next session opened to
    /// `progress` (nothing is reported when a dealer serves).
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// Opens the session now (setup included) unless one is open, for answers of the label
    /// alone or not: a server that cannot be reached, or that refuses the model or
    /// backend, fails here.
    pub fn connect(&mut self, label_only: bool) -> Result<(), SessionError> {
        let live = self.take_live(label_only)?;
        self.live = Some(live);
        Ok(())
    }

    /// The plan of the session for answers of the label alone or not (opened now if no such
    /// session is open): the model's input shape, its outputs.
    pub fn plan(&mut self, label_only: bool) -> Result<&Plan, SessionError> {
        let live = self.take_live(label_only)?;
        Ok(self.live.insert(live).session.plan())
    }

    /// Runs one private query on `input` (the model's input, C order): a query made ahead
    /// of time for this server, model, backend and kind of answer if one is waiting, else
    /// a fresh one on the open session. `label_only` asks for the label alone; a server
    /// that answers with the label alone anyway says so once through the notices.
    pub fn infer(&mut self, input: &[f32], label_only: bool) -> Result<Answered, SessionError> {
        let flat = NpyArray {
            shape: vec![input.len()],
            data: input.to_vec(),
        };
        self.infer_input(&Input::Values(flat), label_only)
    }

    /// [`Client::infer`] on an [`Input`]: values, or an image prepared as the model's card
    /// says (the card comes from the server: with the session's welcome, or from its
    /// catalog before a query made ahead of time is spent). The answer names its class
    /// when the card names the classes.
    pub fn infer_input(
        &mut self,
        input: &Input,
        label_only: bool,
    ) -> Result<Answered, SessionError> {
        let answer = options(&self.settings, label_only).answer();
        let Settings { server, model, .. } = &self.settings;
        let found = self.kept.find(server, model.as_deref(), answer)?;
        let mut answered = None;
        if let Some(batch) = found {
            answered = self.spend_kept(&batch, input, label_only)?;
        }
        let mut answered = match answered {
            Some(answered) => answered,
            None => self.fresh_query(input, label_only)?,
        };
        // A kept query of values learnt no card: the catalog names the classes, if it can
        // be had (the answer stands without them).
        let model = &answered.plan.model;
        if !self.cards.contains_key(model) {
            if let Err(e) = self.models() {
                let why = format!("the class names of {model} could not be fetched: {e}");
                (self.notify)(&why);
            }
        }
        let card = self.cards.get(model).and_then(Option::as_ref);
        answered.class = card
            .and_then(|c| c.class(answered.label))
            .map(str::to_string);
        if answered.plan.label_only() && !label_only && !self.told_label_only {
            self.told_label_only = true;
            (self.notify)("this server answers with the label alone (it runs with --label-only)");
        }
        Ok(answered)
    }

    /// Makes `queries` queries ahead of time on the open session (opened now if none is)
    /// and keeps them in the state folder, in a new batch, until [`Client::infer`] spends
    /// them (with the same `label_only`); `kept(index)` is told as each is kept.
    pub fn precompute(
        &mut self,
        queries: u32,
        label_only: bool,
        kept: &mut dyn FnMut(u32),
    ) -> Result<Made, SessionError> {
        if queries == 0 {
            return Err(SessionError::usage(
                "precompute makes 1 or more queries, not 0",
            ));
        }
        let live = self.take_live(label_only)?;
        let batch = self.kept.create(
            &self.settings.server,
            &live.session,
            BatchId::from_rng(&mut self.rng),
        )?;
        let (plan, material) = (live.session.plan().clone(), live.session.source());
        let (mut setup, mut offline) = (PhaseCost::default(), PhaseCost::default());
        let mut first = true;
        let Live {
            session,
            dialer,
            label_only,
            ..
        } = live;
        let stashed = session.stash(&batch, (0, queries), &mut self.rng, &mut |i, report| {
            if first {
                setup = report.setup;
                first = false;
            }
            offline.bytes += report.offline.bytes;
            offline.rounds = offline.rounds.max(report.offline.rounds);
            offline.ms += report.offline.ms;
            kept(i);
        });
        self.keep_alive(stashed.map(|session| (session, ())), dialer, label_only)?;
        let waiting =
            self.kept
                .waiting(&self.settings.server, &plan.model, AnswerKind::of(&plan))?;
        Ok(Made {
            plan,
            material,
            queries,
            setup,
            offline,
            waiting,
        })
    }

    /// Asks the server what it hosts, on a connection of its own (the open session, if
    /// any, is left alone).
    pub fn models(&mut self) -> Result<Vec<ModelInfo>, SessionError> {
        let mut dialer = self.dialer();
        let listed = client::list(&mut dialer, &self.settings.server);
        dialer.close();
        let models = listed?;
        for m in &models {
            self.cards.insert(m.name.clone(), m.card.clone());
        }
        Ok(models)
    }

    /// The card of the model named `model`, from a session's welcome or else from the
    /// server's catalog.
    fn card_of(&mut self, model: &str) -> Result<Option<&Card>, SessionError> {
        if !self.cards.contains_key(model) {
            self.models()?;
        }
        Ok(self.cards.get(model).and_then(Option::as_ref))
    }

    /// Ends the open session, if any, politely: the server sees a clean end at once.
    pub fn close(&mut self) {
        if let Some(live) = self.live.take() {
            live.close();
        }
    }

    /// Runs a fresh query on the open session (opening one if needed); a failure ends it.
    fn fresh_query(&mut self, input: &Input, label_only: bool) -> Result<Answered, SessionError> {
        let live = self.take_live(label_only)?;
        let plan = live.session.plan().clone();
        let material = live.session.source();
        let card = live.session.card().cloned();
        self.cards.insert(plan.model.clone(), card.clone());
        let encoded = match input.encode(&plan, card.as_ref()) {
            Ok(encoded) => encoded,
            Err(e) => {
                // A bad input costs no session: it has not been sent.
                self.live = Some(live);
                return Err(e);
            }
        };
        let Live {
            session, dialer, ..
        } = live;
        let queried = session.query(&encoded, &mut self.rng);
        let answer = self.keep_alive(queried, dialer, label_only)?;
        Answered::new(plan, &answer.output, answer.report, material, false)
    }

    /// Keeps the session a step handed back; on a failure closes its connections.
    fn keep_alive<A>(
        &mut self,
        step: Result<(Open<QuicTransport>, A), SessionError>,
        dialer: QuicDialer,
        label_only: bool,
    ) -> Result<A, SessionError> {
        match step {
            Ok((session, value)) => {
                self.live = Some(Live {
                    session,
                    dialer,
                    label_only,
                    used: Instant::now(),
                });
                Ok(value)
            }
            Err(e) => {
                dialer.close();
                Err(e)
            }
        }
    }

    /// The open session, taken out of the client; a new one if none is open, the open one
    /// answers otherwise than `label_only` asks, or it sat idle long enough for the server
    /// to have given up on it.
    fn take_live(&mut self, label_only: bool) -> Result<Live, SessionError> {
        let opts = options(&self.settings, label_only);
        match self.live.take() {
            Some(live) if live.label_only == label_only && live.used.elapsed() < IDLE_REOPEN => {
                return Ok(live)
            }
            Some(other) => other.close(),
            None => {}
        }
        let mut dialer = self.dialer();
        let opened = client::open(&mut dialer, &opts, &mut self.rng);
        let (mut session, notice) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                dialer.close();
                return Err(e);
            }
        };
        if let Some(notice) = notice {
            (self.notify)(&notice);
        }
        if let Some(progress) = self.progress.take() {
            session.set_progress(progress);
        }
        Ok(Live {
            session,
            dialer,
            label_only,
            used: Instant::now(),
        })
    }

    /// Spends a query made ahead of time, on a connection of its own; `None` (after
    /// telling the user why) if the piece could not be used, so that a fresh query runs.
    fn spend_kept(
        &mut self,
        batch: &KeptQueries<veil_net::Batch>,
        input: &Input,
        label_only: bool,
    ) -> Result<Option<Answered>, SessionError> {
        // A kept query's connection carries no card: an image needs the catalog's first.
        // A bad input is refused before a piece is taken.
        let card = match input.is_image() {
            true => self.card_of(&batch.plan().model)?.cloned(),
            false => None,
        };
        let encoded = input.encode(batch.plan(), card.as_ref())?;
        let opts = options(&self.settings, label_only);
        let mut dialer = self.dialer();
        let spent = client::spend(&mut dialer, &opts, batch, &encoded);
        dialer.close();
        match spent? {
            Spent::Answered(output, report) => {
                let plan = batch.plan().clone();
                Answered::new(plan, &output, *report, batch.source(), true).map(Some)
            }
            Spent::Unusable(why) => {
                (self.notify)(&format!(
                    "a precomputed query could not be used ({why}); running a fresh query"
                ));
                Ok(None)
            }
        }
    }

    /// A dialer for one session's connections.
    fn dialer(&self) -> QuicDialer {
        let (identity, pins) = (self.identity.clone(), self.pins.clone());
        let handle = self.runtime.handle().clone();
        QuicDialer::new(identity, pins, handle, DEFAULT_CONNECT_TIMEOUT)
    }
}

impl Drop for Client {
    /// A client dropped without [`Client::close`] still says goodbye.
    fn drop(&mut self) {
        self.close();
    }
}

/// The session options for `settings`, and whether the answer is the label alone: the one
/// place that builds [`Options`].
fn options(settings: &Settings, label_only: bool) -> Options {
    Options {
        server: settings.server.clone(),
        model: settings.model.clone(),
        backend: settings.backend,
        dealer: settings.dealer.clone(),
        label_only,
    }
}
