//! The training plan: a textbook model compiled, once per `fit`, into the engine's faster
//! form of each of its layers.
//!
//! A [`Plan`] reads each layer's [`LayerSpec`] and decides, once, how to compute it: which
//! loops each convolution uses ([`ConvAlgorithm`] resolved to a [`ConvKernel`]), which
//! convolutions and the poolings after them run as one ([`super::fused`]), and where a max
//! pooling takes the ReLU's gradient before it into its own (see
//! [`max_pool_backward`](super::pool::max_pool_backward)). The weights stay in the model:
//! each step reads them from [`Sequential::params`], and the optimiser updates them there.
//!
//! **Threads.** A step needs the gradient of the batch's mean loss, which is the mean of the
//! samples' gradients: so the batch is cut into *shards*, one per thread, each shard's
//! gradient is computed by its own `Worker` (with its own buffers, reading the shared
//! weights), and the shards' gradients are added in thread order, so a given thread count
//! always gives the same bits. The threads meet once per step, to add up their gradients.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::conv::{ConvAlgorithm, ConvKernel};
use super::im2col::{ForwardPass, Gradients, WeightGradients, Workspace};
use super::runs::add_in_order;
use super::{dense, fused, pool};
use crate::activation::Activation;
use crate::error::{Error, ModelError, Result, ShapeError};
use crate::geometry::ConvGeometry;
use crate::layer::Param;
use crate::limits;
use crate::loss::{categorical_crossentropy, softmax_crossentropy, softmax_crossentropy_grad};
use crate::metrics::count_correct;
use crate::model::Sequential;
use crate::optim::RmsProp;
use crate::padding::Padding;
use crate::pool::{average_pool_backward, average_pool_forward};
use crate::shape::Window2D;
use crate::spec::LayerSpec;
use crate::tensor::{Tensor, element_count};
use crate::train::{StepStats, Trainer};

/// A pooling window's settings.
#[derive(Debug, Clone, Copy)]
struct PoolWindow {
    pool: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
}

impl PoolWindow {
    /// The window over an NHWC input of `shape`, with the batch and channel counts.
    fn over(&self, shape: &[usize]) -> Result<(Window2D, usize, usize)> {
        let [n, h, w, c] = shape[..] else {
            return Err(Error::shape(format!("pooling expects a 4-D batch, got {shape:?}")));
        };
        Ok((Window2D::new((h, w), self.pool, self.strides, self.padding)?, n, c))
    }
}

/// One layer as the engine computes it.
#[derive(Debug, Clone)]
enum Op {
    Conv {
        kernel_shape: [usize; 4],
        strides: (usize, usize),
        padding: Padding,
        activation: Activation,
        kernel: ConvKernel,
        /// Whether predictions compute it, when it runs with its pooling, by Winograd's
        /// minimal filtering ([`ConvAlgorithm::predicts_by_winograd`]).
        winograd: bool,
    },
    MaxPool(PoolWindow),
    AvgPool(PoolWindow),
    Flatten,
    Dense {
        activation: Activation,
    },
}

impl Op {
    fn activation(&self) -> Activation {
        match self {
            Op::Conv { activation, .. } | Op::Dense { activation } => *activation,
            _ => Activation::Linear,
        }
    }
}

/// Where a layer's weights are read from during a step.
#[derive(Debug, Clone)]
enum Weights {
    /// No weights.
    None,
    /// A trainable layer: its kernel is `model.params()[i]`, its bias the one after.
    Param(usize),
    /// A frozen layer: its kernel and bias, copied when the plan was built.
    Frozen(Vec<f32>, Vec<f32>),
}

/// A layer of the plan.
#[derive(Debug, Clone)]
struct Step {
    op: Op,
    weights: Weights,
}

/// A textbook model compiled for training: see the module docs.
pub struct Plan {
    steps: Vec<Step>,
    /// How many parameter arrays `model.params()` must give.
    params: usize,
    /// The first trainable layer, if any: no gradient is needed below it.
    first_trainable: Option<usize>,
    /// Whether a convolution by the direct loops ending in a ReLU and the max pooling after
    /// it run as one ([`super::fused`]): predictions run every such pair so, training the
    /// first two layers when the first is trainable. On unless turned off, for tests and
    /// measurements.
    fuse: bool,
    /// One per thread, in thread order.
    workers: Vec<Worker>,
}

impl Plan {
    /// The plan for `model`, its convolutions computed by `conv`, a step's batch shared among
    /// `threads` threads (at least 1). Fails for a model with a layer the engine does not know
    /// (one whose [`spec`](crate::layer::Layer::spec) is `None`): train such a model with
    /// [`PlainLoops`](crate::train::PlainLoops).
    ///
    /// The weights of trainable layers are read from the model at every step; those of frozen
    /// layers are copied now. Build a new plan after freezing, unfreezing, or changing a frozen
    /// layer's weights.
    pub fn new(model: &Sequential, conv: ConvAlgorithm, threads: usize) -> Result<Plan> {
        let mut shape = model.input_shape().to_vec();
        let (mut steps, mut params, mut work) = (Vec::new(), 0, 0u64);
        // The model checked every layer when it was added; the plan checks again what it
        // compiles (the layers' descriptions), with the same rules, so that no layer of
        // unchecked size reaches the fast loops.
        limits::values("the model", "input", &shape)?;
        for i in 0..model.len() {
            let layer = model.layer(i).ok_or_else(|| Error::model(format!("no layer {i}")))?;
            let spec = layer.spec().ok_or_else(|| {
                Error::model(format!(
                    "the engine does not know {}: train it with PlainLoops",
                    layer.class_name()
                ))
            })?;
            let size = limits::spec(&spec, &shape)?;
            let recorded = model.layer_shapes()[i];
            if size.output != recorded {
                return Err(Error::shape(format!(
                    "layer {i} ({}) gives {recorded:?} in the model, but its settings give {:?}",
                    layer.class_name(),
                    size.output
                )));
            }
            work = work.checked_add(size.work).filter(|&w| w <= limits::MAX_WORK).ok_or(Error::Model(
                ModelError::TooLarge {
                    layer: "the model",
                    what: "multiply-adds per sample",
                    count: work.checked_add(size.work),
                    limit: limits::MAX_WORK,
                },
            ))?;
            let (op, weights) = compile(spec, &shape, conv)?;
            let weights = match weights {
                Some((_, _)) if model.is_trainable(i) => {
                    params += 2;
                    Weights::Param(params - 2)
                }
                Some((kernel, bias)) => Weights::Frozen(kernel, bias),
                None => Weights::None,
            };
            steps.push(Step { op, weights });
            shape = model.layer_shapes()[i].to_vec();
        }
        let first_trainable = (0..model.len()).find(|&i| model.is_trainable(i));
        let workers = (0..threads.max(1)).map(|_| Worker::new(steps.len())).collect();
        Ok(Plan { steps, params, first_trainable, fuse: true, workers })
    }

    /// The number of threads (and shards) a step uses.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Time the first thread spent in each layer, `[forward, backward]`, summed since the
    /// plan was built. Layers run as one ([`super::fused`]) count under the first.
    pub fn layer_times(&self) -> Vec<[Duration; 2]> {
        self.workers[0].times.clone()
    }

    /// Whether the first two layers train as one, image by image ([`super::fused`]).
    pub fn fuses_first_layers(&self) -> bool {
        self.fuse && self.first_trainable == Some(0) && fusable(&self.steps, 0)
    }

    /// Turns running a convolution and its pooling as one off (or back on, where it
    /// applies), in training and in predictions: for tests and measurements.
    pub fn fuse_layers(mut self, on: bool) -> Plan {
        self.fuse = on;
        self
    }

    /// Which pairs a prediction runs as one.
    fn fuse_in_predictions(&self) -> Fuse {
        if self.fuse { Fuse::Every } else { Fuse::None }
    }

    /// The loops each convolution of the model uses, in layer order.
    pub fn conv_kernels(&self) -> Vec<ConvKernel> {
        self.steps
            .iter()
            .filter_map(|s| if let Op::Conv { kernel, .. } = s.op { Some(kernel) } else { None })
            .collect()
    }

    /// For each convolution of the model, in layer order, whether predictions compute it
    /// (with its pooling) by Winograd's minimal filtering ([`super::winograd`]).
    pub fn winograd_in_predictions(&self) -> Vec<bool> {
        let steps = self.steps.iter().enumerate();
        let convs = steps.filter_map(|(i, step)| match step.op {
            Op::Conv { winograd, .. } => Some(self.fuse && winograd && fusable(&self.steps, i)),
            _ => None,
        });
        convs.collect()
    }

    /// Computes the gradients of `model`'s mean loss on the batch `x` with one-hot targets
    /// `y`, and returns them, one array per parameter array of the model, in the order of
    /// [`Sequential::params`], with the step's loss and accuracy numbers.
    pub fn gradients(
        &mut self,
        model: &mut Sequential,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<(StepStats, &[Vec<f32>])> {
        let stats = self.compute(model, x, y)?;
        Ok((stats, &self.workers[0].grads))
    }

    /// The model's outputs for the batch `x`.
    pub fn predict(&mut self, model: &mut Sequential, x: &Tensor) -> Result<Tensor> {
        self.forward_only(model, x, self.fuse_in_predictions()).map(|(probs, _)| probs)
    }

    /// Every layer's output for the batch `x`, in layer order (each after its activation):
    /// what [`Sequential::forward_range`] gives layer by layer, computed by the plan's loops.
    pub fn activations(&mut self, model: &mut Sequential, x: &Tensor) -> Result<Vec<Tensor>> {
        self.forward_only(model, x, Fuse::None)?;
        Ok(self.workers[0].outs.clone())
    }

    /// Runs `x` forward on the first worker: returns the output and the logits, if the model
    /// ends in a softmax. The layers `fuse` says run as pairs, image by image, and the first
    /// of each pair's output is not kept.
    fn forward_only(
        &mut self,
        model: &mut Sequential,
        x: &Tensor,
        fuse: Fuse,
    ) -> Result<(Tensor, Option<Tensor>)> {
        check_input(model, x)?;
        let params = self.model_params(model)?;
        let values: Vec<&[f32]> = params.iter().map(|p| &*p.value).collect();
        let worker = &mut self.workers[0];
        worker.forward(&self.steps, &values, x, fuse)?;
        let last = worker.outs.last().cloned().unwrap_or_else(|| x.clone());
        Ok((last, keeps_logits(&self.steps).then(|| worker.logits.clone())))
    }

    fn model_params<'a>(&self, model: &'a mut Sequential) -> Result<Vec<Param<'a>>> {
        let params = model.params();
        if params.len() != self.params {
            return Err(Error::model(format!(
                "the model has {} parameter arrays but its plan expects {}: build a new plan after \
                 freezing or unfreezing layers",
                params.len(),
                self.params
            )));
        }
        Ok(params)
    }

    /// Fills the first worker's gradients with the batch's (see [`Plan::gradients`]).
    fn compute(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor) -> Result<StepStats> {
        check_input(model, x)?;
        let n = x.shape().first().copied().unwrap_or(0);
        if n == 0 || y.shape().first() != Some(&n) {
            return Err(Error::shape(format!(
                "a step needs a non-empty batch with one target per sample, got {:?} and {:?}",
                x.shape(),
                y.shape()
            )));
        }
        if self.steps.last().map(|s| s.op.activation()) != Some(Activation::Softmax) {
            return Err(Error::model("training with cross-entropy needs a model that ends in a softmax"));
        }
        let first = self
            .first_trainable
            .ok_or_else(|| Error::model("every layer is frozen: there is nothing to train"))?;
        let params = self.model_params(model)?;
        let values: Vec<&[f32]> = params.iter().map(|p| &*p.value).collect();
        let per_shard = n.div_ceil(self.workers.len());
        let (steps, fuse) = (&self.steps, self.fuses_first_layers());
        self.workers.par_iter_mut().enumerate().try_for_each(|(i, worker)| {
            let shard = (i * per_shard).min(n)..((i + 1) * per_shard).min(n);
            worker.run(steps, &values, x, y, shard, first, fuse)
        })?;
        // Add the shards up in thread order, so the result does not depend on timing.
        let (head, rest) = self.workers.split_first_mut().ok_or_else(|| Error::model("no workers"))?;
        for (j, sum) in head.grads.iter_mut().enumerate() {
            add_in_order(rest.iter().map(|w| w.grads[j].as_slice()), sum);
        }
        let loss_sum: f64 = head.loss_sum + rest.iter().map(|w| w.loss_sum).sum::<f64>();
        let correct = head.correct + rest.iter().map(|w| w.correct).sum::<usize>();
        Ok(StepStats { loss: loss_sum / n as f64, correct })
    }
}

impl Trainer for Plan {
    fn step(
        &mut self,
        model: &mut Sequential,
        x: &Tensor,
        y: &Tensor,
        optimizer: &mut RmsProp,
    ) -> Result<StepStats> {
        let stats = self.compute(model, x, y)?;
        let grads = &self.workers[0].grads;
        let params = model.params().into_iter().zip(grads).map(|(p, grad)| Param { value: p.value, grad });
        optimizer.step(params.collect())?;
        Ok(stats)
    }

    fn evaluate_batch(&mut self, model: &mut Sequential, x: &Tensor, y: &Tensor) -> Result<(f64, Tensor)> {
        let (probs, logits) = self.forward_only(model, x, self.fuse_in_predictions())?;
        let loss = match &logits {
            Some(logits) => softmax_crossentropy(logits, y)?,
            None => categorical_crossentropy(&probs, y)?,
        };
        Ok((loss, probs))
    }
}

/// Which pairs of a convolution and its max pooling a forward pass runs as one
/// ([`super::fused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fuse {
    None,
    /// The first two layers, as training does.
    First,
    /// Every pair, as predictions do.
    Every,
}

impl Fuse {
    /// Whether layer `i` and the next run as one, if they can.
    fn covers(self, i: usize) -> bool {
        match self {
            Fuse::None => false,
            Fuse::First => i == 0,
            Fuse::Every => true,
        }
    }
}

/// Whether layers `i` and `i + 1` can run as one: a convolution by the direct loops ending in
/// a ReLU, then a max pooling.
fn fusable(steps: &[Step], i: usize) -> bool {
    matches!(
        steps.get(i..i + 2),
        Some([
            Step { op: Op::Conv { kernel: ConvKernel::Direct, activation: Activation::Relu, .. }, .. },
            Step { op: Op::MaxPool(_), .. },
        ])
    )
}

/// Whether the last layer keeps its logits (a `Dense` layer ending in a softmax), from which
/// the loss is computed as Keras does.
fn keeps_logits(steps: &[Step]) -> bool {
    matches!(steps.last(), Some(Step { op: Op::Dense { activation: Activation::Softmax }, .. }))
}

/// Checks that `x` is a batch of samples of the model's input shape.
fn check_input(model: &Sequential, x: &Tensor) -> Result<()> {
    if x.shape().get(1..) != Some(model.input_shape()) {
        return Err(Error::Shape(ShapeError::Input {
            expected: model.input_shape().to_vec(),
            got: x.shape().to_vec(),
        }));
    }
    Ok(())
}

/// A layer's kernel and bias, copied out of its spec.
type KernelAndBias = (Vec<f32>, Vec<f32>);

/// The engine's form of the layer `spec`, for inputs of `input_shape` (per sample), and its
/// kernel and bias, if it has weights.
fn compile(
    spec: LayerSpec,
    input_shape: &[usize],
    conv: ConvAlgorithm,
) -> Result<(Op, Option<KernelAndBias>)> {
    Ok(match spec {
        LayerSpec::Conv2D { kernel, bias, strides, padding, activation } => {
            let mut x_shape = vec![1];
            x_shape.extend_from_slice(input_shape);
            let g = ConvGeometry::new(&x_shape, kernel.shape(), strides, padding)?;
            let [k_h, k_w, in_c, out_c] = kernel.shape()[..] else {
                unreachable!("checked by ConvGeometry::new")
            };
            let op = Op::Conv {
                kernel_shape: [k_h, k_w, in_c, out_c],
                strides,
                padding,
                activation,
                kernel: conv.resolve(&g),
                winograd: conv.predicts_by_winograd(&g),
            };
            (op, Some((kernel.into_data(), bias)))
        }
        LayerSpec::MaxPooling2D { pool, strides, padding } => {
            (Op::MaxPool(PoolWindow { pool, strides, padding }), None)
        }
        LayerSpec::AveragePooling2D { pool, strides, padding } => {
            (Op::AvgPool(PoolWindow { pool, strides, padding }), None)
        }
        LayerSpec::Flatten => (Op::Flatten, None),
        LayerSpec::Dense { kernel, bias, activation } => {
            (Op::Dense { activation }, Some((kernel.into_data(), bias)))
        }
    })
}

/// One thread's buffers, reused from step to step.
#[derive(Default)]
struct Worker {
    /// The shard's inputs and targets.
    x: Tensor,
    y: Tensor,
    /// Each layer's output (after its activation).
    outs: Vec<Tensor>,
    /// Each max pooling's winners.
    argmax: Vec<Vec<u32>>,
    /// Each convolution's im2col scratch space.
    workspaces: Vec<Workspace>,
    /// The last layer's output before its softmax.
    logits: Tensor,
    /// The gradient at the current layer's output, and at its input.
    grad: Tensor,
    dx: Tensor,
    /// Scratch space for a gradient before an activation.
    dz: Vec<f32>,
    /// The shard's gradients, one array per parameter array of the model, weighted by the
    /// shard's share of the batch: summed over the shards, they are the batch's gradients.
    grads: Vec<Vec<f32>>,
    /// The sum of the shard's per-sample losses, and how many samples it got right.
    loss_sum: f64,
    correct: usize,
    /// Time spent in each layer's forward and backward passes, summed over steps.
    times: Vec<[Duration; 2]>,
}

impl Worker {
    fn new(layers: usize) -> Worker {
        Worker {
            outs: vec![Tensor::default(); layers],
            argmax: vec![Vec::new(); layers],
            workspaces: vec![Workspace::default(); layers],
            times: vec![[Duration::ZERO; 2]; layers],
            ..Worker::default()
        }
    }

    /// The gradients of the `shard` of the batch `x`, `y`.
    #[allow(clippy::too_many_arguments)] // the plan's parts, borrowed apart from its workers
    fn run(
        &mut self,
        steps: &[Step],
        values: &[&[f32]],
        x: &Tensor,
        y: &Tensor,
        shard: std::ops::Range<usize>,
        first: usize,
        fuse: bool,
    ) -> Result<()> {
        (self.loss_sum, self.correct) = (0.0, 0);
        self.grads.resize_with(values.len(), Vec::new);
        for (grad, value) in self.grads.iter_mut().zip(values) {
            grad.clear();
            grad.resize(value.len(), 0.0);
        }
        if shard.is_empty() {
            // A batch smaller than the thread count leaves this shard empty: zero gradients.
            return Ok(());
        }
        let (mut xs, mut ys) = (std::mem::take(&mut self.x), std::mem::take(&mut self.y));
        x.batch_range_into(shard.start, shard.end, &mut xs)?;
        y.batch_range_into(shard.start, shard.end, &mut ys)?;
        let result = self.run_shard(steps, values, &xs, &ys, x.shape()[0], first, fuse);
        (self.x, self.y) = (xs, ys);
        result
    }

    #[allow(clippy::too_many_arguments)] // as `run`
    fn run_shard(
        &mut self,
        steps: &[Step],
        values: &[&[f32]],
        x: &Tensor,
        y: &Tensor,
        batch: usize,
        first: usize,
        fuse: bool,
    ) -> Result<()> {
        self.forward(steps, values, x, if fuse { Fuse::First } else { Fuse::None })?;
        let probs = self.outs.last().ok_or_else(|| Error::model("empty model"))?;
        let samples = x.shape()[0];
        let loss = if keeps_logits(steps) {
            softmax_crossentropy(&self.logits, y)?
        } else {
            categorical_crossentropy(probs, y)?
        };
        self.loss_sum = loss * samples as f64;
        self.correct = count_correct(probs, y)?;
        // The shard's mean gradient, weighted by its share of the batch: summed over the
        // shards, the batch's mean.
        self.grad = softmax_crossentropy_grad(probs, y)?;
        let share = samples as f32 / batch as f32;
        self.grad.data_mut().iter_mut().for_each(|g| *g *= share);
        self.backward(steps, values, x, first, fuse)
    }

    /// Every layer's output for `x`, but for the first of each pair of layers `fuse` runs
    /// as one (its output is not stored).
    fn forward(&mut self, steps: &[Step], values: &[&[f32]], x: &Tensor, fuse: Fuse) -> Result<()> {
        let mut i = 0;
        while i < steps.len() {
            let started = Instant::now();
            let pair = fuse.covers(i) && fusable(steps, i);
            if pair {
                self.fused_forward(steps, values, x, i, fuse == Fuse::Every)?;
            } else {
                let (before, rest) = self.outs.split_at_mut(i);
                let input = if i == 0 { x } else { &before[i - 1] };
                let weights = weights_of(&steps[i].weights, values);
                let (out, argmax, ws) = (&mut rest[0], &mut self.argmax[i], &mut self.workspaces[i]);
                forward_step(&steps[i].op, weights, input, out, argmax, ws, &mut self.logits)?;
            }
            // Layers run as one count their time under the first.
            self.times[i][0] += started.elapsed();
            i += if pair { 2 } else { 1 };
        }
        Ok(())
    }

    /// Layers `i` and `i + 1`, a convolution and its max pooling, run as one; by Winograd's
    /// loops if `predicting` and the plan chose them for this convolution.
    fn fused_forward(
        &mut self,
        steps: &[Step],
        values: &[&[f32]],
        x: &Tensor,
        i: usize,
        predicting: bool,
    ) -> Result<()> {
        let Some(
            [
                Step { op: Op::Conv { kernel_shape, strides, padding, winograd, .. }, weights },
                Step { op: Op::MaxPool(pool), .. },
            ],
        ) = steps.get(i..i + 2)
        else {
            return Err(Error::model(format!(
                "layers {i} and {} are not a convolution and a pooling",
                i + 1
            )));
        };
        let (before, rest) = self.outs.split_at_mut(i);
        let input = if i == 0 { x } else { &before[i - 1] };
        let g = ConvGeometry::new(input.shape(), kernel_shape, *strides, *padding)?;
        let (win, _, c) = pool.over(&g.output_shape())?;
        check_argmax_range(&win, c)?;
        let (kernel, bias) = weights_of(weights, values);
        let y = &mut rest[1];
        y.reuse_as(&[g.batch, win.out_h, win.out_w, c])?; // every value is written
        let argmax = &mut self.argmax[i + 1];
        argmax.resize(y.len(), 0);
        fused::forward(&g, &win, input.data(), kernel, bias, y.data_mut(), argmax, predicting && *winograd);
        Ok(())
    }

    /// The gradients, from `self.grad` at the last layer's output before its softmax, down
    /// to layer `first`.
    fn backward(
        &mut self,
        steps: &[Step],
        values: &[&[f32]],
        x: &Tensor,
        first: usize,
        fuse: bool,
    ) -> Result<()> {
        let stop = if fuse { 2 } else { first };
        // True when `grad` is taken before the current layer's activation.
        let mut before_activation = true;
        for i in (stop..steps.len()).rev() {
            let started = Instant::now();
            let step = &steps[i];
            let input = if i == 0 { x } else { &self.outs[i - 1] };
            let need_dx = i > first;
            let relu_before = i > 0 && steps[i - 1].op.activation() == Activation::Relu;
            let weights = weights_of(&step.weights, values);
            let grads = match step.weights {
                Weights::Param(j) => {
                    let (kernel, bias) = self.grads.split_at_mut(j + 1);
                    Some((kernel[j].as_mut_slice(), bias[0].as_mut_slice()))
                }
                _ => None,
            };
            let state = BackwardState {
                input,
                output: &self.outs[i],
                argmax: &self.argmax[i],
                ws: &mut self.workspaces[i],
                dz: &mut self.dz,
            };
            let dx = need_dx.then_some(&mut self.dx);
            before_activation = backward_step(
                &step.op,
                weights,
                state,
                &self.grad,
                before_activation,
                relu_before,
                dx,
                grads,
            )?;
            if need_dx {
                std::mem::swap(&mut self.grad, &mut self.dx);
            }
            self.times[i][1] += started.elapsed();
        }
        if fuse {
            let started = Instant::now();
            let Step { op: Op::Conv { kernel_shape, strides, padding, .. }, weights: Weights::Param(j) } =
                &steps[0]
            else {
                return Err(Error::model("the fused first layer is not a trainable convolution"));
            };
            let g = ConvGeometry::new(x.shape(), kernel_shape, *strides, *padding)?;
            let pooled = &self.outs[1];
            if self.grad.shape() != pooled.shape() {
                return Err(Error::shape(format!(
                    "MaxPooling2D: the gradient has shape {:?} but the output had shape {:?}",
                    self.grad.shape(),
                    pooled.shape()
                )));
            }
            let (kernel, bias) = self.grads.split_at_mut(j + 1);
            let (argmax, dy) = (&self.argmax[1], self.grad.data());
            fused::backward(&g, x.data(), pooled.data(), argmax, dy, &mut kernel[*j], &mut bias[0]);
            self.times[0][1] += started.elapsed();
        }
        Ok(())
    }
}

/// A layer's kernel and bias for this step (empty for a layer without weights).
fn weights_of<'a>(weights: &'a Weights, values: &[&'a [f32]]) -> (&'a [f32], &'a [f32]) {
    match weights {
        Weights::None => (&[], &[]),
        Weights::Param(j) => (values[*j], values[*j + 1]),
        Weights::Frozen(kernel, bias) => (kernel, bias),
    }
}

/// Refuses images too large for a u32 argmax.
fn check_argmax_range(win: &Window2D, c: usize) -> Result<()> {
    let len = win.in_h * win.in_w * c;
    if u32::try_from(len).is_err() {
        return Err(Error::shape(format!("{len} values per image are too many for a u32 argmax")));
    }
    Ok(())
}

/// One layer's forward pass: `out` from `x`.
fn forward_step(
    op: &Op,
    (kernel, bias): (&[f32], &[f32]),
    x: &Tensor,
    out: &mut Tensor,
    argmax: &mut Vec<u32>,
    ws: &mut Workspace,
    logits: &mut Tensor,
) -> Result<()> {
    match op {
        Op::Conv { kernel_shape, strides, padding, activation, kernel: loops, .. } => {
            let g = ConvGeometry::new(x.shape(), kernel_shape, *strides, *padding)?;
            out.reuse_as(&g.output_shape())?; // every value is written
            loops.forward(ws, &g, x.data(), kernel, bias, *activation, out.data_mut());
        }
        Op::MaxPool(pool) => {
            let (win, n, c) = pool.over(x.shape())?;
            check_argmax_range(&win, c)?;
            out.reuse_as(&[n, win.out_h, win.out_w, c])?; // every value is written
            argmax.resize(out.len(), 0);
            pool::max_pool_forward(&win, c, x.data(), out.data_mut(), argmax);
        }
        Op::AvgPool(pool) => {
            let (win, n, c) = pool.over(x.shape())?;
            out.reuse_as(&[n, win.out_h, win.out_w, c])?;
            average_pool_forward(&win, n, c, x.data(), out.data_mut());
        }
        Op::Flatten => {
            let (&n, rest) =
                x.shape().split_first().ok_or_else(|| Error::shape("Flatten needs a batch axis"))?;
            out.copy_from(x);
            out.reuse_as(&[n, element_count(rest)?])?;
        }
        Op::Dense { activation } => {
            let [n, inputs] = x.shape()[..] else {
                return Err(Error::shape(format!(
                    "Dense expects a 2-D (batch, features) input, got {:?}",
                    x.shape()
                )));
            };
            let units = bias.len();
            if kernel.len() != inputs * units {
                return Err(Error::shape(format!(
                    "Dense expects {} features, got {inputs}",
                    kernel.len() / units.max(1)
                )));
            }
            out.reuse_as(&[n, units])?; // every value is written
            dense::forward(n, inputs, x.data(), kernel, bias, out.data_mut());
            if *activation == Activation::Softmax {
                logits.copy_from(out);
            }
            activation.apply(out.data_mut(), units);
        }
    }
    Ok(())
}

/// What a layer's backward pass reads from its forward pass, and its scratch space.
struct BackwardState<'a> {
    input: &'a Tensor,
    output: &'a Tensor,
    argmax: &'a [u32],
    ws: &'a mut Workspace,
    dz: &'a mut Vec<f32>,
}

/// One layer's backward pass from `dy`, its output's gradient (taken before the layer's
/// activation if `before_activation`): fills `dx`, if wanted, and the weight gradients, if
/// wanted. Returns whether `dx` is taken before the previous layer's activation (a max
/// pooling after a ReLU folds that ReLU's gradient in).
#[allow(clippy::too_many_arguments)] // a layer's operands, and which gradients to fill
fn backward_step(
    op: &Op,
    (kernel, _bias): (&[f32], &[f32]),
    s: BackwardState<'_>,
    dy: &Tensor,
    before_activation: bool,
    relu_before: bool,
    dx: Option<&mut Tensor>,
    grads: Option<(&mut [f32], &mut [f32])>,
) -> Result<bool> {
    if dy.shape() != s.output.shape() {
        return Err(Error::shape(format!(
            "the gradient has shape {:?} but the output had shape {:?}",
            dy.shape(),
            s.output.shape()
        )));
    }
    let activation = if before_activation { Activation::Linear } else { op.activation() };
    match op {
        Op::Conv { kernel_shape, strides, padding, kernel: loops, .. } => {
            let g = ConvGeometry::new(s.input.shape(), kernel_shape, *strides, *padding)?;
            let dx = match dx {
                Some(dx) => {
                    dx.reuse_as(s.input.shape())?; // overwritten
                    Some(dx.data_mut())
                }
                None => None,
            };
            let weights = grads.map(|(dkernel, dbias)| WeightGradients { dkernel, dbias });
            let seen = ForwardPass { input: s.input.data(), output: s.output.data(), activation };
            loops.backward(s.ws, &g, kernel, seen, dy.data(), s.dz, Gradients { dx, weights });
            Ok(false)
        }
        Op::MaxPool(pool) => {
            let Some(dx) = dx else { return Ok(false) };
            let (win, _, c) = pool.over(s.input.shape())?;
            dx.reuse_as(s.input.shape())?; // overwritten
            pool::max_pool_backward(
                &win,
                c,
                dy.data(),
                s.argmax,
                s.output.data(),
                relu_before,
                dx.data_mut(),
            );
            Ok(relu_before)
        }
        Op::AvgPool(pool) => {
            let Some(dx) = dx else { return Ok(false) };
            let (win, n, c) = pool.over(s.input.shape())?;
            dx.reuse_as_zeros(s.input.shape())?;
            average_pool_backward(&win, n, c, dy.data(), dx.data_mut());
            Ok(false)
        }
        Op::Flatten => {
            if let Some(dx) = dx {
                dx.copy_from(dy);
                dx.reuse_as(s.input.shape())?;
            }
            Ok(false)
        }
        Op::Dense { .. } => {
            let [n, inputs] = s.input.shape()[..] else {
                return Err(Error::shape(format!("Dense expects a 2-D input, got {:?}", s.input.shape())));
            };
            let dz = if activation == Activation::Linear {
                dy.data()
            } else {
                s.dz.resize(dy.len(), 0.0);
                activation.backward(s.output.data(), dy.data(), s.dz, dy.shape()[1]);
                &s.dz[..]
            };
            if let Some((dkernel, dbias)) = grads {
                dense::weight_gradients(n, inputs, s.input.data(), dz, dkernel, dbias);
            }
            if let Some(dx) = dx {
                dx.reuse_as(s.input.shape())?; // overwritten
                dense::input_gradient(n, inputs, kernel, dz, dx.data_mut());
            }
            Ok(false)
        }
    }
}
