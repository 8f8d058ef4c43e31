//! What every layer of a [`Sequential`](crate::model::Sequential) model can do.

use rand::rngs::StdRng;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::save::LayerSpec;
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
/// `backward` needs (its output, the argmax of a pool, …), so `backward` must follow the
/// `forward` of the same batch.
pub trait Layer: Send {
    /// Keras's base name for the layer, used to name it in a summary: `"conv2d"`.
    fn kind(&self) -> &'static str;

    /// Keras's class name, shown in a summary: `"Conv2D"`.
    fn class_name(&self) -> &'static str;

    /// Prepares the layer for inputs of `input_shape` (per sample), creating its weights
    /// (from `rng`) if it has none yet, and returns its output shape (per sample).
    fn build(&mut self, input_shape: &[usize], rng: &mut StdRng) -> Result<Vec<usize>>;

    /// The number of weights the layer learns.
    fn param_count(&self) -> usize;

    /// Computes the layer's output for a batch, remembering what `backward` will need.
    fn forward(&mut self, x: &Tensor) -> Result<&Tensor>;

    /// Given `dy = ∂loss/∂y` for the output of the last `forward`, fills the gradients of
    /// the layer's weights and returns `dx = ∂loss/∂x`, shaped like that forward's input.
    fn backward(&mut self, dy: &Tensor) -> Result<&Tensor>;

    /// The activation the layer applies last (`Linear` for layers without one).
    ///
    /// A layer that reports `Relu` must also implement [`Layer::backward_pre_activation`]
    /// and [`Layer::backward_params_pre_activation`]: during training, a max pooling after it
    /// hands it the gradient from before its ReLU ([`Layer::backward_through_relu`]).
    fn activation(&self) -> Activation {
        Activation::Linear
    }

    /// Like [`Layer::backward`], but `dz` is the gradient with respect to the layer's output
    /// *before* its activation. Softmax followed by cross-entropy has the simple gradient
    /// `(p − y) / batch` there, so training starts the backward pass at this point.
    fn backward_pre_activation(&mut self, dz: &Tensor) -> Result<&Tensor> {
        match self.activation() {
            Activation::Linear => self.backward(dz),
            other => Err(Error::Model(format!(
                "{} does not implement backward_pre_activation for its {other:?} activation",
                self.class_name()
            ))),
        }
    }

    /// Like [`Layer::backward`] but only fills the weight gradients, for the first layer of a
    /// model: nothing comes before it, so its `dx` would be thrown away.
    fn backward_params(&mut self, dy: &Tensor) -> Result<()> {
        self.backward(dy).map(|_| ())
    }

    /// [`Layer::backward_params`] with `dz` taken before the layer's activation, as in
    /// [`Layer::backward_pre_activation`].
    fn backward_params_pre_activation(&mut self, dz: &Tensor) -> Result<()> {
        self.backward_pre_activation(dz).map(|_| ())
    }

    /// Whether the layer implements [`Layer::backward_through_relu`] (false by default).
    fn folds_relu(&self) -> bool {
        false
    }

    /// For a layer right after one that ends in a ReLU: like [`Layer::backward`], but returns
    /// the gradient with respect to that ReLU's *input*, folding the ReLU's gradient in, when
    /// the layer can do that more cheaply than the two steps separately
    /// ([`MaxPooling2D`](crate::MaxPooling2D) can). Only called if [`Layer::folds_relu`].
    fn backward_through_relu(&mut self, _dy: &Tensor) -> Result<&Tensor> {
        Err(Error::Model(format!("{} cannot fold a ReLU's gradient into its own", self.class_name())))
    }

    /// The layer's output before its softmax in the last forward pass, if it ends in one:
    /// the logits the cross-entropy is computed from.
    fn logits(&self) -> Option<&Tensor> {
        None
    }

    /// The layer's settings and weights, for saving it ([`crate::save`]). `None` for a
    /// layer the file format does not know.
    fn spec(&self) -> Option<LayerSpec> {
        None
    }

    /// The layer's weights with their gradients, in a fixed order (empty for layers without
    /// weights).
    fn params(&mut self) -> Vec<Param<'_>> {
        Vec::new()
    }

    /// The layer as [`Any`](std::any::Any), so that a model can recognise the concrete
    /// layers it knows a faster way to train together (a first `Conv2D` and the
    /// `MaxPooling2D` after it). `None`, the default, for any other layer.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }

    /// A copy of the layer, weights and all, so that several threads can each run their own
    /// copy of a model ([`crate::data_parallel`]). `None`, the default, means the layer
    /// cannot be copied, and a model holding it trains on one thread's copy only.
    fn clone_layer(&self) -> Option<Box<dyn Layer>> {
        None
    }
}
// ANCHOR_END: layer

/// The error for `backward` called before any `forward`.
pub(crate) fn no_forward(class_name: &str) -> Error {
    Error::Model(format!("{class_name}: backward called before forward"))
}

/// The error for using a layer's weights before it has any.
pub(crate) fn no_weights(class_name: &str) -> Error {
    Error::Model(format!("this {class_name} has no weights yet: build it or give it weights first"))
}

/// Checks that a gradient has the shape of the output it belongs to.
pub(crate) fn check_grad_shape(class_name: &str, dy: &Tensor, output_shape: &[usize]) -> Result<()> {
    if dy.shape() == output_shape {
        Ok(())
    } else {
        Err(Error::Shape(format!(
            "{class_name}: the gradient has shape {:?} but the output had shape {output_shape:?}",
            dy.shape()
        )))
    }
}
