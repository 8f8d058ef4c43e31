//! Max and average pooling: downsampling a feature map by summarising each window.
//!
//! Pooling slides a window over each channel separately (no weights) and keeps either the
//! largest value (max) or the mean (average). With Keras's defaults, a 2×2 window with
//! stride 2 halves the height and width.

use rand::rngs::StdRng;

use crate::error::{Error, Result};
use crate::layer::{Layer, check_grad_shape, no_forward};
use crate::padding::Padding;
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
/// Calls `visit(y_index, inputs)` for every output value of pooling an NHWC `shape`, where
/// `inputs` lists the flat indices of the input values under that window, in row-major
/// order. Positions in the padding are left out: TensorFlow ignores them (for max pooling
/// they never win; for average pooling they are not counted).
fn for_each_window(
    shape: (usize, usize, usize, usize),
    win: &Window2D,
    mut visit: impl FnMut(usize, &[usize]),
) {
    let (batch, h, w, c) = shape;
    let mut inputs = Vec::with_capacity(win.k_h * win.k_w);
    let mut y_index = 0;
    for n in 0..batch {
        for oh in 0..win.out_h {
            for ow in 0..win.out_w {
                for ch in 0..c {
                    inputs.clear();
                    for kh in 0..win.k_h {
                        let Some(ih) = win.input_row(oh, kh) else {
                            continue;
                        };
                        for kw in 0..win.k_w {
                            let Some(iw) = win.input_col(ow, kw) else {
                                continue;
                            };
                            inputs.push(((n * h + ih) * w + iw) * c + ch);
                        }
                    }
                    visit(y_index, &inputs);
                    y_index += 1;
                }
            }
        }
    }
}
// ANCHOR_END: windows

/// Max pooling, as Keras's `MaxPooling2D(pool_size, strides, padding)`.
///
/// The forward pass remembers which input won each window (the argmax; on ties the first
/// in row-major order), because only that input receives a gradient.
#[derive(Debug, Clone)]
pub struct MaxPooling2D {
    spec: PoolSpec,
    argmax: Vec<usize>,
    /// The input and output shapes of the last forward pass.
    shapes: Option<(Vec<usize>, Vec<usize>)>,
}

impl MaxPooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> MaxPooling2D {
        MaxPooling2D { spec: PoolSpec::new(pool_size), argmax: Vec::new(), shapes: None }
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

    /// For each output value of the last forward pass, the flat index of the input value that
    /// was the maximum of its window.
    pub fn argmax(&self) -> &[usize] {
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

    // ANCHOR: max_forward
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let (n, h, w, c) = x.nhwc()?;
        let win = self.spec.window(h, w)?;
        let mut y = Tensor::zeros(&[n, win.out_h, win.out_w, c])?;
        self.argmax.clear();
        self.argmax.resize(y.len(), 0);
        let (xs, ys, argmax) = (x.data(), y.data_mut(), &mut self.argmax);
        for_each_window((n, h, w, c), &win, |out, inputs| {
            // Strict `>`: on a tie the first maximum keeps the gradient, as TensorFlow does.
            // A NaN wins, so a diverged network shows up in the loss instead of vanishing.
            let mut best = inputs[0];
            for &i in &inputs[1..] {
                if xs[i] > xs[best] || (xs[i].is_nan() && !xs[best].is_nan()) {
                    best = i;
                }
            }
            ys[out] = xs[best];
            argmax[out] = best;
        });
        self.shapes = Some((x.shape().to_vec(), y.shape().to_vec()));
        Ok(y)
    }
    // ANCHOR_END: max_forward

    // ANCHOR: max_backward
    /// Only the maximum of each window reached the output, so only it gets the gradient:
    /// `dx[argmax[o]] += dy[o]`. Every other input gets 0. (`+=`, because with strides
    /// smaller than the pool one input can win several overlapping windows.)
    fn backward(&mut self, dy: &Tensor) -> Result<Tensor> {
        let (x_shape, y_shape) = self.shapes.as_ref().ok_or_else(|| no_forward("MaxPooling2D"))?;
        check_grad_shape("MaxPooling2D", dy, y_shape)?;
        let mut dx = Tensor::zeros(x_shape)?;
        for (&d, &i) in dy.data().iter().zip(&self.argmax) {
            dx.data_mut()[i] += d;
        }
        Ok(dx)
    }
    // ANCHOR_END: max_backward
}

/// Average pooling, as Keras's `AveragePooling2D(pool_size, strides, padding)`.
#[derive(Debug, Clone)]
pub struct AveragePooling2D {
    spec: PoolSpec,
    /// The input and output shapes of the last forward pass.
    shapes: Option<(Vec<usize>, Vec<usize>)>,
}

impl AveragePooling2D {
    /// Pools over `pool_size` windows with strides equal to the pool size and `valid` padding.
    pub fn new(pool_size: (usize, usize)) -> AveragePooling2D {
        AveragePooling2D { spec: PoolSpec::new(pool_size), shapes: None }
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

    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let (n, h, w, c) = x.nhwc()?;
        let win = self.spec.window(h, w)?;
        let mut y = Tensor::zeros(&[n, win.out_h, win.out_w, c])?;
        let (xs, ys) = (x.data(), y.data_mut());
        for_each_window((n, h, w, c), &win, |out, inputs| {
            let sum: f32 = inputs.iter().map(|&i| xs[i]).sum();
            ys[out] = sum / inputs.len() as f32;
        });
        self.shapes = Some((x.shape().to_vec(), y.shape().to_vec()));
        Ok(y)
    }

    // ANCHOR: avg_backward
    /// Every input of a window contributed `1 / count` of its output, so each gets
    /// `dy / count` back.
    fn backward(&mut self, dy: &Tensor) -> Result<Tensor> {
        let (x_shape, y_shape) = self.shapes.as_ref().ok_or_else(|| no_forward("AveragePooling2D"))?;
        check_grad_shape("AveragePooling2D", dy, y_shape)?;
        let [n, h, w, c] = x_shape[..] else { return Err(no_forward("AveragePooling2D")) };
        let win = self.spec.window(h, w)?;
        let mut dx = Tensor::zeros(x_shape)?;
        let (dys, dxs) = (dy.data(), dx.data_mut());
        for_each_window((n, h, w, c), &win, |out, inputs| {
            let share = dys[out] / inputs.len() as f32;
            for &i in inputs {
                dxs[i] += share;
            }
        });
        Ok(dx)
    }
    // ANCHOR_END: avg_backward
}
