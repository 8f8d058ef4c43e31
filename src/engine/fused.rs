//! Running a `Conv2D` ending in a ReLU, computed by the direct loops, and the
//! `MaxPooling2D` after it as one layer, image by image.
//!
//! In the book's model the first layer's output is the largest tensor of a training step:
//! 26×26×32 values per image, 5.5 MB for a batch of 64. Layer by layer, the convolution
//! writes all of it out to memory and the pooling reads it back; in the backward pass the
//! pooling writes a gradient of the same size, which the convolution's kernel gradient reads
//! back. Image by image, those 86 KB stay in a core's cache between the two layers, and never
//! go to memory at all.
//!
//! The [`Plan`](super::Plan) trains the first two layers this way when the convolution is
//! the first layer (so no input gradient is needed) and is trainable. Its predictions run
//! [`forward`] for every such pair, wherever it is in the model. The numbers are the same,
//! bit for bit, as the two layers' own passes give: the same loops run in the same order,
//! only on one image at a time. The convolution's output is never stored, and the outputs
//! the pooling never reads are never computed: the book's second pooling leaves out the last
//! row and column of its 11×11 input, 21 of the 121 pixels. (Predictions may instead compute
//! a 3×3 convolution by Winograd's minimal filtering, [`super::winograd`]: equal to rounding.)

use rayon::prelude::*;

use super::direct;
use super::isa::Isa;
use super::pool::{max_pool_image, scatter_image};
use super::runs::{add_weight_grads_in_order, samples_per_run};
use super::winograd::{self, Scratch, Tiles, Winograd};
use crate::activation::Activation;
use crate::geometry::ConvGeometry;
use crate::shape::Window2D;

// ANCHOR: fused_forward
/// The convolution of geometry `g` with a ReLU, then max pooling over `win`, for the batch
/// `x`, one image at a time: fills the pooling's output `y` and its `argmax`. Only the
/// convolution's outputs that the pooling reads are computed, by the direct loops, or, to
/// predict, by Winograd's ([`super::winograd`]) if `winograd` and the convolution is one
/// they compute.
#[allow(clippy::too_many_arguments)] // both layers' operands
pub fn forward(
    g: &ConvGeometry,
    win: &Window2D,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    y: &mut [f32],
    argmax: &mut [u32],
    winograd: bool,
) {
    let (x_len, z_len) = (g.sample_input_len(), g.sample_output_len());
    let y_len = win.out_h * win.out_w * g.out_c;
    if x_len == 0 || y_len == 0 {
        return;
    }
    let winograd = winograd && winograd::applies(g);
    let transformed = if winograd { winograd::transform_kernel(g, kernel) } else { Vec::new() };
    let conv = if winograd {
        OneImage::Winograd(Box::new(Winograd::new(Isa::current(), g, Tiles::read_by(g, win), &transformed)))
    } else {
        let kernel = direct::ForwardKernel::new(Isa::current(), g, kernel);
        OneImage::Direct(direct::Windows::read_by(g, win), kernel)
    };
    let per_run = samples_per_run(g.batch);
    let runs = x.par_chunks(per_run * x_len).zip(y.par_chunks_mut(per_run * y_len));
    runs.zip(argmax.par_chunks_mut(per_run * y_len)).for_each(|((x, y), argmax)| {
        // One image's convolution output: written, pooled, and overwritten by the next.
        let (mut z, mut scratch) = (vec![0.0; z_len], conv.scratch());
        let images = x.chunks_exact(x_len).zip(y.chunks_exact_mut(y_len));
        for ((x, y), argmax) in images.zip(argmax.chunks_exact_mut(y_len)) {
            conv.forward_image(g, x, bias, &mut scratch, &mut z);
            max_pool_image(win, g.out_c, &z, y, argmax);
        }
    });
}

/// The loops that compute one image's convolution (with its ReLU) in [`forward`].
enum OneImage<'a> {
    Direct(direct::Windows, direct::ForwardKernel<'a>),
    Winograd(Box<Winograd<'a>>),
}

impl OneImage<'_> {
    /// Room for one thread's images (the direct loops need none).
    fn scratch(&self) -> Scratch {
        match self {
            OneImage::Direct(..) => Scratch::default(),
            OneImage::Winograd(w) => w.scratch(),
        }
    }

    /// `z = relu(conv(x, kernel) + bias)` for one image, at the pixels the pooling reads.
    fn forward_image(&self, g: &ConvGeometry, x: &[f32], bias: &[f32], scratch: &mut Scratch, z: &mut [f32]) {
        match self {
            OneImage::Direct(windows, kernel) => {
                direct::forward_image(g, windows, x, kernel, bias, Activation::Relu, z)
            }
            OneImage::Winograd(w) => w.forward_image(x, bias, scratch, z),
        }
    }
}
// ANCHOR_END: fused_forward

// ANCHOR: fused_backward
/// The convolution's weight gradients (added to `dkernel` and `dbias`) after [`forward`],
/// given `dy`, the gradient at the pooling's output `y`: a pass at a time, the pooling sends
/// `dy` to its winners (and through the ReLU) and the direct loops add that pass's kernel
/// and bias gradients.
#[allow(clippy::too_many_arguments)] // both layers' operands
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    y: &[f32],
    argmax: &[u32],
    dy: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (x_len, z_len, y_len) = (g.sample_input_len(), g.sample_output_len(), y.len() / g.batch.max(1));
    if x_len == 0 || z_len == 0 || y_len == 0 {
        return;
    }
    // The same runs and passes as `direct::kernel_gradient`, so the same sums in the same order.
    let (per_run, per_pass) = (samples_per_run(g.batch), direct::images_per_pass(g));
    let windows = direct::Windows::new(g);
    let runs = x.par_chunks(per_run * x_len).zip(dy.par_chunks(per_run * y_len));
    let winners = argmax.par_chunks(per_run * y_len).zip(y.par_chunks(per_run * y_len));
    let sums: Vec<Vec<f32>> = runs
        .zip(winners)
        .map(|((x, dy), (argmax, y))| {
            let mut sums = vec![0.0; dkernel.len() + dbias.len()];
            let (dk, db) = sums.split_at_mut(dkernel.len());
            let mut dz = vec![0.0; per_pass * z_len];
            let passes = x.chunks(per_pass * x_len).zip(dy.chunks(per_pass * y_len));
            for ((x, dy), (argmax, y)) in
                passes.zip(argmax.chunks(per_pass * y_len).zip(y.chunks(per_pass * y_len)))
            {
                let images = x.len() / x_len;
                let dz = &mut dz[..images * z_len];
                let outputs =
                    dy.chunks_exact(y_len).zip(argmax.chunks_exact(y_len)).zip(y.chunks_exact(y_len));
                for (((dy, argmax), y), dz) in outputs.zip(dz.chunks_exact_mut(z_len)) {
                    scatter_image(dy, argmax, y, true, dz);
                }
                direct::kernel_gradient_images(&g.with_batch(images), &windows, x, dz, dk, db);
            }
            sums
        })
        .collect();
    add_weight_grads_in_order(sums.iter().map(Vec::as_slice), dkernel, dbias);
}
// ANCHOR_END: fused_backward
