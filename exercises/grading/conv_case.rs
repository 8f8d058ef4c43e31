//! Convolution cases: an input, a kernel, a bias, strides and padding, drawn at random or
//! taken from the book, described in words, and the slips a student's output may show.

use std::fmt::{self, Debug};

use convnets::padding::{pads_1d, zero_pad};
use convnets::{Padding, Pads, Tensor};
use proptest::prelude::*;

use super::{dims, padding_name, quarters, reference, tensor};

/// One convolution to grade.
#[derive(Clone)]
pub struct ConvCase {
    /// NHWC input.
    pub x: Tensor,
    /// HWIO kernel.
    pub kernel: Tensor,
    /// One bias per filter.
    pub bias: Vec<f32>,
    /// `(vertical, horizontal)` step between windows.
    pub strides: (usize, usize),
    /// `valid` or `same`.
    pub padding: Padding,
}

impl Debug for ConvCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ConvCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [kh, kw, c, filters] = self.kernel.shape()[..] else { unreachable!("HWIO") };
        write!(
            f,
            "a {} input (batch×height×width×channels), a {kh}×{kw} kernel over {c} input channel{} \
             with {filters} filter{}, strides {:?}, `{}` padding",
            dims(self.x.shape()),
            if c == 1 { "" } else { "s" },
            if filters == 1 { "" } else { "s" },
            self.strides,
            padding_name(self.padding)
        )?;
        if self.x.len() <= 36 && self.kernel.len() <= 9 {
            write!(
                f,
                " (x = {:?}, kernel = {:?}, bias = {:?})",
                self.x.data(),
                self.kernel.data(),
                self.bias
            )?;
        }
        Ok(())
    }
}

impl ConvCase {
    /// A case from its parts.
    pub fn new(
        x: Tensor,
        kernel: Tensor,
        bias: Vec<f32>,
        strides: (usize, usize),
        padding: Padding,
    ) -> ConvCase {
        ConvCase { x, kernel, bias, strides, padding }
    }

    /// The kernel's height and width.
    pub fn kernel_hw(&self) -> (usize, usize) {
        (self.kernel.shape()[0], self.kernel.shape()[1])
    }

    /// The reference output.
    pub fn forward(&self) -> Tensor {
        reference::conv2d(&self.x, &self.kernel, &self.bias, self.strides, self.padding)
    }

    /// The same case with another kernel and bias.
    pub fn with_kernel(&self, kernel: Tensor, bias: Vec<f32>) -> ConvCase {
        ConvCase { kernel, bias, ..self.clone() }
    }

    /// Known slips of a forward pass, each with the output it would give.
    pub fn forward_slips(&self) -> Vec<(&'static str, Vec<f32>)> {
        let [kh, kw, c, f] = self.kernel.shape()[..] else { unreachable!("HWIO") };
        let k = self.kernel.data();
        let mut slips = Vec::new();
        if self.bias.iter().any(|&b| b != 0.0) {
            let no_bias = self.with_kernel(self.kernel.clone(), vec![0.0; f]);
            slips.push((
                "the bias is missing: each sum starts at its filter's bias",
                no_bias.forward().into_data(),
            ));
        }
        // The kernel turned by 180°: a mathematician's convolution.
        let mut flipped = vec![0.0; k.len()];
        for (i, v) in flipped.iter_mut().enumerate() {
            let (a, b, rest) = (i / (kw * c * f), i / (c * f) % kw, i % (c * f));
            *v = k[((kh - 1 - a) * kw + (kw - 1 - b)) * c * f + rest];
        }
        slips.push((
            "the kernel turned by 180° (a mathematician's convolution): deep-learning libraries compute a \
             cross-correlation, window cell (kh, kw) times kernel (kh, kw)",
            self.with_kernel(tensor(self.kernel.shape(), flipped), self.bias.clone()).forward().into_data(),
        ));
        if c > 1 && f > 1 {
            // Read as HWOI: input channel and filter swapped in the kernel index.
            let mut swapped = vec![0.0; k.len()];
            for (i, v) in swapped.iter_mut().enumerate() {
                let (pix, ci, co) = (i / (c * f), i / f % c, i % f);
                *v = k[pix * c * f + co * c + ci];
            }
            slips.push((
                "the kernel read with input channel and filter swapped: HWIO puts kernel[kh][kw][ci][co] at \
                 ((kh·KW + kw)·C + ci)·F + co",
                self.with_kernel(tensor(self.kernel.shape(), swapped), self.bias.clone())
                    .forward()
                    .into_data(),
            ));
        }
        if self.padding == Padding::Same {
            let (h, w) = (self.x.shape()[1], self.x.shape()[2]);
            let (top, bottom) = pads_1d(Padding::Same, h, kh, self.strides.0);
            let (left, right) = pads_1d(Padding::Same, w, kw, self.strides.1);
            let after = Pads { top: 0, bottom: top + bottom, left: 0, right: left + right };
            let before = Pads { top: top + bottom, bottom: 0, left: left + right, right: 0 };
            let swapped = Pads { top: bottom, bottom: top, left: right, right: left };
            for (pads, slip) in [
                (after, "all the padding after the image: by TensorFlow's rule, total / 2 zeros go before"),
                (swapped, "the extra zero before the image: TensorFlow puts it after (bottom and right)"),
                (
                    before,
                    "all the padding before the image: TensorFlow puts total / 2 before, the rest after",
                ),
            ] {
                if pads != (Pads { top, bottom, left, right }) {
                    let padded = zero_pad(&self.x, pads).expect("a 4-D input");
                    let y =
                        reference::conv2d(&padded, &self.kernel, &self.bias, self.strides, Padding::Valid);
                    slips.push((slip, y.into_data()));
                }
            }
        }
        slips
    }

    /// The arithmetic of output `(n, oh, ow, co)`, term by term when it is short.
    pub fn explain_value(&self, n: usize, oh: usize, ow: usize, co: usize) -> String {
        let g = reference::geometry(&self.x, &self.kernel, self.strides, self.padding);
        let w = g.window;
        let mut terms = Vec::new();
        for kh in 0..w.k_h {
            for kw in 0..w.k_w {
                let (Some(ih), Some(iw)) = (w.input_row(oh, kh), w.input_col(ow, kw)) else { continue };
                for ci in 0..g.in_c {
                    let xv = self.x.get(&[n, ih, iw, ci]).expect("inside");
                    let kv = self.kernel.get(&[kh, kw, ci, co]).expect("inside");
                    terms.push(format!("{xv}·{kv}"));
                }
            }
        }
        let (top, left) = (oh * w.stride_h, ow * w.stride_w);
        let place = if w.pads == Pads::default() {
            format!("input rows {top}..{} and columns {left}..{}", top + w.k_h, left + w.k_w)
        } else {
            format!(
                "padded rows {top}..{} and columns {left}..{} (the padding adds {} rows on top and {} columns on the \
                 left; its cells add nothing)",
                top + w.k_h,
                left + w.k_w,
                w.pads.top,
                w.pads.left
            )
        };
        let mut text = format!("filter {co} over the window of image {n} at {place}");
        if terms.len() <= 12 {
            let sum = if terms.is_empty() { String::new() } else { format!(" + {}", terms.join(" + ")) };
            text += &format!(": bias {}{sum} (x·kernel, cell by cell, channels fastest)", self.bias[co]);
        }
        text
    }
}

/// Convolution cases: batch 1–2, heights and widths 1–8, kernels 1–4 (rectangular too),
/// 1–3 input channels and filters, strides up to `max_stride` (so larger than the kernel
/// too), any of `paddings`. Values are multiples of 1/4, so sums are exact in any order.
pub fn conv_cases(max_stride: usize, paddings: &[Padding]) -> BoxedStrategy<ConvCase> {
    let shapes = (
        1..=2usize,
        1..=8usize,
        1..=8usize,
        1..=4usize,
        1..=4usize,
        1..=3usize,
        1..=3usize,
        1..=max_stride,
        1..=max_stride,
        proptest::sample::select(paddings.to_vec()),
    );
    shapes
        .prop_flat_map(|(batch, h, w, kh, kw, c, f, sh, sw, padding)| {
            // With `valid` padding the kernel must fit.
            let (kh, kw) = if padding == Padding::Valid { (kh.min(h), kw.min(w)) } else { (kh, kw) };
            (quarters(batch * h * w * c), quarters(kh * kw * c * f), quarters(f)).prop_map(
                move |(x, k, b)| {
                    ConvCase::new(
                        tensor(&[batch, h, w, c], x),
                        tensor(&[kh, kw, c, f], k),
                        b,
                        (sh, sw),
                        padding,
                    )
                },
            )
        })
        .boxed()
}
