//! The jobs page's chart: bytes and inodes each version owns, over the versions' times,
//! drawn on the server as inline SVG (two lines, each on its own scale, its maximum
//! labelled). Pure: versions in, markup out.
//!
//! x follows the versions' times, but neighbours are kept at least [`MIN_GAP`] apart
//! ([`spread`]), so versions taken within the same second or minute do not pile into one
//! dot; each dot's tooltip names its version, time and figures.

use maud::{html, Markup, PreEscaped};

use crate::vault::read::{list::human_size, VersionInfo};

const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD: f64 = 36.0;
/// The least horizontal distance between two neighbouring versions, in SVG units (less
/// only when the chart is too narrow to hold that many versions).
const MIN_GAP: f64 = 24.0;

/// x positions in `[left, right]` for `times` (ascending): proportional to time, then
/// pushed apart to at least `MIN_GAP` (or the even spacing, if smaller), in order.
fn spread(times: &[i64], left: f64, right: f64) -> Vec<f64> {
    let n = times.len();
    if n == 1 {
        return vec![(left + right) / 2.0];
    }
    let width = right - left;
    let (t0, t1) = (times[0], times[n - 1]);
    let span = (t1 - t0) as f64;
    let mut xs: Vec<f64> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let frac = if span > 0.0 {
                (t - t0) as f64 / span
            } else {
                i as f64 / (n - 1) as f64
            };
            left + frac * width
        })
        .collect();
    let gap = MIN_GAP.min(width / (n - 1) as f64);
    for i in 1..n {
        xs[i] = xs[i].max(xs[i - 1] + gap);
    }
    // The forward pass may run past the right edge: pull back from there.
    xs[n - 1] = xs[n - 1].min(right);
    for i in (0..n - 1).rev() {
        xs[i] = xs[i].min(xs[i + 1] - gap);
    }
    xs
}

/// The chart of `versions` (oldest first); a note when there is nothing to draw.
pub fn owned(versions: &[VersionInfo]) -> Markup {
    let points: Vec<(i64, u64, u64)> = versions
        .iter()
        .filter_map(|v| v.figures.map(|f| (v.time.timestamp(), f.size, f.inodes)))
        .collect();
    if points.is_empty() {
        return html! { p.muted { "No figures to chart yet." } };
    }
    let max_b = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let max_i = points.iter().map(|p| p.2).max().unwrap_or(0).max(1);
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let xs = spread(&times, PAD, W - PAD);
    let tips: Vec<String> = versions
        .iter()
        .filter_map(|v| {
            let f = v.figures?;
            let when = v.time.format("%Y-%m-%d %H:%M:%S");
            let size = human_size(f.size);
            Some(format!(
                "V{} {when}: {size}, {} inodes",
                v.version, f.inodes
            ))
        })
        .collect();
    let y = |v: u64, max: u64| H - PAD + 8.0 - (v as f64 / max as f64) * (H - 2.0 * PAD);
    let line = |pick: fn(&(i64, u64, u64)) -> u64, max: u64| {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", xs[i], y(pick(p), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Seconds on the axis when the versions span less than an hour.
    let span = times[times.len() - 1] - times[0];
    let axis_format = if span < 3600 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let first = versions
        .first()
        .map(|v| v.time.format(axis_format).to_string());
    let last = versions
        .last()
        .map(|v| v.time.format(axis_format).to_string());
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
                circle cx=(format!("{:.1}", xs[i])) cy=(format!("{:.1}", y(p.1, max_b))) r="3" fill="#2f6fde" { title { (tips[i]) } }
            }
            text x=(PAD) y=(H - 6.0) { (first.unwrap_or_default()) }
            text x=(W - PAD) y=(H - 6.0) text-anchor="end" { (last.unwrap_or_default()) }
            text x="4" y=(top + 4.0) { (PreEscaped("max")) }
            text x="4" y=(base) { "0" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(xs: &[f64]) -> Vec<f64> {
        xs.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn versions_in_the_same_second_are_spread_apart() {
        let xs = spread(&[100, 100, 100, 100, 5000], 36.0, 684.0);
        assert!(gaps(&xs).iter().all(|g| *g >= MIN_GAP - 1e-9), "{xs:?}");
        assert_eq!((xs[0], xs[4]), (36.0, 684.0), "the ends stay at the edges");
        // The same at the end of the axis: pulled back from the right edge.
        let xs = spread(&[0, 5000, 5000, 5000], 36.0, 684.0);
        assert!(gaps(&xs).iter().all(|g| *g >= MIN_GAP - 1e-9), "{xs:?}");
        assert_eq!((xs[0], xs[3]), (36.0, 684.0));
    }

    #[test]
    fn distant_versions_keep_their_places_in_time() {
        let xs = spread(&[0, 250, 1000], 0.0, 1000.0);
        assert_eq!(xs, vec![0.0, 250.0, 1000.0]);
        let same = spread(&[7, 7, 7], 0.0, 100.0);
        assert_eq!(same, vec![0.0, 50.0, 100.0], "all at one time: evenly");
        assert_eq!(spread(&[7], 0.0, 100.0), vec![50.0]);
    }

    #[test]
    fn more_versions_than_room_share_the_width_evenly() {
        let times: Vec<i64> = vec![0; 100];
        let xs = spread(&times, 0.0, 99.0);
        assert!(gaps(&xs).iter().all(|g| (*g - 1.0).abs() < 1e-9), "{xs:?}");
        assert!(xs[0] >= 0.0 && xs[99] <= 99.0 + 1e-9);
    }
}
