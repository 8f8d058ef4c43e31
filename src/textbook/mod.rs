//! The textbook: every piece of a convnet written as plain loops, each paired with a chapter
//! of the book.
//!
//! Each layer keeps the same shape of code: [`Layer::forward`](layer::Layer::forward)
//! computes the output and keeps what the backward pass needs, [`Layer::backward`](layer::Layer::backward)
//! fills the layer's weight gradients and returns the input's gradient, and
//! [`Layer::params`](layer::Layer::params) hands the weights to the optimiser. Nothing here
//! imports the [`engine`](crate::engine): a model built from these layers trains with
//! [`Sequential::fit_using`](model::Sequential::fit_using) and
//! [`PlainLoops`](train::PlainLoops) alone.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod error;
pub mod flatten;
pub mod geometry;
pub mod gradcheck;
pub mod idx;
pub mod init;
pub mod layer;
pub mod limits;
pub mod loss;
pub mod metrics;
pub mod mnist;
pub mod model;
pub mod optim;
pub mod padding;
pub mod pool;
pub mod shape;
pub mod spec;
pub mod tensor;
pub mod testing;
pub mod train;
pub mod weights;
