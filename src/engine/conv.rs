//! Which loops compute a convolution, chosen once per layer when a [`Plan`](super::Plan) is
//! built, and the one place that runs the chosen loops.

use super::im2col::{self, ForwardPass, Gradients, WeightGradients, Workspace};
use super::isa::Isa;
use super::{direct, winograd};
use crate::activation::Activation;
use crate::conv::naive;
use crate::geometry::ConvGeometry;

// ANCHOR: algorithm
/// How the engine computes a convolution: the caller's choice. All give the same numbers
/// (tested equal, up to the order in which f32 sums are added; `Auto`'s predictions up to
/// the roundings of Winograd's transforms, see [`ConvAlgorithm::predicts_by_winograd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConvAlgorithm {
    /// The textbook's nested loops ([`naive`]): the reference, easy to follow, slow.
    #[value(help = "The textbook's nested loops: the reference, easy to follow, slow")]
    Naive,
    /// Patch matrix + matrix multiplication ([`im2col`]): fast when each output is a long
    /// dot product.
    #[value(help = "Patch matrix + matrix multiplication: fast when each output is a long dot product")]
    Im2col,
    /// The loops reordered to keep the sums of a few pixels × a block of filters in
    /// registers ([`direct`]), reading the windows straight from the image: no patch matrix.
    /// The kernel and bias gradients are computed the same way, and so is the input
    /// gradient on processors with AVX2 when the input channels come in eights (each output
    /// pixel's gradient sent back through the kernel); elsewhere the input gradient is
    /// im2col's (`dz · kernelᵀ` and col2im, which need no patch matrix).
    #[value(help = "A few pixels x a block of filters summed in registers, the windows read straight from \
                    the image (no patch matrix); the gradients too (the input gradient with AVX2, for channels in eights)")]
    Direct,
    /// [`ConvAlgorithm::Direct`] when a window holds no more values than there are filters
    /// (the book's first layer: 9 against 32), or when the processor has the vector
    /// instructions the direct loops are blocked for ([`Isa`]) and enough filters to fill
    /// their blocks: 16 with AVX2, 32 with AVX-512 (all of the book's layers either way);
    /// otherwise [`ConvAlgorithm::Im2col`]. The faster of the two in each case, as measured
    /// with `cargo bench`. Predictions compute a 3×3 convolution run with its pooling by
    /// Winograd's minimal filtering ([`ConvAlgorithm::predicts_by_winograd`]).
    #[default]
    #[value(help = "Direct where the layer has the filters to fill its blocks (16 with AVX2, 32 with \
                    AVX-512, or as many as a window's values), else im2col: the faster, measured with cargo bench")]
    Auto,
}

/// The loops that compute one convolution: [`ConvAlgorithm`] resolved for a geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKernel {
    /// [`ConvAlgorithm::Naive`].
    Naive,
    /// [`ConvAlgorithm::Im2col`].
    Im2col,
    /// [`ConvAlgorithm::Direct`].
    Direct,
}

impl ConvAlgorithm {
    /// The loops to use for geometry `g` (its batch size does not matter).
    pub fn resolve(self, g: &ConvGeometry) -> ConvKernel {
        match self {
            ConvAlgorithm::Naive => ConvKernel::Naive,
            ConvAlgorithm::Im2col => ConvKernel::Im2col,
            ConvAlgorithm::Direct => ConvKernel::Direct,
            ConvAlgorithm::Auto if g.patch_len() <= g.out_c => ConvKernel::Direct,
            ConvAlgorithm::Auto if Isa::current() == Isa::Avx512 && g.out_c >= 32 => ConvKernel::Direct,
            ConvAlgorithm::Auto if Isa::current() == Isa::Avx2 && g.out_c >= 16 => ConvKernel::Direct,
            ConvAlgorithm::Auto => ConvKernel::Im2col,
        }
    }
}
// ANCHOR_END: algorithm

impl ConvAlgorithm {
    /// Whether predictions compute a convolution of geometry `g`, run with the max pooling
    /// after it, by Winograd's minimal filtering ([`super::winograd`]) rather than the direct
    /// loops: with [`ConvAlgorithm::Auto`], for 3×3 windows with stride 1 and at least 16
    /// input channels and filters (the book's second layer), where it measured faster.
    pub fn predicts_by_winograd(self, g: &ConvGeometry) -> bool {
        self == ConvAlgorithm::Auto && winograd::applies(g) && g.in_c >= 16 && g.out_c >= 16
    }
}

impl ConvKernel {
    /// `y = activation(conv(x, kernel) + bias)`.
    #[allow(clippy::too_many_arguments)] // the convolution's operands, and its scratch space
    pub fn forward(
        self,
        ws: &mut Workspace,
        g: &ConvGeometry,
        x: &[f32],
        kernel: &[f32],
        bias: &[f32],
        activation: Activation,
        y: &mut [f32],
    ) {
        match self {
            ConvKernel::Naive => {
                naive::forward(g, x, kernel, bias, y);
                activation.apply(y, g.out_c);
            }
            ConvKernel::Direct => direct::forward(g, x, kernel, bias, activation, y),
            ConvKernel::Im2col => im2col::forward_with(ws, g, x, kernel, bias, activation, y),
        }
    }

    /// The gradients of a forward pass that read `seen.input` and wrote `seen.output`, given
    /// `dy` at that output (after `seen.activation`; pass `Linear` when `dy` is already taken
    /// before it). Fills the wanted `grads` (weight gradients are added to, `dx` is
    /// overwritten); `dz` is scratch space.
    #[allow(clippy::too_many_arguments)] // the convolution's operands, and its scratch space
    pub fn backward(
        self,
        ws: &mut Workspace,
        g: &ConvGeometry,
        kernel: &[f32],
        seen: ForwardPass<'_>,
        dy: &[f32],
        dz: &mut Vec<f32>,
        grads: Gradients<'_>,
    ) {
        match self {
            // im2col takes the activation's gradient tile by tile, while in cache.
            ConvKernel::Im2col => im2col::backward_with(ws, g, kernel, seen, dy, grads),
            ConvKernel::Naive | ConvKernel::Direct => {
                let dz = if seen.activation == Activation::Linear {
                    dy
                } else {
                    dz.resize(dy.len(), 0.0);
                    seen.activation.backward(seen.output, dy, dz, g.out_c);
                    dz
                };
                self.backward_linear(ws, g, kernel, seen.input, dz, grads);
            }
        }
    }

    /// [`ConvKernel::backward`] for the naive and direct loops, from `dz` before the
    /// activation.
    fn backward_linear(
        self,
        ws: &mut Workspace,
        g: &ConvGeometry,
        kernel: &[f32],
        x: &[f32],
        dz: &[f32],
        grads: Gradients<'_>,
    ) {
        let Gradients { dx, weights } = grads;
        if self == ConvKernel::Naive {
            // The reference loops compute all three at once.
            let (mut dk, mut db) = (vec![0.0; kernel.len()], vec![0.0; g.out_c]);
            let mut dx_all = vec![0.0; g.batch * g.sample_input_len()];
            naive::backward(g, x, kernel, dz, &mut dx_all, &mut dk, &mut db);
            if let Some(dx) = dx {
                dx.copy_from_slice(&dx_all);
            }
            if let Some(WeightGradients { dkernel, dbias }) = weights {
                dkernel.iter_mut().zip(&dk).for_each(|(a, b)| *a += b);
                dbias.iter_mut().zip(&db).for_each(|(a, b)| *a += b);
            }
            return;
        }
        if let Some(WeightGradients { dkernel, dbias }) = weights {
            direct::kernel_gradient(g, x, dz, dkernel, dbias);
        }
        match dx {
            // Where its blocks take every input channel the direct input gradient beats
            // im2col's (`cargo bench`); elsewhere (a layer with 1 or 3 input channels, or a
            // processor without AVX2) im2col's `dz · kernelᵀ` and col2im do it.
            Some(dx) if direct::input_gradient_is_blocked(g) => direct::input_gradient(g, kernel, dz, dx),
            Some(dx) => {
                let seen = ForwardPass { input: x, output: dz, activation: Activation::Linear };
                im2col::backward_with(ws, g, kernel, seen, dz, Gradients { dx: Some(dx), weights: None });
            }
            None => {}
        }
    }
}
