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
//! The crate has three layers, and imports only go down:
//!
//! - [`textbook`]: plain loops a reader follows against the book's figures: the layers,
//!   their forward and backward passes, the model, the loss, the optimiser, MNIST. Part I of
//!   the book shows code from here only, and it never imports the engine.
//! - [`engine`]: the same arithmetic made fast (im2col, direct loops, the fused first layers,
//!   threads), as a training [`Plan`] built from a textbook model. Every fast
//!   path is tested equal to the textbook. Part II of the book.
//! - [`app`]: what the command line adds: the model file format, pictures, plots,
//!   visualisation, augmentation and the small-data experiments.
//!
//! The textbook's modules are also reachable from the crate's root (`convnets::model`,
//! `convnets::pool`, …), as are the names a reader uses most.
//!
//! ```
//! let model = convnets::model::book_model(42).unwrap();
//! assert_eq!(model.param_count(), 93_322);
//! ```

pub mod app;
pub mod engine;
pub mod textbook;

pub use app::{augment, experiment, picture, plot, save, serve, visualize};
pub use textbook::{
    activation, conv, dense, error, flatten, geometry, gradcheck, idx, init, layer, limits, loss, metrics,
    mnist, model, optim, padding, pool, shape, spec, tensor, testing, train, weights,
};

pub use engine::{ConvAlgorithm, Plan};
pub use textbook::activation::Activation;
pub use textbook::conv::Conv2D;
pub use textbook::dense::Dense;
pub use textbook::error::{Error, Result};
pub use textbook::flatten::Flatten;
pub use textbook::layer::Layer;
pub use textbook::model::Sequential;
pub use textbook::padding::{Padding, Pads};
pub use textbook::pool::{AveragePooling2D, MaxPooling2D};
pub use textbook::shape::{Window2D, out_len};
pub use textbook::tensor::Tensor;

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

    #[doc = include_str!("../chapters/direct_loops.md")]
    pub struct DirectLoops;

    #[doc = include_str!("../chapters/fused_and_threads.md")]
    pub struct FusedAndThreads;

    #[doc = include_str!("../chapters/visualizing.md")]
    pub struct Visualizing;

    #[doc = include_str!("../chapters/playground.md")]
    pub struct Playground;

    #[doc = include_str!("../chapters/small_data.md")]
    pub struct SmallData;

    #[doc = include_str!("../chapters/results.md")]
    pub struct Results;
}
