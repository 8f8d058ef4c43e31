//! Random convolutions for the property tests that hold the engine's convolutions against the
//! textbook's naive loops (`tests/im2col.rs`, `tests/direct.rs`, `tests/boundary.rs`), and two
//! ways to run a case: through the textbook's `Conv2D` layer, or through one of the engine's
//! `ConvKernel`s wrapped as a layer of its own (so the gradient check can test it too).
#![allow(dead_code)]

use std::ops::Range;

use convnets::conv::ConvGeometry;
use convnets::engine::ConvKernel;
use convnets::engine::im2col::{ForwardPass, Gradients, WeightGradients, Workspace};
use convnets::init::Init;
use convnets::layer::Param;
use convnets::{Activation, Conv2D, Layer, Padding, Tensor};
use proptest::prelude::*;

/// Tolerance against the naive loops: 1e-5 absolute + 1e-4 relative. A fast algorithm sums
/// the same products in another order (and with fused multiply-adds), which moves f32
/// results by a few units in the last place.
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

/// A random geometry with inputs, kernel, bias and output gradient in [-1, 1].
#[derive(Debug, Clone)]
pub struct Case {
    pub g: ConvGeometry,
    pub x: Vec<f32>,
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
    pub dy: Vec<f32>,
}

/// Cases of 1–3 images up to 9×9, 1–4 channels, windows up to 4×4, strides up to 3, `valid`
/// or `same`, with a number of filters drawn from `filters`.
pub fn case(filters: Range<usize>) -> impl Strategy<Value = Case> {
    (
        1usize..4,
        1usize..10,
        1usize..10,
        1usize..5,
        filters,
        1usize..5,
        1usize..5,
        1usize..4,
        1usize..4,
        any::<bool>(),
    )
        .prop_filter_map("the window must fit", |(n, h, w, c, f, kh, kw, sh, sw, same)| {
            let padding = if same { Padding::Same } else { Padding::Valid };
            ConvGeometry::new(&[n, h, w, c], &[kh, kw, c, f], (sh, sw), padding).ok()
        })
        .prop_flat_map(|g| {
            let sizes = (
                g.batch * g.sample_input_len(),
                g.patch_len() * g.out_c,
                g.out_c,
                g.batch * g.sample_output_len(),
            );
            let v = |len| prop::collection::vec(-1.0f32..1.0, len);
            (v(sizes.0), v(sizes.1), v(sizes.2), v(sizes.3)).prop_map(move |(x, kernel, bias, dy)| Case {
                g,
                x,
                kernel,
                bias,
                dy,
            })
        })
}

/// The case's input as a tensor.
pub fn input(c: &Case) -> Tensor {
    Tensor::new(&c.g.input_shape(), c.x.clone()).unwrap()
}

/// The case's output gradient as a tensor.
pub fn output_grad(c: &Case) -> Tensor {
    Tensor::new(&c.g.output_shape(), c.dy.clone()).unwrap()
}

/// The case's HWIO kernel as a tensor.
fn kernel_tensor(c: &Case) -> Tensor {
    let w = c.g.window;
    Tensor::new(&[w.k_h, w.k_w, c.g.in_c, c.g.out_c], c.kernel.clone()).unwrap()
}

/// The padding the case's geometry was made with.
fn padding(c: &Case) -> Padding {
    if c.g.window.pads == Default::default() { Padding::Valid } else { Padding::Same }
}

/// The textbook's `Conv2D` layer with the case's kernel, bias, strides and padding.
pub fn textbook_layer(c: &Case, activation: Activation) -> Conv2D {
    let w = c.g.window;
    Conv2D::with_weights(kernel_tensor(c), c.bias.clone())
        .unwrap()
        .strides((w.stride_h, w.stride_w))
        .padding(padding(c))
        .activation(activation)
}

/// What one forward and one backward pass of a convolution give.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub y: Vec<f32>,
    pub dx: Vec<f32>,
    pub dkernel: Vec<f32>,
    pub dbias: Vec<f32>,
}

impl Run {
    /// Asserts that every part is within `atol + rtol·|expected|` of `expected`'s.
    #[track_caller]
    pub fn assert_close_to(&self, expected: &Run, atol: f32, rtol: f32) {
        convnets::testing::assert_close(&self.y, &expected.y, atol, rtol);
        convnets::testing::assert_close(&self.dx, &expected.dx, atol, rtol);
        convnets::testing::assert_close(&self.dkernel, &expected.dkernel, atol, rtol);
        convnets::testing::assert_close(&self.dbias, &expected.dbias, atol, rtol);
    }
}

/// Runs `layer` forward on the case's input and backward from the case's `dy` (taken after
/// the activation).
pub fn run_layer(layer: &mut dyn Layer, c: &Case) -> Run {
    let y = layer.forward(&input(c)).unwrap().data().to_vec();
    let dx = layer.backward(&output_grad(c)).unwrap().data().to_vec();
    let params = layer.params();
    let (dkernel, dbias) = (params[0].grad.to_vec(), params[1].grad.to_vec());
    Run { y, dx, dkernel, dbias }
}

/// The textbook's `Conv2D` on the case: its output and its three gradients.
pub fn run_textbook(c: &Case, activation: Activation) -> Run {
    run_layer(&mut textbook_layer(c, activation), c)
}

/// The engine's `kernel` on the case: its output and its three gradients.
pub fn run_engine(c: &Case, activation: Activation, kernel: ConvKernel) -> Run {
    run_layer(&mut EngineConv::new(c, activation, kernel), c)
}

/// One of the engine's convolution kernels as a `Layer`: `ConvKernel::forward` and
/// `ConvKernel::backward` with their workspace kept from one to the other, as the engine's
/// training plan calls them. Its gradients are what the plan would compute for this layer.
pub struct EngineConv {
    loops: ConvKernel,
    g: ConvGeometry,
    activation: Activation,
    kernel: Vec<f32>,
    bias: Vec<f32>,
    dkernel: Vec<f32>,
    dbias: Vec<f32>,
    ws: Workspace,
    input: Tensor,
    output: Tensor,
    dx: Tensor,
    dz: Vec<f32>,
}

impl EngineConv {
    /// The case's convolution computed by `loops`.
    pub fn new(c: &Case, activation: Activation, loops: ConvKernel) -> EngineConv {
        EngineConv {
            loops,
            g: c.g,
            activation,
            kernel: c.kernel.clone(),
            bias: c.bias.clone(),
            dkernel: vec![0.0; c.kernel.len()],
            dbias: vec![0.0; c.bias.len()],
            ws: Workspace::default(),
            input: Tensor::default(),
            output: Tensor::default(),
            dx: Tensor::default(),
            dz: Vec::new(),
        }
    }

    /// The weight gradients only (no `dx`, as for the first layer of a model), from `dy` taken
    /// after the activation or, with `before_activation`, before it (as when a max pooling
    /// folded a ReLU in). Needs a `forward` first.
    pub fn weight_gradients(&mut self, dy: &[f32], before_activation: bool) -> (Vec<f32>, Vec<f32>) {
        let activation = if before_activation { Activation::Linear } else { self.activation };
        let seen = ForwardPass { input: self.input.data(), output: self.output.data(), activation };
        let (mut dkernel, mut dbias) = (vec![0.0; self.kernel.len()], vec![0.0; self.bias.len()]);
        let weights = Some(WeightGradients { dkernel: &mut dkernel, dbias: &mut dbias });
        let g = self.g.with_batch(self.input.shape()[0]);
        self.loops.backward(
            &mut self.ws,
            &g,
            &self.kernel,
            seen,
            dy,
            &mut self.dz,
            Gradients { dx: None, weights },
        );
        (dkernel, dbias)
    }
}

impl Layer for EngineConv {
    fn kind(&self) -> &'static str {
        "engine_conv"
    }

    fn class_name(&self) -> &'static str {
        "EngineConv"
    }

    fn build(&mut self, _: &[usize], _: &mut Init) -> convnets::Result<Vec<usize>> {
        Ok(self.g.output_shape()[1..].to_vec())
    }

    fn param_count(&self) -> usize {
        self.kernel.len() + self.bias.len()
    }

    fn forward(&mut self, x: &Tensor) -> convnets::Result<&Tensor> {
        let g = self.g.with_batch(x.shape()[0]);
        assert_eq!(x.shape(), g.input_shape(), "EngineConv: an input of another geometry");
        // The output starts as NaN: the kernel must write every value.
        self.output = Tensor::new(&g.output_shape(), vec![f32::NAN; g.batch * g.sample_output_len()])?;
        self.loops.forward(
            &mut self.ws,
            &g,
            x.data(),
            &self.kernel,
            &self.bias,
            self.activation,
            self.output.data_mut(),
        );
        self.input = x.clone();
        Ok(&self.output)
    }

    fn backward(&mut self, dy: &Tensor) -> convnets::Result<&Tensor> {
        assert_eq!(dy.shape(), self.output.shape(), "EngineConv: a gradient of another shape");
        let g = self.g.with_batch(self.input.shape()[0]);
        let seen =
            ForwardPass { input: self.input.data(), output: self.output.data(), activation: self.activation };
        self.dkernel.fill(0.0);
        self.dbias.fill(0.0);
        // `dx` starts as NaN: the kernel must overwrite every value.
        self.dx = Tensor::new(&g.input_shape(), vec![f32::NAN; self.input.len()])?;
        let weights = Some(WeightGradients { dkernel: &mut self.dkernel, dbias: &mut self.dbias });
        let grads = Gradients { dx: Some(self.dx.data_mut()), weights };
        self.loops.backward(&mut self.ws, &g, &self.kernel, seen, dy.data(), &mut self.dz, grads);
        Ok(&self.dx)
    }

    fn params(&mut self) -> Vec<Param<'_>> {
        vec![
            Param { value: &mut self.kernel, grad: &self.dkernel },
            Param { value: &mut self.bias, grad: &self.dbias },
        ]
    }

    fn activation(&self) -> Activation {
        self.activation
    }
}
