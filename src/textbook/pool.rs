//! Max and average pooling: downsampling a feature map by summarising each window.
//!
//! Pooling slides a window over each channel separately (no weights) and keeps either the
//! largest value (max) or the mean (average). With Keras's defaults, a 2×2 window with
//! stride 2 halves the height and width.

use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::{Layer, check_grad_shape, no_forward};
use crate::limits;
use crate::padding::Padding;
use crate::shape::Window2D;
use crate::spec::LayerSpec;
use crate::tensor::Tensor;

/// The settings shared by both pooling layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolSpec {
    pool_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
}

impl PoolSpec {
    fn new(pool_size: (usize, usize)) -> PoolSpec {
        // Keras: strides default to the pool size, padding to `valid`.
        PoolSpec { pool_size, strides: pool_size, padding: Padding::Valid }
    }

    fn window(&self, h: usize, w: usize) -> Result<Window2D> {
        Window2D::new((h, w), self.pool_size, self.strides, self.padding)
    }

    /// The output shape for `input_shape`, after every check of [`limits::pool`].
    fn output_shape(&self, layer: &'static str, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(limits::pool(layer, input_shape, self.pool_size, self.strides, self.padding)?.output)
    }
}

// ANCHOR: max_forward
/// Max pooling of a batch of `batch` NHWC images (`win` gives their height and width, `c`
/// their channels): each output is the largest value under its window, and `argmax` records
/// where that value was, as an index into its image's `h·w·c` values.
///
/// Window positions in the padding are skipped: TensorFlow never lets the padding win.
/// Strict `>`: on a tie the first maximum (in row-major order) wins, as in TensorFlow. A NaN
/// wins too, so that a diverged network shows up in the loss.
pub fn max_pool_forward(
    win: &Window2D,
    batch: usize,
    c: usize,
    x: &[f32],
    y: &mut [f32],
    argmax: &mut [u32],
) {
    // x: [batch, in_h, in_w, c]   y, argmax: [batch, out_h, out_w, c]
    let x_at = |n, ih, iw, ch| ((n * win.in_h + ih) * win.in_w + iw) * c + ch;
    let y_at = |n, oh, ow, ch| ((n * win.out_h + oh) * win.out_w + ow) * c + ch;
    let image_len = win.in_h * win.in_w * c;
    for n in 0..batch {
        for oh in 0..win.out_h {
            for ow in 0..win.out_w {
                for ch in 0..c {
                    let (mut best, mut best_at) = (f32::NEG_INFINITY, None);
                    for kh in 0..win.k_h {
                        let Some(ih) = win.input_row(oh, kh) else { continue };
                        for kw in 0..win.k_w {
                            let Some(iw) = win.input_col(ow, kw) else { continue };
                            let v = x[x_at(n, ih, iw, ch)];
                            let wins = v > best || (v.is_nan() && !best.is_nan());
                            if best_at.is_none() || wins {
                                (best, best_at) = (v, Some(x_at(n, ih, iw, ch)));
                            }
                        }
                    }
                    // Every window holds at least one input value: `same` padding adds at
                    // most k − 1 in total, and `valid` none.
                    let at = best_at.unwrap_or(x_at(n, 0, 0, ch));
                    y[y_at(n, oh, ow, ch)] = best;
                    argmax[y_at(n, oh, ow, ch)] = (at - n * image_len) as u32;
                }
            }
        }
    }
}
// ANCHOR_END: max_forward

// ANCHOR: max_backward
/// The gradient of max pooling: only the maximum of each window reached the output, so only
/// it gets the output's gradient, `dx[argmax[o]] += dy[o]`; every other input gets 0.
/// (`+=`, because with strides smaller than the pool one input can win several windows.)
/// `dx` must hold zeros.
pub fn max_pool_backward(win: &Window2D, c: usize, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let (x_len, y_len) = (win.in_h * win.in_w * c, win.out_h * win.out_w * c);
    for (o, (&d, &at)) in dy.iter().zip(argmax).enumerate() {
        let n = o / y_len; // the image this output belongs to
        dx[n * x_len + at as usize] += d;
    }
}
// ANCHOR_END: max_backward

// ANCHOR: avg_forward
/// Average pooling of a batch, shaped as in [`max_pool_forward`]: each output is the mean of
/// the input values under its window. Positions in the padding are not counted, as in
/// TensorFlow: a corner window of `same` padding averages only the pixels it covers.
pub fn average_pool_forward(win: &Window2D, batch: usize, c: usize, x: &[f32], y: &mut [f32]) {
    let x_at = |n, ih, iw, ch| ((n * win.in_h + ih) * win.in_w + iw) * c + ch;
    let y_at = |n, oh, ow, ch| ((n * win.out_h + oh) * win.out_w + ow) * c + ch;
    for n in 0..batch {
        for oh in 0..win.out_h {
            for ow in 0..win.out_w {
                for ch in 0..c {
                    let (mut sum, mut count) = (0.0, 0);
                    for kh in 0..win.k_h {
                        let Some(ih) = win.input_row(oh, kh) else { continue };
                        for kw in 0..win.k_w {
                            let Some(iw) = win.input_col(ow, kw) else { continue };
                            sum += x[x_at(n, ih, iw, ch)];
                            count += 1;
                        }
                    }
                    y[y_at(n, oh, ow, ch)] = sum / count.max(1) as f32;
                }
            }
        }
    }
}
// ANCHOR_END: avg_forward

// ANCHOR: avg_backward
/// The gradient of average pooling: every input of a window contributed `1 / count` of its
/// output, so each gets `dy / count` back. `dx` must hold zeros.
pub fn average_pool_backward(win: &Window2D, batch: usize, c: usize, dy: &[f32], dx: &mut [f32]) {
    let x_at = |n, ih, iw, ch| ((n * win.in_h + ih) * win.in_w + iw) * c + ch;
    let y_at = |n, oh, ow, ch| ((n * win.out_h + oh) * win.out_w + ow) * c + ch;
    for n in 0..batch {
        for oh in 0..win.out_h {
            let rows = win.kernel_rows_inside(oh).0.len();
            for ow in 0..win.out_w {
                let count = (rows * win.kernel_cols_inside(ow).0.len()).max(1) as f32;
                for ch in 0..c {
                    let d = dy[y_at(n, oh, ow, ch)] / count;
                    for kh in 0..win.k_h {
                        let Some(ih) = win.input_row(oh, kh) else { continue };
                        for kw in 0..win.k_w {
                            let Some(iw) = win.input_col(ow, kw) else { continue };
                            dx[x_at(n, ih, iw, ch)] += d;
                        }
                    }
                }
            }
        }
    }
}
// ANCHOR_END: avg_backward

/// What a pooling layer remembers from its forward pass for its backward pass.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The input's shape and window (`None` before the first forward pass).
    input: Option<(Vec<usize>, Window2D)>,
    /// The last output, reused from batch to batch.
    output: Tensor,
    /// `∂loss/∂input`, reused from batch to batch.
    dx: Tensor,
}

impl Seen {
    /// Records a forward pass over `x` with `spec`, sizing the output: returns the window and
    /// the `(batch, channels)` counts.
    fn start(&mut self, spec: &PoolSpec, x: &Tensor) -> Result<(Window2D, usize, usize)> {
        let (n, h, w, c) = x.nhwc()?;
        let win = spec.window(h, w)?;
        self.output.reuse_as(&[n, win.out_h, win.out_w, c])?;
        self.input = Some((x.shape().to_vec(), win));
        Ok((win, n, c))
    }

    /// Checks `dy` against the last forward pass and zeroes `dx`: returns the window and the
    /// `(batch, channels)` counts.
    fn start_backward(&mut self, class_name: &str, dy: &Tensor) -> Result<(Window2D, usize, usize)> {
        let (shape, win) = self.input.as_ref().ok_or_else(|| no_forward(class_name))?;
        check_grad_shape(class_name, dy, self.output.shape())?;
        self.dx.reuse_as_zeros(shape)?;
        Ok((*win, shape[0], shape[3]))
    }
}

/// Max pooling, as Keras's `MaxPooling2D(pool_size, strides, padding)`.
///
/// The forward pass remembers which input won each window (the argmax; on ties the first
/// in row-major order), because only that input receives a gradient.
#[derive(Debug, Clone)]
pub struct MaxPooling2D {
    spec: PoolSpec,
    seen: Seen,
    /// For each output, the position of its maximum within its image's `(h, w, c)` input
    /// (u32: half the memory of usize).
    argmax: Vec<u32>,
}

impl MaxPooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> MaxPooling2D {
        MaxPooling2D { spec: PoolSpec::new(pool_size), seen: Seen::default(), argmax: Vec::new() }
    }

    /// Sets the step between windows.
    pub fn strides(mut self, strides: (usize, usize)) -> MaxPooling2D {
        self.spec.strides = strides;
        self
    }

    /// Sets `valid` or `same` padding.
    pub fn padding(mut self, padding: Padding) -> MaxPooling2D {
        self.spec.padding = padding;
        self
    }

    /// For each output value of the last forward pass, where the maximum of its window was:
    /// the flat index into that image's `(h, w, c)` input.
    pub fn argmax(&self) -> &[u32] {
        &self.argmax
    }
}

impl Layer for MaxPooling2D {
    fn kind(&self) -> &'static str {
        "max_pooling2d"
    }

    fn class_name(&self) -> &'static str {
        "MaxPooling2D"
    }

    fn build(&mut self, input_shape: &[usize], _init: &mut Init) -> Result<Vec<usize>> {
        self.spec.output_shape("MaxPooling2D", input_shape)
    }

    fn param_count(&self) -> usize {
        0
    }

    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let (win, n, c) = self.seen.start(&self.spec, x)?;
        if u32::try_from(win.in_h * win.in_w * c).is_err() {
            return Err(Error::shape(format!("{} values per image are too many for a u32 argmax", x.len())));
        }
        self.argmax.resize(self.seen.output.len(), 0);
        max_pool_forward(&win, n, c, x.data(), self.seen.output.data_mut(), &mut self.argmax);
        Ok(&self.seen.output)
    }

    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        let (win, _, c) = self.seen.start_backward("MaxPooling2D", dy)?;
        max_pool_backward(&win, c, dy.data(), &self.argmax, self.seen.dx.data_mut());
        Ok(&self.seen.dx)
    }

    fn spec(&self) -> Option<LayerSpec> {
        let PoolSpec { pool_size: pool, strides, padding } = self.spec;
        Some(LayerSpec::MaxPooling2D { pool, strides, padding })
    }
}

/// Average pooling, as Keras's `AveragePooling2D(pool_size, strides, padding)`.
#[derive(Debug, Clone)]
pub struct AveragePooling2D {
    spec: PoolSpec,
    seen: Seen,
}

impl AveragePooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> AveragePooling2D {
        AveragePooling2D { spec: PoolSpec::new(pool_size), seen: Seen::default() }
    }

    /// Sets the step between windows.
    pub fn strides(mut self, strides: (usize, usize)) -> AveragePooling2D {
        self.spec.strides = strides;
        self
    }

    /// Sets `valid` or `same` padding.
    pub fn padding(mut self, padding: Padding) -> AveragePooling2D {
        self.spec.padding = padding;
        self
    }
}

impl Layer for AveragePooling2D {
    fn kind(&self) -> &'static str {
        "average_pooling2d"
    }

    fn class_name(&self) -> &'static str {
        "AveragePooling2D"
    }

    fn build(&mut self, input_shape: &[usize], _init: &mut Init) -> Result<Vec<usize>> {
        self.spec.output_shape("AveragePooling2D", input_shape)
    }

    fn param_count(&self) -> usize {
        0
    }

    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let (win, n, c) = self.seen.start(&self.spec, x)?;
        average_pool_forward(&win, n, c, x.data(), self.seen.output.data_mut());
        Ok(&self.seen.output)
    }

    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        let (win, n, c) = self.seen.start_backward("AveragePooling2D", dy)?;
        average_pool_backward(&win, n, c, dy.data(), self.seen.dx.data_mut());
        Ok(&self.seen.dx)
    }

    fn spec(&self) -> Option<LayerSpec> {
        let PoolSpec { pool_size: pool, strides, padding } = self.spec;
        Some(LayerSpec::AveragePooling2D { pool, strides, padding })
    }
}
