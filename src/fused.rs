//! Training a model's first two layers as one, image by image: a `Conv2D` ending in a ReLU,
//! computed by the direct loops, and the `MaxPooling2D` after it.
//!
//! In the book's model the first layer's output is the largest tensor of a training step:
//! 26×26×32 values per image, 5.5 MB for a batch of 64. Layer by layer, the convolution
//! writes all of it out to memory and the pooling reads it back; in the backward pass the
//! pooling writes a gradient of the same size, which the convolution's kernel gradient reads
//! back. Image by image, those 86 KB stay in a core's cache between the two layers, and never
//! go to memory at all.
//!
//! [`Sequential::compute_gradients`](crate::Sequential::compute_gradients) trains the pair
//! this way when the convolution is the first layer (so no input gradient is needed) and is
//! trainable. The numbers are the same, bit for bit, as the two layers' own passes give: the
//! same loops run in the same order, only on one image at a time. Afterwards the pooling
//! layer holds what its own forward pass would have left; the convolution holds its input
//! and weight gradients but not its output, which is never stored.

use rayon::prelude::*;

use crate::activation::Activation;
use crate::conv::im2col::samples_per_run;
use crate::conv::{Conv2D, ConvGeometry, direct};
use crate::error::Result;
use crate::layer::check_grad_shape;
use crate::pool::{MaxPooling2D, max_pool_image, scatter_image};
use crate::tensor::Tensor;

// ANCHOR: fused_forward
/// The forward pass of `conv` (geometry `g`, from
/// [`Conv2D::direct_relu_geometry`]) and then `pool` over the batch `x`, one image at a
/// time: returns the pooling's output.
pub(crate) fn forward<'a>(
    conv: &mut Conv2D,
    pool: &'a mut MaxPooling2D,
    x: &Tensor,
    g: ConvGeometry,
) -> Result<&'a Tensor> {
    let (kernel, bias) = conv.start_forward(x, g)?;
    let (win, y, argmax) = pool.start_forward(&g.output_shape())?;
    let (x_len, z_len) = (g.sample_input_len(), g.sample_output_len());
    let y_len = win.out_h * win.out_w * g.out_c;
    if x_len == 0 || y_len == 0 {
        return Ok(pool.winners().0);
    }
    let per_run = samples_per_run(g.batch);
    let runs = x.data().par_chunks(per_run * x_len).zip(y.par_chunks_mut(per_run * y_len));
    runs.zip(argmax.par_chunks_mut(per_run * y_len)).for_each(|((x, y), argmax)| {
        // One image's convolution output: written, pooled, and overwritten by the next.
        let mut z = vec![0.0; z_len];
        let images = x.chunks_exact(x_len).zip(y.chunks_exact_mut(y_len));
        for ((x, y), argmax) in images.zip(argmax.chunks_exact_mut(y_len)) {
            direct::forward_image(&g, x, kernel, bias, Activation::Relu, &mut z);
            max_pool_image(&win, g.out_c, &z, y, argmax);
        }
    });
    Ok(pool.winners().0)
}
// ANCHOR_END: fused_forward

// ANCHOR: fused_backward
/// The weight gradients of `conv` after [`forward`], given `dy`, the gradient at `pool`'s
/// output: a pass at a time, the pooling sends `dy` to its winners (and through the ReLU)
/// and the direct loops add that pass's kernel and bias gradients.
pub(crate) fn backward(conv: &mut Conv2D, pool: &MaxPooling2D, g: ConvGeometry, dy: &Tensor) -> Result<()> {
    let (y, argmax) = pool.winners();
    check_grad_shape("MaxPooling2D", dy, y.shape())?;
    let (x, dkernel, dbias) = conv.start_weight_gradients()?;
    let (x_len, z_len, y_len) = (g.sample_input_len(), g.sample_output_len(), y.len() / g.batch.max(1));
    if x_len == 0 || z_len == 0 || y_len == 0 {
        return Ok(());
    }
    // The same runs and passes as `direct::kernel_gradient`, so the same sums in the same order.
    let (per_run, per_pass) = (samples_per_run(g.batch), direct::images_per_pass(&g));
    let runs = x.par_chunks(per_run * x_len).zip(dy.data().par_chunks(per_run * y_len));
    let winners = argmax.par_chunks(per_run * y_len).zip(y.data().par_chunks(per_run * y_len));
    let sums: Vec<(Vec<f32>, Vec<f32>)> = runs
        .zip(winners)
        .map(|((x, dy), (argmax, y))| {
            let (mut dk, mut db) = (vec![0.0; dkernel.len()], vec![0.0; dbias.len()]);
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
                direct::kernel_gradient_images(&ConvGeometry { batch: images, ..g }, x, dz, &mut dk, &mut db);
            }
            (dk, db)
        })
        .collect();
    direct::add_in_run_order(sums, dkernel, dbias);
    Ok(())
}
// ANCHOR_END: fused_backward
