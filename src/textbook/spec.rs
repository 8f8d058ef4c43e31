//! A layer described as plain data: its kind, settings and weights.
//!
//! This sits below the layers: each layer describes itself as a [`LayerSpec`]
//! ([`Layer::spec`](crate::layer::Layer::spec)), the model file format
//! ([`crate::save`]) writes specs, and the engine builds its training plan from them.

use crate::activation::Activation;
use crate::padding::Padding;
use crate::tensor::Tensor;

/// Everything needed to rebuild one layer: its kind, settings and weights.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// A [`Conv2D`](crate::Conv2D) with its HWIO kernel and biases.
    Conv2D {
        /// `(kernel_h, kernel_w, in_channels, filters)`.
        kernel: Tensor,
        /// One per filter.
        bias: Vec<f32>,
        /// `(vertical, horizontal)` steps.
        strides: (usize, usize),
        /// `valid` or `same`.
        padding: Padding,
        /// Applied to the output.
        activation: Activation,
    },
    /// A [`MaxPooling2D`](crate::MaxPooling2D).
    MaxPooling2D {
        /// Window size.
        pool: (usize, usize),
        /// Steps between windows.
        strides: (usize, usize),
        /// `valid` or `same`.
        padding: Padding,
    },
    /// An [`AveragePooling2D`](crate::AveragePooling2D).
    AveragePooling2D {
        /// Window size.
        pool: (usize, usize),
        /// Steps between windows.
        strides: (usize, usize),
        /// `valid` or `same`.
        padding: Padding,
    },
    /// A [`Flatten`](crate::Flatten).
    Flatten,
    /// A [`Dense`](crate::Dense) layer with its `(inputs, units)` kernel and biases.
    Dense {
        /// `(inputs, units)`.
        kernel: Tensor,
        /// One per unit.
        bias: Vec<f32>,
        /// Applied to the output.
        activation: Activation,
    },
}
