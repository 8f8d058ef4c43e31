//! The fully connected layer: every output is a weighted sum of every input.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::{Layer, Param, check_grad_shape, no_forward};
use crate::limits;
use crate::spec::LayerSpec;
use crate::tensor::Tensor;
use crate::weights::{ForBackward, Weights};

// ANCHOR: dense_forward
/// `z = x · W + b` for a batch: `x` is `(batch, inputs)`, the kernel `W` is
/// `(inputs, units)`, `z` is `(batch, units)`, all row-major.
pub fn dense_forward(batch: usize, inputs: usize, x: &[f32], kernel: &[f32], bias: &[f32], z: &mut [f32]) {
    let units = bias.len();
    for n in 0..batch {
        for u in 0..units {
            let mut sum = bias[u];
            for i in 0..inputs {
                sum += x[n * inputs + i] * kernel[i * units + u];
            }
            z[n * units + u] = sum;
        }
    }
}
// ANCHOR_END: dense_forward

// ANCHOR: backward
/// The gradients of `z = x · W + b` from `dz`: each product `x[n,i] · W[i,u]` sends `dz[n,u]`
/// back to both of its factors, so `dW = xᵀ · dz`, `db` = the column sums of `dz`, and
/// `dx = dz · Wᵀ`. `dkernel` and `dbias` must hold zeros; `dx` is overwritten.
#[allow(clippy::too_many_arguments)] // the sizes, the forward pass's operands, the gradients
pub fn dense_backward(
    batch: usize,
    inputs: usize,
    x: &[f32],
    kernel: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let units = dbias.len();
    for n in 0..batch {
        for u in 0..units {
            dbias[u] += dz[n * units + u];
        }
        for i in 0..inputs {
            let mut sum = 0.0;
            for u in 0..units {
                let d = dz[n * units + u];
                dkernel[i * units + u] += x[n * inputs + i] * d;
                sum += kernel[i * units + u] * d;
            }
            dx[n * inputs + i] = sum;
        }
    }
}
// ANCHOR_END: backward

/// A dense layer, as Keras's `Dense(units, activation)`: `y = activation(x · W + b)` with
/// the kernel `W` of shape `(inputs, units)`.
#[derive(Debug, Clone)]
pub struct Dense {
    units: usize,
    activation: Activation,
    weights: Weights,
    /// Whether a forward pass has filled the buffers below.
    forwarded: bool,
    /// The last input (`dW = xᵀ · dz` needs it) and output; reused from batch to batch, like
    /// the other buffers below.
    input: Tensor,
    output: Tensor,
    /// The output before the softmax in the last forward pass (only with a softmax).
    logits: Option<Tensor>,
    /// `∂loss/∂(output before the activation)` and `∂loss/∂input`.
    dz: Tensor,
    dx: Tensor,
}

impl Dense {
    /// A layer of `units` outputs with no activation; weights are created when it is built.
    pub fn new(units: usize) -> Dense {
        Dense {
            units,
            activation: Activation::Linear,
            weights: Weights::default(),
            forwarded: false,
            input: Tensor::default(),
            output: Tensor::default(),
            logits: None,
            dz: Tensor::default(),
            dx: Tensor::default(),
        }
    }

    /// A layer with the given `(inputs, units)` kernel and one bias per unit.
    pub fn with_weights(kernel: Tensor, bias: Vec<f32>) -> Result<Dense> {
        let [_, units] = kernel.shape()[..] else {
            return Err(Error::shape(format!(
                "a Dense kernel is 2-D (inputs, units), got {:?}",
                kernel.shape()
            )));
        };
        let weights = Weights::new("Dense", kernel, bias)?;
        Ok(Dense { weights, ..Dense::new(units) })
    }

    /// Sets the activation applied to the output.
    pub fn activation(mut self, activation: Activation) -> Dense {
        self.activation = activation;
        self
    }

    /// The `(inputs, units)` kernel, once the layer has weights.
    pub fn kernel(&self) -> Option<&Tensor> {
        self.weights.kernel_if_any()
    }

    /// One bias per unit (empty before the layer has weights).
    pub fn bias(&self) -> &[f32] {
        self.weights.bias()
    }

    /// `∂loss/∂kernel` from the last backward pass, `(inputs, units)` like the kernel.
    pub fn kernel_grad(&self) -> &[f32] {
        self.weights.grads().0
    }

    /// `∂loss/∂bias` from the last backward pass.
    pub fn bias_grad(&self) -> &[f32] {
        self.weights.grads().1
    }

    /// The gradients from `dz`, the gradient before the activation.
    fn gradients(&mut self, dz: &Tensor) -> Result<&Tensor> {
        if !self.forwarded {
            return Err(no_forward("Dense"));
        }
        check_grad_shape("Dense", dz, self.output.shape())?;
        let [batch, inputs] = self.input.shape()[..] else { return Err(no_forward("Dense")) };
        let ForBackward { kernel, dkernel, dbias } = self.weights.zeroed_grads("Dense")?;
        self.dx.reuse_as(self.input.shape())?; // every value is written below
        let (x, dx) = (self.input.data(), self.dx.data_mut());
        dense_backward(batch, inputs, x, kernel.data(), dz.data(), dx, dkernel, dbias);
        Ok(&self.dx)
    }
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn class_name(&self) -> &'static str {
        "Dense"
    }

    fn build(&mut self, input_shape: &[usize], init: &mut Init) -> Result<Vec<usize>> {
        let [inputs] = input_shape[..] else {
            return Err(Error::shape(format!(
                "Dense expects flat (features,) inputs, got {input_shape:?}: add a Flatten layer first"
            )));
        };
        let kernel_shape = match self.weights.kernel_if_any() {
            Some(kernel) => kernel.shape().to_vec(),
            None => vec![inputs, self.units],
        };
        // Every size is checked before the weights are allocated (see `limits`).
        let size = limits::dense(input_shape, &kernel_shape)?;
        self.weights.init_if_empty(&kernel_shape, inputs, self.units, init)?;
        Ok(size.output)
    }

    fn param_count(&self) -> usize {
        self.weights.count()
    }

    // ANCHOR: forward
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let kernel = self.weights.kernel("Dense")?;
        let (inputs, units) = (kernel.shape()[0], self.units);
        let [batch, features] = x.shape()[..] else {
            return Err(Error::shape(format!(
                "Dense expects a 2-D (batch, features) input, got {:?}",
                x.shape()
            )));
        };
        if features != inputs {
            return Err(Error::shape(format!("Dense expects {inputs} features, got {features}")));
        }
        self.output.reuse_as(&[batch, units])?; // every value is written below
        let z = self.output.data_mut();
        dense_forward(batch, inputs, x.data(), kernel.data(), self.weights.bias(), z);
        self.logits = match self.activation {
            Activation::Softmax => Some(self.output.clone()),
            _ => None,
        };
        self.activation.apply(self.output.data_mut(), units);
        self.input.copy_from(x);
        self.forwarded = true;
        Ok(&self.output)
    }
    // ANCHOR_END: forward

    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        if !self.forwarded {
            return Err(no_forward("Dense"));
        }
        check_grad_shape("Dense", dy, self.output.shape())?;
        let mut dz = std::mem::take(&mut self.dz);
        dz.reuse_as(dy.shape())?; // every value is written below
        self.activation.backward(self.output.data(), dy.data(), dz.data_mut(), self.units);
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

    fn logits(&self) -> Option<&Tensor> {
        self.logits.as_ref()
    }

    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Dense {
            kernel: self.weights.kernel_if_any()?.clone(),
            bias: self.weights.bias().to_vec(),
            activation: self.activation,
        })
    }
}
