//! Flatten: turns each sample's feature maps into one long vector for the dense layers.

use crate::error::{Error, Result};
use crate::init::Init;
use crate::layer::{Layer, no_forward};
use crate::limits;
use crate::spec::LayerSpec;
use crate::tensor::{Tensor, element_count};

/// Keras's `Flatten()`: `(batch, h, w, c)` becomes `(batch, h·w·c)`.
///
/// NHWC is row-major with channels last, so flattening keeps the values where they are and
/// only changes the shape; the order (all channels of pixel (0,0), then of pixel (0,1), …)
/// is Keras's `channels_last` order, so Keras weights load unchanged.
#[derive(Debug, Clone, Default)]
pub struct Flatten {
    /// The input shape of the last forward pass, to unflatten gradients into.
    input_shape: Option<Vec<usize>>,
    /// The last output and input gradient, reused from batch to batch.
    output: Tensor,
    dx: Tensor,
}

impl Flatten {
    /// A new Flatten layer.
    pub fn new() -> Flatten {
        Flatten::default()
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn class_name(&self) -> &'static str {
        "Flatten"
    }

    fn build(&mut self, input_shape: &[usize], _init: &mut Init) -> Result<Vec<usize>> {
        Ok(limits::flatten(input_shape)?.output)
    }

    fn param_count(&self) -> usize {
        0
    }

    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Flatten)
    }

    fn forward(&mut self, x: &Tensor) -> Result<&Tensor> {
        let Some((&batch, rest)) = x.shape().split_first() else {
            return Err(Error::shape("Flatten needs a batch axis"));
        };
        let features = element_count(rest)?;
        self.input_shape = Some(x.shape().to_vec());
        self.output.copy_from(x);
        self.output.reuse_as(&[batch, features])?;
        Ok(&self.output)
    }

    /// Flattening moved no values, so the gradient only takes the input's shape back.
    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor> {
        let shape = self.input_shape.as_ref().ok_or_else(|| no_forward("Flatten"))?;
        if dy.len() != self.output.len() {
            return Err(Error::shape(format!(
                "Flatten: a gradient of shape {:?} for {shape:?} inputs",
                dy.shape()
            )));
        }
        self.dx.copy_from(dy);
        self.dx.reuse_as(shape)?;
        Ok(&self.dx)
    }
}
