//! Output-size rules, in one place: how many positions a sliding window visits.
//!
//! Convolution and pooling are both "slide a `k`-wide window with stride `s` over an axis of
//! length `n`", so they share [`out_len`] and the [`Window2D`] geometry.

use std::ops::Range;

use crate::error::{Error, GeometryError, Result};
use crate::limits::MAX_WINDOW;
use crate::padding::{Padding, Pads, pads_1d};

// ANCHOR: out_len
/// The number of window positions along one axis, as Keras computes it.
///
/// - `valid`: `floor((n - k) / s) + 1`, and an error when `k > n` (the window never fits);
/// - `same`:  `ceil(n / s)`.
///
/// Zero sizes and zero strides are errors too.
pub fn out_len(n: usize, k: usize, s: usize, padding: Padding) -> Result<usize> {
    if n == 0 || k == 0 || s == 0 {
        return Err(Error::Geometry(GeometryError::Zero { input: n, window: k, stride: s }));
    }
    match padding {
        Padding::Valid if k > n => Err(Error::Geometry(GeometryError::DoesNotFit { window: k, input: n })),
        Padding::Valid => Ok((n - k) / s + 1),
        Padding::Same => Ok(n.div_ceil(s)),
    }
}
// ANCHOR_END: out_len

/// Where a 2-D window (a kernel or a pool) goes over one image: the sizes, strides and
/// padding, and the output size they give. Built only through [`Window2D::new`], so the
/// output size always agrees with [`out_len`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window2D {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Window height.
    pub k_h: usize,
    /// Window width.
    pub k_w: usize,
    /// Vertical step between windows.
    pub stride_h: usize,
    /// Horizontal step between windows.
    pub stride_w: usize,
    /// The zeros added around the input (all zero for `valid`).
    pub pads: Pads,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl Window2D {
    /// Checks that a `kernel` window with `strides` fits an `input` of `(height, width)` and
    /// works out the padding and the output size. Window sides and strides longer than
    /// [`MAX_WINDOW`] are refused.
    pub fn new(
        input: (usize, usize),
        kernel: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
    ) -> Result<Window2D> {
        let sides =
            [("window", kernel.0), ("window", kernel.1), ("stride", strides.0), ("stride", strides.1)];
        if let Some(&(what, value)) = sides.iter().find(|&&(_, v)| v > MAX_WINDOW) {
            return Err(Error::Geometry(GeometryError::TooLarge { what, value, limit: MAX_WINDOW }));
        }
        let out_h = out_len(input.0, kernel.0, strides.0, padding)?;
        let out_w = out_len(input.1, kernel.1, strides.1, padding)?;
        let (top, bottom) = pads_1d(padding, input.0, kernel.0, strides.0);
        let (left, right) = pads_1d(padding, input.1, kernel.1, strides.1);
        Ok(Window2D {
            in_h: input.0,
            in_w: input.1,
            k_h: kernel.0,
            k_w: kernel.1,
            stride_h: strides.0,
            stride_w: strides.1,
            pads: Pads { top, bottom, left, right },
            out_h,
            out_w,
        })
    }

    // ANCHOR: input_index
    /// The input row seen by output row `oh` at kernel row `kh`, or `None` if it falls in the
    /// padding (where the input is zero).
    pub fn input_row(&self, oh: usize, kh: usize) -> Option<usize> {
        (oh * self.stride_h + kh).checked_sub(self.pads.top).filter(|&ih| ih < self.in_h)
    }

    /// The input column seen by output column `ow` at kernel column `kw`, or `None` if it
    /// falls in the padding.
    pub fn input_col(&self, ow: usize, kw: usize) -> Option<usize> {
        (ow * self.stride_w + kw).checked_sub(self.pads.left).filter(|&iw| iw < self.in_w)
    }
    // ANCHOR_END: input_index

    /// The kernel rows `kh` of output row `oh` that see the input rather than the padding,
    /// as a range, and the input row the first of them sees (see
    /// [`Window2D::kernel_cols_inside`]).
    pub fn kernel_rows_inside(&self, oh: usize) -> (Range<usize>, usize) {
        inside(oh * self.stride_h, self.pads.top, self.in_h, self.k_h)
    }

    /// The kernel columns `kw` of output column `ow` that see the input rather than the
    /// padding, as a range, and the input column the first of them sees. The columns in the
    /// range see consecutive input columns, so one window row is one contiguous run of input.
    pub fn kernel_cols_inside(&self, ow: usize) -> (Range<usize>, usize) {
        inside(ow * self.stride_w, self.pads.left, self.in_w, self.k_w)
    }
}

/// Along one axis: the window offsets `0..k` that fall inside an input of length `n` padded
/// by `pad` in front, for a window starting at `start` in padded coordinates (so offset `i`
/// sits at `start + i`, and the input spans `pad .. pad + n`), and the input index the first
/// of them sees.
fn inside(start: usize, pad: usize, n: usize, k: usize) -> (Range<usize>, usize) {
    let first = pad.saturating_sub(start).min(k);
    let end = (pad + n).saturating_sub(start).clamp(first, k);
    (first..end, (start + first).saturating_sub(pad))
}
