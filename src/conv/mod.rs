//! The `Conv2D` layer: learned filters slid over the input.
//!
//! The arithmetic lives in plain functions over slices ([`naive`], [`im2col`], [`direct`]);
//! the layer holds the kernel and bias, checks shapes and picks the algorithm.

pub mod direct;
pub mod im2col;
pub mod naive;

use rand::rngs::StdRng;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::init::glorot_uniform;
use crate::layer::{Layer, Param, check_grad_shape, no_forward, no_weights};
use crate::padding::Padding;
use crate::save::LayerSpec;
use crate::shape::Window2D;
use crate::tensor::Tensor;

/// Everything the convolution loops need to know about the sizes involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Number of images in the batch.
    pub batch: usize,
    /// Input channels (the kernel's `I`).
    pub in_c: usize,
    /// Output channels: the number of filters (the kernel's `O`).
    pub out_c: usize,
    /// The window of one filter over one image.
    pub window: Window2D,
}

impl ConvGeometry {
    /// The geometry of convolving an NHWC `input_shape` with an HWIO `kernel_shape`.
    pub fn new(
        input_shape: &[usize],
        kernel_shape: &[usize],
        strides: (usize, usize),
        padding: Padding,
    ) -> Result<ConvGeometry> {
        let [batch, in_h, in_w, in_c] = input_shape[..] else {
            return Err(Error::Shape(format!(
                "Conv2D expects a 4-D (batch, height, width, channels) input, got {input_shape:?}"
            )));
        };
        let [k_h, k_w, k_in, out_c] = kernel_shape[..] else {
            return Err(Error::Shape(format!(
                "a Conv2D kernel is 4-D (height, width, in_channels, filters), got {kernel_shape:?}"
            )));
        };
        if k_in != in_c {
            return Err(Error::Shape(format!(
                "the kernel expects {k_in} input channels but the input has {in_c}"
            )));
        }
        let window = Window2D::new((in_h, in_w), (k_h, k_w), strides, padding)?;
        Ok(ConvGeometry { batch, in_c, out_c, window })
    }

    /// The NHWC shape of the input.
    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.window.in_h, self.window.in_w, self.in_c]
    }

    /// The NHWC shape of the output.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.window.out_h, self.window.out_w, self.out_c]
    }
}

// ANCHOR: algorithm
/// How a [`Conv2D`] computes its convolution. All give the same numbers (tested equal, up
/// to the order in which f32 sums are added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgorithm {
    /// Plain nested loops ([`naive`]): the reference, easy to follow, slow.
    Naive,
    /// Patch matrix + matrix multiplication ([`im2col`]): fast when each output is a long
    /// dot product.
    Im2col,
    /// The loops reordered to keep the sums of four pixels × a block of filters in
    /// registers ([`direct`]), reading the windows straight from the image: no patch matrix.
    /// The kernel and bias gradients are computed the same way; the input gradient as in
    /// [`ConvAlgorithm::Im2col`] (`dz · kernelᵀ` and col2im, which need no patch matrix).
    Direct,
    /// [`ConvAlgorithm::Direct`] when a window holds no more values than there are filters
    /// (the book's first layer: 9 against 32), or, on a processor with AVX-512
    /// ([`direct::WIDE_REGISTERS`]), when there are at least 32 filters (all of the book's
    /// layers); otherwise [`ConvAlgorithm::Im2col`]. The faster of the two in each case, as
    /// measured.
    #[default]
    Auto,
}

impl ConvAlgorithm {
    /// The algorithm actually used for geometry `g`: [`ConvAlgorithm::Auto`] resolved.
    pub fn for_geometry(self, g: &ConvGeometry) -> ConvAlgorithm {
        match self {
            ConvAlgorithm::Auto if g.patch_len() <= g.out_c => ConvAlgorithm::Direct,
            ConvAlgorithm::Auto if direct::WIDE_REGISTERS && g.out_c >= 32 => ConvAlgorithm::Direct,
            ConvAlgorithm::Auto => ConvAlgorithm::Im2col,
            chosen => chosen,
        }
    }
}
// ANCHOR_END: algorithm

/// A 2-D convolution layer, as Keras's `Conv2D(filters, kernel_size, strides, padding,
/// activation)`. The kernel is stored HWIO: `(kernel_h, kernel_w, in_channels, filters)`.
#[derive(Debug, Clone)]
pub struct Conv2D {
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    activation: Activation,
    algorithm: ConvAlgorithm,
    kernel: Option<Tensor>,
    bias: Vec<f32>,
    dkernel: Vec<f32>,
    dbias: Vec<f32>,
    /// The geometry of the last forward pass (`None` before the first).
    geometry: Option<ConvGeometry>,
    /// The last output, after the activation: ReLU's gradient needs to know where it was
    /// positive. Reused from batch to batch, like the other buffers below.
    output: Tensor,
    /// The last input: the kernel gradient is computed from it.
    input: Tensor,
    /// `∂loss/∂(output before the activation)`, for the naive algorithm (im2col computes it
    /// a tile at a time in its workspace).
    dz: Tensor,
    /// `∂loss/∂input`.
    dx: Tensor,
    /// im2col's tile-sized scratch buffers.
    workspace: im2col::Workspace,
}

impl Conv2D {
    /// `filters` filters of `kernel_size` (height, width); stride 1, `valid`, no activation,
    /// as Keras's defaults. Weights are created when the layer is built.
    pub fn new(filters: usize, kernel_size: (usize, usize)) -> Conv2D {
        Conv2D {
            filters,
            kernel_size,
            strides: (1, 1),
            padding: Padding::Valid,
            activation: Activation::Linear,
            algorithm: ConvAlgorithm::default(),
            kernel: None,
            bias: Vec::new(),
            dkernel: Vec::new(),
            dbias: Vec::new(),
            geometry: None,
            output: Tensor::default(),
            input: Tensor::default(),
            dz: Tensor::default(),
            dx: Tensor::default(),
            workspace: im2col::Workspace::default(),
        }
    }

    /// A layer with the given HWIO `kernel` and one `bias` per filter.
    pub fn with_weights(kernel: Tensor, bias: Vec<f32>) -> Result<Conv2D> {
        let [k_h, k_w, _, filters] = kernel.shape()[..] else {
            return Err(Error::Shape(format!(
                "a Conv2D kernel is 4-D (height, width, in_channels, filters), got {:?}",
                kernel.shape()
            )));
        };
        if bias.len() != filters {
            return Err(Error::Shape(format!("{filters} filters need {filters} biases, got {}", bias.len())));
        }
        Ok(Conv2D { kernel: Some(kernel), bias, ..Conv2D::new(filters, (k_h, k_w)) })
    }

    /// Sets the step between windows: `(vertical, horizontal)`.
    pub fn strides(mut self, strides: (usize, usize)) -> Conv2D {
        self.strides = strides;
        self
    }

    /// Sets `valid` or `same` padding.
    pub fn padding(mut self, padding: Padding) -> Conv2D {
        self.padding = padding;
        self
    }

    /// Sets the activation applied to the output.
    pub fn activation(mut self, activation: Activation) -> Conv2D {
        self.activation = activation;
        self
    }

    /// Chooses how the convolution is computed ([`ConvAlgorithm::Auto`] by default).
    pub fn algorithm(mut self, algorithm: ConvAlgorithm) -> Conv2D {
        self.algorithm = algorithm;
        self
    }

    /// The HWIO kernel, once the layer has weights.
    pub fn kernel(&self) -> Option<&Tensor> {
        self.kernel.as_ref()
    }

    /// One bias per filter (empty before the layer has weights).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `∂loss/∂kernel` from the last backward pass (HWIO, like the kernel).
    pub fn kernel_grad(&self) -> &[f32] {
        &self.dkernel
    }

    /// `∂loss/∂bias` from the last backward pass.
    pub fn bias_grad(&self) -> &[f32] {
        &self.dbias
    }

    /// The geometry of a forward pass over `x_shape` if this layer computes it with the
    /// direct loops and ends in a ReLU: the first half of what [`crate::fused`] trains as
    /// one. `None` otherwise.
    pub(crate) fn direct_relu_geometry(&self, x_shape: &[usize]) -> Option<ConvGeometry> {
        let g = ConvGeometry::new(x_shape, self.kernel.as_ref()?.shape(), self.strides, self.padding).ok()?;
        let direct = self.algorithm.for_geometry(&g) == ConvAlgorithm::Direct;
        (direct && self.activation == Activation::Relu).then_some(g)
    }

    /// Remembers the input of a forward pass whose output a caller computes itself
    /// ([`crate::fused`]), and returns the kernel and bias to compute it with.
    pub(crate) fn start_forward(&mut self, x: &Tensor, g: ConvGeometry) -> Result<(&[f32], &[f32])> {
        self.input.copy_from(x);
        self.geometry = Some(g);
        let kernel = self.kernel.as_ref().ok_or_else(|| no_weights("Conv2D"))?;
        Ok((kernel.data(), &self.bias))
    }

    /// The last forward pass's input, and the kernel and bias gradients zeroed, for a
    /// caller that computes them itself ([`crate::fused`]).
    pub(crate) fn start_weight_gradients(&mut self) -> Result<(&[f32], &mut [f32], &mut [f32])> {
        self.zero_weight_gradients()?;
        Ok((self.input.data(), &mut self.dkernel, &mut self.dbias))
    }

    /// Sets the kernel and bias gradients to zeros of the weights' sizes, for a backward pass
    /// to add to.
    fn zero_weight_gradients(&mut self) -> Result<()> {
        let len = self.weights()?.len();
        self.dkernel.clear();
        self.dkernel.resize(len, 0.0);
        self.dbias.clear();
        self.dbias.resize(self.filters, 0.0);
        Ok(())
    }

    fn weights(&self) -> Result<&Tensor> {
        self.kernel.as_ref().ok_or_else(|| no_weights("Conv2D"))
    }

    /// Fills the kernel and bias gradients from `dy`, the gradient at the output after
    /// `activation` (the layer's own, or `Linear` when `dy` is already taken before it), and
    /// `self.dx` if `need_dx`.
    fn gradients(&mut self, dy: &Tensor, activation: Activation, need_dx: bool) -> Result<()> {
        let g = self.geometry.ok_or_else(|| no_forward("Conv2D"))?;
        check_grad_shape("Conv2D", dy, self.output.shape())?;
        self.zero_weight_gradients()?;
        // A field borrow (not `self.weights()`), so the other fields stay free to borrow.
        let kernel = self.kernel.as_ref().ok_or_else(|| no_weights("Conv2D"))?;
        let (dk, db) = (&mut self.dkernel, &mut self.dbias);
        match self.algorithm.for_geometry(&g) {
            ConvAlgorithm::Naive => {
                self.dz.reuse_as(dy.shape())?; // every value is written below
                activation.backward(self.output.data(), dy.data(), self.dz.data_mut(), self.filters);
                // The reference loops always compute dx.
                self.dx.reuse_as_zeros(&g.input_shape())?;
                let (x, dz) = (self.input.data(), self.dz.data());
                naive::backward(&g, x, kernel.data(), dz, self.dx.data_mut(), dk, db);
            }
            ConvAlgorithm::Direct => {
                let dz = if activation == Activation::Linear {
                    dy.data()
                } else {
                    self.dz.reuse_as(dy.shape())?; // every value is written below
                    activation.backward(self.output.data(), dy.data(), self.dz.data_mut(), self.filters);
                    self.dz.data()
                };
                // The weight gradients from the direct loops, `dx` (if wanted) from im2col's
                // `dz · kernelᵀ` and col2im, which need no patch matrix.
                direct::kernel_gradient(&g, self.input.data(), dz, dk, db);
                if need_dx {
                    self.dx.reuse_as(&g.input_shape())?; // overwritten tile by tile
                    let linear = Activation::Linear;
                    let seen =
                        im2col::ForwardPass { input: self.input.data(), output: dz, activation: linear };
                    let grads = im2col::Gradients { dx: Some(self.dx.data_mut()), weights: None };
                    im2col::backward_with(&mut self.workspace, &g, kernel.data(), seen, dz, grads);
                }
            }
            ConvAlgorithm::Im2col | ConvAlgorithm::Auto => {
                // The activation's gradient is taken tile by tile inside, while in cache.
                let seen =
                    im2col::ForwardPass { input: self.input.data(), output: self.output.data(), activation };
                let dx = if need_dx {
                    self.dx.reuse_as(&g.input_shape())?; // overwritten tile by tile
                    Some(self.dx.data_mut())
                } else {
                    None
                };
                let weights = Some(im2col::WeightGradients { dkernel: dk, dbias: db });
                let grads = im2col::Gradients { dx, weights };
                im2col::backward_with(&mut self.workspace, &g, kernel.data(), seen, dy.data(), grads);
            }
        }
        Ok(())
    }
}

impl Layer for Conv2D {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn class_name(&self) -> &'static str {
        "Conv2D"
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut StdRng) -> Result<Vec<usize>> {
        let [_, _, in_c] = input_shape[..] else {
            return Err(Error::Shape(format!(
                "Conv2D expects (height, width, channels) inputs, got {input_shape:?}"
            )));
        };
        let (k_h, k_w) = self.kernel_size;
        if self.kernel.is_none() {
            let len = k_h * k_w * in_c * self.filters;
            let values = glorot_uniform(len, k_h * k_w * in_c, k_h * k_w * self.filters, rng);
            self.kernel = Some(Tensor::new(&[k_h, k_w, in_c, self.filters], values)?);
            self.bias = vec![0.0; self.filters];
        }
        let mut shape = vec![1];
        shape.extend_from_slice(input_shape);
        let g = ConvGeometry::new(&shape, self.weights()?.shape(), self.strides, self.padding)?;
        Ok(g.output_shape()[1..].to_vec())
    }

    fn param_count(&self) -> usize {
        self.kernel.as_ref().map_or(0, Tensor::len) + self.bias.len()
    }

    // ANCHOR: layer_forward
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let kernel = self.kernel.as_ref().ok_or_else(|| no_weights("Conv2D"))?;
        let g = ConvGeometry::new(x.shape(), kernel.shape(), self.strides, self.padding)?;
        self.output.reuse_as(&g.output_shape())?; // every value is written below
        match self.algorithm.for_geometry(&g) {
            ConvAlgorithm::Naive => {
                naive::forward(&g, x.data(), kernel.data(), &self.bias, self.output.data_mut());
                self.activation.apply(self.output.data_mut(), g.out_c);
            }
            ConvAlgorithm::Direct => {
                let y = self.output.data_mut();
                direct::forward(&g, x.data(), kernel.data(), &self.bias, self.activation, y);
            }
            ConvAlgorithm::Im2col | ConvAlgorithm::Auto => {
                let (ws, y) = (&mut self.workspace, self.output.data_mut());
                im2col::forward_with(ws, &g, x.data(), kernel.data(), &self.bias, self.activation, y);
            }
        }
        // Backward needs the input: both algorithms compute the kernel gradient from it.
        self.input.copy_from(x);
        self.geometry = Some(g);
        Ok(&self.output)
    }
    // ANCHOR_END: layer_forward

    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        self.gradients(dy, self.activation, true)?;
        Ok(&self.dx)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn backward_pre_activation(&mut self, dz: &Tensor) -> Result<&Tensor> {
        self.gradients(dz, Activation::Linear, true)?;
        Ok(&self.dx)
    }

    fn backward_params(&mut self, dy: &Tensor) -> Result<()> {
        self.gradients(dy, self.activation, false)
    }

    fn backward_params_pre_activation(&mut self, dz: &Tensor) -> Result<()> {
        self.gradients(dz, Activation::Linear, false)
    }

    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Conv2D {
            kernel: self.kernel.clone()?,
            bias: self.bias.clone(),
            strides: self.strides,
            padding: self.padding,
            activation: self.activation,
        })
    }

    fn params(&mut self) -> Vec<Param<'_>> {
        let Some(kernel) = self.kernel.as_mut() else { return Vec::new() };
        vec![
            Param { value: kernel.data_mut(), grad: &self.dkernel },
            Param { value: &mut self.bias, grad: &self.dbias },
        ]
    }

    fn clone_layer(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(self.clone()))
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}
