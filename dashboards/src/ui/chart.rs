//! Charts drawn on the server with plotters' SVG backend. plotters draws
//! the axes, grid, lines and bars; on top of them each point gets a small
//! hover target whose `<title>` gives the exact value and time (and, for
//! bars, a link), placed at the pixel plotters mapped the point to.

use chrono_tz::Tz;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format;
use super::series::Line;
use crate::api::ApiError;

/// Colours of successive lines: dark enough for a 3:1 contrast on white.
pub const COLORS: [(u8, u8, u8); 8] = [
    (0x1d, 0x4e, 0xd8),
    (0xc2, 0x41, 0x0c),
    (0x15, 0x80, 0x3d),
    (0x7e, 0x22, 0xce),
    (0xb9, 0x1c, 0x1c),
    (0x0e, 0x74, 0x90),
    (0xa1, 0x62, 0x07),
    (0xbe, 0x18, 0x5d),
];

/// Height of a chart's drawing, pixels; the SVG scales to its box.
const HEIGHT: u32 = 250;

/// Width of the drawing of a chart in a card `columns` wide of the
/// 12-column grid, about its width on a 1920-pixel screen (so text keeps
/// its size).
pub fn width(columns: u32) -> u32 {
    (columns.clamp(1, 12) * 150).max(360)
}

/// Points per line up to which every point shows a dot (beyond, dots
/// appear on hover only).
const DOTS_UP_TO: usize = 90;

/// The CSS colour of line `i`.
pub fn css_color(i: usize) -> String {
    let (r, g, b) = COLORS[i % COLORS.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = COLORS[i % COLORS.len()];
    RGBColor(r, g, b)
}

/// A time axis: `[from_s, to_s)` shown in `tz`.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Start, epoch seconds.
    pub from_s: i64,
    /// End, epoch seconds.
    pub to_s: i64,
    /// Timezone of the labels.
    pub tz: Tz,
}

impl Axis {
    fn label(&self, t: i64) -> String {
        let pattern = if self.to_s - self.from_s > 86_400 {
            "%m-%d %H:%M"
        } else {
            "%H:%M"
        };
        format::local(t, self.tz, pattern)
    }
}

fn draw_error<E: std::fmt::Debug>(e: E) -> ApiError {
    ApiError::Catalog(format!("cannot draw a chart: {e:?}"))
}

/// The y range that shows every value, from 0 unless values are negative.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if (hi - lo).abs() < f64::EPSILON {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.08)
}

/// Draws the plotters part of a chart with `draw` and returns the SVG with
/// `overlay` (hover targets) added on top, scaled to its container and
/// labelled `label` for screen readers.
fn finish(
    label: &str,
    width: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>, &mut String) -> Result<(), ApiError>,
) -> Result<String, ApiError> {
    let mut svg = String::new();
    let mut overlay = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw(&root, &mut overlay)?;
        root.present().map_err(draw_error)?;
    }
    let opening = format!("width=\"{width}\" height=\"{HEIGHT}\"");
    let svg = svg.replacen(
        &opening,
        &format!(
            "class=\"chart\" role=\"img\" aria-label=\"{}\"",
            format::escape(label)
        ),
        1,
    );
    Ok(match svg.rfind("</svg>") {
        Some(end) => format!("{}<g class=\"hover\">{overlay}</g></svg>", &svg[..end]),
        None => svg,
    })
}

/// A line chart of `lines` (solid) and `compare` (dashed, in the colour of
/// the line of the same index) over `axis`.
pub fn lines(
    label: &str,
    lines: &[Line],
    compare: &[Line],
    axis: Axis,
    width: u32,
) -> Result<String, ApiError> {
    let (lo, hi) = y_range(
        lines
            .iter()
            .chain(compare)
            .flat_map(|l| l.points.iter().map(|(_, v)| *v)),
    );
    finish(label, width, |root, overlay| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(26)
            .y_label_area_size(64)
            .build_cartesian_2d(axis.from_s..axis.to_s, lo..hi)
            .map_err(draw_error)?;
        let x_fmt = |t: &i64| axis.label(*t);
        let y_fmt = |v: &f64| format::number(*v);
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .max_light_lines(1)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(0xee, 0xef, 0xf2))
            .bold_line_style(RGBColor(0xd8, 0xdb, 0xe2))
            .axis_style(RGBColor(0x6b, 0x72, 0x80))
            .label_style(
                ("sans-serif", 17)
                    .into_font()
                    .color(&RGBColor(0x37, 0x41, 0x51)),
            )
            .draw()
            .map_err(draw_error)?;
        for (i, line) in compare.iter().enumerate() {
            chart
                .draw_series(DashedLineSeries::new(
                    line.points.iter().copied(),
                    6,
                    4,
                    color(i).stroke_width(1),
                ))
                .map_err(draw_error)?;
        }
        for (i, line) in lines.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    color(i).stroke_width(2),
                ))
                .map_err(draw_error)?;
        }
        for (set, dashed) in [(lines, false), (compare, true)] {
            for (i, line) in set.iter().enumerate() {
                let class = match (dashed, line.points.len() <= DOTS_UP_TO) {
                    (true, _) => " class=\"compare\"",
                    (false, true) => " class=\"dot\"",
                    (false, false) => "",
                };
                for &(t, v) in &line.points {
                    let (x, y) = chart.backend_coord(&(t, v));
                    overlay.push_str(&format!(
                        "<circle cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"{}\"{class}><title>{} · {}: {}</title></circle>",
                        css_color(i),
                        format::escape(&line.name),
                        format::minute(t, axis.tz),
                        format::number(v),
                    ));
                }
            }
        }
        Ok(())
    })
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Start of the bar's bucket, epoch seconds.
    pub start_s: i64,
    /// Its height.
    pub value: f64,
    /// Where a click on it goes.
    pub href: String,
}

/// A bar chart of buckets of `bucket_s` seconds over `axis`; each bar (and
/// the empty space above it) links to its `href`.
pub fn bars(
    label: &str,
    bars: &[Bar],
    bucket_s: i64,
    axis: Axis,
    width: u32,
) -> Result<String, ApiError> {
    let (lo, hi) = y_range(bars.iter().map(|b| b.value));
    finish(label, width, |root, overlay| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(26)
            .y_label_area_size(48)
            .build_cartesian_2d(axis.from_s..axis.to_s, lo..hi)
            .map_err(draw_error)?;
        let x_fmt = |t: &i64| axis.label(*t);
        let y_fmt = |v: &f64| format::number(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(6)
            .y_labels(4)
            .max_light_lines(1)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(0xee, 0xef, 0xf2))
            .bold_line_style(RGBColor(0xd8, 0xdb, 0xe2))
            .axis_style(RGBColor(0x6b, 0x72, 0x80))
            .label_style(
                ("sans-serif", 17)
                    .into_font()
                    .color(&RGBColor(0x37, 0x41, 0x51)),
            )
            .draw()
            .map_err(draw_error)?;
        let gap = (bucket_s / 10).max(1);
        chart
            .draw_series(bars.iter().filter(|b| b.value != 0.0).map(|b| {
                Rectangle::new(
                    [
                        (b.start_s + gap, 0.0),
                        (b.start_s + bucket_s - gap, b.value),
                    ],
                    color(4).filled(),
                )
            }))
            .map_err(draw_error)?;
        for b in bars {
            let (x0, y0) = chart.backend_coord(&(b.start_s, hi));
            let (x1, y1) = chart.backend_coord(&(b.start_s + bucket_s, lo));
            overlay.push_str(&format!(
                "<a href=\"{}\"><rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"transparent\"><title>{}: {}</title></rect></a>",
                format::escape(&b.href),
                (x1 - x0).max(1),
                (y1 - y0).max(1),
                format::minute(b.start_s, axis.tz),
                format::number(b.value),
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis() -> Axis {
        Axis {
            from_s: 0,
            to_s: 180,
            tz: Tz::UTC,
        }
    }

    #[test]
    fn every_point_has_a_title() {
        let line = Line {
            name: "a<b".into(),
            points: vec![(0, 1.0), (60, 2.5), (120, 0.75)],
        };
        let svg = lines(
            "test",
            std::slice::from_ref(&line),
            std::slice::from_ref(&line),
            axis(),
            width(6),
        )
        .unwrap();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert_eq!(svg.matches("<title>").count(), 6);
        assert!(svg.contains("<title>a&lt;b · 1970-01-01 00:01: 2.5</title>"));
        assert!(svg.ends_with("</g></svg>"));
    }

    #[test]
    fn bars_link() {
        let bars_svg = bars(
            "alerts",
            &[Bar {
                start_s: 60,
                value: 3.0,
                href: "/alerts?from=60&to=120".into(),
            }],
            60,
            axis(),
            width(6),
        )
        .unwrap();
        assert!(bars_svg.contains("<a href=\"/alerts?from=60&amp;to=120\">"));
        assert!(bars_svg.contains("<title>1970-01-01 00:01: 3</title>"));
    }
}
