//! The stats graphs behind `GET /servers/{id}/stats`: one server's CPU, network and disk
//! samples drawn as SVG. Pure: samples in, a document out — no I/O, no HTTP, no store; the
//! handlers in `src/api/compute/stats.rs` fetch the samples and serve what this renders.
//!
//! SVG rather than PNG because the viewer draws its text: the gateway needs no fonts, and
//! the graphs stay sharp at any size. Times are UTC, as every timestamp of the API is.
//!
//! ```text
//! cpu-bar   latest CPU load, a horizontal bar 0‥100 %
//! cpu-ts    CPU load over time
//! net-bar   latest received/sent rate, two bars
//! net-ts    received and sent rate over time, two series with a legend
//! disk-bar  latest read/written rate, two bars          (beyond the seed's four)
//! disk-ts   read and written rate over time, two series (beyond the seed's four)
//! ```
//!
//! The network and disk graphs are the same drawing of two rates ([`Pair`]).

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use chrono::DateTime;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::backend::Sample;

/// One of the graphs, by the name its URL carries (`…/stats/cpu-bar.svg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Graph {
    CpuBar,
    CpuTimeSeries,
    NetBar,
    NetTimeSeries,
    DiskBar,
    DiskTimeSeries,
}

impl Graph {
    /// The seed's four, then the disk's two (a cyclades extension).
    pub const ALL: [Graph; 6] = [
        Graph::CpuBar,
        Graph::CpuTimeSeries,
        Graph::NetBar,
        Graph::NetTimeSeries,
        Graph::DiskBar,
        Graph::DiskTimeSeries,
    ];

    /// The name in the graph's URL.
    pub fn name(self) -> &'static str {
        match self {
            Graph::CpuBar => "cpu-bar",
            Graph::CpuTimeSeries => "cpu-ts",
            Graph::NetBar => "net-bar",
            Graph::NetTimeSeries => "net-ts",
            Graph::DiskBar => "disk-bar",
            Graph::DiskTimeSeries => "disk-ts",
        }
    }

    /// The attribute of the stats response that links to the graph (the seed's names, and
    /// the disk's in the same style).
    pub fn stats_key(self) -> &'static str {
        match self {
            Graph::CpuBar => "cpuBar",
            Graph::CpuTimeSeries => "cpuTimeSeries",
            Graph::NetBar => "netBar",
            Graph::NetTimeSeries => "netTimeSeries",
            Graph::DiskBar => "diskBar",
            Graph::DiskTimeSeries => "diskTimeSeries",
        }
    }

    pub fn from_name(name: &str) -> Option<Graph> {
        Graph::ALL.into_iter().find(|g| g.name() == name)
    }

    fn size(self) -> (u32, u32) {
        match self {
            Graph::CpuBar | Graph::NetBar | Graph::DiskBar => (520, 160),
            Graph::CpuTimeSeries | Graph::NetTimeSeries | Graph::DiskTimeSeries => (680, 340),
        }
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Drawing failed (plotters' SVG backend writes into a string, so this is a bug, not I/O).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot draw the graph: {0}")]
pub struct GraphError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for GraphError {
    fn from(e: DrawingAreaErrorKind<E>) -> GraphError {
        GraphError(e.to_string())
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), GraphError>;

const FONT: &str = "sans-serif";
const CPU_COLOR: RGBColor = RGBColor(0x1f, 0x6f, 0xb4);
const RX_COLOR: RGBColor = RGBColor(0x2c, 0x9a, 0x2c);
const TX_COLOR: RGBColor = RGBColor(0xe6, 0x6c, 0x00);
const READ_COLOR: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);
const WRITE_COLOR: RGBColor = RGBColor(0xc2, 0x18, 0x5b);
const TRACK_COLOR: RGBColor = RGBColor(0xee, 0xee, 0xee);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
/// A pause longer than this many sampling intervals (the server was stopped) breaks the
/// time series' lines instead of drawing a straight line across it.
const GAP_INTERVALS: f64 = 3.0;

/// Draws `graph` of server `server_id` from its samples (oldest first, taken every
/// `interval`). A server without samples gets a graph that says so.
pub fn render(
    graph: Graph,
    server_id: i64,
    samples: &[Sample],
    interval: Duration,
) -> Result<String, GraphError> {
    let interval = interval.as_secs_f64().max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, graph.size()).into_drawing_area();
        root.fill(&WHITE)?;
        match samples.last() {
            None => no_samples(&root, graph, server_id)?,
            Some(last) => match graph {
                Graph::CpuBar => cpu_bar(&root, server_id, last)?,
                Graph::CpuTimeSeries => cpu_ts(&root, server_id, samples, interval)?,
                Graph::NetBar => pair_bar(&root, Pair::Net, server_id, last, interval)?,
                Graph::NetTimeSeries => pair_ts(&root, Pair::Net, server_id, samples, interval)?,
                Graph::DiskBar => pair_bar(&root, Pair::Disk, server_id, last, interval)?,
                Graph::DiskTimeSeries => pair_ts(&root, Pair::Disk, server_id, samples, interval)?,
            },
        }
        root.present()?;
    }
    Ok(svg)
}

fn title(graph: Graph, server_id: i64) -> String {
    match graph {
        Graph::CpuBar => format!("Server {server_id}: CPU load"),
        Graph::CpuTimeSeries => format!("Server {server_id}: CPU load over time"),
        Graph::NetBar => format!("Server {server_id}: network traffic"),
        Graph::NetTimeSeries => format!("Server {server_id}: network traffic over time"),
        Graph::DiskBar => format!("Server {server_id}: disk I/O"),
        Graph::DiskTimeSeries => format!("Server {server_id}: disk I/O over time"),
    }
}

fn no_samples(root: &Area<'_>, graph: Graph, server_id: i64) -> Drawn {
    let (w, h) = root.dim_in_pixel();
    let (cx, cy) = (w as i32 / 2, h as i32 / 2);
    let centered = Pos::new(HPos::Center, VPos::Center);
    root.draw(&Text::new(
        title(graph, server_id),
        (cx, 18),
        (FONT, 18)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK)
            .pos(centered),
    ))?;
    root.draw(&Text::new(
        "no samples yet",
        (cx, cy + 6),
        (FONT, 20).into_font().color(&MUTED).pos(centered),
    ))?;
    root.draw(&Text::new(
        "a server is sampled while it runs",
        (cx, cy + 30),
        (FONT, 13).into_font().color(&MUTED).pos(centered),
    ))?;
    Ok(())
}

/// `12:34:56` of a time axis value (seconds since the epoch).
fn clock(secs: f64) -> String {
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn seconds(s: &Sample) -> f64 {
    s.at.timestamp_millis() as f64 / 1000.0
}

/// A linear axis with its ticks where we put them and labelled our way (plotters' own f64
/// axis picks round numbers, which for seconds since 1970 are no round clock times).
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
    label: fn(f64) -> String,
}

impl Ranged for Ticked {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let frac = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + (f64::from(limit.1 - limit.0) * frac).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Labelled ticks only: no light grid lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for Ticked {
    fn format_ext(&self, value: &f64) -> String {
        (self.label)(*value)
    }
}

/// The time axis: from the first sample to the last (a lone sample sits in the middle of
/// two intervals), with ticks on round clock times, at most `max_ticks` of them.
fn time_axis(samples: &[Sample], interval: f64, max_ticks: usize) -> Ticked {
    let first = samples.first().map(seconds).unwrap_or_default();
    let last = samples.last().map(seconds).unwrap_or_default();
    let (start, end) = if last - first >= 1e-3 {
        (first, last)
    } else {
        (first - interval, first + interval)
    };
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 43200.0,
    ];
    let span = end - start;
    let step = STEPS
        .into_iter()
        .find(|s| span / s <= max_ticks as f64)
        .unwrap_or(86400.0);
    let mut ticks = Vec::new();
    let mut t = (start / step).ceil() * step;
    while t <= end && ticks.len() <= max_ticks {
        ticks.push(t);
        t += step;
    }
    if ticks.is_empty() {
        // Less than a second of history: label where it starts.
        ticks.push(start);
    }
    Ticked {
        range: start..end,
        ticks,
        label: clock,
    }
}

/// Runs of samples without a pause (the server stopped in between) longer than
/// [`GAP_INTERVALS`].
fn runs(samples: &[Sample], interval: f64) -> Vec<&[Sample]> {
    let mut out = Vec::new();
    let mut from = 0;
    for i in 1..samples.len() {
        if seconds(&samples[i]) - seconds(&samples[i - 1]) > GAP_INTERVALS * interval {
            out.push(&samples[from..i]);
            from = i;
        }
    }
    if from < samples.len() {
        out.push(&samples[from..]);
    }
    out
}

/// A number for an axis or a label: as few decimals as it needs, at most two.
fn number(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The unit that shows `max_bytes_per_sec` with at most four digits before the point.
fn rate_unit(max_bytes_per_sec: f64) -> (&'static str, f64) {
    const KIB: f64 = 1024.0;
    if max_bytes_per_sec < KIB * KIB {
        ("KiB/s", KIB)
    } else if max_bytes_per_sec < KIB * KIB * KIB {
        ("MiB/s", KIB * KIB)
    } else {
        ("GiB/s", KIB * KIB * KIB)
    }
}

/// The two rates a bar graph and a time series draw: the network's received and sent
/// bytes, or the disk's read and written ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    Net,
    Disk,
}

/// How one of a [`Pair`]'s two rates is drawn: its time series' legend and its color.
struct Side {
    legend: &'static str,
    color: RGBColor,
}

impl Pair {
    fn graphs(self) -> (Graph, Graph) {
        match self {
            Pair::Net => (Graph::NetBar, Graph::NetTimeSeries),
            Pair::Disk => (Graph::DiskBar, Graph::DiskTimeSeries),
        }
    }

    /// Bytes per second, in then out.
    fn rates(self, s: &Sample, interval: f64) -> (f64, f64) {
        let (a, b) = match self {
            Pair::Net => (s.net_rx_bytes, s.net_tx_bytes),
            Pair::Disk => (s.disk_read_bytes, s.disk_write_bytes),
        };
        (a as f64 / interval, b as f64 / interval)
    }

    fn sides(self) -> [Side; 2] {
        match self {
            Pair::Net => [
                Side {
                    legend: "received (rx)",
                    color: RX_COLOR,
                },
                Side {
                    legend: "sent (tx)",
                    color: TX_COLOR,
                },
            ],
            Pair::Disk => [
                Side {
                    legend: "read",
                    color: READ_COLOR,
                },
                Side {
                    legend: "written",
                    color: WRITE_COLOR,
                },
            ],
        }
    }

    /// The bar graph's axis labels, the first rate on top (a plain function: the axis
    /// keeps a function pointer).
    fn bar_label(self) -> fn(f64) -> String {
        match self {
            Pair::Net => |v| if v > 1.0 { "received" } else { "sent" }.to_owned(),
            Pair::Disk => |v| if v > 1.0 { "read" } else { "written" }.to_owned(),
        }
    }
}

fn cpu_color(percent: f64) -> RGBColor {
    if percent >= 85.0 {
        RGBColor(0xc6, 0x28, 0x28)
    } else if percent >= 60.0 {
        RGBColor(0xe6, 0x8a, 0x00)
    } else {
        CPU_COLOR
    }
}

/// A value written at the end of its bar: after it, or inside it when the bar is long.
fn bar_value<'a>(
    value: f64,
    range_end: f64,
    text: String,
    at: (f64, f64),
) -> Text<'a, (f64, f64), String> {
    let inside = value > range_end * 0.78;
    let (color, h) = if inside {
        (WHITE, HPos::Right)
    } else {
        (BLACK, HPos::Left)
    };
    let style = (FONT, 15)
        .into_font()
        .style(FontStyle::Bold)
        .color(&color)
        .pos(Pos::new(h, VPos::Center));
    let nudge = range_end * 0.012;
    let x = if inside { at.0 - nudge } else { at.0 + nudge };
    Text::new(text, (x, at.1), style)
}

fn cpu_bar(root: &Area<'_>, server_id: i64, last: &Sample) -> Drawn {
    let cpu = f64::from(last.cpu_percent).clamp(0.0, 100.0);
    let caption = format!(
        "{} at {} UTC",
        title(Graph::CpuBar, server_id),
        last.at.format("%H:%M:%S")
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, 18).into_font().style(FontStyle::Bold))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(46)
        .build_cartesian_2d(0f64..100f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels(11)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("CPU load (% of all vCPUs)")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .max_light_lines(0)
        .draw()?;
    chart.draw_series([
        Rectangle::new([(0.0, 0.15), (100.0, 0.85)], TRACK_COLOR.filled()),
        Rectangle::new([(0.0, 0.15), (cpu, 0.85)], cpu_color(cpu).filled()),
    ])?;
    chart.draw_series([bar_value(
        cpu,
        100.0,
        format!("{} %", number(cpu)),
        (cpu, 0.5),
    )])?;
    Ok(())
}

fn pair_bar(root: &Area<'_>, pair: Pair, server_id: i64, last: &Sample, interval: f64) -> Drawn {
    let (ins, outs) = pair.rates(last, interval);
    let [first, second] = pair.sides();
    let (unit, scale) = rate_unit(ins.max(outs));
    let (ins, outs) = (ins / scale, outs / scale);
    // Room after the longer bar for its value.
    let end = (ins.max(outs) * 1.3).max(1.0);
    let caption = format!(
        "{} at {} UTC",
        title(pair.graphs().0, server_id),
        last.at.format("%H:%M:%S")
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, 18).into_font().style(FontStyle::Bold))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(46)
        .y_label_area_size(78)
        .build_cartesian_2d(
            0f64..end,
            Ticked {
                range: 0.0..2.0,
                ticks: vec![0.5, 1.5],
                label: pair.bar_label(),
            },
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(8)
        .x_label_formatter(&|v| number(*v))
        .x_desc(format!("rate ({unit})"))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .max_light_lines(0)
        .draw()?;
    chart.draw_series([
        Rectangle::new([(0.0, 1.12), (ins, 1.88)], first.color.filled()),
        Rectangle::new([(0.0, 0.12), (outs, 0.88)], second.color.filled()),
    ])?;
    chart.draw_series([
        bar_value(ins, end, format!("{} {unit}", number(ins)), (ins, 1.5)),
        bar_value(outs, end, format!("{} {unit}", number(outs)), (outs, 0.5)),
    ])?;
    Ok(())
}

fn cpu_ts(root: &Area<'_>, server_id: i64, samples: &[Sample], interval: f64) -> Drawn {
    let time = time_axis(samples, interval, 7);
    let mut chart = ChartBuilder::on(root)
        .caption(
            title(Graph::CpuTimeSeries, server_id),
            (FONT, 18).into_font().style(FontStyle::Bold),
        )
        .margin(12)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(time, 0f64..100f64)?;
    chart
        .configure_mesh()
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(6)
        .x_desc("time (UTC)")
        .y_desc("CPU load (%)")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .max_light_lines(0)
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .draw()?;
    for run in runs(samples, interval) {
        let points = run
            .iter()
            .map(|s| (seconds(s), f64::from(s.cpu_percent).clamp(0.0, 100.0)));
        chart.draw_series(
            AreaSeries::new(points, 0.0, CPU_COLOR.mix(0.18))
                .border_style(CPU_COLOR.stroke_width(2)),
        )?;
        if run.len() == 1 {
            let s = &run[0];
            let p = (seconds(s), f64::from(s.cpu_percent).clamp(0.0, 100.0));
            chart.draw_series([Circle::new(p, 3, CPU_COLOR.filled())])?;
        }
    }
    Ok(())
}

fn pair_ts(
    root: &Area<'_>,
    pair: Pair,
    server_id: i64,
    samples: &[Sample],
    interval: f64,
) -> Drawn {
    let time = time_axis(samples, interval, 7);
    let max = samples
        .iter()
        .map(|s| {
            let (ins, outs) = pair.rates(s, interval);
            ins.max(outs)
        })
        .fold(0.0, f64::max);
    let (unit, scale) = rate_unit(max);
    // Headroom above the highest point for the legend.
    let top = (max / scale * 1.3).max(1.0);
    let mut chart = ChartBuilder::on(root)
        .caption(
            title(pair.graphs().1, server_id),
            (FONT, 18).into_font().style(FontStyle::Bold),
        )
        .margin(12)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(66)
        .build_cartesian_2d(time, 0f64..top)?;
    chart
        .configure_mesh()
        .y_label_formatter(&|v| number(*v))
        .y_labels(6)
        .x_desc("time (UTC)")
        .y_desc(format!("rate ({unit})"))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .max_light_lines(0)
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .draw()?;
    let [first, second] = pair.sides();
    let series = [
        (first.legend, first.color, true),
        (second.legend, second.color, false),
    ];
    for (label, color, first_side) in series {
        for (n, run) in runs(samples, interval).into_iter().enumerate() {
            let points: Vec<(f64, f64)> = run
                .iter()
                .map(|s| {
                    let (ins, outs) = pair.rates(s, interval);
                    let rate = if first_side { ins } else { outs };
                    (seconds(s), rate / scale)
                })
                .collect();
            if let [p] = points[..] {
                chart.draw_series([Circle::new(p, 3, color.filled())])?;
            }
            let drawn = chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
            // One legend entry per series, not per run.
            if n == 0 {
                drawn.label(label).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
                });
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn samples(n: usize, every_secs: i64) -> Vec<Sample> {
        let t0 = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        (0..n)
            .map(|i| Sample {
                at: t0 + chrono::Duration::seconds(i as i64 * every_secs),
                cpu_percent: (i as f32 * 7.5) % 100.0,
                net_rx_bytes: 40_000 + i as u64 * 3_000,
                net_tx_bytes: 15_000 + i as u64 * 500,
                disk_read_bytes: 5_000_000 + i as u64 * 1_000_000,
                disk_write_bytes: 30_000_000 + i as u64 * 5_000_000,
            })
            .collect()
    }

    /// Reads the document to the end with an XML parser and returns its text nodes.
    fn parse(svg: &str) -> Vec<String> {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_str(svg);
        let mut texts = Vec::new();
        let mut root = None;
        loop {
            match r.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Start(e)) if root.is_none() => {
                    root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
                Ok(Event::Text(t)) => {
                    let t = t.unescape().unwrap().trim().to_owned();
                    if !t.is_empty() {
                        texts.push(t);
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("malformed SVG ({e}): {svg}"),
            }
        }
        assert_eq!(root.as_deref(), Some("svg"), "{svg}");
        texts
    }

    #[test]
    fn names_round_trip() {
        for g in Graph::ALL {
            assert_eq!(Graph::from_name(g.name()), Some(g));
        }
        assert_eq!(Graph::from_name("disk-bar"), Some(Graph::DiskBar));
        assert_eq!(Graph::from_name("disk-ts"), Some(Graph::DiskTimeSeries));
        assert_eq!(Graph::DiskTimeSeries.stats_key(), "diskTimeSeries");
        let keys: std::collections::HashSet<_> = Graph::ALL.map(Graph::stats_key).into();
        assert_eq!(keys.len(), Graph::ALL.len());
        assert_eq!(Graph::from_name("cpu-pie"), None);
        assert_eq!(Graph::from_name("cpu-bar.svg"), None);
    }

    #[test]
    fn every_graph_with_samples_is_well_formed_svg_with_labels() {
        let s = samples(40, 10);
        for g in Graph::ALL {
            let svg = render(g, 7, &s, Duration::from_secs(10)).unwrap();
            let texts = parse(&svg);
            assert!(
                texts.iter().any(|t| t.starts_with("Server 7:")),
                "{g}: no title in {texts:?}"
            );
            assert!(!texts.iter().any(|t| t == "no samples yet"), "{g}");
        }
        let ts = parse(&render(Graph::CpuTimeSeries, 7, &s, Duration::from_secs(10)).unwrap());
        assert!(ts.contains(&"time (UTC)".to_owned()), "{ts:?}");
        assert!(ts.contains(&"CPU load (%)".to_owned()), "{ts:?}");
        // 40 samples 10 s apart from 12:00:00: ticks on round minutes.
        assert!(ts.contains(&"12:01:00".to_owned()), "{ts:?}");
        let net = parse(&render(Graph::NetTimeSeries, 7, &s, Duration::from_secs(10)).unwrap());
        for want in ["received (rx)", "sent (tx)", "rate (KiB/s)"] {
            assert!(net.contains(&want.to_owned()), "{want} missing: {net:?}");
        }
        // The disk's rates, not the network's: megabytes where the network has kilobytes.
        let disk = parse(&render(Graph::DiskTimeSeries, 7, &s, Duration::from_secs(10)).unwrap());
        for want in [
            "Server 7: disk I/O over time",
            "read",
            "written",
            "rate (MiB/s)",
            "time (UTC)",
        ] {
            assert!(disk.contains(&want.to_owned()), "{want} missing: {disk:?}");
        }
        assert!(!disk.contains(&"received (rx)".to_owned()), "{disk:?}");
    }

    #[test]
    fn bars_write_the_latest_values_with_units() {
        let s = samples(3, 10);
        // The last sample: 15 % CPU, 46 000 B received and 16 000 B sent in 10 s.
        let cpu = parse(&render(Graph::CpuBar, 1, &s, Duration::from_secs(10)).unwrap());
        assert!(cpu.contains(&"15 %".to_owned()), "{cpu:?}");
        assert!(
            cpu.iter().any(|t| t.ends_with("at 12:00:20 UTC")),
            "{cpu:?}"
        );
        let net = parse(&render(Graph::NetBar, 1, &s, Duration::from_secs(10)).unwrap());
        assert!(net.contains(&"4.49 KiB/s".to_owned()), "{net:?}");
        assert!(net.contains(&"1.56 KiB/s".to_owned()), "{net:?}");
        assert!(net.contains(&"received".to_owned()), "{net:?}");
        // 7 000 000 B read and 40 000 000 B written in 10 s: one unit for both bars, the
        // larger one's.
        let disk = parse(&render(Graph::DiskBar, 1, &s, Duration::from_secs(10)).unwrap());
        for want in [
            "0.67 MiB/s",
            "3.81 MiB/s",
            "read",
            "written",
            "rate (MiB/s)",
        ] {
            assert!(disk.contains(&want.to_owned()), "{want} missing: {disk:?}");
        }
        assert!(
            disk.contains(&"Server 1: disk I/O at 12:00:20 UTC".to_owned()),
            "{disk:?}"
        );
    }

    #[test]
    fn no_samples_says_so() {
        for g in Graph::ALL {
            let svg = render(g, 3, &[], Duration::from_secs(10)).unwrap();
            let texts = parse(&svg);
            assert!(
                texts.contains(&"no samples yet".to_owned()),
                "{g}: {texts:?}"
            );
        }
    }

    #[test]
    fn one_sample_and_sub_second_intervals_still_draw() {
        for (n, every) in [(1, 1), (2, 0), (5, 1)] {
            let s = samples(n, every);
            for g in Graph::ALL {
                let svg = render(g, 2, &s, Duration::from_millis(200)).unwrap();
                parse(&svg);
            }
        }
    }

    #[test]
    fn units_follow_the_magnitude() {
        assert_eq!(rate_unit(500.0).0, "KiB/s");
        assert_eq!(rate_unit(3.0 * 1024.0 * 1024.0).0, "MiB/s");
        assert_eq!(rate_unit(5e9).0, "GiB/s");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(40.0), "40");
        assert_eq!(number(123.456), "123");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn pauses_break_the_lines() {
        let mut s = samples(4, 10);
        s[2].at += chrono::Duration::seconds(600);
        s[3].at += chrono::Duration::seconds(600);
        let r = runs(&s, 10.0);
        assert_eq!(r.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![2, 2]);
    }
}
