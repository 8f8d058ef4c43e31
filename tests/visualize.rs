//! Looking inside a model: the gradients behind filter patterns and Grad-CAM against finite
//! differences, and the shapes of what the pictures are made from.

mod common;

use convnets::visualize::{
    activations, class_score_gradient, conv_layers, filter_mean_gradient, filter_pattern, grad_cam,
    receptive_field,
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

/// The output of channel `filter` of layer `layer` at the middle of its map, for `x`.
fn centre_response(model: &mut Sequential, x: &Tensor, layer: usize, filter: usize) -> f32 {
    let y = model.forward_range(x, 0..layer + 1).unwrap();
    let (_, h, w, c) = y.nhwc().unwrap();
    y.data()[((h / 2) * w + w / 2) * c + filter]
}

#[test]
fn gradient_ascent_raises_the_response_of_the_unit_in_the_middle() {
    let mut model = small_model();
    let grey = Tensor::new(&[1, 8, 8, 1], vec![0.5; 64]).unwrap();
    for (layer, filter) in [(0, 0), (0, 2), (2, 1)] {
        let before = centre_response(&mut model, &grey, layer, filter);
        let pattern = filter_pattern(&mut model, layer, filter, 20, 0.1).unwrap();
        assert_eq!(pattern.shape(), &[1, 8, 8, 1]);
        let after = centre_response(&mut model, &pattern, layer, filter);
        assert!(after > before + 0.1, "layer {layer} filter {filter}: {before} -> {after}");
    }
}

#[test]
fn a_first_layer_pattern_changes_only_its_receptive_field_and_is_not_flat() {
    let mut model = small_model();
    let (rows, cols) = receptive_field(&model, 0).unwrap();
    assert_eq!(
        (rows.clone(), cols.clone()),
        (3..6, 3..6),
        "the 3×3 window of the unit at (3, 3) of a 6×6 map"
    );
    let start = filter_pattern(&mut model, 0, 1, 0, 0.1).unwrap();
    let pattern = filter_pattern(&mut model, 0, 1, 20, 0.1).unwrap();
    for (i, (a, b)) in start.data().iter().zip(pattern.data()).enumerate() {
        let inside = rows.contains(&(i / 8)) && cols.contains(&(i % 8));
        assert_eq!(inside, a != b, "pixel {i} changed: {a} -> {b}");
    }
    let values = pattern.data();
    let crop: Vec<f32> = rows.flat_map(|y| cols.clone().map(move |x| values[y * 8 + x])).collect();
    let spread =
        crop.iter().copied().fold(f32::MIN, f32::max) - crop.iter().copied().fold(f32::MAX, f32::min);
    assert!(spread > 0.5, "the pattern is the filter's shape, not a flat square: {crop:?}");
}

#[test]
fn receptive_fields_grow_through_the_books_model() {
    let model = convnets::model::book_model(0).unwrap();
    let sizes: Vec<(usize, usize)> = [0, 1, 2, 3, 4]
        .iter()
        .map(|&layer| {
            let (rows, cols) = receptive_field(&model, layer).unwrap();
            (rows.len(), cols.len())
        })
        .collect();
    assert_eq!(sizes, [(3, 3), (4, 4), (8, 8), (10, 10), (18, 18)]);
    let (rows, cols) = receptive_field(&model, 6).unwrap();
    assert_eq!((rows, cols), (0..28, 0..28), "a dense unit sees the whole image");
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
fn the_pictures_are_labelled_sheets_that_decode_as_png() {
    use convnets::visualize::{activation_grids, first_filters, grad_cam_overlays, pattern_grids};
    let mut model = small_model();
    let grids = activation_grids(&mut model, &image()).unwrap();
    let names: Vec<&str> = grids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["activations_conv2d_1.png", "activations_max_pooling2d_1.png", "activations_conv2d_2.png"],
        "one sheet per image-shaped output; flatten and dense are not pictures"
    );
    let (name, _) = first_filters(&model).unwrap().unwrap();
    assert_eq!(name, "filters_conv2d_1.png");
    let patterns = pattern_grids(&mut model, 16, 3).unwrap();
    assert_eq!(patterns.len(), 2, "one sheet per convolution");
    let overlays = grad_cam_overlays(&mut model, &image(), &[0, 2]).unwrap();
    assert_eq!(
        overlays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["gradcam_class0.png", "gradcam_class2.png"]
    );
    // The overlay's digit is enlarged 8 times, with room for the title and the legend.
    assert!(overlays[0].1.width >= 64 && overlays[0].1.height > 64 + 30);

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

#[test]
fn a_sheet_draws_its_tiles_on_one_scale_and_refuses_what_it_cannot_draw() {
    use convnets::picture::{Sheet, grey};
    let sheet = |tiles: Vec<(String, Vec<[u8; 3]>)>| Sheet {
        title: "t".into(),
        tiles,
        tile_width: 2,
        tile_height: 2,
        columns: 8,
        scale: 3,
        legend: None,
        caption: String::new(),
    };
    let black = vec![grey(0.0); 4];
    let white = vec![grey(1.0); 4];
    let picture = sheet(vec![("0".into(), black.clone()), ("1".into(), white)]).render().unwrap();
    let pixels = &picture.pixels;
    assert!(pixels.contains(&[0, 0, 0]) && pixels.contains(&[255, 255, 255]), "a black and a white tile");
    assert!(sheet(Vec::new()).render().is_err(), "no tiles");
    assert!(sheet(vec![("0".into(), vec![grey(0.5); 3])]).render().is_err(), "a tile of the wrong size");
    assert!(Sheet { columns: 0, ..sheet(vec![("0".into(), black)]) }.render().is_err(), "no columns");
}
