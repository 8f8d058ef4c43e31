//! A kernel and a bias with their gradients: the learnable part of `Conv2D` and `Dense`.

use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::Param;
use crate::tensor::Tensor;

/// What a backward pass needs of a layer's weights: the kernel, and the gradients to fill.
pub struct ForBackward<'a> {
    /// The kernel.
    pub kernel: &'a Tensor,
    /// `∂loss/∂kernel`, zeroed.
    pub dkernel: &'a mut [f32],
    /// `∂loss/∂bias`, zeroed.
    pub dbias: &'a mut [f32],
}

/// A layer's kernel (any shape whose last axis is the layer's outputs) and one bias per
/// output, with the gradients of the last backward pass. Empty until the layer is built or
/// given weights.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    kernel: Option<Tensor>,
    bias: Vec<f32>,
    dkernel: Vec<f32>,
    dbias: Vec<f32>,
}

impl Weights {
    /// Given weights: `kernel`'s last axis must match the number of biases.
    pub fn new(class_name: &str, kernel: Tensor, bias: Vec<f32>) -> Result<Weights> {
        let outputs = kernel.shape().last().copied().unwrap_or(0);
        if bias.len() != outputs {
            return Err(Error::shape(format!(
                "{class_name}: a kernel of shape {:?} needs {outputs} biases, got {}",
                kernel.shape(),
                bias.len()
            )));
        }
        Ok(Weights { kernel: Some(kernel), bias, ..Weights::default() })
    }

    /// Keras's start, if there are no weights yet: a Glorot-uniform kernel of `shape` with
    /// these fans, and zero biases.
    pub fn init_if_empty(
        &mut self,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
        init: &mut Init,
    ) -> Result<()> {
        if self.kernel.is_none() {
            let values = init.glorot_uniform(shape.iter().product(), fan_in, fan_out);
            self.kernel = Some(Tensor::new(shape, values)?);
            self.bias = vec![0.0; shape.last().copied().unwrap_or(0)];
        }
        Ok(())
    }

    /// The kernel, or an error naming the layer if it has no weights yet.
    pub fn kernel(&self, class_name: &str) -> Result<&Tensor> {
        self.kernel.as_ref().ok_or_else(|| {
            Error::model(format!("this {class_name} has no weights yet: build it or give it weights first"))
        })
    }

    /// The kernel, if there is one.
    pub fn kernel_if_any(&self) -> Option<&Tensor> {
        self.kernel.as_ref()
    }

    /// The biases (empty before there are weights).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `∂loss/∂kernel` and `∂loss/∂bias` from the last backward pass.
    pub fn grads(&self) -> (&[f32], &[f32]) {
        (&self.dkernel, &self.dbias)
    }

    /// The kernel to compute with, and the kernel and bias gradients set to zero for a
    /// backward pass to add to.
    pub fn zeroed_grads(&mut self, class_name: &str) -> Result<ForBackward<'_>> {
        let kernel = self.kernel.as_ref().ok_or_else(|| {
            Error::model(format!("this {class_name} has no weights yet: build it or give it weights first"))
        })?;
        self.dkernel.clear();
        self.dkernel.resize(kernel.len(), 0.0);
        self.dbias.clear();
        self.dbias.resize(self.bias.len(), 0.0);
        Ok(ForBackward { kernel, dkernel: &mut self.dkernel, dbias: &mut self.dbias })
    }

    /// The number of weights.
    pub fn count(&self) -> usize {
        self.kernel.as_ref().map_or(0, Tensor::len) + self.bias.len()
    }

    /// Kernel and bias with their gradients, for the optimiser.
    pub fn params(&mut self) -> Vec<Param<'_>> {
        let Some(kernel) = self.kernel.as_mut() else { return Vec::new() };
        vec![
            Param { value: kernel.data_mut(), grad: &self.dkernel },
            Param { value: &mut self.bias, grad: &self.dbias },
        ]
    }
}
