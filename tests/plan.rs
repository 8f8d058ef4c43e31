//! The engine's training plan: the batch shared among threads, each thread computing its
//! shard's gradients and the shards added in thread order. Different thread counts give the
//! same gradients up to the order of f32 additions (tolerance: 1e-5 of each array's largest
//! gradient + 1e-4 relative; the same per-sample terms, added in another order), and one
//! thread count always gives the same bits. (That the plan's gradients are the textbook's is
//! tests/boundary.rs.)

mod common;

use std::time::Duration;

use common::{assert_grads_close, digit_batch, in_pool, tiny_convnet};
use convnets::engine::ConvKernel;
use convnets::engine::fit::fastest_trainer;
use convnets::init::Init;
use convnets::model::book_model;
use convnets::optim::RmsProp;
use convnets::testing::assert_close;
use convnets::train::{FitOptions, PlainLoops, StepStats, Trainer};
use convnets::{Conv2D, ConvAlgorithm, Flatten, Layer, MaxPooling2D, Padding, Plan, Sequential, Tensor};

/// The plan's gradients for `model` on `threads` threads, one array per parameter array.
fn gradients(model: &mut Sequential, x: &Tensor, y: &Tensor, threads: usize) -> (StepStats, Vec<Vec<f32>>) {
    let mut plan = Plan::new(model, ConvAlgorithm::Auto, threads).unwrap();
    assert_eq!(plan.threads(), threads);
    let (stats, grads) = plan.gradients(model, x, y).unwrap();
    (stats, grads.to_vec())
}

/// Asserts that gradients computed on different thread counts agree to rounding.
#[track_caller]
fn assert_same_up_to_order(what: &str, got: &[Vec<f32>], expected: &[Vec<f32>]) {
    assert_grads_close(what, got, expected, 1e-5, 1e-4);
}

#[test]
fn any_thread_count_gives_the_gradients_of_one_thread() {
    // 11 samples: 2 threads get shards of 6 and 5, 3 threads 4, 4 and 3, 4 threads 3, 3, 3
    // and 2; 16 threads leave five shards empty.
    let (x, y) = digit_batch(11);
    let mut model = book_model(5).unwrap();
    let (one_stats, one) = gradients(&mut model, &x, &y, 1);
    for threads in [2, 3, 4, 16] {
        let (stats, grads) = gradients(&mut model, &x, &y, threads);
        assert_same_up_to_order(&format!("{threads} threads"), &grads, &one);
        assert!(
            (stats.loss - one_stats.loss).abs() < 1e-6,
            "{threads} threads: loss {} vs {}",
            stats.loss,
            one_stats.loss
        );
        assert_eq!(stats.correct, one_stats.correct, "{threads} threads");
    }
}

#[test]
fn a_thread_count_always_gives_the_same_bits() {
    let (x, y) = digit_batch(9);
    for threads in [1, 2, 4] {
        // In a pool of two threads, so that the kernels inside a shard also split alike.
        let run = || in_pool(2, || gradients(&mut book_model(2).unwrap(), &x, &y, threads));
        let (first, second) = (run(), run());
        assert_eq!(first.1, second.1, "{threads} threads: the same gradients, bit for bit");
        assert_eq!(first.0, second.0, "{threads} threads: the same loss, bit for bit");
    }
}

#[test]
fn a_batch_smaller_than_the_thread_count_leaves_the_extra_threads_idle() {
    // 3 samples on 4 threads: shards of 1, 1, 1 and an empty one, which adds nothing.
    let (x, y) = digit_batch(3);
    let mut model = book_model(7).unwrap();
    let (stats, grads) = gradients(&mut model, &x, &y, 4);
    let (one_stats, one) = gradients(&mut model, &x, &y, 1);
    assert_same_up_to_order("3 samples on 4 threads", &grads, &one);
    assert!((stats.loss - one_stats.loss).abs() < 1e-6);
    assert_eq!(stats.correct, one_stats.correct);
    // A single sample on 4 threads.
    let (x1, y1) = (x.batch_range(0, 1).unwrap(), y.batch_range(0, 1).unwrap());
    let (_, single) = gradients(&mut model, &x1, &y1, 4);
    assert_same_up_to_order("1 sample on 4 threads", &single, &gradients(&mut model, &x1, &y1, 1).1);
}

#[test]
fn after_a_step_the_plan_reads_the_new_weights() {
    // The weights live in the model, not in the plan: after two steps through the plan, its
    // gradients are those of a plan built afresh from the changed model, bit for bit.
    let (x, y) = digit_batch(8);
    let mut model = book_model(4).unwrap();
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 2).unwrap();
    let before = plan.gradients(&mut model, &x, &y).unwrap().1.to_vec();
    let mut opt = RmsProp::default();
    for _ in 0..2 {
        plan.step(&mut model, &x, &y, &mut opt).unwrap();
    }
    let after = plan.gradients(&mut model, &x, &y).unwrap().1.to_vec();
    assert_ne!(after, before, "the weights have moved");
    assert_eq!(after, gradients(&mut model, &x, &y, 2).1);
}

#[test]
fn a_plan_steps_as_the_plain_loops_do() {
    // One step of each trainer from the same weights: the same loss and accuracy, and every
    // weight updated by its own gradient (a gradient paired with the wrong weights would
    // move them by lr·√10 ≈ 3e-3). RMSprop's first step changes by at most lr/√ε ≈ 3.2 times
    // as much as the gradient does, so gradients equal to rounding give weights equal to
    // rounding (measured: 5e-8 apart at most).
    let (x, y) = digit_batch(8);
    let stepped = |trainer: &mut dyn Trainer| {
        let mut model = book_model(4).unwrap();
        let stats = trainer.step(&mut model, &x, &y, &mut RmsProp::default()).unwrap();
        (stats, model.params().iter().flat_map(|p| p.value.to_vec()).collect::<Vec<f32>>())
    };
    let (plan_stats, plan_weights) =
        stepped(&mut Plan::new(&book_model(4).unwrap(), ConvAlgorithm::Auto, 2).unwrap());
    let (plain_stats, plain_weights) = stepped(&mut PlainLoops);
    assert!((plan_stats.loss - plain_stats.loss).abs() < 1e-5);
    assert_eq!(plan_stats.correct, plain_stats.correct);
    assert_close(&plan_weights, &plain_weights, 1e-6, 1e-5);
}

#[test]
fn a_batch_without_targets_or_of_another_shape_is_an_error() {
    let (x, _) = digit_batch(4);
    let (_, y) = digit_batch(3);
    let mut model = book_model(0).unwrap();
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 2).unwrap();
    assert!(plan.gradients(&mut model, &x, &y).is_err(), "4 samples, 3 targets");
    let (x, y) = digit_batch(0);
    assert!(plan.gradients(&mut model, &x, &y).is_err(), "an empty batch");
    let (wrong, y) = (Tensor::zeros(&[2, 27, 28, 1]).unwrap(), digit_batch(2).1);
    assert!(plan.gradients(&mut model, &wrong, &y).is_err(), "27 rows");
}

#[test]
fn a_model_without_a_softmax_or_without_trainable_layers_has_no_gradients() {
    let (x, y) = digit_batch(2);
    let mut logits = common::model(&[28, 28, 1], 0).conv(2, (3, 3)).flatten().build();
    logits.add(convnets::Dense::new(10)).unwrap();
    let err = Plan::new(&logits, ConvAlgorithm::Auto, 1).unwrap().gradients(&mut logits, &x, &y).unwrap_err();
    assert!(err.to_string().contains("softmax"), "{err}");

    let mut frozen = book_model(0).unwrap();
    for i in 0..frozen.len() {
        frozen.set_trainable(i, false).unwrap();
    }
    let err = Plan::new(&frozen, ConvAlgorithm::Auto, 1).unwrap().gradients(&mut frozen, &x, &y).unwrap_err();
    assert!(err.to_string().contains("frozen"), "{err}");
}

#[test]
fn a_plan_refuses_a_model_frozen_after_it_was_built() {
    // Freezing a layer changes the weights `params()` gives the optimiser: the plan, built for
    // the old set, says so rather than pairing gradients with the wrong weights.
    let (x, y) = digit_batch(2);
    let mut model = book_model(0).unwrap();
    let mut plan = Plan::new(&model, ConvAlgorithm::Auto, 1).unwrap();
    model.set_trainable(0, false).unwrap();
    let err = plan.gradients(&mut model, &x, &y).unwrap_err();
    assert!(err.to_string().contains("new plan"), "{err}");
    assert!(Plan::new(&model, ConvAlgorithm::Auto, 1).unwrap().gradients(&mut model, &x, &y).is_ok());
}

/// A layer written outside the crate: it applies its inner `Flatten`, and cannot describe
/// itself as a `LayerSpec`, so the engine does not know it.
struct Unknown(Flatten);

impl Layer for Unknown {
    fn kind(&self) -> &'static str {
        "unknown"
    }
    fn class_name(&self) -> &'static str {
        "Unknown"
    }
    fn build(&mut self, shape: &[usize], init: &mut Init) -> convnets::Result<Vec<usize>> {
        self.0.build(shape, init)
    }
    fn param_count(&self) -> usize {
        0
    }
    fn forward(&mut self, x: &Tensor) -> convnets::Result<&Tensor> {
        self.0.forward(x)
    }
    fn backward(&mut self, dy: &Tensor) -> convnets::Result<&Tensor> {
        self.0.backward(dy)
    }
}

/// Conv(4, 3×3, relu) → MaxPool(2) → Unknown(Flatten) → Dense(10, softmax).
fn with_unknown_layer(seed: u64) -> Sequential {
    common::model(&[28, 28, 1], seed).conv(4, (3, 3)).max_pool(2).add(Unknown(Flatten::new())).softmax(10)
}

#[test]
fn a_model_with_a_layer_the_engine_does_not_know_trains_on_the_plain_loops() {
    let model = with_unknown_layer(8);
    let err = Plan::new(&model, ConvAlgorithm::Auto, 2).err().expect("no plan for an unknown layer");
    assert!(err.to_string().contains("Unknown") && err.to_string().contains("PlainLoops"), "{err}");
    // `fit` falls back to the textbook's trainer: the very run `fit_using(PlainLoops)` makes.
    let (x, y) = digit_batch(24);
    let options = FitOptions { epochs: 2, batch_size: 8, seed: 1 };
    let mut fitted = with_unknown_layer(8);
    let history = fitted.fit(&x, &y, &mut RmsProp::new(0.01), &options, |_| {}).unwrap();
    let mut plain = with_unknown_layer(8);
    let extras = Default::default();
    let plain_history =
        plain.fit_using(&mut PlainLoops, &x, &y, &mut RmsProp::new(0.01), &options, &extras, |_| {}).unwrap();
    assert_eq!(history, plain_history);
    assert!(history.loss[1] < history.loss[0], "it learns: {:?}", history.loss);
    assert_eq!(fitted.predict(&x, 24).unwrap(), plain.predict(&x, 24).unwrap());
    assert_eq!(
        fitted.evaluate(&x, &y, 8).unwrap(),
        plain.evaluate_using(&mut PlainLoops, &x, &y, 8).unwrap()
    );
}

#[test]
fn the_fastest_trainer_is_a_plan_when_the_engine_knows_every_layer() {
    // Told apart by what they do: a plan refuses a model frozen after it was built, the
    // plain loops do not mind.
    let (x, y) = digit_batch(6);
    let mut known = tiny_convnet(&[28, 28, 1], 10, 3);
    let mut trainer = fastest_trainer(&known).unwrap();
    let by_plan =
        Plan::new(&known, ConvAlgorithm::Auto, 1).unwrap().evaluate_batch(&mut known, &x, &y).unwrap();
    assert_eq!(trainer.evaluate_batch(&mut known, &x, &y).unwrap(), by_plan);
    known.set_trainable(0, false).unwrap();
    let err = trainer.step(&mut known, &x, &y, &mut RmsProp::default()).unwrap_err();
    assert!(err.to_string().contains("new plan"), "{err}");

    let mut unknown = with_unknown_layer(3);
    let mut trainer = fastest_trainer(&unknown).unwrap();
    unknown.set_trainable(0, false).unwrap();
    trainer.step(&mut unknown, &x, &y, &mut RmsProp::default()).unwrap();
}

/// Predictions run every convolution (direct loops, ReLU) and the max pooling after it as
/// one, image by image, as training does the first two, whether or not the first layer is
/// trainable: with `Direct`, the same loops in the same order, so the same bits as the
/// layers run apart. `activations` keeps every layer's output.
#[test]
fn predictions_fuse_each_convolution_and_its_pooling_and_give_the_same_bits() {
    let (x, _) = digit_batch(7);
    for frozen_first in [false, true] {
        let mut model = book_model(3).unwrap();
        model.set_trainable(0, !frozen_first).unwrap();
        let mut fused = Plan::new(&model, ConvAlgorithm::Direct, 2).unwrap();
        assert_eq!(fused.fuses_first_layers(), !frozen_first, "training fuses only a trainable first layer");
        assert_eq!(fused.winograd_in_predictions(), [false; 3], "Direct runs the direct loops only");
        let mut apart = Plan::new(&model, ConvAlgorithm::Direct, 2).unwrap().fuse_layers(false);
        let (got, expected) = in_pool(2, || (fused.predict(&mut model, &x), apart.predict(&mut model, &x)));
        let (got, expected) = (got.unwrap(), expected.unwrap());
        assert_eq!(got, expected, "frozen first layer: {frozen_first}");
        // Layers run as one count their time under the first.
        for pooling in [1, 3] {
            let time = |plan: &Plan| plan.layer_times()[pooling][0];
            assert_eq!(time(&fused), Duration::ZERO, "layer {pooling} ran with its convolution");
            assert!(time(&apart) > Duration::ZERO, "layer {pooling} ran on its own");
        }
        // And the textbook's, up to the order of f32 sums (probabilities: 1e-6 + 1e-4 relative).
        assert_close(got.data(), model.predict(&x, 7).unwrap().data(), 1e-6, 1e-4);
        let activations = fused.activations(&mut model, &x).unwrap();
        assert_eq!(activations[0].shape(), &[7, 26, 26, 32], "the first layer's output is kept");
        assert_eq!(activations[2].shape(), &[7, 11, 11, 64], "and the third's");
    }
}

/// With `Auto`, wherever the direct loops run the book's second convolution, predictions
/// compute it and its pooling by Winograd's minimal filtering: the same predictions as the
/// layers run apart and as the textbook's, up to rounding (see `tests/winograd.rs`). Training
/// never uses it: a training step gives the bits of `Direct`'s.
#[test]
fn auto_predicts_the_second_convolution_by_winograd_and_never_trains_with_it() {
    let (x, y) = digit_batch(7);
    let mut model = book_model(3).unwrap();
    let mut auto = Plan::new(&model, ConvAlgorithm::Auto, 2).unwrap();
    let second_is_direct = auto.conv_kernels()[1] == ConvKernel::Direct;
    assert_eq!(auto.winograd_in_predictions(), [false, second_is_direct, false]);
    let mut apart = Plan::new(&model, ConvAlgorithm::Auto, 2).unwrap().fuse_layers(false);
    assert_eq!(apart.winograd_in_predictions(), [false; 3], "only a convolution run with its pooling");
    let (got, expected) = in_pool(2, || (auto.predict(&mut model, &x), apart.predict(&mut model, &x)));
    let (got, expected) = (got.unwrap(), expected.unwrap());
    assert_close(got.data(), expected.data(), 1e-6, 1e-4);
    assert_close(got.data(), model.predict(&x, 7).unwrap().data(), 1e-6, 1e-4);
    if second_is_direct {
        let mut direct = Plan::new(&model, ConvAlgorithm::Direct, 2).unwrap();
        let (auto_step, direct_step) = in_pool(2, || {
            (
                auto.gradients(&mut model, &x, &y).unwrap().1.to_vec(),
                direct.gradients(&mut model, &x, &y).unwrap().1.to_vec(),
            )
        });
        assert_eq!(auto_step, direct_step, "a training step runs the direct loops");
    }
}

/// Run as one, a convolution computes only the outputs its pooling reads: here a pooling
/// with a stride longer than its window, and one that leaves out an odd last row and column,
/// after convolutions with padding and strides. The predictions are still the layers' own.
#[test]
fn fused_convolutions_skip_only_outputs_their_pooling_never_reads() {
    let relu = convnets::Activation::Relu;
    let mut model = common::model(&[13, 12, 2], 5)
        .add(Conv2D::new(8, (3, 3)).padding(Padding::Same).activation(relu)) //  (13, 12, 8)
        .add(MaxPooling2D::new((2, 2)).strides((3, 3))) //                        (4, 4, 8): skips rows and columns
        .add(Conv2D::new(16, (2, 3)).strides((1, 2)).padding(Padding::Same).activation(relu)) // (4, 2, 16)
        .add(MaxPooling2D::new((3, 1)).strides((1, 1))) //                        (2, 2, 16): overlapping
        .add(Conv2D::new(40, (1, 1)).activation(relu)) //                         (2, 2, 40)
        .add(MaxPooling2D::new((1, 1)).strides((2, 2))) //                        (1, 1, 40): one output of four
        .flatten()
        .softmax(3);
    let (x, _) = common::batch_for(&model, 6, 9);
    for algorithm in [ConvAlgorithm::Direct, ConvAlgorithm::Auto] {
        let mut fused = Plan::new(&model, algorithm, 2).unwrap();
        let mut apart = Plan::new(&model, algorithm, 2).unwrap().fuse_layers(false);
        let (got, expected) = in_pool(2, || (fused.predict(&mut model, &x), apart.predict(&mut model, &x)));
        let (got, expected) = (got.unwrap(), expected.unwrap());
        assert_eq!(got, expected, "{algorithm:?}");
        if algorithm == ConvAlgorithm::Direct {
            let pooling_times: Vec<Duration> = [1, 3, 5].iter().map(|&i| fused.layer_times()[i][0]).collect();
            assert_eq!(pooling_times, [Duration::ZERO; 3], "every pair ran as one");
        }
        assert_close(got.data(), model.predict(&x, 6).unwrap().data(), 1e-6, 1e-4);
    }
}
