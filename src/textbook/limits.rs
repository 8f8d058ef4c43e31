//! How large a layer may be: the checks every layer passes when it is built, so that a model
//! that builds is also safe to run.
//!
//! A model file, or a slip in code, can ask for a dense layer of 0 units, a pooling window four
//! billion pixels wide, an input with 0 channels, or a layer whose output holds more values
//! than memory. Unchecked, each of these panics, aborts the program on a failed allocation, or
//! keeps it busy for hours once data flows. So every layer's sizes are checked when it is added
//! to a [`Sequential`](crate::model::Sequential) model (and so when a model file is loaded,
//! and when the engine plans a model), with checked arithmetic, before any weight or buffer is
//! allocated:
//!
//! - units and filters are at least 1, and so is every axis of the input and of every
//!   layer's output;
//! - windows (kernels and pools) and strides are at least 1 and at most [`MAX_WINDOW`];
//! - the shapes chain: each layer is built for the previous layer's output;
//! - a sample's input, each layer's output, and a convolution's patch matrix (the values
//!   under all of a sample's windows, side by side, as im2col lays them out) hold at most
//!   [`MAX_VALUES`] values; a layer has at most [`MAX_WEIGHTS`] weights; and one sample's
//!   forward pass through the whole model takes at most [`MAX_WORK`] multiply-adds (or
//!   window positions, for pooling).
//!
//! Each limit is hundreds of times what the book's model needs.

use crate::error::{Error, ModelError, Result};
use crate::geometry::ConvGeometry;
use crate::padding::Padding;
use crate::shape::Window2D;
use crate::spec::LayerSpec;

/// The longest window side (kernel or pool) and the longest stride: 1024.
pub const MAX_WINDOW: usize = 1 << 10;

/// The most values one sample may hold, as a model's input, as any layer's output, or as a
/// convolution's patch matrix: 2^24 = 16,777,216 (64 MiB of `f32`; the book's largest
/// activation holds 21,632 values, its largest patch matrix 34,848).
pub const MAX_VALUES: usize = 1 << 24;

/// The most weights one layer may have: 2^26 = 67,108,864 (256 MiB of `f32`; the book's
/// whole model has 93,322).
pub const MAX_WEIGHTS: usize = 1 << 26;

/// The most multiply-adds (or, for pooling, window positions) one sample's forward pass
/// through the whole model may take: 2^32, about 4.3 billion (the book's model takes about
/// 2.8 million).
pub const MAX_WORK: u64 = 1 << 32;

/// What building a layer for a given input gives: its output shape (per sample) and the work
/// of one sample's forward pass through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSize {
    /// The output shape, per sample.
    pub output: Vec<usize>,
    /// Multiply-adds (or window positions) per sample.
    pub work: u64,
}

/// Checks that `n`, a size that must not be 0 (`what`: `"units"`, `"filters"`), is at least 1.
pub fn at_least_one(layer: &'static str, what: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Model(ModelError::Zero { layer, what }));
    }
    Ok(())
}

/// The number of values of a per-sample `shape`, checked: every axis at least 1, at most
/// [`MAX_VALUES`] in all. `what` is `"input"` or `"output"`.
pub fn values(layer: &'static str, what: &'static str, shape: &[usize]) -> Result<usize> {
    if shape.contains(&0) {
        return Err(Error::Model(ModelError::EmptyAxis { layer, what, shape: shape.to_vec() }));
    }
    let count = product(shape);
    match count {
        Some(n) if n <= MAX_VALUES as u64 => Ok(n as usize),
        _ => Err(Error::Model(ModelError::TooLarge {
            layer,
            what: if what == "input" {
                "values per sample in its input"
            } else {
                "values per sample in its output"
            },
            count,
            limit: MAX_VALUES as u64,
        })),
    }
}

/// The number of weights of a kernel of `shape`, checked against [`MAX_WEIGHTS`].
pub fn weights(layer: &'static str, shape: &[usize]) -> Result<usize> {
    let count = product(shape);
    match count {
        Some(n) if n <= MAX_WEIGHTS as u64 => Ok(n as usize),
        _ => Err(Error::Model(ModelError::TooLarge {
            layer,
            what: "weights",
            count,
            limit: MAX_WEIGHTS as u64,
        })),
    }
}

/// `outputs · per_output` multiply-adds, checked against [`MAX_WORK`].
pub fn work(layer: &'static str, outputs: usize, per_output: usize) -> Result<u64> {
    let count = (outputs as u64).checked_mul(per_output as u64);
    match count {
        Some(n) if n <= MAX_WORK => Ok(n),
        _ => Err(Error::Model(ModelError::TooLarge {
            layer,
            what: "multiply-adds per sample",
            count,
            limit: MAX_WORK,
        })),
    }
}

/// The product of `dims` as a `u64`, or `None` if it overflows.
fn product(dims: &[usize]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
}

/// A `Conv2D` with an HWIO kernel of `kernel_shape` on `(height, width, channels)` inputs.
pub fn conv2d(
    input: &[usize],
    kernel_shape: &[usize],
    strides: (usize, usize),
    padding: Padding,
) -> Result<LayerSize> {
    let [_, _, _] = input[..] else {
        return Err(Error::shape(format!("Conv2D expects (height, width, channels) inputs, got {input:?}")));
    };
    values("Conv2D", "input", input)?;
    if let [_, _, _, filters] = kernel_shape[..] {
        at_least_one("Conv2D", "filters", filters)?;
    }
    let mut batch_of_one = vec![1];
    batch_of_one.extend_from_slice(input);
    let g = ConvGeometry::new(&batch_of_one, kernel_shape, strides, padding)?;
    weights("Conv2D", kernel_shape)?;
    let output = g.output_shape()[1..].to_vec();
    let outputs = values("Conv2D", "output", &output)?;
    let patches = (g.sample_rows() as u64).checked_mul(g.patch_len() as u64);
    if patches.is_none_or(|n| n > MAX_VALUES as u64) {
        return Err(Error::Model(ModelError::TooLarge {
            layer: "Conv2D",
            what: "values under its windows per sample (its patch matrix)",
            count: patches,
            limit: MAX_VALUES as u64,
        }));
    }
    Ok(LayerSize { output, work: work("Conv2D", outputs, g.patch_len())? })
}

/// A pooling layer (`layer`: its class name) with a window of `pool` on `(height, width,
/// channels)` inputs.
pub fn pool(
    layer: &'static str,
    input: &[usize],
    pool: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
) -> Result<LayerSize> {
    let [h, w, c] = input[..] else {
        return Err(Error::shape(format!("pooling expects (height, width, channels) inputs, got {input:?}")));
    };
    values(layer, "input", input)?;
    let win = Window2D::new((h, w), pool, strides, padding)?;
    let output = vec![win.out_h, win.out_w, c];
    let outputs = values(layer, "output", &output)?;
    Ok(LayerSize { output, work: work(layer, outputs, win.k_h * win.k_w)? })
}

/// A `Flatten` of inputs of any shape.
pub fn flatten(input: &[usize]) -> Result<LayerSize> {
    let count = values("Flatten", "input", input)?;
    Ok(LayerSize { output: vec![count], work: count as u64 })
}

/// A `Dense` layer with an `(inputs, units)` kernel of `kernel_shape` on `(features,)` inputs.
pub fn dense(input: &[usize], kernel_shape: &[usize]) -> Result<LayerSize> {
    let [inputs] = input[..] else {
        return Err(Error::shape(format!(
            "Dense expects flat (features,) inputs, got {input:?}: add a Flatten layer first"
        )));
    };
    values("Dense", "input", input)?;
    let [expected, units] = kernel_shape[..] else {
        return Err(Error::shape(format!("a Dense kernel is 2-D (inputs, units), got {kernel_shape:?}")));
    };
    at_least_one("Dense", "units", units)?;
    if expected != inputs {
        return Err(Error::shape(format!(
            "the kernel expects {expected} inputs but the layer gets {inputs}"
        )));
    }
    weights("Dense", kernel_shape)?;
    let output = vec![units];
    values("Dense", "output", &output)?;
    Ok(LayerSize { output, work: work("Dense", inputs, units)? })
}

/// The layer `spec` describes, on inputs of `input` (per sample): every check above, and a
/// bias of one value per output channel.
pub fn spec(spec: &LayerSpec, input: &[usize]) -> Result<LayerSize> {
    let check_bias = |layer: &str, kernel_shape: &[usize], bias: &[f32]| {
        let outputs = kernel_shape.last().copied().unwrap_or(0);
        if bias.len() != outputs {
            return Err(Error::shape(format!(
                "{layer}: a kernel of shape {kernel_shape:?} needs {outputs} biases, got {}",
                bias.len()
            )));
        }
        Ok(())
    };
    match spec {
        LayerSpec::Conv2D { kernel, bias, strides, padding, .. } => {
            let size = conv2d(input, kernel.shape(), *strides, *padding)?;
            check_bias("Conv2D", kernel.shape(), bias)?;
            Ok(size)
        }
        LayerSpec::MaxPooling2D { pool: p, strides, padding } => {
            pool("MaxPooling2D", input, *p, *strides, *padding)
        }
        LayerSpec::AveragePooling2D { pool: p, strides, padding } => {
            pool("AveragePooling2D", input, *p, *strides, *padding)
        }
        LayerSpec::Flatten => flatten(input),
        LayerSpec::Dense { kernel, bias, .. } => {
            let size = dense(input, kernel.shape())?;
            check_bias("Dense", kernel.shape(), bias)?;
            Ok(size)
        }
    }
}
