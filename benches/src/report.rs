//! Reports for people (aligned tables) and for scripts (one JSON object).

use serde::Serialize;
use veil_protocol::material::{LinearPrep, OtKind, Preprocessing};
use veil_protocol::session::Links;

use crate::accuracy::AccuracyReport;
use crate::compare::Comparison;
use crate::counts::Counts;
use crate::demo::DemoReport;
use crate::estimate::Estimate;
use crate::goals::Goal;
use crate::per_relu::ReluCost;
use crate::run::RunReport;
use crate::summary::{LayerStat, Stat};
use crate::table::{millis, percent, thousands, Align, Table};

/// At most this many differing images are listed by number.
const LIST_AT_MOST: usize = 20;

/// `value` as one line of JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(value)
}

/// The phases as a table: bytes and rounds (medians), ms median and p90.
pub fn phase_table(setup: &Stat, offline: &Stat, online: &Stat) -> Table {
    let mut t = Table::new(&[
        ("phase", Align::Left),
        ("per", Align::Left),
        ("bytes", Align::Right),
        ("rounds", Align::Right),
        ("ms median", Align::Right),
        ("ms p90", Align::Right),
    ]);
    for (name, per, s) in [
        ("setup", "session", setup),
        ("offline", "query", offline),
        ("online", "query", online),
    ] {
        t.row(vec![
            name.into(),
            per.into(),
            thousands(s.bytes),
            s.rounds.to_string(),
            millis(s.ms),
            millis(s.ms_p90),
        ]);
    }
    t
}

/// The layers as a table: online bytes, rounds and median ms, offline bytes; with
/// `counts` (one per layer), the ANDs, triples and OTs each consumes.
pub fn layer_table<'a>(
    layers: impl IntoIterator<Item = &'a LayerStat>,
    counts: Option<&[Counts]>,
) -> Table {
    let mut columns = vec![
        ("layer", Align::Left),
        ("kind", Align::Left),
        ("online bytes", Align::Right),
        ("rounds", Align::Right),
        ("ms median", Align::Right),
        ("offline bytes", Align::Right),
    ];
    if counts.is_some() {
        columns.extend([
            ("ANDs", Align::Right),
            ("triples", Align::Right),
            ("OTs", Align::Right),
        ]);
    }
    let mut t = Table::new(&columns);
    for (i, l) in layers.into_iter().enumerate() {
        let mut row = vec![
            l.name.clone(),
            l.kind.clone(),
            thousands(l.online.bytes),
            l.online.rounds.to_string(),
            millis(l.online.ms),
            thousands(l.offline.bytes),
        ];
        if let Some(c) = counts.and_then(|c| c.get(i)) {
            row.extend([c.and_gates, c.triples, c.ots].map(thousands));
        }
        t.row(row);
    }
    t
}

/// Each link's bytes, direction by direction, per phase.
pub fn link_table(links: &Links) -> Table {
    let mut t = Table::new(&[
        ("link", Align::Left),
        ("setup (once)", Align::Right),
        ("offline", Align::Right),
        ("online", Align::Right),
    ]);
    let phases = [links.setup, links.offline, links.online].map(|l| l.directions());
    for (i, (name, _)) in phases[0].iter().enumerate() {
        let mut row = vec![name.to_string()];
        row.extend(phases.iter().map(|p| thousands(p[i].1)));
        t.row(row);
    }
    t
}

/// Measured against estimated time per phase.
pub fn estimate_table(e: &Estimate) -> Table {
    let mut t = Table::new(&[
        ("phase", Align::Left),
        ("measured ms", Align::Right),
        ("estimate ms", Align::Right),
        ("= compute", Align::Right),
        ("+ rounds·RTT/2", Align::Right),
        ("+ bytes/bandwidth", Align::Right),
    ]);
    for (name, p) in [
        ("setup", &e.setup),
        ("offline", &e.offline),
        ("online", &e.online),
    ] {
        t.row(vec![
            name.into(),
            millis(p.measured_ms),
            millis(p.estimate_ms),
            millis(p.compute_ms),
            millis(p.latency_ms),
            millis(p.transfer_ms),
        ]);
    }
    t
}

/// `run`'s report as text.
pub fn run_text(r: &RunReport) -> String {
    let net = match r.link {
        Some(l) => format!(
            "{}: {} MB/s and {} ms round trip on every link (shaped)",
            r.net, l.bandwidth_mb_s, l.rtt_ms
        ),
        None => format!("{} (unshaped)", r.net),
    };
    let mut out = format!(
        "veil-bench run: {} over {} {}, QUIC on loopback, net {net}\n",
        r.model,
        r.backend.to_uppercase(),
        material(r.material),
    );
    if r.interrupted {
        out += &format!(
            "interrupted: {} of {} queries ran\n",
            r.queries, r.requested
        );
    }
    if r.queries == 0 {
        out += "no query finished: nothing to report\n";
        return out;
    }
    out += &format!(
        "{} queries in one session ({}); medians per query\n\n",
        thousands(r.queries as u64),
        r.inputs
    );
    out += &phase_table(&r.setup, &r.offline, &r.online).render(2);
    if !r.costs_constant {
        out += "  bytes and rounds VARY across queries (medians shown)\n";
    }
    out += &format!(
        "  bit-exact with the fixed-point reference: {} of {} ({} differ)\n",
        r.queries - r.differ,
        r.queries,
        r.differ
    );
    if let Some(e) = &r.estimate {
        out += &format!(
            "\nestimate: compute + rounds·RTT/2 + bytes/bandwidth (a round is one one-way \
             message); compute = {}\n",
            e.compute
        );
        out += &estimate_table(e).render(2);
        out += "  setup's measured time also holds the connections, the hello and the dealer \
                join: control messages, not rounds of any phase\n";
    }
    out += "\nbytes per link and direction\n";
    out += &link_table(&r.links).render(2);
    out += "\n";
    let counts: Vec<Counts> = r.layers.iter().map(|l| l.counts).collect();
    out += &layer_table(r.layers.iter().map(|l| &l.cost), Some(&counts)).render(2);
    out += &format!(
        "\nper query: {} bytes, {} rounds, {} ms (offline + online); {} ANDs, {} triples, \
         {} OTs; setup {} OTs\nthroughput {:.1} queries/s\n",
        thousands(r.total.bytes),
        r.total.rounds,
        millis(r.total.ms),
        thousands(r.counts.per_query.and_gates),
        thousands(r.counts.per_query.triples),
        thousands(r.counts.per_query.ots),
        thousands(r.counts.setup.ots),
        r.throughput_qps
    );
    if let Some(c) = &r.per_relu {
        out += &format!("{}\n", relu_line(c));
    }
    out
}

/// One ReLU's cost in a line.
fn relu_line(c: &ReluCost) -> String {
    format!(
        "per ReLU (k = {}, {} ReLUs per query): {} B offline + {} B online = {} B; {:.0} ANDs",
        c.k,
        thousands(c.relus),
        thousands(c.offline_bytes.round() as u64),
        thousands(c.online_bytes.round() as u64),
        thousands(c.total_bytes.round() as u64),
        c.and_gates
    )
}

/// `accuracy`'s report as text.
pub fn accuracy_text(r: &AccuracyReport) -> String {
    let mut out = format!(
        "veil-bench accuracy: {} over {} {}, {} of {} images\n",
        r.model,
        r.backend.to_uppercase(),
        material(r.material),
        thousands(r.n as u64),
        thousands(r.requested as u64)
    );
    out += &format!(
        "accuracy: secure {}, fixed-point reference {}, float {}\n",
        percent(r.secure_accuracy),
        percent(r.fixed_accuracy),
        percent(r.float_accuracy)
    );
    out += &format!(
        "bit-exact with the fixed-point reference: {} of {} ({} differ)\n",
        thousands((r.n - r.differ) as u64),
        thousands(r.n as u64),
        r.differ
    );
    out
}

/// `compare`'s report as text: per network, veil's rows then the published ones with
/// veil / published.
pub fn compare_text(c: &Comparison) -> String {
    let mut out = format!(
        "veil-bench compare: veil on the {} setting (every link shaped to 625 MB/s, 0.2 ms \
         round trip; {} queries, medians) beside published single-query figures.\n\
         veil's offline = session setup + one query's preprocessing. Ratio = veil / \
         published (below 1: veil is cheaper).\n",
        c.net, c.queries
    );
    for n in &c.networks {
        out += &format!("\n{}\n", n.network);
        if !n.shipped {
            out += "  not shipped in this build: published figures only\n";
        }
        out += &compare_table(n).render(2);
    }
    out += "\nper ReLU: veil's plain ReLU layers (bytes measured, divided by their ReLUs) \
            beside published per-ReLU costs\n";
    out += &relu_table(c).render(2);
    out
}

/// veil's cost per ReLU for each network and backend, then the published ones.
fn relu_table(c: &Comparison) -> Table {
    let mut t = Table::new(&[
        ("protocol", Align::Left),
        ("k", Align::Right),
        ("offline B", Align::Right),
        ("online B", Align::Right),
        ("total B", Align::Right),
        ("ANDs", Align::Right),
        ("source", Align::Left),
    ]);
    let bytes = |b: f64| thousands(b.round() as u64);
    for n in &c.networks {
        for v in &n.veil {
            if let Some(r) = &v.per_relu {
                t.row(vec![
                    format!("veil {}", v.backend.to_uppercase()),
                    r.k.to_string(),
                    bytes(r.offline_bytes),
                    bytes(r.online_bytes),
                    bytes(r.total_bytes),
                    format!("{:.0}", r.and_gates),
                    format!("this run, {}", n.network),
                ]);
            }
        }
    }
    for p in &c.published_per_relu {
        let rounds = p.rounds.map_or(String::new(), |r| format!(", {r} rounds"));
        t.row(vec![
            p.protocol.clone(),
            String::new(),
            "-".into(),
            "-".into(),
            thousands(p.bytes),
            "-".into(),
            format!("{}{rounds}", p.source),
        ]);
    }
    t
}

fn compare_table(n: &crate::compare::NetworkComparison) -> Table {
    let mut columns = vec![
        ("system", Align::Left),
        ("offline s", Align::Right),
        ("online s", Align::Right),
        ("total s", Align::Right),
        ("total MB", Align::Right),
        ("source", Align::Left),
    ];
    let ratio_titles: Vec<String> = n
        .veil
        .iter()
        .map(|v| format!("veil {} ratio", v.backend.to_uppercase()))
        .collect();
    columns.extend(ratio_titles.iter().map(|t| (t.as_str(), Align::Right)));
    let mut t = Table::new(&columns);
    let fig = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for v in &n.veil {
        t.row(vec![
            format!("veil {}", v.backend.to_uppercase()),
            fig(Some(v.offline_s)),
            fig(Some(v.online_s)),
            fig(Some(v.total_s)),
            fig(Some(v.total_mb)),
            "this run".into(),
        ]);
    }
    for p in &n.published {
        let mut row = vec![
            p.published.system.clone(),
            fig(p.published.offline_s),
            fig(p.published.online_s),
            fig(p.published.total_s),
            fig(p.published.total_mb),
            p.published.source.clone(),
        ];
        for v in &n.veil {
            row.push(ratio_cell(p.ratio.get(v.backend)));
        }
        t.row(row);
    }
    t
}

/// The time ratio (total, else online) and the MB ratio, where given.
fn ratio_cell(r: Option<&std::collections::BTreeMap<&'static str, f64>>) -> String {
    let Some(r) = r else {
        return "-".into();
    };
    let time = r
        .get("total_s")
        .map(|x| format!("{x:.3} total"))
        .or_else(|| r.get("online_s").map(|x| format!("{x:.3} online")));
    let mb = r.get("total_mb").map(|x| format!("{x:.3} MB"));
    let cells: Vec<String> = time.into_iter().chain(mb).collect();
    if cells.is_empty() {
        "-".into()
    } else {
        cells.join(", ")
    }
}

/// One line: each goal with its mark, then the throughput.
pub fn goals_line(goals: &[Goal], throughput_qps: f64) -> String {
    let throughput = format!("throughput {throughput_qps:.1} queries/s");
    if goals.is_empty() {
        return throughput;
    }
    let goals: Vec<String> = goals.iter().map(Goal::to_string).collect();
    format!(
        "goals per query (medians; 1 KB = 1,000 B): {} · {throughput}",
        goals.join(" · ")
    )
}

/// Where the material comes from, for a report's first line.
fn material(source: Preprocessing) -> String {
    let ot = |kind| match kind {
        OtKind::Silent => "silent OT",
        OtKind::Iknp => "IKNP OT",
    };
    match source {
        Preprocessing::Dealer => "with a dealer".to_string(),
        Preprocessing::TwoParty(LinearPrep::He, kind) => format!(
            "without a dealer (linear layers by homomorphic encryption, the rest by {})",
            ot(kind)
        ),
        Preprocessing::TwoParty(LinearPrep::Ot, kind) => {
            format!("without a dealer (two-party preprocessing by {})", ot(kind))
        }
    }
}

/// The demo's report as text.
pub fn demo_text(r: &DemoReport) -> String {
    let mut out = format!(
        "veil-bench demo: {} over {} with a dealer, QUIC on {} (dealer, server and client in one process)\n",
        r.model,
        r.backend.to_uppercase(),
        r.net
    );
    if r.interrupted {
        out += &format!(
            "interrupted: {} of {} queries ran\n",
            r.queries, r.requested
        );
    }
    if r.queries == 0 {
        out += "no query finished: nothing to report\n";
        return out;
    }
    out += &format!(
        "{} queries in one session, one per test image\n\n",
        thousands(r.queries as u64)
    );
    out += &accuracy_lines(r);
    out += "\n";
    out += &phase_table(&r.setup, &r.offline, &r.online).render(2);
    out += &constancy_line(r);
    out += "\n";
    out += &layer_table(&r.layers, None).render(2);
    out += "\n";
    out += &goals_line(&r.goals, r.throughput_qps);
    out += "\n";
    out
}

fn accuracy_lines(r: &DemoReport) -> String {
    let a = &r.accuracy;
    let mut out = format!(
        "accuracy on {} images: secure {}, fixed-point reference {}, float {}\n",
        thousands(r.queries as u64),
        percent(a.secure),
        percent(a.fixed),
        percent(a.float)
    );
    out += &format!(
        "bit-exact with the fixed-point reference: {} of {} ({} differ)\n",
        thousands((r.queries - r.differ) as u64),
        thousands(r.queries as u64),
        r.differ
    );
    if r.differ > 0 {
        out += &format!("  differing images: {}\n", image_list(&r.differ_images));
    }
    out
}

fn constancy_line(r: &DemoReport) -> String {
    if r.costs_constant {
        return format!(
            "  bytes and rounds: identical in all {} queries, per phase and per layer\n",
            thousands(r.queries as u64)
        );
    }
    format!(
        "  bytes and rounds VARY across queries (medians shown): p90 offline {} B / {} rounds, \
         online {} B / {} rounds\n",
        thousands(r.offline.bytes_p90),
        r.offline.rounds_p90,
        thousands(r.online.bytes_p90),
        r.online.rounds_p90
    )
}

/// `3, 17, 42`, cut after [`LIST_AT_MOST`] numbers.
pub fn image_list(images: &[usize]) -> String {
    let shown: Vec<String> = images
        .iter()
        .take(LIST_AT_MOST)
        .map(usize::to_string)
        .collect();
    let more = images.len().saturating_sub(LIST_AT_MOST);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(image_list(&[3, 17]), "3, 17");
        let many: Vec<usize> = (0..25).collect();
        assert!(image_list(&many).ends_with("19 and 5 more"));
    }
}
