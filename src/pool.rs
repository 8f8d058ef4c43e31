//! Max and average pooling: downsampling a feature map by summarising each window.
//!
//! Pooling slides a window over each channel separately (no weights) and keeps either the
//! largest value (max) or the mean (average). With Keras's defaults, a 2×2 window with
//! stride 2 halves the height and width.

use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::layer::{Layer, check_grad_shape, no_forward};
use crate::padding::Padding;
use crate::save::LayerSpec;
use crate::shape::Window2D;
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

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        let [h, w, c] = input_shape[..] else {
            return Err(Error::Shape(format!(
                "pooling expects (height, width, channels) inputs, got {input_shape:?}"
            )));
        };
        let win = self.window(h, w)?;
        Ok(vec![win.out_h, win.out_w, c])
    }
}

// ANCHOR: windows
/// Calls `visit(y_offset, pixels)` for every window position of pooling an NHWC `shape`:
/// `pixels` lists, in row-major order, the flat offsets of the input pixels under the window
/// (channel 0 of each; a pixel's `c` channels follow it in memory), and the window's `c`
/// outputs start at `y_offset`. Positions in the padding are left out: TensorFlow ignores
/// them (for max pooling they never win; for average pooling they are not counted).
/// Every window holds at least one pixel: `same` padding never exceeds `k − 1` in total.
fn for_each_window(
    shape: (usize, usize, usize, usize),
    win: &Window2D,
    mut visit: impl FnMut(usize, &[usize]),
) {
    let (batch, h, w, c) = shape;
    let mut pixels = Vec::with_capacity(win.k_h * win.k_w);
    let mut y_offset = 0;
    for n in 0..batch {
        for oh in 0..win.out_h {
            let (rows, ih) = win.kernel_rows_inside(oh);
            for ow in 0..win.out_w {
                let (cols, iw) = win.kernel_cols_inside(ow);
                pixels.clear();
                for ih in ih..ih + rows.len() {
                    pixels.extend((iw..iw + cols.len()).map(|iw| ((n * h + ih) * w + iw) * c));
                }
                visit(y_offset, &pixels);
                y_offset += c;
            }
        }
    }
}
// ANCHOR_END: windows

// ANCHOR: window_max
/// The largest value of a window and where it is, channel by channel, for the `N` channels
/// from `first`: `pixels` lists the window's pixels in `xs` (as [`for_each_window`] gives
/// them), and `best` and `arg` are the window's outputs and their argmax.
///
/// Strict `>`: on a tie the first maximum keeps the gradient, as TensorFlow does. A NaN
/// wins, so a diverged network shows up in the loss.
#[inline(always)]
fn window_max<const N: usize>(xs: &[f32], pixels: &[usize], first: usize, best: &mut [f32], arg: &mut [u32]) {
    let values = |p: usize| -> [f32; N] { xs[p + first..][..N].try_into().expect("a slice of N values") };
    // `N` is a constant, so the maxima and their positions stay in registers while the
    // window's pixels go by, and are stored once at the end.
    // `won` holds the winning pixel (the offset of its channel 0); the lane's own channel is
    // added when the positions are stored.
    let mut b = values(pixels[0]);
    let mut won = [pixels[0] as u32; N];
    for &p in &pixels[1..] {
        let v = values(p);
        for lane in 0..N {
            // Branch-free: `wins` becomes an all-ones or all-zeros bit mask that picks
            // between old and new with `&` and `|`, so the loop runs on whole SIMD registers.
            let wins = (v[lane] > b[lane]) | (v[lane].is_nan() & !b[lane].is_nan());
            let mask = u32::from(wins).wrapping_neg();
            b[lane] = f32::from_bits((v[lane].to_bits() & mask) | (b[lane].to_bits() & !mask));
            won[lane] = (p as u32 & mask) | (won[lane] & !mask);
        }
    }
    best[first..first + N].copy_from_slice(&b);
    for (lane, (arg, won)) in arg[first..first + N].iter_mut().zip(won).enumerate() {
        *arg = won + (first + lane) as u32;
    }
}
// ANCHOR_END: window_max

// ANCHOR: max_pool_image
/// Max-pools one `(h, w, c)` image `xs` into `ys`, with the position of each output's
/// maximum in `argmax`.
pub(crate) fn max_pool_image(win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    for_each_window((1, win.in_h, win.in_w, c), win, |out, pixels| {
        let (best, arg) = (&mut ys[out..out + c], &mut argmax[out..out + c]);
        // Sixteen channels at a time (one AVX-512 register), then eight, then one.
        let (sixteens, eights) = (c / 16 * 16, c / 8 * 8);
        for first in (0..sixteens).step_by(16) {
            window_max::<16>(xs, pixels, first, best, arg);
        }
        for first in (sixteens..eights).step_by(8) {
            window_max::<8>(xs, pixels, first, best, arg);
        }
        for first in eights..c {
            window_max::<1>(xs, pixels, first, best, arg);
        }
    });
}
// ANCHOR_END: max_pool_image

// ANCHOR: scatter_image
/// The gradient of one image's max pooling: `dx` (the image's, overwritten) from its
/// outputs' `dy`, `argmax` and values `y`; `through_relu` keeps only the gradients of
/// positive outputs (see [`Layer::backward_through_relu`]).
pub(crate) fn scatter_image(dy: &[f32], argmax: &[u32], y: &[f32], through_relu: bool, dx: &mut [f32]) {
    dx.fill(0.0);
    for ((&d, &i), &y) in dy.iter().zip(argmax).zip(y) {
        // Written with `y > 0`, as in ReLU: a NaN output blocks the gradient too.
        dx[i as usize] += if !through_relu || y > 0.0 { d } else { 0.0 };
    }
}
// ANCHOR_END: scatter_image

/// Max pooling, as Keras's `MaxPooling2D(pool_size, strides, padding)`.
///
/// The forward pass remembers which input won each window (the argmax; on ties the first
/// in row-major order), because only that input receives a gradient.
#[derive(Debug, Clone)]
pub struct MaxPooling2D {
    spec: PoolSpec,
    /// For each output, the position of its maximum within its image's `(h, w, c)` input
    /// (u32: half the memory of usize).
    argmax: Vec<u32>,
    /// The input shape of the last forward pass (`None` before the first).
    input_shape: Option<Vec<usize>>,
    /// The last output, reused from batch to batch.
    output: Tensor,
    /// `∂loss/∂input`, reused from batch to batch.
    dx: Tensor,
}

impl MaxPooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> MaxPooling2D {
        MaxPooling2D {
            spec: PoolSpec::new(pool_size),
            argmax: Vec::new(),
            input_shape: None,
            output: Tensor::default(),
            dx: Tensor::default(),
        }
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

    // ANCHOR: scatter
    /// `dx` from `dy`, an image at a time: each output's gradient goes to its window's
    /// winner; `through_relu` keeps only those of positive outputs (see
    /// [`Layer::backward_through_relu`]).
    fn scatter_gradient(&mut self, dy: &Tensor, through_relu: bool) -> Result<&Tensor> {
        let x_shape = self.input_shape.as_ref().ok_or_else(|| no_forward("MaxPooling2D"))?;
        check_grad_shape("MaxPooling2D", dy, self.output.shape())?;
        self.dx.reuse_as(x_shape)?; // zeroed below, an image at a time
        let (x_len, y_len) = (x_shape[1..].iter().product(), self.output.shape()[1..].iter().product());
        if dy.is_empty() || x_len == 0 {
            self.dx.data_mut().fill(0.0);
            return Ok(&self.dx);
        }
        let images = self.dx.data_mut().par_chunks_mut(x_len).zip(dy.data().par_chunks(y_len));
        let winners = self.argmax.par_chunks(y_len).zip(self.output.data().par_chunks(y_len));
        // An image at a time: each image's gradient is zeroed and then, while still in cache,
        // receives its winners' gradients.
        images
            .zip(winners)
            .for_each(|((dx, dy), (argmax, y))| scatter_image(dy, argmax, y, through_relu, dx));
        Ok(&self.dx)
    }
    // ANCHOR_END: scatter

    /// Prepares a forward pass over an NHWC input of `x_shape`, whose images are then pooled
    /// with [`max_pool_image`] (by [`Layer::forward`], or [`crate::fused`]): returns the
    /// window, and the output and argmax to fill (every value is written by the pooling).
    pub(crate) fn start_forward(&mut self, x_shape: &[usize]) -> Result<(Window2D, &mut [f32], &mut [u32])> {
        let [n, h, w, c] = x_shape[..] else {
            return Err(Error::Shape(format!("pooling expects a 4-D batch, got {x_shape:?}")));
        };
        let win = self.spec.window(h, w)?;
        if u32::try_from(h * w * c).is_err() {
            return Err(Error::Shape(format!(
                "{} values per image are too many for a u32 argmax",
                h * w * c
            )));
        }
        self.input_shape = Some(x_shape.to_vec());
        self.output.reuse_as(&[n, win.out_h, win.out_w, c])?;
        self.argmax.resize(self.output.len(), 0);
        Ok((win, self.output.data_mut(), &mut self.argmax))
    }

    /// The last forward pass's output and argmax, for a caller that sends the gradient back
    /// itself with [`scatter_image`] ([`crate::fused`]).
    pub(crate) fn winners(&self) -> (&Tensor, &[u32]) {
        (&self.output, &self.argmax)
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

    fn build(&mut self, input_shape: &[usize], _rng: &mut StdRng) -> Result<Vec<usize>> {
        self.spec.output_shape(input_shape)
    }

    fn param_count(&self) -> usize {
        0
    }

    fn spec(&self) -> Option<LayerSpec> {
        let PoolSpec { pool_size: pool, strides, padding } = self.spec;
        Some(LayerSpec::MaxPooling2D { pool, strides, padding })
    }

    // ANCHOR: max_forward
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let (_, h, w, c) = x.nhwc()?;
        let (win, y, argmax) = self.start_forward(x.shape())?;
        let (x_len, y_len) = (h * w * c, win.out_h * win.out_w * c);
        if y.is_empty() {
            return Ok(&self.output);
        }
        // Images are independent: each thread pools whole images.
        let images = x.data().par_chunks(x_len).zip(y.par_chunks_mut(y_len));
        images.zip(argmax.par_chunks_mut(y_len)).for_each(|((xs, ys), argmax)| {
            max_pool_image(&win, c, xs, ys, argmax);
        });
        Ok(&self.output)
    }
    // ANCHOR_END: max_forward

    // ANCHOR: max_backward
    /// Only the maximum of each window reached the output, so only it gets the gradient:
    /// `dx[argmax[o]] += dy[o]`. Every other input gets 0. (`+=`, because with strides
    /// smaller than the pool one input can win several overlapping windows.)
    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        self.scatter_gradient(dy, false)
    }

    /// When the layer before applied a ReLU, its gradient can be folded in here for free.
    /// Max pooling and ReLU commute (the largest of some ReLU outputs is the ReLU of the
    /// largest input), so the winner of a window was positive exactly when the window's
    /// output is: the gradient reaches the winner's pre-ReLU value if `y[o] > 0`, else
    /// nothing does. This spares the ReLU a pass over its whole output and gradient.
    fn backward_through_relu(&mut self, dy: &Tensor) -> Result<&Tensor> {
        self.scatter_gradient(dy, true)
    }

    fn folds_relu(&self) -> bool {
        true
    }
    // ANCHOR_END: max_backward

    fn clone_layer(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(self.clone()))
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// Average pooling, as Keras's `AveragePooling2D(pool_size, strides, padding)`.
#[derive(Debug, Clone)]
pub struct AveragePooling2D {
    spec: PoolSpec,
    /// The input shape of the last forward pass (`None` before the first).
    input_shape: Option<Vec<usize>>,
    /// The last output, reused from batch to batch.
    output: Tensor,
    /// `∂loss/∂input`, reused from batch to batch.
    dx: Tensor,
}

impl AveragePooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> AveragePooling2D {
        AveragePooling2D {
            spec: PoolSpec::new(pool_size),
            input_shape: None,
            output: Tensor::default(),
            dx: Tensor::default(),
        }
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

    fn build(&mut self, input_shape: &[usize], _rng: &mut StdRng) -> Result<Vec<usize>> {
        self.spec.output_shape(input_shape)
    }

    fn param_count(&self) -> usize {
        0
    }

    fn spec(&self) -> Option<LayerSpec> {
        let PoolSpec { pool_size: pool, strides, padding } = self.spec;
        Some(LayerSpec::AveragePooling2D { pool, strides, padding })
    }

    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let (n, h, w, c) = x.nhwc()?;
        let win = self.spec.window(h, w)?;
        self.input_shape = Some(x.shape().to_vec());
        self.output.reuse_as_zeros(&[n, win.out_h, win.out_w, c])?;
        let (xs, ys) = (x.data(), self.output.data_mut());
        for_each_window((n, h, w, c), &win, |out, pixels| {
            let mean = &mut ys[out..out + c];
            for &p in pixels {
                mean.iter_mut().zip(&xs[p..p + c]).for_each(|(m, v)| *m += v);
            }
            let count = pixels.len() as f32;
            mean.iter_mut().for_each(|m| *m /= count);
        });
        Ok(&self.output)
    }

    // ANCHOR: avg_backward
    /// Every input of a window contributed `1 / count` of its output, so each gets
    /// `dy / count` back.
    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        let x_shape = self.input_shape.as_ref().ok_or_else(|| no_forward("AveragePooling2D"))?;
        check_grad_shape("AveragePooling2D", dy, self.output.shape())?;
        let [n, h, w, c] = x_shape[..] else { return Err(no_forward("AveragePooling2D")) };
        let win = self.spec.window(h, w)?;
        self.dx.reuse_as_zeros(x_shape)?;
        let (dys, dxs) = (dy.data(), self.dx.data_mut());
        for_each_window((n, h, w, c), &win, |out, pixels| {
            let count = pixels.len() as f32;
            for &p in pixels {
                dxs[p..p + c].iter_mut().zip(&dys[out..out + c]).for_each(|(d, g)| *d += g / count);
            }
        });
        Ok(&self.dx)
    }
    // ANCHOR_END: avg_backward

    fn clone_layer(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(self.clone()))
    }
}
