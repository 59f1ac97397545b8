//! Hand-written SVG line charts for the report: pause and latency
//! distributions as percentile curves (HdrHistogram style: the tail spread
//! out on a log axis), and memory over time. No plotting crate: a chart is
//! axes, ticks, one polyline per series and a legend.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::Value;

const WIDTH: f64 = 1080.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 650.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 380.0;
const COLORS: [&str; 10] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

/// One line of a chart.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    dashed: bool,
    /// Index into the palette; `None`: the series' position.
    color: Option<usize>,
    /// Draw each point as a dot, unjoined (a scatter: a pause timeline).
    dots: bool,
}

/// How an axis maps values to positions.
#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    /// Base-10 logarithmic (values must be positive; smaller ones are clamped).
    Log,
    /// Percentile `q` at `log10(1 / (1 - q))`, the maximum (q = 1) at the end.
    Percentile,
}

/// Position of the maximum on a percentile axis (just past 99.999 %).
const PERCENTILE_MAX_X: f64 = 5.5;

fn percentile_x(q: f64) -> f64 {
    if q >= 1.0 {
        PERCENTILE_MAX_X
    } else {
        (1.0 / (1.0 - q.min(0.99999))).log10()
    }
}

struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x_scale: Scale,
    y_scale: Scale,
    /// Formats a y tick value.
    y_format: fn(f64) -> String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "Nice" linear ticks (1, 2, 5 × 10^k steps) covering `0..=max`.
fn linear_ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| max / s <= 6.0)
        .unwrap_or(10.0 * magnitude);
    (0..=((max / step - 1e-9).ceil() as usize))
        .map(|i| i as f64 * step)
        .collect()
}

fn render(chart: &Chart<'_>, series: &[Series]) -> String {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let transform_x = |x: f64| match chart.x_scale {
        Scale::Percentile => percentile_x(x),
        Scale::Log => x.max(1e-9).log10(),
        Scale::Linear => x,
    };
    let y_floor = all
        .iter()
        .map(|p| p.1)
        .filter(|&y| y > 0.0)
        .fold(f64::MAX, f64::min);
    let y_floor = if y_floor == f64::MAX { 1.0 } else { y_floor };
    let transform_y = |y: f64| match chart.y_scale {
        Scale::Log => y.max(y_floor).log10(),
        _ => y,
    };
    // Axis ranges and ticks.
    let (x_min, x_max, x_ticks): (f64, f64, Vec<(f64, String)>) = match chart.x_scale {
        Scale::Percentile => (
            0.0,
            PERCENTILE_MAX_X,
            [
                (0.0, "0%"),
                (1.0, "90%"),
                (2.0, "99%"),
                (3.0, "99.9%"),
                (4.0, "99.99%"),
                (5.0, "99.999%"),
                (PERCENTILE_MAX_X, "max"),
            ]
            .into_iter()
            .map(|(x, l)| (x, l.to_owned()))
            .collect(),
        ),
        _ => {
            let max = all.iter().map(|p| p.0).fold(0.0, f64::max);
            let ticks = linear_ticks(max);
            let top = *ticks.last().unwrap_or(&1.0);
            (
                0.0,
                top.max(1e-9),
                ticks.into_iter().map(|t| (t, format!("{t}"))).collect(),
            )
        }
    };
    let (y_min, y_max, y_ticks): (f64, f64, Vec<(f64, String)>) = match chart.y_scale {
        Scale::Log => {
            let lo = y_floor.log10().floor();
            let hi = all
                .iter()
                .map(|p| transform_y(p.1))
                .fold(lo + 1.0, f64::max)
                .ceil();
            let ticks = (lo as i32..=hi as i32)
                .map(|e| (f64::from(e), (chart.y_format)(10f64.powi(e))))
                .collect();
            (lo, hi.max(lo + 1.0), ticks)
        }
        _ => {
            let max = all.iter().map(|p| p.1).fold(0.0, f64::max);
            let ticks = linear_ticks(max);
            let top = *ticks.last().unwrap_or(&1.0);
            (
                0.0,
                top.max(1e-9),
                ticks
                    .into_iter()
                    .map(|t| (t, (chart.y_format)(t)))
                    .collect(),
            )
        }
    };
    let px = |x: f64| LEFT + (x - x_min) / (x_max - x_min).max(1e-12) * (RIGHT - LEFT);
    let py = |y: f64| BOTTOM - (y - y_min) / (y_max - y_min).max(1e-12) * (BOTTOM - TOP);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(chart.title)
    );
    for (x, label) in &x_ticks {
        let x = px(*x);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#e0e0e0"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            BOTTOM + 16.0,
            escape(label)
        );
    }
    for (y, label) in &y_ticks {
        let y = py(*y);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            escape(label)
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 36.0,
        escape(chart.x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        (TOP + BOTTOM) / 2.0,
        (TOP + BOTTOM) / 2.0,
        escape(chart.y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[s.color.unwrap_or(i) % COLORS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(transform_x(x)), py(transform_y(y))))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        if s.dots {
            for &(x, y) in &s.points {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{color}"/>"#,
                    px(transform_x(x)),
                    py(transform_y(y))
                );
            }
        } else {
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                points.join(" ")
            );
        }
        let ly = TOP + 8.0 + i as f64 * 20.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            RIGHT + 14.0,
            RIGHT + 40.0,
            RIGHT + 46.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{} ms", us / 1e3)
    } else {
        format!("{us} µs")
    }
}

fn format_mib(mib: f64) -> String {
    format!("{mib} MiB")
}

/// A `[[q, value], ...]` curve as points.
fn curve(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .collect()
}

fn workload<'a>(results: &'a Value, name: &str) -> Option<&'a Value> {
    results["workloads"]
        .as_array()?
        .iter()
        .find(|w| w["name"] == name && w["not_run"] != true)
}

fn rows(workload: &Value) -> impl Iterator<Item = &Value> {
    workload["results"].as_array().into_iter().flatten()
}

/// Writes every plot the results have data for; returns their file names.
pub(crate) fn write_all(results: &Value, dir: &Path) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let mut write = |name: &str, svg: String| -> Result<(), String> {
        let path = dir.join(name);
        fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(name.to_owned());
        Ok(())
    };

    // Collector pauses: morph-gengc by kind per workload, gc-arena's
    // collect_debt calls in the server workload.
    let mut pauses = Vec::new();
    // The scaling curve's points are left out: seven more tree runs would
    // hide the workloads the pause targets are about.
    for w in results["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["family"] != "scaling")
    {
        let name = w["name"].as_str().unwrap_or("?");
        for r in rows(w) {
            let gc = &r["gc"];
            for kind in ["minor", "major"] {
                if gc[kind]["count"].as_u64().unwrap_or(0) > 0 {
                    pauses.push(Series {
                        name: format!("morph-gengc {kind}, {name} ({})", gc[kind]["count"]),
                        points: curve(&gc[kind]["curve"]),
                        dashed: kind == "major",
                        color: None,
                        dots: false,
                    });
                }
            }
            let c = &r["collector_pauses"]["pauses"];
            if c["count"].as_u64().unwrap_or(0) > 0 {
                pauses.push(Series {
                    name: format!(
                        "{} collect_debt, {name} ({})",
                        r["implementation"].as_str().unwrap_or("?"),
                        c["count"]
                    ),
                    points: curve(&c["curve"]),
                    dashed: false,
                    color: None,
                    dots: false,
                });
            }
        }
    }
    if !pauses.is_empty() {
        let chart = Chart {
            title: "Collector pause distribution (percentile curve, pooled over runs)",
            x_label: "percentile",
            y_label: "pause",
            x_scale: Scale::Percentile,
            y_scale: Scale::Log,
            y_format: format_us,
        };
        write("pauses.svg", render(&chart, &pauses))?;
    }

    if let Some(w) = workload(results, "server") {
        let latency: Vec<Series> = rows(w)
            .filter(|r| !r["step_latency"].is_null())
            .map(|r| Series {
                name: r["implementation"].as_str().unwrap_or("?").to_owned(),
                points: curve(&r["step_latency"]["curve"]),
                dashed: false,
                color: None,
                dots: false,
            })
            .collect();
        if !latency.is_empty() {
            let chart = Chart {
                title: "server: request latency (percentile curve, typical run)",
                x_label: "percentile",
                y_label: "request latency",
                x_scale: Scale::Percentile,
                y_scale: Scale::Log,
                y_format: format_us,
            };
            write("server-latency.svg", render(&chart, &latency))?;
        }
    }

    // Pause timelines: every pause of the typical run, by kind, for the
    // workloads that study pauses.
    let timeline_workloads = results["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| {
            let name = w["name"].as_str().unwrap_or("");
            name.starts_with("large-heap") || name.starts_with("stalls@")
        });
    for w in timeline_workloads {
        let name = w["name"].as_str().unwrap_or("?");
        let mut series = Vec::new();
        for (index, r) in rows(w).enumerate() {
            let Some(points) = r["pause_timeline"].as_array() else {
                continue;
            };
            let implementation = r["implementation"].as_str().unwrap_or("?");
            for (k, kind) in ["minor", "step", "major"].into_iter().enumerate() {
                let of_kind: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p[2] == kind)
                    .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                    .collect();
                if of_kind.is_empty() {
                    continue;
                }
                series.push(Series {
                    name: format!("{implementation}: {kind} ({})", of_kind.len()),
                    points: of_kind,
                    dashed: false,
                    color: Some(index * 3 + k),
                    dots: true,
                });
            }
        }
        if !series.is_empty() {
            let title = format!("{name}: every pause over the typical run");
            let chart = Chart {
                title: &title,
                x_label: "seconds since the heap was made",
                y_label: "pause",
                x_scale: Scale::Linear,
                y_scale: Scale::Log,
                y_format: format_us,
            };
            write(&format!("{name}-pauses.svg"), render(&chart, &series))?;
        }
    }

    for name in ["server", "large-heap"] {
        let Some(w) = workload(results, name) else {
            continue;
        };
        let mut memory = Vec::new();
        for (index, r) in rows(w).enumerate() {
            let implementation = r["implementation"].as_str().unwrap_or("?");
            let samples: Vec<&Value> = r["memory_series"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let Some(end_ms) = samples.last().and_then(|s| s["t_ms"].as_f64()) else {
                continue;
            };
            // Time as a share of the run, so a 15 s run and a 0.5 s run
            // show their shapes side by side.
            let series = |key: &str| -> Vec<(f64, f64)> {
                samples
                    .iter()
                    .filter_map(|s| {
                        Some((
                            100.0 * s["t_ms"].as_f64()? / end_ms.max(1e-9),
                            s[key].as_f64()? / (1024.0 * 1024.0),
                        ))
                    })
                    .collect()
            };
            memory.push(Series {
                name: format!("{implementation} RSS ({:.1} s)", end_ms / 1e3),
                points: series("rss"),
                dashed: false,
                color: Some(index),
                dots: false,
            });
            if samples.iter().any(|s| !s["heap_used"].is_null()) {
                memory.push(Series {
                    name: format!("{implementation} heap used"),
                    points: series("heap_used"),
                    dashed: true,
                    color: Some(index),
                    dots: false,
                });
            }
        }
        if !memory.is_empty() {
            let title = format!("{name}: memory over the run (typical run of each)");
            let chart = Chart {
                title: &title,
                x_label: "% of the run's sampled time (duration in the legend)",
                y_label: "MiB",
                x_scale: Scale::Linear,
                y_scale: Scale::Linear,
                y_format: format_mib,
            };
            write(&format!("{name}-memory.svg"), render(&chart, &memory))?;
        }
    }
    for (file, title, key, y_label, format) in [
        (
            "scaling-time.svg",
            "binary-trees: median time against depth",
            "median_ns",
            "time",
            format_ns as fn(f64) -> String,
        ),
        (
            "scaling-rss.svg",
            "binary-trees: peak RSS against depth",
            "peak_rss_bytes",
            "peak RSS",
            format_bytes_tick,
        ),
    ] {
        let curves = scaling_series(results, key);
        if !curves.is_empty() {
            let chart = Chart {
                title,
                x_label: "max depth",
                y_label,
                x_scale: Scale::Linear,
                y_scale: Scale::Log,
                y_format: format,
            };
            write(file, render(&chart, &curves))?;
        }
    }
    Ok(written)
}

/// One series per implementation over the scaling curve's points:
/// (depth, the row's `key`).
fn scaling_series(results: &Value, key: &str) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for w in results["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["family"] == "scaling" && w["not_run"] != true)
    {
        let Some(depth) = w["name"]
            .as_str()
            .and_then(|n| n.rsplit('@').next())
            .and_then(|d| d.parse::<f64>().ok())
        else {
            continue;
        };
        for r in rows(w) {
            let (Some(name), Some(value)) = (r["implementation"].as_str(), r[key].as_f64()) else {
                continue;
            };
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push((depth, value)),
                None => series.push(Series {
                    name: name.to_owned(),
                    points: vec![(depth, value)],
                    dashed: name != "morph-gengc",
                    color: None,
                    dots: false,
                }),
            }
        }
    }
    series
}

fn format_ns(ns: f64) -> String {
    format_us(ns / 1e3)
}

fn format_bytes_tick(bytes: f64) -> String {
    format_mib(bytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range() {
        let ticks = linear_ticks(87.0);
        assert_eq!(ticks.first(), Some(&0.0));
        assert!(*ticks.last().unwrap() >= 87.0);
        assert!(ticks.len() <= 8);
    }

    #[test]
    fn percentile_axis_spreads_the_tail() {
        assert_eq!(percentile_x(0.0), 0.0);
        assert!((percentile_x(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_x(1.0), PERCENTILE_MAX_X);
    }

    #[test]
    fn a_chart_is_well_formed() {
        let chart = Chart {
            title: "t <&>",
            x_label: "x",
            y_label: "y",
            x_scale: Scale::Percentile,
            y_scale: Scale::Log,
            y_format: format_us,
        };
        let svg = render(
            &chart,
            &[Series {
                name: "a".into(),
                points: vec![(0.0, 10.0), (0.99, 1000.0), (1.0, 5000.0)],
                dashed: true,
                color: None,
                dots: false,
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
    }
}
