//! What every layer of a [`Sequential`](crate::model::Sequential) model can do.

use rand::rngs::StdRng;

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer: it knows its output shape, owns its weights, and maps a batch to a batch.
///
/// Shapes given to [`Layer::build`] are per sample, without the batch axis, as in Keras's
/// `input_shape=(28, 28, 1)`. Tensors given to [`Layer::forward`] have the batch axis first.
pub trait Layer {
    /// Keras's base name for the layer, used to name it in a summary: `"conv2d"`.
    fn kind(&self) -> &'static str;

    /// Keras's class name, shown in a summary: `"Conv2D"`.
    fn class_name(&self) -> &'static str;

    /// Prepares the layer for inputs of `input_shape` (per sample), creating its weights
    /// (from `rng`) if it has none yet, and returns its output shape (per sample).
    fn build(&mut self, input_shape: &[usize], rng: &mut StdRng) -> Result<Vec<usize>>;

    /// The number of weights the layer learns.
    fn param_count(&self) -> usize;

    /// Computes the layer's output for a batch.
    fn forward(&mut self, x: &Tensor) -> Result<Tensor>;
}
