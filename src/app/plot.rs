//! Line plots of training curves: loss and accuracy per epoch, as the book draws them with
//! matplotlib, but drawn here pixel by pixel onto a [`picture::Rgb`](crate::picture::Rgb).
//!
//! A [`Plot`] holds one or more [`Series`] (one value per epoch, epoch 1 first); [`render`]
//! draws axes with ticks, the lines with a small square at every value, a title, axis labels
//! and a legend. The text uses a tiny built-in 5 × 7 pixel font, so no font files and no
//! plotting library are needed. Save the result with [`write_png`](crate::picture::write_png).
//!
//! ```
//! use convnets::plot::{self, Plot, Series, BLUE, ORANGE};
//!
//! let plot = Plot {
//!     title: "Training and validation loss".into(),
//!     x_label: "Epochs".into(),
//!     y_label: "Loss".into(),
//!     series: vec![
//!         Series { label: "Training loss".into(), values: vec![0.17, 0.05, 0.03, 0.02, 0.02], color: BLUE, dashed: false },
//!         Series { label: "Validation loss".into(), values: vec![0.06, 0.04, 0.03, 0.03, 0.03], color: ORANGE, dashed: true },
//!     ],
//!     y_range: None,
//! };
//! let picture = plot::render(&plot, 640, 480).unwrap();
//! assert_eq!((picture.width, picture.height), (640, 480));
//! // convnets::picture::write_png(std::path::Path::new("loss.png"), &picture).unwrap();
//! ```

use crate::error::{Error, Result};
use crate::picture::font::glyph;
use crate::picture::{MAX_PIXELS, Rgb};

/// Blue, the first colour of matplotlib's default cycle ("tab:blue").
pub const BLUE: [u8; 3] = [31, 119, 180];
/// Orange, matplotlib's second default colour ("tab:orange").
pub const ORANGE: [u8; 3] = [255, 127, 14];
/// Green, matplotlib's third default colour ("tab:green").
pub const GREEN: [u8; 3] = [44, 160, 44];
/// Red, matplotlib's fourth default colour ("tab:red").
pub const RED: [u8; 3] = [214, 39, 40];
/// Purple, matplotlib's fifth default colour ("tab:purple").
pub const PURPLE: [u8; 3] = [148, 103, 189];

/// The smallest picture [`render`] draws: below this, the labels leave no room for the data.
pub const MIN_SIZE: (usize, usize) = (160, 120);

const WHITE: [u8; 3] = [255; 3];
const BLACK: [u8; 3] = [0; 3];
/// Grid lines are a light grey, so they help reading values without competing with the data.
const GRID: [u8; 3] = [228; 3];
const LEGEND_BORDER: [u8; 3] = [170; 3];

/// Every text is drawn at twice the font's size: one font pixel becomes a 2 × 2 block.
const SCALE: usize = 2;
/// The horizontal distance from one character to the next: 5 columns of glyph plus 1 of space.
const ADVANCE: usize = 6 * SCALE;
/// The height of a line of text: 7 rows of glyph plus 1 row for the tails of g, j, p, q, y.
const TEXT_HEIGHT: usize = 8 * SCALE;
/// Empty space around the plot's parts.
const PAD: usize = 10;
/// The length of a tick mark, outside the frame.
const TICK: usize = 5;
/// Line width in pixels.
const LINE_WIDTH: f64 = 2.0;
/// A dashed line is drawn for `DASH` pixels, then left out for `GAP` pixels.
const DASH: f64 = 8.0;
const GAP: f64 = 5.0;
/// Markers are squares of `2 · MARKER + 1` pixels a side.
const MARKER: isize = 2;

/// One curve: one value per epoch (the first value is epoch 1), drawn as a line with a small
/// square marker at every value.
///
/// NaN and infinite values (a diverged loss) are left out: the line has a gap there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The name shown in the legend, e.g. "Validation accuracy". An empty label keeps the
    /// series out of the legend.
    pub label: String,
    /// One value per epoch.
    pub values: Vec<f64>,
    /// Red, green and blue, 0..=255, e.g. [`BLUE`].
    pub color: [u8; 3],
    /// Draw the line dashed, e.g. to tell a validation curve from a training curve.
    pub dashed: bool,
}

/// A line plot: a title, two axis labels and the curves to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plot {
    /// The text above the plot (may be empty).
    pub title: String,
    /// The text under the x axis, e.g. "Epochs" (may be empty).
    pub x_label: String,
    /// The text beside the y axis, written bottom to top, e.g. "Loss" (may be empty).
    pub y_label: String,
    /// The curves, drawn in order (a later one is drawn over an earlier one).
    pub series: Vec<Series>,
    /// The values at the bottom and top of the y axis, e.g. `Some((0.0, 1.0))` for accuracy.
    /// `None` fits the axis to the data, with a 5% margin above and below.
    pub y_range: Option<(f64, f64)>,
}

/// Draws `plot` as a `width × height` picture on a white background.
///
/// The x axis runs over the epochs, 1 to the longest series' length, with a tick at every
/// epoch (or every 2, 5, 10, … epochs when the labels would not fit). The y axis covers
/// [`Plot::y_range`], or the data with a 5% margin, with ticks at round values. A line leaving
/// a fixed y range is cut at the frame. The legend lists the series that have a label, in the
/// corner of the plot where it hides the fewest data points.
///
/// Fails with [`Error::Image`] if the picture is smaller than [`MIN_SIZE`], larger than
/// [`MAX_PIXELS`] or too small for its labels, if `y_range` is not two finite numbers, low
/// then high, or if the values span more than an `f64` can hold.
pub fn render(plot: &Plot, width: usize, height: usize) -> Result<Rgb> {
    if width < MIN_SIZE.0 || height < MIN_SIZE.1 || width.checked_mul(height).is_none_or(|n| n > MAX_PIXELS) {
        return Err(Error::image(format!(
            "a plot cannot be {width}×{height} pixels: it needs at least {}×{} and at most {MAX_PIXELS} pixels",
            MIN_SIZE.0, MIN_SIZE.1
        )));
    }
    let (y_lo, y_hi) = y_range(plot)?;
    let epochs = plot.series.iter().map(|s| s.values.len()).max().unwrap_or(0).max(1);

    // The margins hold the text. The vertical ones come first: the plot's height decides how
    // many y ticks fit, and the widest y tick label then decides the left margin.
    let title_room = if plot.title.is_empty() { TEXT_HEIGHT / 2 } else { TEXT_HEIGHT + PAD };
    let x_label_room = if plot.x_label.is_empty() { 0 } else { TEXT_HEIGHT + PAD / 2 };
    let y_label_room = if plot.y_label.is_empty() { 0 } else { TEXT_HEIGHT + PAD };
    let top = PAD + title_room;
    let bottom = height - (TICK + 4 + TEXT_HEIGHT + x_label_room + PAD);
    let y_ticks = y_ticks(y_lo, y_hi, bottom.saturating_sub(top) / 50);
    let tick_label_width = y_ticks.iter().map(|(_, label)| text_width(label)).max().unwrap_or(0);
    let left = PAD + y_label_room + tick_label_width + 4 + TICK;
    // Half of the last x tick label may stick out to the right of the frame.
    let right = width - 2 * PAD;
    if left + 40 > right || top + 40 > bottom {
        return Err(Error::image(format!(
            "a {width}×{height} plot has no room left for the data beside its labels"
        )));
    }
    let frame = Frame {
        area: Rect::new(left, top, right, bottom),
        // Epoch `e` sits in the middle of a slot from e − 0.5 to e + 0.5, so the first and last
        // points stay off the frame.
        x_range: (0.5, epochs as f64 + 0.5),
        y_range: (y_lo, y_hi),
    };
    let mut img = Rgb { width, height, pixels: vec![WHITE; width * height] };
    let (left, top, right, bottom) = (left as isize, top as isize, right as isize, bottom as isize);

    for (value, label) in &y_ticks {
        let y = frame.to_pixel(1.0, *value).1.floor() as isize;
        fill(&mut img, Rect { left, top: y, right, bottom: y + 1 }, GRID);
        fill(&mut img, Rect { left: left - TICK as isize, top: y, right: left, bottom: y + 1 }, BLACK);
        let x = left - (TICK + 4 + text_width(label)) as isize;
        draw_text(&mut img, label, x, y - (7 * SCALE / 2) as isize, false);
    }
    let room = (right - left) as usize / (text_width(&epochs.to_string()) + 2 * ADVANCE);
    let step = x_step(epochs, room);
    for epoch in (step..=epochs).step_by(step) {
        let x = frame.to_pixel(epoch as f64, y_lo).0.floor() as isize;
        fill(&mut img, Rect { left: x, top: bottom, right: x + 1, bottom: bottom + TICK as isize }, BLACK);
        let label = epoch.to_string();
        draw_text(&mut img, &label, x - text_width(&label) as isize / 2, bottom + (TICK + 4) as isize, false);
    }
    for (left, top, right, bottom) in [
        (left, top, right, top + 1),
        (left, bottom, right + 1, bottom + 1),
        (left, top, left + 1, bottom),
        (right, top, right + 1, bottom),
    ] {
        fill(&mut img, Rect { left, top, right, bottom }, BLACK);
    }
    let centre = (left + right) / 2;
    draw_text(&mut img, &plot.title, centre - text_width(&plot.title) as isize / 2, PAD as isize, false);
    let x_label_top = bottom + (TICK + 4 + TEXT_HEIGHT + PAD / 2) as isize;
    draw_text(&mut img, &plot.x_label, centre - text_width(&plot.x_label) as isize / 2, x_label_top, false);
    let middle = (top + bottom) / 2 + text_width(&plot.y_label) as isize / 2;
    draw_text(&mut img, &plot.y_label, PAD as isize, middle, true);

    // The data, cut at the frame (whose lines stay visible on top of it).
    let inside = Rect { left: left + 1, top: top + 1, right, bottom };
    let mut crowd = Vec::new(); // where the lines pass, to keep the legend away from them
    for series in &plot.series {
        let points: Vec<Option<(f64, f64)>> = (1..)
            .zip(&series.values)
            .map(|(epoch, &v)| v.is_finite().then(|| frame.to_pixel(f64::from(epoch), v)))
            .collect();
        // How far along the line the dash pattern is, so it runs on from one segment to the next.
        let mut along = 0.0;
        for pair in points.windows(2) {
            if let [Some(a), Some(b)] = *pair {
                segment(&mut img, a, b, series.color, series.dashed.then_some(along), inside);
                along += (b.0 - a.0).hypot(b.1 - a.1);
                crowd.extend(
                    (0..8)
                        .map(|i| f64::from(i) / 8.0)
                        .map(|t| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))),
                );
            }
        }
        // Markers closer than a few pixels would merge into a smear: a long run shows only the line.
        if (right - left) as f64 / epochs as f64 >= 8.0 {
            for &point in points.iter().flatten() {
                marker(&mut img, point, series.color, inside);
            }
        }
        crowd.extend(points.iter().flatten());
    }
    legend(&mut img, &plot.series, &crowd, inside);
    Ok(img)
}

/// The y axis' bottom and top: the plot's `y_range`, or the data's span with a margin.
fn y_range(plot: &Plot) -> Result<(f64, f64)> {
    if let Some((lo, hi)) = plot.y_range {
        return if lo < hi && (hi - lo).is_finite() {
            Ok((lo, hi))
        } else {
            Err(Error::image(format!(
                "a plot's y range must go from a low to a higher finite value, not {lo} to {hi}"
            )))
        };
    }
    let finite = plot.series.iter().flat_map(|s| &s.values).copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return Ok((0.0, 1.0)); // No finite value at all: an empty frame.
    }
    // 5% of the span above and below, as matplotlib does, so no point sits on the frame. A
    // constant series has no span: it gets a band of ±10% of its value (±1 around 0).
    let margin = if hi > lo {
        (hi - lo) * 0.05
    } else if lo != 0.0 {
        lo.abs() * 0.1
    } else {
        1.0
    };
    let (lo, hi) = (lo - margin, hi + margin);
    if (hi - lo).is_finite() {
        Ok((lo, hi))
    } else {
        Err(Error::image("the plotted values span more than an f64 can hold"))
    }
}

/// Ticks at round values (multiples of 1, 2 or 5 times a power of ten), at most about
/// `target` of them from `lo` to `hi`, labelled with as many decimals as the step needs.
fn y_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    // The step is at most 2.5 times `raw`, so a target of 5 or more keeps at least 2 ticks.
    let raw = (hi - lo) / target.max(5) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].map(|m| m * magnitude).into_iter().find(|&s| s >= raw).unwrap_or(raw);
    let first = (lo / step).ceil();
    // Counting in whole steps keeps 0 exactly 0; NaN (from a degenerate step) counts as 0.
    let count = ((hi / step).floor() - first + 1.0).clamp(0.0, 50.0) as usize;
    let ticks: Vec<f64> = (0..count).map(|i| (first + i as f64) * step + 0.0).collect(); // + 0.0: no −0
    let largest = ticks.iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    // Decimals: a step of 0.05 needs 2, 0.5 needs 1, 5 none. (The tiny nudge keeps 0.1, whose
    // logarithm may come out a hair below −1, from asking for 2.)
    let digits = |of: f64| (of.log10() + 1e-9).floor();
    let decimals = (-digits(step)).clamp(0.0, 15.0) as usize;
    // Long runs of digits are hard to read: 2000000 or 0.00002 become 2e6 or 2e-5, with as many
    // digits after the point as tell the ticks apart.
    let scientific = largest >= 1e6 || (largest > 0.0 && largest < 1e-3);
    let significant = (digits(largest) - digits(step)).clamp(0.0, 15.0) as usize;
    let label = |v: f64| {
        if v == 0.0 {
            "0".to_string() // not "0e0"
        } else if scientific {
            format!("{v:.significant$e}")
        } else {
            format!("{v:.decimals$}")
        }
    };
    ticks.into_iter().map(|v| (v, label(v))).collect()
}

/// The distance between x ticks: every epoch if `room` labels fit, else every 2, 5, 10, 20, …
fn x_step(epochs: usize, room: usize) -> usize {
    let (mut step, mut k) = (1, 0u32);
    while epochs.div_ceil(step) > room {
        k += 1;
        let next = [1usize, 2, 5][(k % 3) as usize].saturating_mul(10usize.saturating_pow(k / 3));
        if next > epochs {
            break; // Keep at least one tick.
        }
        step = next;
    }
    step
}

/// The legend: a box listing each labelled series as a short sample of its line and its label,
/// in the corner of `inside` with the fewest `crowd` points under it (as matplotlib's
/// `loc="best"`); the first of upper right, upper left, lower left, lower right wins a tie.
fn legend(img: &mut Rgb, series: &[Series], crowd: &[(f64, f64)], inside: Rect) {
    let entries: Vec<&Series> = series.iter().filter(|s| !s.label.is_empty()).collect();
    let Some(text) = entries.iter().map(|s| text_width(&s.label)).max() else { return };
    let (row, sample, pad) = ((TEXT_HEIGHT + 6) as isize, 30, PAD as isize);
    let (w, h) = (3 * pad + sample + text as isize, entries.len() as isize * row + pad);
    // A legend too big for the plot starts at its top left and sticks out at the right or bottom.
    let (left, top) = (inside.left + pad, inside.top + pad);
    let (xs, ys) = ([(inside.right - pad - w).max(left), left], [top, (inside.bottom - pad - h).max(top)]);
    let corners = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])];
    let covered = |&(x, y): &(isize, isize)| {
        let (x, y) = (x as f64, y as f64);
        crowd
            .iter()
            .filter(|p| {
                p.0 > x - 3.0 && p.0 < x + w as f64 + 3.0 && p.1 > y - 3.0 && p.1 < y + h as f64 + 3.0
            })
            .count()
    };
    let Some((x, y)) = corners.into_iter().min_by_key(covered) else { return };
    fill(img, Rect { left: x, top: y, right: x + w, bottom: y + h }, LEGEND_BORDER);
    fill(img, Rect { left: x + 1, top: y + 1, right: x + w - 1, bottom: y + h - 1 }, WHITE);
    let everywhere = Rect::new(0, 0, img.width, img.height);
    for (i, s) in (0..).zip(entries) {
        let middle = y + pad / 2 + i * row + row / 2;
        let (start, end) = ((x + pad) as f64, (x + pad + sample) as f64);
        segment(
            img,
            (start, middle as f64),
            (end, middle as f64),
            s.color,
            s.dashed.then_some(0.0),
            everywhere,
        );
        marker(img, ((start + end) / 2.0, middle as f64), s.color, everywhere);
        draw_text(img, &s.label, x + 2 * pad + sample, middle - (7 * SCALE / 2) as isize, false);
    }
}

/// A rectangle of pixels: columns `left..right` and rows `top..bottom` (the ends excluded).
#[derive(Debug, Clone, Copy)]
struct Rect {
    left: isize,
    top: isize,
    right: isize,
    bottom: isize,
}

impl Rect {
    fn new(left: usize, top: usize, right: usize, bottom: usize) -> Rect {
        Rect { left: left as isize, top: top as isize, right: right as isize, bottom: bottom as isize }
    }
}

/// Where the data goes: the plot's area in pixels and the data ranges it spans.
struct Frame {
    area: Rect,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl Frame {
    /// The pixel position of the data point `(x, y)`: x grows to the right, but y grows up
    /// while picture rows count down, hence `bottom −`.
    fn to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let ((x0, x1), (y0, y1)) = (self.x_range, self.y_range);
        let Rect { left, top, right, bottom } = self.area;
        let (left, top, right, bottom) = (left as f64, top as f64, right as f64, bottom as f64);
        let px = left + (x - x0) / (x1 - x0) * (right - left);
        let py = bottom - (y - y0) / (y1 - y0) * (bottom - top);
        // A value far outside a fixed y range would land billions of rows away; a few thousand
        // rows out keeps the arithmetic tame and the line leaves the frame almost the same way.
        (px, py.clamp(top - 1e4, bottom + 1e4))
    }
}

/// The index in `img.pixels` of pixel `(x, y)`, if it is inside the picture.
fn index(img: &Rgb, x: isize, y: isize) -> Option<usize> {
    let (x, y) = (usize::try_from(x).ok()?, usize::try_from(y).ok()?);
    (x < img.width && y < img.height).then(|| y * img.width + x)
}

/// Paints the part of `rect` that is inside the picture.
fn fill(img: &mut Rgb, rect: Rect, colour: [u8; 3]) {
    for y in rect.top.max(0)..rect.bottom.min(img.height as isize) {
        for x in rect.left.max(0)..rect.right.min(img.width as isize) {
            if let Some(i) = index(img, x, y) {
                img.pixels[i] = colour;
            }
        }
    }
}

/// Mixes `colour` into pixel `(x, y)`: `alpha` 1 paints it, 0 leaves it, 0.3 tints it.
fn blend(img: &mut Rgb, x: isize, y: isize, colour: [u8; 3], alpha: f64) {
    if let Some(i) = index(img, x, y) {
        let old = img.pixels[i];
        img.pixels[i] = std::array::from_fn(|c| {
            (f64::from(colour[c]) * alpha + f64::from(old[c]) * (1.0 - alpha)).round() as u8
        });
    }
}

/// Draws a straight line from `a` to `b` (pixel coordinates) inside `clip`, [`LINE_WIDTH`]
/// wide with round ends.
///
/// Antialiasing: a pixel is coloured by how much of it the line covers, estimated from the
/// distance of its centre to the segment (fully within the line: painted; on the edge: mixed
/// with what is there), so slanted lines do not look like stairs. For a dashed line,
/// `dash_start` is how far along the whole curve `a` lies.
fn segment(
    img: &mut Rgb,
    a: (f64, f64),
    b: (f64, f64),
    colour: [u8; 3],
    dash_start: Option<f64>,
    clip: Rect,
) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length_squared = dx * dx + dy * dy;
    let reach = LINE_WIDTH / 2.0 + 1.0;
    let from = |lo: f64, edge: isize| ((lo - reach).floor() as isize).max(edge);
    let to = |hi: f64, edge: isize| ((hi + reach).ceil() as isize).min(edge);
    for y in from(a.1.min(b.1), clip.top)..to(a.1.max(b.1), clip.bottom) {
        for x in from(a.0.min(b.0), clip.left)..to(a.0.max(b.0), clip.right) {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            // The point of the segment nearest to the pixel's centre is a + t·(b − a).
            let t = if length_squared > 0.0 {
                (((px - a.0) * dx + (py - a.1) * dy) / length_squared).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let distance = (px - a.0 - t * dx).hypot(py - a.1 - t * dy);
            let coverage = (LINE_WIDTH / 2.0 + 0.5 - distance).clamp(0.0, 1.0);
            let in_gap = dash_start.is_some_and(|s| (s + t * length_squared.sqrt()) % (DASH + GAP) >= DASH);
            if coverage > 0.0 && !in_gap {
                blend(img, x, y, colour, coverage);
            }
        }
    }
}

/// A small filled square centred on `point`, the part inside `clip`.
fn marker(img: &mut Rgb, point: (f64, f64), colour: [u8; 3], clip: Rect) {
    let (x, y) = (point.0.floor() as isize, point.1.floor() as isize);
    let rect = Rect {
        left: (x - MARKER).max(clip.left),
        top: (y - MARKER).max(clip.top),
        right: (x + MARKER + 1).min(clip.right),
        bottom: (y + MARKER + 1).min(clip.bottom),
    };
    fill(img, rect, colour);
}

/// The width in pixels of `text` drawn by [`draw_text`].
fn text_width(text: &str) -> usize {
    (text.chars().count() * ADVANCE).saturating_sub(SCALE)
}

/// Writes `text` in black with the built-in font, each font pixel a `SCALE × SCALE` block.
///
/// Upright text has its top-left corner at `(x, y)`. Vertical text (for the y-axis label) is
/// turned a quarter turn anticlockwise, reading upwards, with its bottom-left corner at `(x, y)`.
fn draw_text(img: &mut Rgb, text: &str, x: isize, y: isize, vertical: bool) {
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for column in (0..5).filter(|column| bits & (0x10 >> column) != 0) {
                // How far along the text and how far down the glyph this font pixel is.
                let along = ((i * 6 + column) * SCALE) as isize;
                let down = (row * SCALE) as isize;
                let (left, top) =
                    if vertical { (x + down, y - along - SCALE as isize) } else { (x + along, y + down) };
                fill(
                    img,
                    Rect { left, top, right: left + SCALE as isize, bottom: top + SCALE as isize },
                    BLACK,
                );
            }
        }
    }
}
