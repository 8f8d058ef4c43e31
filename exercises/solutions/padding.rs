//! Reference solutions of the padding chapter's exercises (see `exercises/src/padding.rs`
//! for the tasks).

use convnets::{Padding, Pads, Tensor};

/// `⌊(n − k) / s⌋ + 1` or `⌈n / s⌉`, with `None` for what has no answer.
pub fn out_len(n: usize, k: usize, s: usize, padding: Padding) -> Option<usize> {
    if n == 0 || k == 0 || s == 0 {
        return None;
    }
    match padding {
        Padding::Valid => n.checked_sub(k).map(|d| d / s + 1),
        Padding::Same => Some(n.div_ceil(s)),
    }
}

/// `total / 2` before, the rest after.
pub fn same_pads(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// Copies each image row into a larger image of zeros.
pub fn zero_pad(x: &Tensor, pads: Pads) -> Tensor {
    let [n, h, w, c] = x.shape()[..] else { panic!("an input is NHWC") };
    let (ph, pw) = (h + pads.top + pads.bottom, w + pads.left + pads.right);
    let mut y = Tensor::zeros(&[n, ph, pw, c]).unwrap();
    for b in 0..n {
        for ih in 0..h {
            for iw in 0..w {
                for ci in 0..c {
                    let to = y.offset(&[b, ih + pads.top, iw + pads.left, ci]).unwrap();
                    y.data_mut()[to] = x.get(&[b, ih, iw, ci]).unwrap();
                }
            }
        }
    }
    y
}
