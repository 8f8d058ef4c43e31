//! Looking inside a model: the gradients behind filter patterns and Grad-CAM against finite
//! differences, and the shapes of what the pictures are made from.

mod common;

use convnets::visualize::{
    activations, class_score_gradient, conv_layers, filter_mean_gradient, filter_pattern, grad_cam,
};
use convnets::{Sequential, Tensor};

/// Conv(3, 3×3, relu) → MaxPool(2×2) → Conv(4, 2×2, relu) → Flatten → Dense(3, softmax) on 8×8 images.
fn small_model() -> Sequential {
    common::model(&[8, 8, 1], 11).conv(3, (3, 3)).max_pool(2).conv(4, (2, 2)).flatten().softmax(3)
}

fn image() -> Tensor {
    Tensor::new(
        &[1, 8, 8, 1],
        (0..64).map(|i| ((i * 37 % 64) as f32 / 64.0 + 0.013 * i as f32).fract()).collect(),
    )
    .unwrap()
}

/// Central differences of `f` at every value of `x` (ε = 1e-3; f32 forward passes, so the
/// difference quotients carry about 1e-4 of rounding noise).
fn numerical(x: &Tensor, mut f: impl FnMut(&Tensor) -> f64) -> Vec<f64> {
    let eps = 1e-3f32;
    (0..x.len())
        .map(|i| {
            let (mut up, mut down) = (x.clone(), x.clone());
            up.data_mut()[i] += eps;
            down.data_mut()[i] -= eps;
            (f(&up) - f(&down)) / f64::from(2.0 * eps)
        })
        .collect()
}

fn assert_gradients_match(analytic: &[f32], numerical: &[f64]) {
    assert_eq!(analytic.len(), numerical.len());
    for (i, (&a, &n)) in analytic.iter().zip(numerical).enumerate() {
        assert!((f64::from(a) - n).abs() <= 2e-3 + 2e-2 * n.abs(), "entry {i}: analytic {a}, numerical {n}");
    }
}

#[test]
fn the_class_score_gradient_matches_finite_differences() {
    let mut model = small_model();
    let last_conv = *conv_layers(&model).last().unwrap();
    assert_eq!(last_conv, 2);
    for class in 0..3 {
        let (activation, grad) = class_score_gradient(&mut model, &image(), last_conv, class).unwrap();
        assert_eq!(activation.shape(), &[1, 2, 2, 4]);
        assert!(grad.data().iter().any(|&g| g != 0.0));
        let score = |a: &Tensor| {
            model.forward_range(a, 3..5).unwrap();
            f64::from(model.layer(4).unwrap().logits().unwrap().data()[class])
        };
        assert_gradients_match(grad.data(), &numerical(&activation, score));
    }
}

#[test]
fn the_filter_gradient_matches_finite_differences() {
    let mut model = small_model();
    for (layer, filter) in [(0, 1), (2, 3)] {
        let (value, grad) = filter_mean_gradient(&mut model, &image(), layer, filter).unwrap();
        assert_eq!(grad.shape(), &[1, 8, 8, 1]);
        let mut mean = |x: &Tensor| {
            let a = model.forward_range(x, 0..layer + 1).unwrap();
            let c = a.shape()[3];
            let values: Vec<f32> = a.data().iter().skip(filter).step_by(c).copied().collect();
            values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
        };
        assert!((mean(&image()) - value).abs() < 1e-6);
        assert_gradients_match(grad.data(), &numerical(&image(), mean));
    }
}

#[test]
fn grad_cam_weights_channels_by_their_mean_gradient() {
    let mut model = small_model();
    let (map, h, w) = grad_cam(&mut model, &image(), 2, 1).unwrap();
    assert_eq!((h, w, map.len()), (2, 2, 4));
    assert!(map.iter().all(|&v| v >= 0.0), "ReLU keeps only positive evidence");
    // The same map computed by hand from the activation and the gradient.
    let (a, g) = class_score_gradient(&mut model, &image(), 2, 1).unwrap();
    let alpha: Vec<f32> = (0..4).map(|k| g.data().iter().skip(k).step_by(4).sum::<f32>() / 4.0).collect();
    for (p, &m) in map.iter().enumerate() {
        let weighted: f32 = (0..4).map(|k| alpha[k] * a.data()[p * 4 + k]).sum();
        assert!((m - weighted.max(0.0)).abs() < 1e-6);
    }
}

#[test]
fn gradient_ascent_raises_the_filters_response() {
    let mut model = small_model();
    let grey = Tensor::new(&[1, 8, 8, 1], vec![0.5; 64]).unwrap();
    for (layer, filter) in [(0, 0), (0, 2), (2, 1)] {
        let (before, _) = filter_mean_gradient(&mut model, &grey, layer, filter).unwrap();
        let pattern = filter_pattern(&mut model, layer, filter, 20, 0.1).unwrap();
        assert_eq!(pattern.shape(), &[1, 8, 8, 1]);
        let (after, _) = filter_mean_gradient(&mut model, &pattern, layer, filter).unwrap();
        assert!(after > before + 0.1, "layer {layer} filter {filter}: {before} -> {after}");
    }
}

#[test]
fn activations_are_every_layers_output() {
    let mut model = small_model();
    let outputs = activations(&mut model, &image()).unwrap();
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["conv2d_1", "max_pooling2d_1", "conv2d_2", "flatten_1", "dense_1"]);
    for ((_, t), shape) in outputs.iter().zip(model.layer_shapes()) {
        assert_eq!(&t.shape()[1..], shape);
    }
    let probs = outputs.last().unwrap().1.data();
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn bad_requests_are_errors() {
    let mut model = small_model();
    assert!(class_score_gradient(&mut model, &image(), 2, 3).is_err(), "class 3 of 3");
    assert!(class_score_gradient(&mut model, &image(), 4, 0).is_err(), "nothing after the last layer");
    assert!(filter_mean_gradient(&mut model, &image(), 0, 3).is_err(), "filter 3 of 3");
    assert!(filter_mean_gradient(&mut model, &image(), 9, 0).is_err(), "no layer 9");
    let two = Tensor::zeros(&[2, 8, 8, 1]).unwrap();
    assert!(filter_mean_gradient(&mut model, &two, 0, 0).is_err(), "one image at a time");
}

#[test]
fn the_pictures_have_one_tile_per_channel_and_decode_as_png() {
    use convnets::visualize::{activation_grids, first_filters, grad_cam_overlays, pattern_grids};
    let mut model = small_model();
    // Grid size: `gap + columns · (tile · scale + gap)` across, the same with rows down.
    let size = |tiles: usize, side: usize, scale: usize| {
        let columns = tiles.min(8);
        (2 + columns * (side * scale + 2), 2 + tiles.div_ceil(columns) * (side * scale + 2))
    };
    let grids = activation_grids(&mut model, &image()).unwrap();
    let names: Vec<&str> = grids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["activations_conv2d_1.png", "activations_max_pooling2d_1.png", "activations_conv2d_2.png"],
        "one grid per image-shaped output; flatten and dense are not pictures"
    );
    // 3 channels of 6×6 (scale 112/6 = 18), 3 of 3×3 (37), 4 of 2×2 (56).
    let expected = [size(3, 6, 18), size(3, 3, 37), size(4, 2, 56)];
    for ((_, picture), (w, h)) in grids.iter().zip(expected) {
        assert_eq!((picture.width, picture.height), (w, h));
    }
    let (name, filters) = first_filters(&model).unwrap().unwrap();
    assert_eq!(name, "filters_conv2d_1.png");
    assert_eq!((filters.width, filters.height), size(3, 3, 16));
    let patterns = pattern_grids(&mut model, 16, 3).unwrap();
    assert_eq!(patterns.len(), 2, "one grid per convolution");
    assert_eq!((patterns[1].1.width, patterns[1].1.height), size(4, 8, 14));
    let overlays = grad_cam_overlays(&mut model, &image(), &[0, 2]).unwrap();
    assert_eq!(
        overlays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["gradcam_class0.png", "gradcam_class2.png"]
    );
    assert_eq!((overlays[0].1.width, overlays[0].1.height), (64, 64), "8×8 digit enlarged 8 times");

    // Written and read back with the png crate.
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("visualize_grid.png");
    convnets::picture::write_png(&path, &grids[0].1).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!(
        (reader.info().width as usize, reader.info().height as usize),
        (grids[0].1.width, grids[0].1.height)
    );
}
