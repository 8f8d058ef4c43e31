//! # convnets
//!
//! Convolutional neural networks built by hand, following *Deep Learning with Python*,
//! chapter 5.1: the convolution operation, padding, strides, max pooling, and the small
//! Keras convnet that classifies MNIST digits.
//!
//! Tensors are NHWC `(batch, height, width, channels)` and conv kernels HWIO
//! `(height, width, in_channels, filters)`, as Keras stores them, so results can be checked
//! against TensorFlow number for number.
//!
//! ```
//! let model = convnets::model::book_model(42).unwrap();
//! assert_eq!(model.param_count(), 93_322);
//! ```

pub mod activation;
pub mod augment;
pub mod conv;
pub mod data_parallel;
pub mod dense;
pub mod error;
pub mod experiment;
pub mod flatten;
mod fused;
pub mod gemm;
pub mod gradcheck;
pub mod idx;
pub mod init;
pub mod layer;
pub mod loss;
pub mod metrics;
pub mod mnist;
pub mod model;
pub mod optim;
pub mod padding;
pub mod picture;
pub mod plot;
pub mod pool;
pub mod save;
pub mod shape;
pub mod tensor;
pub mod testing;
pub mod train;
pub mod visualize;

pub use activation::Activation;
pub use conv::{Conv2D, ConvAlgorithm};
pub use dense::Dense;
pub use error::{Error, Result};
pub use flatten::Flatten;
pub use layer::Layer;
pub use model::Sequential;
pub use padding::{Padding, Pads};
pub use pool::{AveragePooling2D, MaxPooling2D};
pub use shape::{Window2D, out_len};
pub use tensor::Tensor;

/// The book's chapters, compiled as doctests so every example in them runs under `cargo test`.
#[cfg(doctest)]
pub mod chapters {
    #[doc = include_str!("../chapters/introduction.md")]
    pub struct Introduction;

    #[doc = include_str!("../chapters/convolution.md")]
    pub struct Convolution;

    #[doc = include_str!("../chapters/padding.md")]
    pub struct Padding;

    #[doc = include_str!("../chapters/strides.md")]
    pub struct Strides;

    #[doc = include_str!("../chapters/max_pooling.md")]
    pub struct MaxPooling;

    #[doc = include_str!("../chapters/backprop.md")]
    pub struct Backprop;

    #[doc = include_str!("../chapters/idx.md")]
    pub struct Idx;

    #[doc = include_str!("../chapters/training.md")]
    pub struct Training;

    #[doc = include_str!("../chapters/im2col.md")]
    pub struct Im2col;

    #[doc = include_str!("../chapters/visualizing.md")]
    pub struct Visualizing;

    #[doc = include_str!("../chapters/small_data.md")]
    pub struct SmallData;
}
