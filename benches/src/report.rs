//! Reports for people (aligned tables) and for scripts (one JSON object).

use serde::Serialize;

use crate::demo::DemoReport;
use crate::goals::Goal;
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

/// The layers as a table: online bytes, rounds and median ms, offline bytes.
pub fn layer_table(layers: &[LayerStat]) -> Table {
    let mut t = Table::new(&[
        ("layer", Align::Left),
        ("kind", Align::Left),
        ("online bytes", Align::Right),
        ("rounds", Align::Right),
        ("ms median", Align::Right),
        ("offline bytes", Align::Right),
    ]);
    for l in layers {
        t.row(vec![
            l.name.clone(),
            l.kind.clone(),
            thousands(l.online.bytes),
            l.online.rounds.to_string(),
            millis(l.online.ms),
            thousands(l.offline.bytes),
        ]);
    }
    t
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
    out += &layer_table(&r.layers).render(2);
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
