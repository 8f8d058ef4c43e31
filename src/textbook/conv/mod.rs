//! The `Conv2D` layer: learned filters slid over the input.
//!
//! The arithmetic lives in plain functions over slices ([`naive`]); the layer holds the
//! kernel and bias, checks shapes, and keeps what the backward pass needs.

pub mod naive;

pub use crate::geometry::ConvGeometry;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::{Layer, Param, check_grad_shape, no_forward};
use crate::limits;
use crate::padding::Padding;
use crate::spec::LayerSpec;
use crate::tensor::Tensor;
use crate::weights::{ForBackward, Weights};

/// A 2-D convolution layer, as Keras's `Conv2D(filters, kernel_size, strides, padding,
/// activation)`. The kernel is stored HWIO: `(kernel_h, kernel_w, in_channels, filters)`.
#[derive(Debug, Clone)]
pub struct Conv2D {
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    activation: Activation,
    weights: Weights,
    /// The geometry of the last forward pass (`None` before the first).
    geometry: Option<ConvGeometry>,
    /// The last input: the kernel gradient is computed from it.
    input: Tensor,
    /// The last output, after the activation: ReLU's gradient needs to know where it was
    /// positive. Reused from batch to batch, like the other buffers below.
    output: Tensor,
    /// `∂loss/∂(output before the activation)`.
    dz: Tensor,
    /// `∂loss/∂input`.
    dx: Tensor,
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
            weights: Weights::default(),
            geometry: None,
            input: Tensor::default(),
            output: Tensor::default(),
            dz: Tensor::default(),
            dx: Tensor::default(),
        }
    }

    /// A layer with the given HWIO `kernel` and one `bias` per filter.
    pub fn with_weights(kernel: Tensor, bias: Vec<f32>) -> Result<Conv2D> {
        let [k_h, k_w, _, filters] = kernel.shape()[..] else {
            return Err(Error::shape(format!(
                "a Conv2D kernel is 4-D (height, width, in_channels, filters), got {:?}",
                kernel.shape()
            )));
        };
        let weights = Weights::new("Conv2D", kernel, bias)?;
        Ok(Conv2D { weights, ..Conv2D::new(filters, (k_h, k_w)) })
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

    /// The HWIO kernel, once the layer has weights.
    pub fn kernel(&self) -> Option<&Tensor> {
        self.weights.kernel_if_any()
    }

    /// One bias per filter (empty before the layer has weights).
    pub fn bias(&self) -> &[f32] {
        self.weights.bias()
    }

    /// `∂loss/∂kernel` from the last backward pass (HWIO, like the kernel).
    pub fn kernel_grad(&self) -> &[f32] {
        self.weights.grads().0
    }

    /// `∂loss/∂bias` from the last backward pass.
    pub fn bias_grad(&self) -> &[f32] {
        self.weights.grads().1
    }

    // ANCHOR: layer_backward
    /// The gradients from `dz`, the gradient at the output *before* the activation:
    /// the kernel's and the bias's (filled) and the input's (returned).
    fn gradients(&mut self, dz: &Tensor) -> Result<&Tensor> {
        let g = self.geometry.ok_or_else(|| no_forward("Conv2D"))?;
        check_grad_shape("Conv2D", dz, self.output.shape())?;
        let ForBackward { kernel, dkernel, dbias } = self.weights.zeroed_grads("Conv2D")?;
        self.dx.reuse_as_zeros(&g.input_shape())?;
        naive::backward(&g, self.input.data(), kernel.data(), dz.data(), self.dx.data_mut(), dkernel, dbias);
        Ok(&self.dx)
    }
    // ANCHOR_END: layer_backward
}

impl Layer for Conv2D {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn class_name(&self) -> &'static str {
        "Conv2D"
    }

    fn build(&mut self, input_shape: &[usize], init: &mut Init) -> Result<Vec<usize>> {
        let [_, _, in_c] = input_shape[..] else {
            return Err(Error::shape(format!(
                "Conv2D expects (height, width, channels) inputs, got {input_shape:?}"
            )));
        };
        let (k_h, k_w) = self.kernel_size;
        let kernel_shape = match self.weights.kernel_if_any() {
            Some(kernel) => kernel.shape().to_vec(),
            None => vec![k_h, k_w, in_c, self.filters],
        };
        // Every size is checked before the weights are allocated (see `limits`).
        let size = limits::conv2d(input_shape, &kernel_shape, self.strides, self.padding)?;
        let (fan_in, fan_out) = (k_h * k_w * in_c, k_h * k_w * self.filters);
        self.weights.init_if_empty(&kernel_shape, fan_in, fan_out, init)?;
        Ok(size.output)
    }

    fn param_count(&self) -> usize {
        self.weights.count()
    }

    // ANCHOR: layer_forward
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let kernel = self.weights.kernel("Conv2D")?;
        let g = ConvGeometry::new(x.shape(), kernel.shape(), self.strides, self.padding)?;
        self.output.reuse_as(&g.output_shape())?; // every value is written below
        naive::forward(&g, x.data(), kernel.data(), self.weights.bias(), self.output.data_mut());
        self.activation.apply(self.output.data_mut(), g.out_c);
        // Backward needs the input: the kernel gradient is computed from it.
        self.input.copy_from(x);
        self.geometry = Some(g);
        Ok(&self.output)
    }
    // ANCHOR_END: layer_forward

    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        check_grad_shape("Conv2D", dy, self.output.shape())?;
        let mut dz = std::mem::take(&mut self.dz);
        dz.reuse_as(dy.shape())?; // every value is written below
        self.activation.backward(self.output.data(), dy.data(), dz.data_mut(), self.filters);
        let result = self.gradients(&dz).map(|_| ());
        self.dz = dz;
        result.map(|()| &self.dx)
    }

    fn params(&mut self) -> Vec<Param<'_>> {
        self.weights.params()
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn backward_pre_activation(&mut self, dz: &Tensor) -> Result<&Tensor> {
        self.gradients(dz)
    }

    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Conv2D {
            kernel: self.weights.kernel_if_any()?.clone(),
            bias: self.weights.bias().to_vec(),
            strides: self.strides,
            padding: self.padding,
            activation: self.activation,
        })
    }
}
