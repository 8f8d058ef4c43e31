//! Border effects: `valid` and `same` padding, and zero padding itself.
//!
//! A 3×3 window fits only 26×26 times in a 28×28 image, so a `valid` convolution shrinks
//! its input. `same` padding adds rows and columns of zeros around the input so that,
//! with stride 1, the output keeps the input's height and width.

use crate::error::Result;
use crate::tensor::Tensor;

/// How a window treats the border of its input, as Keras's `padding=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: the window only visits positions where it fits entirely.
    Valid,
    /// Pad with zeros so that the output length is `ceil(n / stride)`.
    Same,
}

/// The number of padded rows and columns on each side of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pads {
    /// Rows of zeros above the image.
    pub top: usize,
    /// Rows of zeros below the image.
    pub bottom: usize,
    /// Columns of zeros left of the image.
    pub left: usize,
    /// Columns of zeros right of the image.
    pub right: usize,
}

// ANCHOR: same_padding
/// Padding `(before, after)` along one axis of length `n` for a window of size `k` and
/// stride `s`, by TensorFlow's rule.
///
/// `same` wants `ceil(n / s)` outputs; the last window starts at `(out - 1) * s` and needs
/// `k` positions, so the padded axis must be `(out - 1) * s + k` long. The total padding is
/// split in half; when it is odd, the extra zero goes after (bottom or right).
/// Callers make sure `s >= 1`.
pub fn pads_1d(padding: Padding, n: usize, k: usize, s: usize) -> (usize, usize) {
    match padding {
        Padding::Valid => (0, 0),
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out.saturating_sub(1)) * s + k).saturating_sub(n);
            (total / 2, total - total / 2)
        }
    }
}
// ANCHOR_END: same_padding

// ANCHOR: zero_pad
/// Surrounds every image of an NHWC batch with rows and columns of zeros.
///
/// Convolving `zero_pad(x)` with `valid` padding gives the same result as convolving `x`
/// with the equivalent [`Pads`]; the layers skip the zeros instead of storing them.
pub fn zero_pad(x: &Tensor, pads: Pads) -> Result<Tensor> {
    let (n, h, w, c) = x.nhwc()?;
    let (ph, pw) = (h + pads.top + pads.bottom, w + pads.left + pads.right);
    let mut y = Tensor::zeros(&[n, ph, pw, c])?;
    for b in 0..n {
        for ih in 0..h {
            // One input row of `w * c` values lands, shifted, inside the padded row.
            let src = ((b * h + ih) * w) * c;
            let dst = ((b * ph + ih + pads.top) * pw + pads.left) * c;
            y.data_mut()[dst..dst + w * c].copy_from_slice(&x.data()[src..src + w * c]);
        }
    }
    Ok(y)
}
// ANCHOR_END: zero_pad
