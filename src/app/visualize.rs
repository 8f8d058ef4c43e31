//! Looking inside a trained convnet: what each layer outputs, what its filters respond to,
//! and where the model looks when it decides on a class.
//!
//! Everything here reuses the forward and backward passes the model trains with. Two of the
//! three techniques are gradients with respect to something other than the weights:
//!
//! - **filter patterns**: the gradient of one filter's mean activation with respect to the
//!   *input image*, followed uphill, draws the pattern that filter responds to most;
//! - **class activation maps (Grad-CAM)**: the gradient of a class score with respect to the
//!   last convolution's output says how much each of its channels matters for that class.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

use crate::error::{Error, Result};
use crate::model::Sequential;
use crate::picture::{Gray, Rgb, grid, heatmap_overlay};
use crate::spec::LayerSpec;
use crate::tensor::Tensor;

/// Each layer's name and output for `image` (a batch of one, `(1, 28, 28, 1)` for MNIST).
pub fn activations(model: &mut Sequential, image: &Tensor) -> Result<Vec<(String, Tensor)>> {
    let names: Vec<String> = model.layer_names().iter().map(|n| n.to_string()).collect();
    let mut x = image.clone();
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        x = model.forward_range(&x, i..i + 1)?.clone();
        out.push((name, x.clone()));
    }
    Ok(out)
}

/// The indices of the model's convolution layers, in order.
pub fn conv_layers(model: &Sequential) -> Vec<usize> {
    (0..model.len()).filter(|&i| model.layer(i).is_some_and(|l| l.kind() == "conv2d")).collect()
}

fn check_channel(activation: &Tensor, layer: usize, channel: usize) -> Result<(usize, usize, usize)> {
    let (n, h, w, c) = activation.nhwc()?;
    if n != 1 {
        return Err(Error::shape(format!("expected a batch of one image, got {n}")));
    }
    if channel >= c {
        return Err(Error::model(format!("layer {layer} has {c} channels, not {}", channel + 1)));
    }
    Ok((h, w, c))
}

// ANCHOR: filter_gradient
/// The mean activation of channel `filter` of layer `layer`'s output for input `x` (a batch
/// of one), and its gradient with respect to `x`.
///
/// The mean over the `h × w` positions has gradient `1 / (h·w)` at every position of that
/// channel and 0 elsewhere; the model's own backward pass carries it down to the input.
pub fn filter_mean_gradient(
    model: &mut Sequential,
    x: &Tensor,
    layer: usize,
    filter: usize,
) -> Result<(f64, Tensor)> {
    mean_gradient(model, x, layer, filter, false)
}

/// [`filter_mean_gradient`], optionally of the mean *before* the layer's activation (the
/// returned mean is always of the output after it).
fn mean_gradient(
    model: &mut Sequential,
    x: &Tensor,
    layer: usize,
    filter: usize,
    before_activation: bool,
) -> Result<(f64, Tensor)> {
    let activation = model.forward_range(x, 0..layer + 1)?.clone();
    let (h, w, c) = check_channel(&activation, layer, filter)?;
    let mut grad = Tensor::zeros(activation.shape())?;
    let share = 1.0 / (h * w) as f32;
    let mut mean = 0.0f64;
    for (pixel, g) in activation.data().chunks(c).zip(grad.data_mut().chunks_mut(c)) {
        mean += f64::from(pixel[filter]);
        g[filter] = share;
    }
    let dx = model.backward_range(&grad, 0..layer + 1, before_activation)?;
    Ok((mean / (h * w) as f64, dx))
}
// ANCHOR_END: filter_gradient

// ANCHOR: filter_pattern
/// The input that makes channel `filter` of layer `layer` respond most, found by gradient
/// ascent from a grey image with a little noise (seeded, so the result is repeatable):
/// `steps` steps of `step_size` along the gradient, normalised by its root mean square (as
/// the book does), so each step has the same size whatever the scale of the activations.
///
/// It climbs the filter's mean response *before* its ReLU. After the ReLU, a filter that is
/// silent everywhere on the starting image has a gradient of exactly zero and could never
/// start climbing; the ReLU only cuts values off, so the preferred pattern is the same.
pub fn filter_pattern(
    model: &mut Sequential,
    layer: usize,
    filter: usize,
    steps: usize,
    step_size: f32,
) -> Result<Tensor> {
    let mut shape = vec![1];
    shape.extend_from_slice(model.input_shape());
    let len = crate::tensor::element_count(&shape)?;
    let noise = Uniform::new_inclusive(-0.1f32, 0.1);
    let mut rng = StdRng::seed_from_u64((layer as u64) << 32 | filter as u64);
    let mut x = Tensor::new(&shape, (0..len).map(|_| 0.5 + noise.sample(&mut rng)).collect())?;
    for _ in 0..steps {
        let (_, grad) = mean_gradient(model, &x, layer, filter, true)?;
        let rms = (grad.data().iter().map(|g| g * g).sum::<f32>() / len as f32).sqrt();
        let scale = step_size / (rms + 1e-5);
        for (v, g) in x.data_mut().iter_mut().zip(grad.data()) {
            *v += scale * g;
        }
    }
    Ok(x)
}
// ANCHOR_END: filter_pattern

// ANCHOR: class_gradient
/// The output of layer `layer` for `image` (a batch of one) and the gradient of the score of
/// `class` with respect to it. The score is the class's logit, the last layer's output
/// before its softmax: the probability would saturate near 0 or 1 and hide the gradient.
pub fn class_score_gradient(
    model: &mut Sequential,
    image: &Tensor,
    layer: usize,
    class: usize,
) -> Result<(Tensor, Tensor)> {
    let n = model.len();
    if layer + 1 >= n {
        return Err(Error::model(format!(
            "layer {layer} is not followed by any layer of this {n}-layer model"
        )));
    }
    let activation = model.forward_range(image, 0..layer + 1)?.clone();
    let output = model.forward_range(&activation, layer + 1..n)?;
    let [1, classes] = output.shape()[..] else {
        return Err(Error::shape(format!(
            "expected one image's class scores, got shape {:?}",
            output.shape()
        )));
    };
    if class >= classes {
        return Err(Error::model(format!("class {class} is not one of the model's {classes} classes")));
    }
    let mut one_hot = Tensor::zeros(&[1, classes])?;
    one_hot.data_mut()[class] = 1.0;
    let grad = model.backward_range(&one_hot, layer + 1..n, true)?;
    Ok((activation, grad))
}
// ANCHOR_END: class_gradient

// ANCHOR: grad_cam
/// Grad-CAM (Selvaraju et al., 2017) over the output of convolution layer `layer`: each
/// channel `k` gets the weight `α_k` = the mean over positions of `∂score/∂A_k`, and the map
/// is `ReLU(Σ_k α_k · A_k)`: high where the channels that speak for `class` are active.
/// Returns the map as `(height, width)` row-major values, with its height and width.
pub fn grad_cam(
    model: &mut Sequential,
    image: &Tensor,
    layer: usize,
    class: usize,
) -> Result<(Vec<f32>, usize, usize)> {
    let (activation, grad) = class_score_gradient(model, image, layer, class)?;
    let (_, h, w, c) = activation.nhwc()?;
    let mut alpha = vec![0.0f32; c];
    for pixel in grad.data().chunks(c) {
        alpha.iter_mut().zip(pixel).for_each(|(a, g)| *a += g / (h * w) as f32);
    }
    let map = activation
        .data()
        .chunks(c)
        .map(|pixel| pixel.iter().zip(&alpha).map(|(a, w)| a * w).sum::<f32>().max(0.0))
        .collect();
    Ok((map, h, w))
}
// ANCHOR_END: grad_cam

/// Tiles per row in every grid.
const COLUMNS: usize = 8;
/// Grey pixels between tiles.
const GAP: usize = 2;

/// One picture and the file name it is saved under.
pub type Picture = (String, Rgb);

/// Every image-shaped layer output for `image`, one grid per layer with one tile per
/// channel (each tile scaled to its own range, and enlarged to about 100 pixels).
pub fn activation_grids(model: &mut Sequential, image: &Tensor) -> Result<Vec<Picture>> {
    let mut pictures = Vec::new();
    for (name, activation) in activations(model, image)? {
        let Ok((_, h, _, c)) = activation.nhwc() else { continue }; // flat outputs are no picture
        let tiles: Vec<Gray> = (0..c)
            .map(|k| Gray::from_tensor_channel(&activation, 0, k).map(|g| g.normalized()))
            .collect::<Result<_>>()?;
        pictures.push((format!("activations_{name}.png"), grid(&tiles, COLUMNS, (112 / h).max(4), GAP)?));
    }
    Ok(pictures)
}

/// The first convolution's filters (their first input channel), one tile each: for MNIST
/// the 32 3×3 kernels the model learned to look at pixels with.
pub fn first_filters(model: &Sequential) -> Result<Option<Picture>> {
    let Some(&first) = conv_layers(model).first() else { return Ok(None) };
    let Some(LayerSpec::Conv2D { kernel, .. }) = model.layer(first).and_then(|l| l.spec()) else {
        return Ok(None);
    };
    let [kh, kw, in_c, filters] = kernel.shape()[..] else {
        return Err(Error::shape(format!("a Conv2D kernel of shape {:?}", kernel.shape())));
    };
    // HWIO read as one (kh, kw) image with in_c·filters channels: channel f is filter f's
    // weights on input channel 0.
    let weights = kernel.reshape(&[1, kh, kw, in_c * filters])?;
    let tiles: Vec<Gray> = (0..filters)
        .map(|f| Gray::from_tensor_channel(&weights, 0, f).map(|g| g.normalized()))
        .collect::<Result<_>>()?;
    let name = format!("filters_{}.png", model.layer_names()[first]);
    Ok(Some((name, grid(&tiles, COLUMNS, (48 / kh.max(kw)).max(4), GAP)?)))
}

/// For every convolution, the patterns its first `per_layer` filters respond to most
/// ([`filter_pattern`] with `steps` steps of 0.05), one grid per layer.
pub fn pattern_grids(model: &mut Sequential, per_layer: usize, steps: usize) -> Result<Vec<Picture>> {
    let names: Vec<String> = model.layer_names().iter().map(|n| n.to_string()).collect();
    let mut pictures = Vec::new();
    for layer in conv_layers(model) {
        let filters = model.layer_shapes()[layer].last().copied().unwrap_or(0).min(per_layer);
        let mut tiles = Vec::with_capacity(filters);
        for f in 0..filters {
            let pattern = filter_pattern(model, layer, f, steps, 0.05)?;
            tiles.push(Gray::from_tensor_channel(&pattern, 0, 0)?.normalized());
        }
        let side = model.input_shape().first().copied().unwrap_or(1);
        pictures.push((
            format!("patterns_{}.png", names[layer]),
            grid(&tiles, COLUMNS, (112 / side).max(4), GAP)?,
        ));
    }
    Ok(pictures)
}

/// Grad-CAM on the last convolution for each of `classes`: the map, upsampled to the image's
/// size and scaled so its peak is 1, as a heat colour over the grey digit.
pub fn grad_cam_overlays(model: &mut Sequential, image: &Tensor, classes: &[usize]) -> Result<Vec<Picture>> {
    let Some(&last) = conv_layers(model).last() else { return Ok(Vec::new()) };
    let digit = Gray::from_tensor_channel(image, 0, 0)?;
    let mut pictures = Vec::new();
    for &class in classes {
        let (map, h, w) = grad_cam(model, image, last, class)?;
        let heat = Gray::new(w, h, map)?.resized(digit.width, digit.height);
        let peak = heat.pixels.iter().copied().fold(0.0f32, f32::max).max(1e-12);
        let heat = Gray::new(heat.width, heat.height, heat.pixels.iter().map(|v| v / peak).collect())?;
        pictures.push((format!("gradcam_class{class}.png"), heatmap_overlay(&digit, &heat, 8)?));
    }
    Ok(pictures)
}
