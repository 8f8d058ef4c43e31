//! Training: one-hot labels, accuracy, RMSprop, `fit` and `evaluate`.

mod common;

use convnets::layer::Param;
use convnets::metrics::{accuracy, argmax_rows, to_categorical};
use convnets::optim::RmsProp;
use convnets::train::{FitOptions, PlainLoops};
use convnets::{Dense, Error, Flatten, Sequential, Tensor};

#[test]
fn to_categorical_makes_one_hot_rows() {
    let y = to_categorical(&[3, 0, 2], 4).unwrap();
    assert_eq!(y.shape(), &[3, 4]);
    assert_eq!(y.data(), &[0., 0., 0., 1., 1., 0., 0., 0., 0., 0., 1., 0.]);
    assert!(to_categorical(&[4], 4).is_err(), "label 4 is not one of 4 classes");
}

#[test]
fn accuracy_counts_rows_whose_argmax_is_right() {
    let probs =
        Tensor::new(&[4, 3], vec![0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4, 0.5, 0.5, 0.0]).unwrap();
    assert_eq!(argmax_rows(&probs).unwrap(), vec![0, 1, 2, 0], "a tie goes to the first");
    let targets = to_categorical(&[0, 2, 2, 1], 3).unwrap();
    assert_eq!(accuracy(&probs, &targets).unwrap(), 0.5);
    assert!(accuracy(&probs, &to_categorical(&[0], 3).unwrap()).is_err());
}

#[test]
fn rmsprop_first_step_moves_each_weight_by_about_lr_sqrt_10() {
    // v = 0.1·g², so the step is lr·g / sqrt(0.1·g² + 1e-7) ≈ lr·√10·sign(g) for |g| ≫ 1e-3.
    let mut w = vec![1.0f32, 1.0, 1.0];
    let g = [5.0f32, -0.2, 0.01];
    RmsProp::default().step(vec![Param { value: &mut w, grad: &g }]).unwrap();
    let step = 0.001 * 10f32.sqrt();
    assert!((w[0] - (1.0 - step)).abs() < 1e-6);
    assert!((w[1] - (1.0 + step)).abs() < 1e-6);
    assert!((w[2] - (1.0 - step)).abs() < 2e-5, "eps barely matters at |g| = 0.01: {}", w[2]);
}

#[test]
fn rmsprop_rejects_parameters_that_change_between_steps() {
    let mut opt = RmsProp::default();
    let (mut a, mut b) = (vec![0.0f32; 2], vec![0.0f32; 3]);
    opt.step(vec![Param { value: &mut a, grad: &[1.0, 1.0] }]).unwrap();
    assert!(opt.step(vec![Param { value: &mut b, grad: &[1.0; 3] }]).is_err());
    assert!(RmsProp::default().step(vec![Param { value: &mut a, grad: &[] }]).is_err(), "no gradient yet");
}

/// 6×6 images with one bright pixel; the class is which half (top or bottom) it is in.
fn bright_pixel_task(n: usize) -> (Tensor, Tensor) {
    let mut x = vec![0.0f32; n * 36];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let pixel = (i * 7 + i / 3) % 36;
        x[i * 36 + pixel] = 1.0;
        labels.push(u8::from(pixel >= 18));
    }
    (Tensor::new(&[n, 6, 6, 1], x).unwrap(), to_categorical(&labels, 2).unwrap())
}

/// The convnet that learns the bright-pixel task.
fn small_convnet(seed: u64) -> Sequential {
    common::tiny_convnet(&[6, 6, 1], 2, seed)
}

#[test]
fn fit_learns_a_simple_task() {
    let (x, y) = bright_pixel_task(200);
    let mut model = small_convnet(1);
    let (loss_before, _) = model.evaluate(&x, &y, 50).unwrap();
    let mut opt = RmsProp::new(0.01);
    let options = FitOptions { epochs: 15, batch_size: 16, seed: 2 };
    let mut steps = 0;
    let history = model.fit(&x, &y, &mut opt, &options, |_| steps += 1).unwrap();
    assert_eq!(steps, 15 * 13, "200 samples in batches of 16 is 13 steps per epoch");
    assert_eq!(history.loss.len(), 15);
    let (loss_after, acc_after) = model.evaluate(&x, &y, 50).unwrap();
    assert!(loss_after < loss_before / 2.0, "loss {loss_before} -> {loss_after}");
    assert!(acc_after >= 0.95, "accuracy {acc_after}");
    assert!(history.loss[14] < history.loss[0]);
}

#[test]
fn the_same_seeds_give_the_same_training_run() {
    let (x, y) = bright_pixel_task(64);
    let options = FitOptions { epochs: 2, batch_size: 8, seed: 3 };
    let run = |model_seed, options: &FitOptions| {
        let mut model = small_convnet(model_seed);
        let history = model.fit(&x, &y, &mut RmsProp::new(0.01), options, |_| {}).unwrap();
        (history, model.predict(&x, 64).unwrap())
    };
    assert_eq!(run(4, &options), run(4, &options));
    assert_ne!(run(4, &options).0, run(5, &options).0, "another initialisation");
    assert_ne!(run(4, &options).0, run(4, &FitOptions { seed: 9, ..options }).0, "another shuffle");
}

#[test]
fn evaluate_does_not_depend_on_the_batch_size() {
    let (x, y) = bright_pixel_task(37);
    let mut model = small_convnet(6);
    let (l1, a1) = model.evaluate(&x, &y, 37).unwrap();
    let (l2, a2) = model.evaluate(&x, &y, 5).unwrap();
    assert!((l1 - l2).abs() < 1e-6);
    assert_eq!(a1, a2);
}

#[test]
fn a_nan_loss_stops_training_with_a_clear_error() {
    let (mut x, y) = bright_pixel_task(32);
    x.data_mut()[0] = f32::NAN;
    let mut model = small_convnet(7);
    let options = FitOptions { epochs: 1, batch_size: 32, seed: 0 };
    let err = model.fit(&x, &y, &mut RmsProp::default(), &options, |_| {}).unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { epoch: 1, step: 1, .. }), "{err}");
    assert!(err.to_string().contains("learning rate"));
}

#[test]
fn fit_rejects_inputs_that_do_not_fit() {
    let (x, y) = bright_pixel_task(10);
    let mut model = small_convnet(8);
    let mut opt = RmsProp::default();
    let zero_batch = FitOptions { batch_size: 0, ..FitOptions::default() };
    assert!(model.fit(&x, &y, &mut opt, &zero_batch, |_| {}).is_err());
    let fewer_targets = y.batch_range(0, 9).unwrap();
    assert!(model.fit(&x, &fewer_targets, &mut opt, &FitOptions::default(), |_| {}).is_err());
    let three_classes = to_categorical(&[0; 10], 3).unwrap();
    assert!(model.fit(&x, &three_classes, &mut opt, &FitOptions::default(), |_| {}).is_err());

    let mut no_softmax = Sequential::new(&[6, 6, 1], 0);
    no_softmax.add(Flatten::new()).unwrap().add(Dense::new(2)).unwrap();
    let err = no_softmax.compute_gradients(&x, &y).unwrap_err();
    assert!(err.to_string().contains("softmax"));
}

#[test]
fn glorot_uniform_draws_within_the_keras_limit_with_the_right_spread() {
    use rand::SeedableRng;
    // A Conv2D(64, 3×3) on 32 channels: fans 3·3·32 = 288 and 3·3·64 = 576.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let w = convnets::init::glorot_uniform(18_432, 288, 576, &mut rng);
    let limit = (6.0f32 / (288.0 + 576.0)).sqrt();
    assert!(w.iter().all(|v| v.abs() <= limit));
    let n = w.len() as f32;
    let mean = w.iter().sum::<f32>() / n;
    let variance = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    // U(-l, l) has mean 0 and variance l²/3 = 2 / (fan_in + fan_out).
    assert!(mean.abs() < 0.01 * limit, "mean {mean}");
    assert!((variance / (limit * limit / 3.0) - 1.0).abs() < 0.03, "variance {variance}");
    // Seeded: the same seed, the same weights.
    let again = convnets::init::glorot_uniform(18_432, 288, 576, &mut rand::rngs::StdRng::seed_from_u64(0));
    assert_eq!(w, again);
    // `Init`, what `Layer::build` is handed, draws the same values from the same seed.
    assert_eq!(convnets::init::Init::new(0).glorot_uniform(18_432, 288, 576), w);
}

#[test]
fn a_new_model_has_zero_biases_and_glorot_kernels() {
    let mut model = convnets::model::book_model(0).unwrap();
    let params = model.params();
    assert_eq!(params.len(), 10, "kernel and bias for 3 convs and 2 dense layers");
    for pair in params.chunks(2) {
        assert!(pair[1].value.iter().all(|&b| b == 0.0));
        assert!(pair[0].value.iter().any(|&w| w != 0.0));
    }
}

#[test]
fn fit_with_validates_every_epoch_and_augments_reproducibly() {
    use convnets::augment::{Augmentation, augmenter};
    use convnets::train::FitExtras;
    let (x, y) = bright_pixel_task(64);
    let (xv, yv) = bright_pixel_task(20);
    let options = FitOptions { epochs: 3, batch_size: 16, seed: 4 };
    let validated = FitExtras { validation: Some((&xv, &yv)), transform: None };
    let mut model = small_convnet(3);
    let history = model.fit_with(&x, &y, &mut RmsProp::new(0.01), &options, &validated, |_| {}).unwrap();
    assert_eq!((history.val_loss.len(), history.val_accuracy.len()), (3, 3));
    let (loss, accuracy) = model.evaluate(&xv, &yv, 20).unwrap();
    assert_eq!(
        (history.val_loss[2], history.val_accuracy[2]),
        (loss, accuracy),
        "the last entry is the final model"
    );

    // Training itself is the same with or without validation data.
    let plain = small_convnet(3).fit(&x, &y, &mut RmsProp::new(0.01), &options, |_| {}).unwrap();
    assert_eq!((plain.loss, plain.accuracy), (history.loss.clone(), history.accuracy.clone()));

    // Augmentation changes the run, and the same seed repeats it exactly.
    let augmented = FitExtras { transform: Some(augmenter(Augmentation::default(), 4)), ..validated };
    let run =
        || small_convnet(3).fit_with(&x, &y, &mut RmsProp::new(0.01), &options, &augmented, |_| {}).unwrap();
    let (first, second) = (run(), run());
    assert_eq!(first, second);
    assert_ne!(first.loss, history.loss);
}

#[test]
fn the_textbook_trains_on_its_own_plain_loops() {
    // No engine at all: the model's own layers forward and back, step after step.
    let (x, y) = bright_pixel_task(200);
    let mut model = small_convnet(1);
    let mut plain = PlainLoops;
    let (loss_before, _) = model.evaluate_using(&mut plain, &x, &y, 50).unwrap();
    let options = FitOptions { epochs: 15, batch_size: 16, seed: 2 };
    let history = model
        .fit_using(&mut plain, &x, &y, &mut RmsProp::new(0.01), &options, &Default::default(), |_| {})
        .unwrap();
    assert_eq!(history.loss.len(), 15);
    let (loss_after, acc_after) = model.evaluate_using(&mut plain, &x, &y, 50).unwrap();
    assert!(loss_after < loss_before / 2.0, "loss {loss_before} -> {loss_after}");
    assert!(acc_after >= 0.95, "accuracy {acc_after}");
}

#[test]
fn the_plain_loops_and_the_engine_evaluate_alike() {
    // `evaluate` runs the engine's plan, `evaluate_using(PlainLoops)` the textbook's layers:
    // the same loss up to the order of f32 sums, the same accuracy.
    let (x, y) = bright_pixel_task(37);
    let mut model = small_convnet(6);
    let (engine_loss, engine_accuracy) = model.evaluate(&x, &y, 10).unwrap();
    let (plain_loss, plain_accuracy) = model.evaluate_using(&mut PlainLoops, &x, &y, 10).unwrap();
    assert!((engine_loss - plain_loss).abs() < 1e-5, "{engine_loss} vs {plain_loss}");
    assert_eq!(engine_accuracy, plain_accuracy);
}
