//! What every layer of a [`Sequential`](crate::model::Sequential) model can do.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::spec::LayerSpec;
use crate::tensor::Tensor;

/// One learnable array of a layer next to its gradient from the last backward pass, for
/// an optimiser to update.
pub struct Param<'a> {
    /// The weights, updated in place by the optimiser.
    pub value: &'a mut [f32],
    /// `∂loss/∂value` from the last backward pass.
    pub grad: &'a [f32],
}

// ANCHOR: layer
/// A layer: it knows its output shape, owns its weights, maps a batch forward, and sends
/// gradients backward.
///
/// Shapes given to [`Layer::build`] are per sample, without the batch axis, as in Keras's
/// `input_shape=(28, 28, 1)`. Tensors given to [`Layer::forward`] have the batch axis first.
///
/// A layer owns its output and its input gradient: `forward` and `backward` return
/// references to them, and the next batch reuses the same memory. `forward` also keeps what
/// `backward` needs (its input, the argmax of a pool, …), so `backward` must follow the
/// `forward` of the same batch.
pub trait Layer: Send {
    /// Keras's base name for the layer, used to name it in a summary: `"conv2d"`.
    fn kind(&self) -> &'static str;

    /// Keras's class name, shown in a summary: `"Conv2D"`.
    fn class_name(&self) -> &'static str;

    /// Prepares the layer for inputs of `input_shape` (per sample), creating its weights
    /// (from `init`) if it has none yet, and returns its output shape (per sample).
    fn build(&mut self, input_shape: &[usize], init: &mut Init) -> Result<Vec<usize>>;

    /// The number of weights the layer learns.
    fn param_count(&self) -> usize;

    /// Computes the layer's output for a batch, remembering what `backward` will need.
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor>;

    /// Given `dy = ∂loss/∂y` for the output of the last `forward`, fills the gradients of
    /// the layer's weights and returns `dx = ∂loss/∂x`, shaped like that forward's input.
    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor>;

    /// The layer's weights with their gradients, in a fixed order (empty for layers without
    /// weights).
    fn params(&mut self) -> Vec<Param<'_>> {
        Vec::new()
    }

    /// The activation the layer applies last (`Linear` for layers without one).
    fn activation(&self) -> Activation {
        Activation::Linear
    }

    /// Like [`Layer::backward`], but `dz` is the gradient with respect to the layer's output
    /// *before* its activation. Softmax followed by cross-entropy has the simple gradient
    /// `(p − y) / batch` there, so training starts the backward pass at this point.
    fn backward_pre_activation(&mut self, dz: &Tensor) -> Result<&Tensor> {
        match self.activation() {
            Activation::Linear => self.backward(dz),
            other => Err(Error::model(format!(
                "{} does not implement backward_pre_activation for its {other:?} activation",
                self.class_name()
            ))),
        }
    }

    /// The layer's output before its softmax in the last forward pass, if it ends in one:
    /// the logits the cross-entropy is computed from.
    fn logits(&self) -> Option<&Tensor> {
        None
    }

    /// The layer's kind, settings and weights as plain data: what a model file stores, and
    /// what the engine builds its faster version of the layer from. `None` (the default) for
    /// a layer the crate does not know: such a model trains on the textbook path and cannot
    /// be saved.
    fn spec(&self) -> Option<LayerSpec> {
        None
    }
}
// ANCHOR_END: layer

/// The error for `backward` called before any `forward`.
pub(crate) fn no_forward(class_name: &str) -> Error {
    Error::model(format!("{class_name}: backward called before forward"))
}

/// Checks that a gradient has the shape of the output it belongs to.
pub(crate) fn check_grad_shape(class_name: &str, dy: &Tensor, output_shape: &[usize]) -> Result<()> {
    if dy.shape() == output_shape {
        Ok(())
    } else {
        Err(Error::shape(format!(
            "{class_name}: the gradient has shape {:?} but the output had shape {output_shape:?}",
            dy.shape()
        )))
    }
}
