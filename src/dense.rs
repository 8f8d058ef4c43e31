//! The fully connected layer: every output is a weighted sum of every input.

use rand::rngs::StdRng;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::gemm::{Mat, gemm};
use crate::init::glorot_uniform;
use crate::layer::{Layer, Param, check_grad_shape, no_forward, no_weights};
use crate::save::LayerSpec;
use crate::tensor::Tensor;

/// A dense layer, as Keras's `Dense(units, activation)`: `y = activation(x · W + b)` with
/// the kernel `W` of shape `(inputs, units)`.
#[derive(Debug, Clone)]
pub struct Dense {
    units: usize,
    activation: Activation,
    kernel: Option<Tensor>,
    bias: Vec<f32>,
    dkernel: Vec<f32>,
    dbias: Vec<f32>,
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
            kernel: None,
            bias: Vec::new(),
            dkernel: Vec::new(),
            dbias: Vec::new(),
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
            return Err(Error::Shape(format!(
                "a Dense kernel is 2-D (inputs, units), got {:?}",
                kernel.shape()
            )));
        };
        if bias.len() != units {
            return Err(Error::Shape(format!("{units} units need {units} biases, got {}", bias.len())));
        }
        Ok(Dense { kernel: Some(kernel), bias, ..Dense::new(units) })
    }

    /// Sets the activation applied to the output.
    pub fn activation(mut self, activation: Activation) -> Dense {
        self.activation = activation;
        self
    }

    /// The `(inputs, units)` kernel, once the layer has weights.
    pub fn kernel(&self) -> Option<&Tensor> {
        self.kernel.as_ref()
    }

    /// One bias per unit (empty before the layer has weights).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `∂loss/∂kernel` from the last backward pass, `(inputs, units)` like the kernel.
    pub fn kernel_grad(&self) -> &[f32] {
        &self.dkernel
    }

    /// `∂loss/∂bias` from the last backward pass.
    pub fn bias_grad(&self) -> &[f32] {
        &self.dbias
    }

    // ANCHOR: backward
    /// With `z = x · W + b`: `dW = xᵀ · dz`, `db` = the column sums of `dz`, `dx = dz · Wᵀ`.
    fn gradients(&mut self, dz: &Tensor) -> Result<()> {
        if !self.forwarded {
            return Err(no_forward("Dense"));
        }
        check_grad_shape("Dense", dz, self.output.shape())?;
        let kernel = self.kernel.as_ref().ok_or_else(|| no_weights("Dense"))?;
        let (batch, inputs, units) = (self.input.shape()[0], kernel.shape()[0], self.units);
        self.dbias.clear();
        self.dbias.resize(units, 0.0);
        for row in dz.data().chunks(units) {
            for (db, d) in self.dbias.iter_mut().zip(row) {
                *db += d;
            }
        }
        let (x, dz) = (Mat::new(self.input.data(), batch, inputs), Mat::new(dz.data(), batch, units));
        self.dkernel.resize(inputs * units, 0.0);
        gemm(x.t(), dz, 0.0, &mut self.dkernel);
        self.dx.reuse_as(self.input.shape())?;
        gemm(dz, Mat::new(kernel.data(), inputs, units).t(), 0.0, self.dx.data_mut());
        Ok(())
    }
    // ANCHOR_END: backward
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn class_name(&self) -> &'static str {
        "Dense"
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut StdRng) -> Result<Vec<usize>> {
        let [inputs] = input_shape[..] else {
            return Err(Error::Shape(format!(
                "Dense expects flat (features,) inputs, got {input_shape:?}: add a Flatten layer first"
            )));
        };
        match &self.kernel {
            None => {
                let values = glorot_uniform(inputs * self.units, inputs, self.units, rng);
                self.kernel = Some(Tensor::new(&[inputs, self.units], values)?);
                self.bias = vec![0.0; self.units];
            }
            Some(k) if k.shape()[0] != inputs => {
                return Err(Error::Shape(format!(
                    "the kernel expects {} inputs but the layer gets {inputs}",
                    k.shape()[0]
                )));
            }
            Some(_) => {}
        }
        Ok(vec![self.units])
    }

    fn param_count(&self) -> usize {
        self.kernel.as_ref().map_or(0, Tensor::len) + self.bias.len()
    }

    // ANCHOR: forward
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let kernel = self.kernel.as_ref().ok_or_else(|| no_weights("Dense"))?;
        let (inputs, units) = (kernel.shape()[0], self.units);
        let [batch, features] = x.shape()[..] else {
            return Err(Error::Shape(format!(
                "Dense expects a 2-D (batch, features) input, got {:?}",
                x.shape()
            )));
        };
        if features != inputs {
            return Err(Error::Shape(format!("Dense expects {inputs} features, got {features}")));
        }
        // y = x · W, then + b on every row.
        self.output.reuse_as(&[batch, units])?;
        let y = self.output.data_mut();
        gemm(Mat::new(x.data(), batch, inputs), Mat::new(kernel.data(), inputs, units), 0.0, y);
        for row in y.chunks_mut(units) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
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
        let result = self.gradients(&dz);
        self.dz = dz;
        result.map(|()| &self.dx)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn logits(&self) -> Option<&Tensor> {
        self.logits.as_ref()
    }

    fn backward_pre_activation(&mut self, dz: &Tensor) -> Result<&Tensor> {
        self.gradients(dz)?;
        Ok(&self.dx)
    }

    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Dense {
            kernel: self.kernel.clone()?,
            bias: self.bias.clone(),
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
}
