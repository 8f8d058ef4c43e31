//! The Sequential model: the book's summaries, shape checks, and batched prediction.

use convnets::model::{book_model, book_model_using, no_max_pooling_model};
use convnets::{Activation, Conv2D, ConvAlgorithm, Dense, Flatten, MaxPooling2D, Sequential, Tensor};

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
    let mut model = Sequential::new(&[8, 8, 2], 3);
    model
        .add(Conv2D::new(4, (3, 3)).activation(Activation::Relu))
        .unwrap()
        .add(MaxPooling2D::new((2, 2)))
        .unwrap()
        .add(Flatten::new())
        .unwrap()
        .add(Dense::new(5).activation(Activation::Softmax))
        .unwrap();
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

/// Every weight gradient of `model` after one backward pass without any shortcut: each layer's
/// own `backward`, the ReLU's gradient taken by the layer that applied it.
fn plain_gradients(model: &mut Sequential, x: &Tensor, targets: &Tensor) -> Vec<f32> {
    let probs = model.forward(x).unwrap().clone();
    let dz = convnets::loss::softmax_crossentropy_grad(&probs, targets).unwrap();
    model.backward_range(&dz, 0..model.len(), true).unwrap();
    model.params().iter().flat_map(|p| p.grad.to_vec()).collect()
}

/// Checks that `compute_gradients`, which lets each max pooling take the ReLU's gradient of
/// the layer before it, gives the same bits as the plain backward pass.
fn assert_folding_changes_nothing(make: impl Fn() -> Sequential, shape: [usize; 3], classes: usize) {
    let len = 4 * shape.iter().product::<usize>();
    let values = (0..len).map(|i| ((i * 37) % 101) as f32 / 50.0 - 0.5).collect();
    let x = Tensor::new(&[4, shape[0], shape[1], shape[2]], values).unwrap();
    let labels: Vec<u8> = (0..4).map(|i| (i % classes) as u8).collect();
    let targets = convnets::metrics::to_categorical(&labels, classes).unwrap();
    let mut model = make();
    model.compute_gradients(&x, &targets).unwrap();
    let folded: Vec<f32> = model.params().iter().flat_map(|p| p.grad.to_vec()).collect();
    assert_eq!(folded, plain_gradients(&mut make(), &x, &targets));
    assert!(folded.iter().any(|&g| g != 0.0));
}

#[test]
fn folding_relu_into_max_pooling_gives_the_same_gradients() {
    // The book's model as it trains: its first two layers image by image (`fused.rs`).
    assert_folding_changes_nothing(|| book_model(6).unwrap(), [28, 28, 1], 10);
    // And layer by layer, with im2col.
    assert_folding_changes_nothing(|| book_model_using(6, ConvAlgorithm::Im2col).unwrap(), [28, 28, 1], 10);
    // Overlapping windows (3×3, stride 2, same padding): one input can win several windows.
    // Layer by layer (im2col, chosen by Auto for 4 filters), and image by image (direct).
    for algorithm in [ConvAlgorithm::Auto, ConvAlgorithm::Direct] {
        assert_folding_changes_nothing(|| overlapping(algorithm), [9, 9, 2], 3);
    }
}

/// A small model whose first pooling has overlapping windows, its first convolution computed
/// by `algorithm`.
fn overlapping(algorithm: ConvAlgorithm) -> Sequential {
    let mut model = Sequential::new(&[9, 9, 2], 3);
    model
        .add(Conv2D::new(4, (3, 3)).activation(Activation::Relu).algorithm(algorithm))
        .unwrap()
        .add(MaxPooling2D::new((3, 3)).strides((2, 2)).padding(convnets::Padding::Same))
        .unwrap()
        .add(Conv2D::new(3, (2, 2)).activation(Activation::Relu))
        .unwrap()
        .add(MaxPooling2D::new((2, 2)))
        .unwrap()
        .add(Flatten::new())
        .unwrap()
        .add(Dense::new(3).activation(Activation::Softmax))
        .unwrap();
    model
}

#[test]
fn the_last_layer_can_be_the_only_one_trained() {
    // A one-layer model, and a model with every other layer frozen: the last layer is then
    // also the first one trained, and gets the same gradients as in the plain backward pass.
    let values = |len: usize| (0..len).map(|i| ((i * 37) % 101) as f32 / 50.0 - 0.5).collect();
    let targets = convnets::metrics::to_categorical(&[0, 1, 2, 0], 3).unwrap();
    let mut alone = Sequential::new(&[9], 1);
    alone.add(Dense::new(3).activation(Activation::Softmax)).unwrap();
    let x = Tensor::new(&[4, 9], values(36)).unwrap();
    let (loss, _) = alone.compute_gradients(&x, &targets).unwrap();
    assert!(loss.is_finite());
    assert_eq!(
        alone.params().iter().flat_map(|p| p.grad.to_vec()).collect::<Vec<_>>(),
        plain_gradients(&mut alone, &x, &targets)
    );

    let x = Tensor::new(&[4, 9, 9, 2], values(648)).unwrap();
    let mut frozen = overlapping(ConvAlgorithm::Direct);
    for i in 0..frozen.len() - 1 {
        frozen.set_trainable(i, false).unwrap();
    }
    frozen.compute_gradients(&x, &targets).unwrap();
    let last: Vec<f32> = frozen.params().iter().flat_map(|p| p.grad.to_vec()).collect();
    let all = plain_gradients(&mut overlapping(ConvAlgorithm::Direct), &x, &targets);
    assert_eq!(last, all[all.len() - last.len()..]);
    assert!(last.iter().any(|&g| g != 0.0));
}
