//! The Sequential model: the book's summaries, shape checks, batched prediction, and the
//! engine's shortcuts (ReLU folding, frozen layers) giving the textbook's gradients.

mod common;

use common::{ALGORITHMS, assert_plan_matches_textbook, overlapping_pools};
use convnets::model::{book_model, no_max_pooling_model};
use convnets::{Conv2D, ConvAlgorithm, Dense, MaxPooling2D, Sequential, Tensor};

/// The summary's rows as (name, output shape, params), whitespace-insensitive.
fn rows(summary: &str) -> Vec<(String, String, String)> {
    summary
        .lines()
        .filter(|l| l.contains("(None"))
        .map(|l| {
            let open = l.find("(None").unwrap();
            let close = open + l[open..].find(')').unwrap();
            (l[..open].trim().to_string(), l[open..=close].to_string(), l[close + 1..].trim().to_string())
        })
        .collect()
}

#[test]
fn book_model_summary_matches_keras() {
    let summary = book_model(1).unwrap().summary();
    let expected = [
        ("conv2d_1 (Conv2D)", "(None, 26, 26, 32)", "320"),
        ("max_pooling2d_1 (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
        ("conv2d_2 (Conv2D)", "(None, 11, 11, 64)", "18496"),
        ("max_pooling2d_2 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
        ("conv2d_3 (Conv2D)", "(None, 3, 3, 64)", "36928"),
        ("flatten_1 (Flatten)", "(None, 576)", "0"),
        ("dense_1 (Dense)", "(None, 64)", "36928"),
        ("dense_2 (Dense)", "(None, 10)", "650"),
    ];
    let got = rows(&summary);
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(got, expected, "\n{summary}");
    assert!(summary.contains("Layer (type)"));
    assert!(summary.contains("Total params: 93,322\n"));
    assert!(summary.contains("Trainable params: 93,322\n"));
    assert!(summary.contains("Non-trainable params: 0\n"));
}

#[test]
fn no_max_pooling_summary_matches_keras() {
    let summary = no_max_pooling_model(1).unwrap().summary();
    let got = rows(&summary);
    let names: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    let shapes: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
    let params: Vec<&str> = got.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(names, ["conv2d_1 (Conv2D)", "conv2d_2 (Conv2D)", "conv2d_3 (Conv2D)"]);
    assert_eq!(shapes, ["(None, 26, 26, 32)", "(None, 24, 24, 64)", "(None, 22, 22, 64)"]);
    assert_eq!(params, ["320", "18496", "36928"]);
    assert!(summary.contains("Total params: 55,744\n"));
}

#[test]
fn adding_a_layer_that_does_not_fit_is_an_error() {
    let mut model = Sequential::new(&[28, 28, 1], 0);
    assert!(model.add(Dense::new(10)).is_err(), "Dense needs a Flatten first");
    model.add(MaxPooling2D::new((2, 2))).unwrap();
    assert!(model.add(Conv2D::new(8, (15, 15))).is_err(), "15×15 kernel on a 14×14 map");
    assert_eq!(model.layer_names(), ["max_pooling2d_1"]);
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let x = Tensor::new(&[2, 28, 28, 1], (0..2 * 784).map(|i| (i % 255) as f32 / 255.0).collect()).unwrap();
    let a = book_model(7).unwrap().forward(&x).unwrap().clone();
    let b = book_model(7).unwrap().forward(&x).unwrap().clone();
    let c = book_model(8).unwrap().forward(&x).unwrap().clone();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn predict_in_batches_equals_one_big_forward() {
    let mut model = common::tiny_convnet(&[8, 8, 2], 5, 3);
    let x = Tensor::new(&[7, 8, 8, 2], (0..7 * 128).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect())
        .unwrap();
    let all = model.forward(&x).unwrap().clone();
    assert_eq!(all.shape(), &[7, 5]);
    for batch_size in [1, 3, 7, 100] {
        assert_eq!(model.predict(&x, batch_size).unwrap(), all, "batch size {batch_size}");
    }
    for probs in all.data().chunks(5) {
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    assert!(model.predict(&x, 0).is_err());
    assert!(
        model.forward(&Tensor::zeros(&[1, 8, 8, 3]).unwrap()).is_err(),
        "3 channels for a 2-channel model"
    );
}

#[test]
fn folding_relu_into_max_pooling_gives_the_textbook_gradients() {
    // The plan lets each max pooling take the ReLU's gradient of the convolution before it
    // (the textbook's model takes it in the convolution's own backward pass). Overlapping
    // windows (3×3, stride 2, same padding): one input can win several windows, and its
    // gradient is the sum of theirs either way. Every algorithm: with the direct loops the
    // first two layers also train image by image (`fused.rs`).
    let mut model = overlapping_pools(3);
    let (x, y) = common::batch_for(&model, 4, 1);
    for algorithm in ALGORITHMS {
        let grads = assert_plan_matches_textbook(&mut model, &x, &y, algorithm, 1);
        assert!(grads.iter().all(|g| g.iter().any(|&v| v != 0.0)), "every array gets a gradient");
    }
}

#[test]
fn the_last_layer_can_be_the_only_one_trained() {
    // A one-layer model, and a model with every other layer frozen: the last layer is then
    // also the first one trained. The plan gets the textbook's gradients for it, and the
    // textbook's are those it has in the whole model unfrozen (nothing below it matters).
    let mut alone = common::model(&[9], 1).softmax(3);
    let (x, y) = common::batch_for(&alone, 4, 2);
    let grads = assert_plan_matches_textbook(&mut alone, &x, &y, ConvAlgorithm::Auto, 1);
    assert_eq!(grads.len(), 2);

    let mut frozen = overlapping_pools(3);
    let (x, y) = common::batch_for(&frozen, 4, 3);
    for i in 0..frozen.len() - 1 {
        frozen.set_trainable(i, false).unwrap();
    }
    for algorithm in [ConvAlgorithm::Direct, ConvAlgorithm::Im2col] {
        let last = assert_plan_matches_textbook(&mut frozen, &x, &y, algorithm, 2);
        assert_eq!(last.len(), 2, "the last layer's kernel and bias");
        let (_, _, all) = common::textbook_gradients(&mut overlapping_pools(3), &x, &y);
        assert_eq!(last, all[all.len() - 2..]);
        assert!(last.iter().all(|g| g.iter().any(|&v| v != 0.0)));
    }
}
