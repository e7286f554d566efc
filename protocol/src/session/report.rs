//! Per-query costs from both ends' meters: bytes, rounds and time, per phase and layer.

use serde::{Deserialize, Serialize};

use crate::channel::{link_cost, Meter, Phase, Scope, Tally};
use crate::engine::correction_len_by_layer;
use crate::plan::Plan;

/// The cost of one phase (or one layer in one phase).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseCost {
    /// Payload bytes, every direction of every link.
    pub bytes: u64,
    /// Rounds (CONTRACT.md).
    pub rounds: u64,
    /// Wall time at the client, in milliseconds.
    pub ms: f64,
}

/// One layer's costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    /// The layer's name.
    pub name: String,
    /// Its kind (`linear`, `relu`).
    pub kind: String,
    /// Its share of the per-query material: bytes the dealer sends for it, or without a
    /// dealer the two-party preprocessing; under GC also the parties' OTs and tables.
    pub offline: PhaseCost,
    /// Its online cost.
    pub online: PhaseCost,
}

/// Payload bytes each way on each of the three links, in one phase. They add up to the
/// phase's `bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkBytes {
    /// Client to server.
    pub client_to_server: u64,
    /// Server to client.
    pub server_to_client: u64,
    /// Client to dealer.
    pub client_to_dealer: u64,
    /// Dealer to client.
    pub dealer_to_client: u64,
    /// Server to dealer.
    pub server_to_dealer: u64,
    /// Dealer to server.
    pub dealer_to_server: u64,
}

impl LinkBytes {
    /// Each direction with its name (`client → server`, …), in a fixed order.
    pub fn directions(&self) -> [(&'static str, u64); 6] {
        [
            ("client → server", self.client_to_server),
            ("server → client", self.server_to_client),
            ("client → dealer", self.client_to_dealer),
            ("dealer → client", self.dealer_to_client),
            ("server → dealer", self.server_to_dealer),
            ("dealer → server", self.dealer_to_server),
        ]
    }
}

/// Each phase's bytes, link by link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// The session's setup (with the first query only).
    pub setup: LinkBytes,
    /// The query's offline phase.
    pub offline: LinkBytes,
    /// The query's online phase.
    pub online: LinkBytes,
}

/// What one query cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryReport {
    /// The session's setup, reported with its first query (zero afterwards).
    pub setup: PhaseCost,
    /// The query's material: from the dealer, or made by the two parties.
    pub offline: PhaseCost,
    /// The query's online phase.
    pub online: PhaseCost,
    /// Per layer, in plan order.
    pub layers: Vec<LayerCost>,
    /// Per phase, the bytes of each link and direction.
    pub links: Links,
    /// UDP bytes on the client's links, both ways, QUIC and TLS included, since the
    /// previous report (the first one also holds the handshakes and setup), where the
    /// transport can tell.
    pub wire_bytes: Option<u64>,
}

impl QueryReport {
    /// This report with the offline costs (totals, per layer, per link) of `made`: for a
    /// query made ahead of time, whose offline phase ran in an earlier session.
    pub fn with_offline_of(mut self, made: &QueryReport) -> QueryReport {
        self.offline = made.offline;
        self.links.offline = made.links.offline;
        for (layer, m) in self.layers.iter_mut().zip(&made.layers) {
            layer.offline = m.offline;
        }
        self
    }
}

/// The meters behind one query: both ends of the server link, and each party's end of
/// its dealer link (the dealer's own end is not reported to the parties).
pub(crate) struct Meters {
    /// The client's end of the server link.
    pub peer: Meter,
    /// The server's end of the same link.
    pub server_peer: Meter,
    /// The client's end of its dealer link.
    pub dealer: Meter,
    /// The server's end of its dealer link.
    pub server_dealer: Meter,
}

/// Wall times measured at the client, and where the setup's depth starts.
pub(crate) struct Times {
    /// The client's clock on the server link before its hello: setup starts there.
    pub setup_base: u64,
    pub setup_ms: f64,
    pub wire_bytes: Option<u64>,
    pub offline_ms: f64,
    pub online_ms: f64,
    pub layer_ms: Vec<f64>,
    /// Without a dealer, the time to make each layer's material (empty with one).
    pub made_ms: Vec<f64>,
}

/// A link seen from one end: both directions' bytes, and that end's clock advance.
fn one_end(t: Tally) -> (u64, u64) {
    (t.sent + t.received, t.rounds())
}

/// The query's costs; `dealer` says whether a dealer sent the material (its bytes per
/// layer count offline) or the parties made it with each other (their link's offline
/// traffic, metered per layer, is all there is).
pub(crate) fn query_report(plan: &Plan, dealer: bool, m: &Meters, times: Times) -> QueryReport {
    let material = match dealer {
        true => correction_len_by_layer(plan),
        false => vec![0; plan.layers.len()],
    };
    let mut layers = Vec::with_capacity(plan.layers.len());
    let mut online = PhaseCost {
        ms: times.online_ms,
        ..PhaseCost::default()
    };
    // The online phase starts at the client, which holds the input: its depth counts from
    // the client's clock then. Control messages before it (the query request) may have
    // moved the server's clock ahead, but no online message waits for them.
    let mut depth = m.peer.tally(Scope::layer(Phase::Online, 0)).first_clock;
    for (i, layer) in plan.layers.iter().enumerate() {
        let scope = Scope::layer(Phase::Online, i);
        let (mine, theirs) = (m.peer.tally(scope), m.server_peer.tally(scope));
        let (bytes, _) = link_cost(mine, theirs);
        let reached = mine.last_clock.max(theirs.last_clock).max(depth);
        let rounds = reached - depth;
        depth = reached;
        online.bytes += bytes;
        online.rounds += rounds;
        // Offline per layer: the dealer's material for it, and under GC the parties' own
        // OT and garbled tables on their link; without a dealer, the time to make it.
        let pre = Scope::layer(Phase::Offline, i);
        let (two_party, pre_rounds) = link_cost(m.peer.tally(pre), m.server_peer.tally(pre));
        layers.push(LayerCost {
            name: layer.name.clone(),
            kind: layer.kind.name().to_string(),
            offline: PhaseCost {
                bytes: material[i] as u64 + two_party,
                rounds: pre_rounds,
                ms: times.made_ms.get(i).copied().unwrap_or_default(),
            },
            online: PhaseCost {
                bytes,
                rounds,
                ms: times.layer_ms.get(i).copied().unwrap_or_default(),
            },
        });
    }
    let (cb, cr) = one_end(m.dealer.phase_total(Phase::Offline));
    let (sb, sr) = one_end(m.server_dealer.phase_total(Phase::Offline));
    let (pb, pr) = link_cost(
        m.peer.phase_total(Phase::Offline),
        m.server_peer.phase_total(Phase::Offline),
    );
    let offline = PhaseCost {
        bytes: cb + sb + pb,
        rounds: cr.max(sr).max(pr),
        ms: times.offline_ms,
    };
    // Setup starts with the client's hello (control): E (or the base OTs) depends on it,
    // so its depth
    // counts from the client's clock before the hello.
    let (mine, theirs) = (
        m.peer.phase_total(Phase::Setup),
        m.server_peer.phase_total(Phase::Setup),
    );
    let (peer_bytes, _) = link_cost(mine, theirs);
    let peer_rounds = if peer_bytes == 0 {
        0
    } else {
        mine.last_clock.max(theirs.last_clock) - times.setup_base
    };
    let (db, dr) = one_end(m.server_dealer.phase_total(Phase::Setup));
    let setup = PhaseCost {
        bytes: peer_bytes + db,
        rounds: peer_rounds.max(dr),
        ms: times.setup_ms,
    };
    QueryReport {
        setup,
        offline,
        online,
        layers,
        links: Links {
            setup: link_bytes(m, Phase::Setup),
            offline: link_bytes(m, Phase::Offline),
            online: link_bytes(m, Phase::Online),
        },
        wire_bytes: times.wire_bytes,
    }
}

/// One phase's bytes per link and direction, from each party's end of its links.
fn link_bytes(m: &Meters, phase: Phase) -> LinkBytes {
    let (peer, dealer, server_dealer) = (
        m.peer.phase_total(phase),
        m.dealer.phase_total(phase),
        m.server_dealer.phase_total(phase),
    );
    LinkBytes {
        client_to_server: peer.sent,
        server_to_client: peer.received,
        client_to_dealer: dealer.sent,
        dealer_to_client: dealer.received,
        server_to_dealer: server_dealer.sent,
        dealer_to_server: server_dealer.received,
    }
}
