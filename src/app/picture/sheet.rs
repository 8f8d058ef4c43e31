//! A titled sheet of labelled tiles, with a legend: how the feature maps, filters and patterns
//! of a layer are shown, so that a picture says what it is without its file name.

use super::font::{draw_text, text_height, text_width};
use super::{MAX_PIXELS, Rgb, paste_enlarged};
use crate::error::{Error, Result};

const BACKGROUND: [u8; 3] = [255; 3];
const INK: [u8; 3] = [30; 3];
const FRAME: [u8; 3] = [170; 3];
/// Pixels around the sheet and between its parts.
const MARGIN: usize = 8;
/// Pixels between tiles.
const GAP: usize = 6;
/// Font scale of the title (the labels and the caption use 1).
const TITLE_SCALE: usize = 2;
/// The size of a legend's colour bar.
const BAR: (usize, usize) = (160, 10);

/// A colour scale for a legend: the colour of each value from 0 to 1, and what the two ends
/// stand for.
pub struct Legend {
    /// The colour of `t` in 0..1.
    pub colour: fn(f32) -> [u8; 3],
    /// What 0 stands for, written left of the bar.
    pub low: String,
    /// What 1 stands for, written right of the bar.
    pub high: String,
}

/// A titled grid of same-sized tiles, each with a label above it, and an optional legend and
/// caption below.
pub struct Sheet {
    /// Written above the grid.
    pub title: String,
    /// The tiles: a label and `tile_width × tile_height` colours, row by row.
    pub tiles: Vec<(String, Vec<[u8; 3]>)>,
    /// The width of every tile, in its own pixels.
    pub tile_width: usize,
    /// The height of every tile, in its own pixels.
    pub tile_height: usize,
    /// Tiles per row.
    pub columns: usize,
    /// Each tile pixel becomes a `scale × scale` block.
    pub scale: usize,
    /// The colour scale, drawn under the grid.
    pub legend: Option<Legend>,
    /// A line of text under everything (what the colours mean, how it was made).
    pub caption: String,
}

/// A legend's colour bar: `width × height` pixels going from `colour(0)` to `colour(1)`.
pub fn colour_bar(width: usize, height: usize, colour: fn(f32) -> [u8; 3]) -> Rgb {
    let row: Vec<[u8; 3]> = (0..width).map(|x| colour(x as f32 / (width.max(2) - 1) as f32)).collect();
    Rgb { width, height, pixels: row.iter().copied().cycle().take(width * height).collect() }
}

impl Sheet {
    /// The sheet as a picture. Fails with [`Error::Image`] for no tiles, zero columns or scale,
    /// tiles of the wrong size, or a picture larger than [`MAX_PIXELS`].
    pub fn render(&self) -> Result<Rgb> {
        let (tw, th) = (self.tile_width, self.tile_height);
        if self.tiles.is_empty() || self.columns == 0 || self.scale == 0 || tw == 0 || th == 0 {
            return Err(Error::image(format!(
                "a sheet needs tiles, columns and a scale of at least 1 (got {} tiles of {tw}×{th}, {} columns, scale {})",
                self.tiles.len(),
                self.columns,
                self.scale
            )));
        }
        if let Some((label, _)) = self.tiles.iter().find(|(_, pixels)| pixels.len() != tw * th) {
            return Err(Error::image(format!("tile {label:?} is not {tw}×{th} pixels")));
        }
        let columns = self.columns.min(self.tiles.len());
        let rows = self.tiles.len().div_ceil(columns);
        let label_h = text_height(1) + 2;
        let (cell_w, cell_h) = (tw * self.scale + GAP, label_h + th * self.scale + GAP);
        let grid_w = columns * cell_w - GAP;
        let title_h = text_height(TITLE_SCALE) + GAP;
        let legend_h = self.legend.as_ref().map_or(0, |_| BAR.1.max(text_height(1)) + GAP);
        let caption_h = if self.caption.is_empty() { 0 } else { text_height(1) + GAP };
        let legend_w = self
            .legend
            .as_ref()
            .map_or(0, |l| text_width(&l.low, 1) + BAR.0 + text_width(&l.high, 1) + 2 * GAP);
        let content_w =
            grid_w.max(text_width(&self.title, TITLE_SCALE)).max(text_width(&self.caption, 1)).max(legend_w);
        let width = content_w + 2 * MARGIN;
        let height = 2 * MARGIN + title_h + rows * cell_h + legend_h + caption_h;
        if width.checked_mul(height).is_none_or(|n| n > MAX_PIXELS) {
            return Err(Error::image(format!("a sheet of {width}×{height} pixels is too large")));
        }
        let mut out = Rgb { width, height, pixels: vec![BACKGROUND; width * height] };
        draw_text(&mut out, &self.title, MARGIN, MARGIN, TITLE_SCALE, INK);
        let top = MARGIN + title_h;
        for (i, (label, pixels)) in self.tiles.iter().enumerate() {
            let (x, y) = (MARGIN + (i % columns) * cell_w, top + (i / columns) * cell_h);
            draw_text(&mut out, label, x, y, 1, INK);
            let tile_y = y + label_h;
            frame(&mut out, x, tile_y, tw * self.scale, th * self.scale);
            paste_enlarged(&mut out, pixels, tw, self.scale, x, tile_y);
        }
        let mut y = top + rows * cell_h;
        if let Some(legend) = &self.legend {
            let mut x = MARGIN;
            draw_text(&mut out, &legend.low, x, y + 1, 1, INK);
            x += text_width(&legend.low, 1) + GAP;
            let bar = colour_bar(BAR.0, BAR.1, legend.colour);
            paste_enlarged(&mut out, &bar.pixels, bar.width, 1, x, y);
            x += BAR.0 + GAP;
            draw_text(&mut out, &legend.high, x, y + 1, 1, INK);
            y += legend_h;
        }
        draw_text(&mut out, &self.caption, MARGIN, y, 1, INK);
        Ok(out)
    }
}

/// A one-pixel frame just outside the `w × h` box at `(x, y)`, so that a black tile still
/// shows where it is.
fn frame(out: &mut Rgb, x: usize, y: usize, w: usize, h: usize) {
    let (x0, y0) = (x.saturating_sub(1), y.saturating_sub(1));
    let (x1, y1) = ((x + w).min(out.width - 1), (y + h).min(out.height - 1));
    for px in x0..=x1 {
        out.pixels[y0 * out.width + px] = FRAME;
        out.pixels[y1 * out.width + px] = FRAME;
    }
    for py in y0..=y1 {
        out.pixels[py * out.width + x0] = FRAME;
        out.pixels[py * out.width + x1] = FRAME;
    }
}
