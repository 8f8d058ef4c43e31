//! The reference convolution: plain nested loops, one multiply-add at a time.
//!
//! Slow, but every line maps onto the book's figure of a window sliding over the input.
//! Every faster convolution in this crate is tested equal to this one.

use crate::geometry::ConvGeometry;

// ANCHOR: forward
/// `y = conv(x, kernel) + bias`, all NHWC / HWIO slices as [`ConvGeometry`] describes.
///
/// For every output position `(n, oh, ow)` and filter `co`, the window of the input that
/// starts at `(oh·stride_h − top, ow·stride_w − left)` is multiplied element-wise with
/// filter `co` and summed. Window positions in the zero padding add nothing, so we skip them.
///
/// The slices must have the lengths the geometry gives (the [`Conv2D`](super::Conv2D) layer
/// checks them); a shorter one panics on an out-of-bounds index.
pub fn forward(g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], y: &mut [f32]) {
    let w = &g.window;
    // x: [batch, in_h, in_w, in_c]   kernel: [k_h, k_w, in_c, out_c]   y: [batch, out_h, out_w, out_c]
    let x_at = |n, ih, iw, ci| ((n * w.in_h + ih) * w.in_w + iw) * g.in_c + ci;
    let k_at = |kh, kw, ci, co| ((kh * w.k_w + kw) * g.in_c + ci) * g.out_c + co;
    let y_at = |n, oh, ow, co| ((n * w.out_h + oh) * w.out_w + ow) * g.out_c + co;

    for n in 0..g.batch {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                for co in 0..g.out_c {
                    let mut sum = bias[co];
                    for kh in 0..w.k_h {
                        let Some(ih) = w.input_row(oh, kh) else {
                            continue;
                        };
                        for kw in 0..w.k_w {
                            let Some(iw) = w.input_col(ow, kw) else {
                                continue;
                            };
                            for ci in 0..g.in_c {
                                sum += x[x_at(n, ih, iw, ci)] * kernel[k_at(kh, kw, ci, co)];
                            }
                        }
                    }
                    y[y_at(n, oh, ow, co)] = sum;
                }
            }
        }
    }
}
// ANCHOR_END: forward

// ANCHOR: backward
/// The gradients of [`forward`]: given `dy = ∂loss/∂y`, *adds* `∂loss/∂x` into `dx`,
/// `∂loss/∂kernel` into `dkernel` and `∂loss/∂bias` into `dbias` (pass zeroed buffers).
///
/// Forward did `y[n,oh,ow,co] += x[n,ih,iw,ci] · kernel[kh,kw,ci,co]` for every window
/// position, so each such product sends `dy[n,oh,ow,co]` back to both of its factors: the
/// kernel weight collects `x · dy` and the input pixel collects `kernel · dy`. Positions no
/// window visits (the last rows when the stride does not divide evenly) get no gradient but
/// keep their place in `dx`, which has the input's shape.
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let w = &g.window;
    let x_at = |n, ih, iw, ci| ((n * w.in_h + ih) * w.in_w + iw) * g.in_c + ci;
    let k_at = |kh, kw, ci, co| ((kh * w.k_w + kw) * g.in_c + ci) * g.out_c + co;
    let y_at = |n, oh, ow, co| ((n * w.out_h + oh) * w.out_w + ow) * g.out_c + co;

    for n in 0..g.batch {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                for co in 0..g.out_c {
                    let d = dy[y_at(n, oh, ow, co)];
                    dbias[co] += d;
                    for kh in 0..w.k_h {
                        let Some(ih) = w.input_row(oh, kh) else { continue };
                        for kw in 0..w.k_w {
                            let Some(iw) = w.input_col(ow, kw) else { continue };
                            for ci in 0..g.in_c {
                                dkernel[k_at(kh, kw, ci, co)] += x[x_at(n, ih, iw, ci)] * d;
                                dx[x_at(n, ih, iw, ci)] += kernel[k_at(kh, kw, ci, co)] * d;
                            }
                        }
                    }
                }
            }
        }
    }
}
// ANCHOR_END: backward
