//! The jobs page's chart: bytes and inodes each version owns, over the versions' times,
//! drawn on the server as inline SVG (two lines, each on its own scale, its maximum
//! labelled). Pure: versions in, markup out.

use maud::{html, Markup, PreEscaped};

use crate::vault::read::{list::human_size, VersionInfo};

const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD: f64 = 36.0;

/// The chart of `versions` (oldest first); a note when there is nothing to draw.
pub fn owned(versions: &[VersionInfo]) -> Markup {
    let points: Vec<(i64, u64, u64)> = versions
        .iter()
        .filter_map(|v| v.figures.map(|f| (v.time.timestamp(), f.size, f.inodes)))
        .collect();
    if points.is_empty() {
        return html! { p.muted { "No figures to chart yet." } };
    }
    let (t0, t1) = (points[0].0, points[points.len() - 1].0);
    let max_b = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let max_i = points.iter().map(|p| p.2).max().unwrap_or(0).max(1);
    let x = |t: i64, i: usize| {
        let span = (t1 - t0) as f64;
        let frac = if span > 0.0 {
            (t - t0) as f64 / span
        } else if points.len() > 1 {
            i as f64 / (points.len() - 1) as f64
        } else {
            0.5
        };
        PAD + frac * (W - 2.0 * PAD)
    };
    let y = |v: u64, max: u64| H - PAD + 8.0 - (v as f64 / max as f64) * (H - 2.0 * PAD);
    let line = |pick: fn(&(i64, u64, u64)) -> u64, max: u64| {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(p.0, i), y(pick(p), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = versions
        .first()
        .map(|v| v.time.format("%Y-%m-%d %H:%M").to_string());
    let last = versions
        .last()
        .map(|v| v.time.format("%Y-%m-%d %H:%M").to_string());
    let base = H - PAD + 8.0;
    let top = PAD - 8.0;
    html! {
        div.legend { span.b { "━ bytes owned (max " (human_size(max_b)) ")" } span.i { "━ inodes owned (max " (max_i) ")" } }
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img" aria-label="bytes and inodes owned per version" {
            title { "bytes and inodes owned per version" }
            line x1=(PAD) y1=(base) x2=(W - PAD) y2=(base) stroke="#c9d0dc" {}
            line x1=(PAD) y1=(top) x2=(W - PAD) y2=(top) stroke="#eef1f6" {}
            polyline.bytes points=(line(|p| p.1, max_b)) fill="none" stroke="#2f6fde" stroke-width="2" {}
            polyline.inodes points=(line(|p| p.2, max_i)) fill="none" stroke="#d9822b" stroke-width="2" stroke-dasharray="5 3" {}
            @for (i, p) in points.iter().enumerate() {
                circle cx=(format!("{:.1}", x(p.0, i))) cy=(format!("{:.1}", y(p.1, max_b))) r="3" fill="#2f6fde" {}
            }
            text x=(PAD) y=(H - 6.0) { (first.unwrap_or_default()) }
            text x=(W - PAD) y=(H - 6.0) text-anchor="end" { (last.unwrap_or_default()) }
            text x="4" y=(top + 4.0) { (PreEscaped("max")) }
            text x="4" y=(base) { "0" }
        }
    }
}
