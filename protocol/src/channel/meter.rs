//! Counting bytes and rounds per phase and per layer.

use std::collections::BTreeMap;

/// The phases of CONTRACT.md, plus `Control` for messages that are not protocol cost
/// (hello, plan, statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Session set-up, negotiation and reports: not counted in any phase.
    Control,
    /// Once per client session: base OTs, the masked weights E = W − U.
    Setup,
    /// Per-query correlated randomness.
    Offline,
    /// From the client's input to its output.
    Online,
}

/// Where a message is counted: a phase, and the layer it belongs to if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The phase.
    pub phase: Phase,
    /// The index of the layer in the plan, if the message belongs to one.
    pub layer: Option<usize>,
}

impl Scope {
    /// Uncounted control traffic.
    pub const CONTROL: Scope = Scope {
        phase: Phase::Control,
        layer: None,
    };

    /// A phase as a whole, no layer.
    pub fn phase(phase: Phase) -> Scope {
        Scope { phase, layer: None }
    }

    /// One layer within a phase.
    pub fn layer(phase: Phase, layer: usize) -> Scope {
        Scope {
            phase,
            layer: Some(layer),
        }
    }
}

/// What one party counted in one scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Payload bytes this party sent.
    pub sent: u64,
    /// Payload bytes this party received.
    pub received: u64,
    /// The round clock when the scope was first entered.
    pub first_clock: u64,
    /// The round clock at the scope's last message (at its first entry if it has none).
    pub last_clock: u64,
}

impl Tally {
    /// Rounds seen by this party alone: its clock's advance in the scope.
    pub fn rounds(&self) -> u64 {
        self.last_clock - self.first_clock
    }

    /// Both directions of the link, counted from one end.
    pub fn bytes(&self) -> u64 {
        self.sent + self.received
    }
}

/// The cost of one scope of one link from both ends' tallies: payload bytes both ways,
/// and rounds as the advance of the deeper clock (CONTRACT.md).
pub fn link_cost(a: Tally, b: Tally) -> (u64, u64) {
    (
        a.sent + b.sent,
        a.last_clock.max(b.last_clock) - a.first_clock.max(b.first_clock),
    )
}

/// Tallies per scope for one end of one channel.
#[derive(Clone, Debug)]
pub struct Meter {
    current: Scope,
    tallies: BTreeMap<Scope, Tally>,
}

impl Default for Meter {
    fn default() -> Self {
        Self::new()
    }
}

impl Meter {
    /// An empty meter in the control scope.
    pub fn new() -> Self {
        let mut tallies = BTreeMap::new();
        tallies.insert(Scope::CONTROL, Tally::default());
        Meter {
            current: Scope::CONTROL,
            tallies,
        }
    }

    /// Counts what follows under `scope`. A scope entered again keeps its span: from its
    /// first entry to its last message (the clock moves only when a message arrives, and
    /// each one is counted where it arrives), so a visit without traffic adds nothing.
    pub(super) fn enter(&mut self, scope: Scope, clock: u64) {
        self.current = scope;
        self.tallies.entry(scope).or_insert(Tally {
            first_clock: clock,
            last_clock: clock,
            ..Tally::default()
        });
    }

    pub(super) fn current(&self) -> Scope {
        self.current
    }

    pub(super) fn charge(&mut self, sent: u64, received: u64) {
        let t = self.tallies.entry(self.current).or_default();
        t.sent += sent;
        t.received += received;
    }

    pub(super) fn sent(&mut self, n: u64, clock: u64) {
        let t = self.tallies.entry(self.current).or_default();
        t.sent += n;
        t.last_clock = clock;
    }

    pub(super) fn received(&mut self, n: u64, clock: u64) {
        let t = self.tallies.entry(self.current).or_default();
        t.received += n;
        t.last_clock = clock;
    }

    /// The tally of one scope (zero if never entered).
    pub fn tally(&self, scope: Scope) -> Tally {
        self.tallies.get(&scope).copied().unwrap_or_default()
    }

    /// Every scope entered, in order of phase then layer.
    pub fn scopes(&self) -> impl Iterator<Item = (&Scope, &Tally)> {
        self.tallies.iter()
    }

    /// The sum over all layers of a phase, and its whole clock span.
    pub fn phase_total(&self, phase: Phase) -> Tally {
        let mut total: Option<Tally> = None;
        for (_, t) in self.tallies.iter().filter(|(s, _)| s.phase == phase) {
            let acc = total.get_or_insert(Tally {
                first_clock: t.first_clock,
                last_clock: t.last_clock,
                ..Tally::default()
            });
            acc.sent += t.sent;
            acc.received += t.received;
            acc.first_clock = acc.first_clock.min(t.first_clock);
            acc.last_clock = acc.last_clock.max(t.last_clock);
        }
        total.unwrap_or_default()
    }
}

/// Rebuilds a meter from tallies (e.g. those a peer reported).
impl FromIterator<(Scope, Tally)> for Meter {
    fn from_iter<I: IntoIterator<Item = (Scope, Tally)>>(iter: I) -> Self {
        let mut m = Meter::new();
        m.tallies.extend(iter);
        m
    }
}
