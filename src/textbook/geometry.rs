//! The sizes of one convolution, in one plain-data struct that every implementation of it
//! (the naive loops, im2col, the direct loops) is handed.

use crate::error::{Error, Result};
use crate::padding::Padding;
use crate::shape::Window2D;

/// Everything the convolution loops need to know about the sizes involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Number of images in the batch.
    pub batch: usize,
    /// Input channels (the kernel's `I`).
    pub in_c: usize,
    /// Output channels: the number of filters (the kernel's `O`).
    pub out_c: usize,
    /// The window of one filter over one image.
    pub window: Window2D,
}

impl ConvGeometry {
    /// The geometry of convolving an NHWC `input_shape` with an HWIO `kernel_shape`.
    pub fn new(
        input_shape: &[usize],
        kernel_shape: &[usize],
        strides: (usize, usize),
        padding: Padding,
    ) -> Result<ConvGeometry> {
        let [batch, in_h, in_w, in_c] = input_shape[..] else {
            return Err(Error::shape(format!(
                "Conv2D expects a 4-D (batch, height, width, channels) input, got {input_shape:?}"
            )));
        };
        let [k_h, k_w, k_in, out_c] = kernel_shape[..] else {
            return Err(Error::shape(format!(
                "a Conv2D kernel is 4-D (height, width, in_channels, filters), got {kernel_shape:?}"
            )));
        };
        if k_in != in_c {
            return Err(Error::shape(format!(
                "the kernel expects {k_in} input channels but the input has {in_c}"
            )));
        }
        let window = Window2D::new((in_h, in_w), (k_h, k_w), strides, padding)?;
        Ok(ConvGeometry { batch, in_c, out_c, window })
    }

    /// The NHWC shape of the input.
    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.window.in_h, self.window.in_w, self.in_c]
    }

    /// The NHWC shape of the output.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.window.out_h, self.window.out_w, self.out_c]
    }

    /// Output positions of the whole batch: `batch · out_h · out_w`.
    pub fn patch_rows(&self) -> usize {
        self.batch * self.sample_rows()
    }

    /// Output positions per sample: `out_h · out_w`.
    pub fn sample_rows(&self) -> usize {
        self.window.out_h * self.window.out_w
    }

    /// Values under one window, which is also the kernel weights of one filter:
    /// `k_h · k_w · in_c`.
    pub fn patch_len(&self) -> usize {
        self.window.k_h * self.window.k_w * self.in_c
    }

    /// Input values per sample: `in_h · in_w · in_c`.
    pub fn sample_input_len(&self) -> usize {
        self.window.in_h * self.window.in_w * self.in_c
    }

    /// Output values per sample: `out_h · out_w · out_c`.
    pub fn sample_output_len(&self) -> usize {
        self.sample_rows() * self.out_c
    }

    /// The same convolution over `batch` samples.
    pub fn with_batch(&self, batch: usize) -> ConvGeometry {
        ConvGeometry { batch, ..*self }
    }
}
