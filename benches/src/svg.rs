//! A self-contained SVG chart of per-layer costs, written by hand: for each layer, bars
//! of online and offline bytes (log scale) and of online rounds, one colour family per
//! backend when several were run.

use std::fmt::Write;

use crate::run::RunReport;

const BAR: f64 = 16.0;
const GAP: f64 = 28.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 70.0;
const PANEL: f64 = 220.0;
const BETWEEN: f64 = 90.0;
/// Per backend: online bytes, offline bytes, rounds.
const COLOURS: [[&str; 3]; 2] = [
    ["#1f77b4", "#9ecae1", "#3182bd"],
    ["#d95f02", "#fdae6b", "#e6550d"],
];

/// One bar series of one panel.
struct Series {
    label: String,
    colour: &'static str,
    values: Vec<u64>,
}

/// The chart of `runs` (one per backend, same model) as an SVG document.
pub fn layers_chart(runs: &[RunReport]) -> String {
    let names: Vec<&str> = runs
        .first()
        .map(|r| r.layers.iter().map(|l| l.cost.name.as_str()).collect())
        .unwrap_or_default();
    let mut bytes = Vec::new();
    let mut rounds = Vec::new();
    for (run, colours) in runs.iter().zip(COLOURS.iter().cycle()) {
        let b = run.backend.to_uppercase();
        let pick = |f: fn(&crate::run::RunLayer) -> u64| run.layers.iter().map(f).collect();
        bytes.push(Series {
            label: format!("{b} online bytes"),
            colour: colours[0],
            values: pick(|l| l.cost.online.bytes),
        });
        bytes.push(Series {
            label: format!("{b} offline bytes"),
            colour: colours[1],
            values: pick(|l| l.cost.offline.bytes),
        });
        rounds.push(Series {
            label: format!("{b} online rounds"),
            colour: colours[2],
            values: pick(|l| l.cost.online.rounds),
        });
    }
    let slot = bytes.len().max(1) as f64 * BAR + GAP;
    let width = LEFT + names.len().max(1) as f64 * slot + 40.0;
    let height = TOP + 2.0 * PANEL + 2.0 * BETWEEN;
    let title = runs.first().map_or(String::new(), |r| {
        format!("{}: cost per layer per query ({} net)", r.model, r.net)
    });
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>
"#,
        escape(&title)
    );
    legend(&mut svg, bytes.iter().chain(&rounds));
    let bytes_top = TOP;
    let rounds_top = TOP + PANEL + BETWEEN;
    panel(
        &mut svg,
        &names,
        &bytes,
        bytes_top,
        slot,
        Scale::Log,
        "bytes (log)",
    );
    panel(
        &mut svg,
        &names,
        &rounds,
        rounds_top,
        slot,
        Scale::Linear,
        "rounds",
    );
    svg.push_str("</svg>\n");
    svg
}

#[derive(Clone, Copy)]
enum Scale {
    Linear,
    Log,
}

impl Scale {
    /// The bar's height as a fraction of the panel, for `v` against the largest `max`.
    fn fraction(self, v: u64, max: u64) -> f64 {
        if v == 0 || max == 0 {
            return 0.0;
        }
        match self {
            Scale::Linear => v as f64 / max as f64,
            Scale::Log => (1.0 + v as f64).log10() / (1.0 + max as f64).log10(),
        }
    }
}

fn legend<'a>(svg: &mut String, series: impl Iterator<Item = &'a Series>) {
    for (i, s) in series.enumerate() {
        let x = LEFT + (i % 3) as f64 * 170.0;
        let y = 36.0 + (i / 3) as f64 * 14.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 9.0,
            s.colour,
            x + 14.0,
            y,
            escape(&s.label)
        );
    }
}

fn panel(
    svg: &mut String,
    names: &[&str],
    series: &[Series],
    top: f64,
    slot: f64,
    scale: Scale,
    axis: &str,
) {
    let max = series
        .iter()
        .flat_map(|s| &s.values)
        .copied()
        .max()
        .unwrap_or(0);
    let base = top + PANEL;
    let right = LEFT + names.len() as f64 * slot;
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="black"/><text x="10" y="{}" font-weight="bold">{axis}</text>"#,
        top + PANEL / 2.0
    );
    for (i, name) in names.iter().enumerate() {
        let x0 = LEFT + i as f64 * slot + GAP / 2.0;
        for (j, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            let h = scale.fraction(v, max) * PANEL;
            let x = x0 + j as f64 * BAR;
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{:.1}" width="{}" height="{h:.1}" fill="{}"><title>{} {}: {v}</title></rect><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
                base - h,
                BAR - 2.0,
                s.colour,
                escape(name),
                escape(&s.label),
                x + BAR / 2.0 + 3.0,
                base - h - 3.0,
                x + BAR / 2.0 + 3.0,
                base - h - 3.0,
                short(v)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + series.len() as f64 * BAR / 2.0,
            base + 14.0,
            escape(name)
        );
    }
}

/// `1234` → `1.2 K`, `5600000` → `5.6 M`.
fn short(v: u64) -> String {
    match v {
        0..=999 => v.to_string(),
        1_000..=999_999 => format!("{:.1} K", v as f64 / 1e3),
        _ => format!("{:.1} M", v as f64 / 1e6),
    }
}

/// Text safe inside an XML element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_text_are_written_safely() {
        assert_eq!(short(999), "999");
        assert_eq!(short(1234), "1.2 K");
        assert_eq!(short(5_600_000), "5.6 M");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(Scale::Log.fraction(0, 100), 0.0);
        assert_eq!(Scale::Linear.fraction(5, 10), 0.5);
        assert!((Scale::Log.fraction(99, 99) - 1.0).abs() < 1e-12);
    }
}
