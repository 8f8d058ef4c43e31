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

use std::ops::Range;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

use crate::error::{Error, Result};
use crate::model::Sequential;
use crate::picture::{Gray, Legend, Rgb, Sheet, grey, grid, heatmap_overlay, jet};
use crate::shape::Window2D;
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
    let activation = model.forward_range(x, 0..layer + 1)?.clone();
    let (h, w, c) = check_channel(&activation, layer, filter)?;
    let mut grad = Tensor::zeros(activation.shape())?;
    let share = 1.0 / (h * w) as f32;
    let mut mean = 0.0f64;
    for (pixel, g) in activation.data().chunks(c).zip(grad.data_mut().chunks_mut(c)) {
        mean += f64::from(pixel[filter]);
        g[filter] = share;
    }
    let dx = model.backward_range(&grad, 0..layer + 1, false)?;
    Ok((mean / (h * w) as f64, dx))
}
// ANCHOR_END: filter_gradient

// ANCHOR: filter_pattern
/// The input that makes channel `filter` of layer `layer` respond most at the middle of its
/// map, found by gradient ascent from a grey image with a little noise (seeded, so the result
/// is repeatable): `steps` steps of `step_size` along the gradient, normalised by its root
/// mean square (as the book does), so each step has the same size whatever the scale of the
/// activations.
///
/// One unit in the middle, not the mean of the whole map: a first-layer filter sees 3×3
/// pixels, and the gradient of its *mean* response is the same sum of its nine weights at
/// every pixel, which draws a flat grey square. One unit's gradient is the filter itself,
/// placed where the unit looks. Only the unit's receptive field changes
/// ([`receptive_field`]): that part of the picture is the pattern.
///
/// It climbs the response *before* the layer's ReLU. After the ReLU, a unit that is silent on
/// the starting image has a gradient of exactly zero and could never start climbing; the
/// ReLU only cuts values off, so the preferred pattern is the same.
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
        let grad = centre_unit_gradient(model, &x, layer, filter)?;
        let rms = (grad.data().iter().map(|g| g * g).sum::<f32>() / len as f32).sqrt();
        let scale = step_size / (rms + 1e-5);
        for (v, g) in x.data_mut().iter_mut().zip(grad.data()) {
            *v += scale * g;
        }
    }
    Ok(x)
}
// ANCHOR_END: filter_pattern

/// The gradient, with respect to the input `x`, of channel `filter` of layer `layer` at the
/// middle of its map, before the layer's activation.
fn centre_unit_gradient(model: &mut Sequential, x: &Tensor, layer: usize, filter: usize) -> Result<Tensor> {
    let activation = model.forward_range(x, 0..layer + 1)?.clone();
    let (h, w, c) = check_channel(&activation, layer, filter)?;
    let mut grad = Tensor::zeros(activation.shape())?;
    grad.data_mut()[((h / 2) * w + w / 2) * c + filter] = 1.0;
    model.backward_range(&grad, 0..layer + 1, true)
}

/// The rows and columns of the input that the unit in the middle of layer `layer`'s map
/// sees: its receptive field, traced back through each layer's window and stride (the
/// padding left out: it is not part of the image). A layer that is not a convolution or a
/// pooling sees the whole input.
pub fn receptive_field(model: &Sequential, layer: usize) -> Result<(Range<usize>, Range<usize>)> {
    let shape_before = |i: usize| if i == 0 { model.input_shape() } else { model.layer_shapes()[i - 1] };
    let [h, w, _] = shape_before(0)[..] else {
        return Err(Error::shape(format!(
            "a receptive field needs image inputs, not {:?}",
            model.input_shape()
        )));
    };
    let Some([oh, ow, _]) = model.layer_shapes().get(layer).and_then(|s| <[usize; 3]>::try_from(*s).ok())
    else {
        return Ok((0..h, 0..w));
    };
    let (mut rows, mut cols) = (oh / 2..oh / 2 + 1, ow / 2..ow / 2 + 1);
    for i in (0..=layer).rev() {
        let (window, strides, padding) = match model.layer(i).and_then(|l| l.spec()) {
            Some(LayerSpec::Conv2D { kernel, strides, padding, .. }) => {
                ((kernel.shape()[0], kernel.shape()[1]), strides, padding)
            }
            Some(LayerSpec::MaxPooling2D { pool, strides, padding })
            | Some(LayerSpec::AveragePooling2D { pool, strides, padding }) => (pool, strides, padding),
            _ => return Ok((0..h, 0..w)),
        };
        let [in_h, in_w, _] = shape_before(i)[..] else { return Ok((0..h, 0..w)) };
        let win = Window2D::new((in_h, in_w), window, strides, padding)?;
        let back = |r: &Range<usize>, s: usize, k: usize, pad: usize, n: usize| {
            (r.start * s).saturating_sub(pad)..((r.end - 1) * s + k).saturating_sub(pad).min(n)
        };
        rows = back(&rows, win.stride_h, win.k_h, win.pads.top, in_h);
        cols = back(&cols, win.stride_w, win.k_w, win.pads.left, in_w);
    }
    Ok((rows, cols))
}

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

/// Tiles per row in every sheet.
const COLUMNS: usize = 8;

/// One picture and the file name it is saved under.
pub type Picture = (String, Rgb);

/// The colours of a tile, each value divided by `scale` and drawn in [`grey`]: with one
/// `scale` for a whole layer, black is 0 everywhere and a channel that is silent is black.
fn grey_tile(values: &[f32], offset: f32, scale: f32) -> Vec<[u8; 3]> {
    values.iter().map(|&v| grey((v - offset) / scale)).collect()
}

/// A legend for a grey scale from `low` to `high`.
fn grey_legend(low: String, high: String) -> Option<Legend> {
    Some(Legend { colour: grey, low, high })
}

/// Every image-shaped layer output for `image`, one sheet per layer with one tile per channel,
/// numbered, all on one scale (black is 0, white the layer's largest value), enlarged to about
/// 100 pixels.
pub fn activation_grids(model: &mut Sequential, image: &Tensor) -> Result<Vec<Picture>> {
    let mut pictures = Vec::new();
    let classes: Vec<&str> =
        (0..model.len()).filter_map(|i| model.layer(i).map(|l| l.class_name())).collect();
    for (i, (name, activation)) in activations(model, image)?.into_iter().enumerate() {
        let Ok((_, h, w, c)) = activation.nhwc() else { continue }; // flat outputs are no picture
        let peak = activation.data().iter().copied().filter(|v| v.is_finite()).fold(0.0f32, f32::max);
        let scale = if peak > 0.0 { peak } else { 1.0 };
        let tiles = (0..c)
            .map(|k| {
                Gray::from_tensor_channel(&activation, 0, k)
                    .map(|g| (k.to_string(), grey_tile(&g.pixels, 0.0, scale)))
            })
            .collect::<Result<_>>()?;
        let sheet = Sheet {
            title: format!(
                "{name} ({}): {c} feature maps of {h}x{w}",
                classes.get(i).copied().unwrap_or("?")
            ),
            tiles,
            tile_width: w,
            tile_height: h,
            columns: COLUMNS,
            scale: (112 / h.max(w)).max(4),
            legend: grey_legend("0".into(), format!("{peak:.2}")),
            caption: "One scale for the whole layer: a black tile is a channel that is silent here.".into(),
        };
        pictures.push((format!("activations_{name}.png"), sheet.render()?));
    }
    Ok(pictures)
}

/// One image-shaped activation (a batch of one, NHWC) as a [`grid`] of its channels, channel
/// `k` in row `k / columns`, column `k % columns`, each tile scaled to its own range
/// ([`Gray::normalized`]), enlarged `scale` times, `gap` pixels apart.
pub fn channel_grid(activation: &Tensor, columns: usize, scale: usize, gap: usize) -> Result<Rgb> {
    let (_, _, _, c) = activation.nhwc()?;
    let tiles: Vec<Gray> = (0..c)
        .map(|k| Gray::from_tensor_channel(activation, 0, k).map(|g| g.normalized()))
        .collect::<Result<_>>()?;
    grid(&tiles, columns, scale, gap)
}

/// The first convolution's filters (their first input channel), one numbered tile each: for
/// MNIST the 32 3×3 kernels the model learned to look at pixels with, on one scale with
/// mid-grey at 0.
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
    let peak = weights.data().iter().map(|v| v.abs()).filter(|v| v.is_finite()).fold(0.0f32, f32::max);
    let scale = if peak > 0.0 { 2.0 * peak } else { 1.0 };
    let tiles = (0..filters)
        .map(|f| {
            Gray::from_tensor_channel(&weights, 0, f)
                .map(|g| (f.to_string(), grey_tile(&g.pixels, -peak, scale)))
        })
        .collect::<Result<_>>()?;
    let name = model.layer_names()[first].to_string();
    let sheet = Sheet {
        title: format!("{name}: the {filters} learned {kh}x{kw} filters"),
        tiles,
        tile_width: kw,
        tile_height: kh,
        columns: COLUMNS,
        scale: (48 / kh.max(kw)).max(4),
        legend: grey_legend(format!("{:.2}", -peak), format!("{peak:.2}")),
        caption: "One scale for all filters: mid-grey is a weight of 0.".into(),
    };
    Ok(Some((format!("filters_{name}.png"), sheet.render()?)))
}

/// For every convolution, the patterns its first `per_layer` filters respond to most
/// ([`filter_pattern`] with `steps` steps of 0.05), cut to the receptive field of the unit
/// that was climbed, one sheet per layer.
pub fn pattern_grids(model: &mut Sequential, per_layer: usize, steps: usize) -> Result<Vec<Picture>> {
    let names: Vec<String> = model.layer_names().iter().map(|n| n.to_string()).collect();
    let mut pictures = Vec::new();
    for layer in conv_layers(model) {
        let filters = model.layer_shapes()[layer].last().copied().unwrap_or(0).min(per_layer);
        let (rows, cols) = receptive_field(model, layer)?;
        let mut tiles = Vec::with_capacity(filters);
        for f in 0..filters {
            let pattern = Gray::from_tensor_channel(&filter_pattern(model, layer, f, steps, 0.05)?, 0, 0)?;
            let crop: Vec<f32> = rows
                .clone()
                .flat_map(|y| cols.clone().map(move |x| (y, x)))
                .map(|(y, x)| pattern.pixels[y * pattern.width + x])
                .collect();
            let crop = Gray::new(cols.len(), rows.len(), crop)?.normalized();
            tiles.push((f.to_string(), grey_tile(&crop.pixels, 0.0, 1.0)));
        }
        let side = rows.len().max(cols.len()).max(1);
        let sheet = Sheet {
            title: format!("{}: what filters 0-{} respond to", names[layer], filters.saturating_sub(1)),
            tiles,
            tile_width: cols.len(),
            tile_height: rows.len(),
            columns: COLUMNS,
            scale: (96 / side).max(4),
            legend: grey_legend("least".into(), "most".into()),
            caption: format!(
                "The {}x{} input pixels one unit in the middle of the map sees, climbed to excite it; each tile on its own scale.",
                rows.len(),
                cols.len()
            ),
        };
        pictures.push((format!("patterns_{}.png", names[layer]), sheet.render()?));
    }
    Ok(pictures)
}

/// Grad-CAM on the last convolution for each of `classes`: the map, upsampled to the image's
/// size and scaled so its peak is 1, as a heat colour over the grey digit, with its scale.
pub fn grad_cam_overlays(model: &mut Sequential, image: &Tensor, classes: &[usize]) -> Result<Vec<Picture>> {
    let Some(&last) = conv_layers(model).last() else { return Ok(Vec::new()) };
    let name = model.layer_names()[last].to_string();
    let map_size =
        model.layer_shapes()[last].iter().take(2).map(usize::to_string).collect::<Vec<_>>().join("x");
    let mut pictures = Vec::new();
    for &class in classes {
        let overlay = grad_cam_overlay(model, image, last, class, 1)?;
        let sheet = Sheet {
            title: format!("Grad-CAM for class {class}"),
            tiles: vec![(format!("where {name} sees a {class}"), overlay.pixels)],
            tile_width: overlay.width,
            tile_height: overlay.height,
            columns: 1,
            scale: 8,
            legend: Some(Legend { colour: jet, low: "0".into(), high: "peak".into() }),
            caption: format!("The map ({map_size}) resized to the digit and laid over it."),
        };
        pictures.push((format!("gradcam_class{class}.png"), sheet.render()?));
    }
    Ok(pictures)
}

/// Grad-CAM of `class` over the output of convolution layer `layer`, drawn over the grey
/// digit: the map upsampled to the image's size, scaled so its peak is 1, shown in [`jet`]
/// colours (see [`heatmap_overlay`]) and enlarged `scale` times.
pub fn grad_cam_overlay(
    model: &mut Sequential,
    image: &Tensor,
    layer: usize,
    class: usize,
    scale: usize,
) -> Result<Rgb> {
    let digit = Gray::from_tensor_channel(image, 0, 0)?;
    let (map, h, w) = grad_cam(model, image, layer, class)?;
    let heat = Gray::new(w, h, map)?.resized(digit.width, digit.height);
    let peak = heat.pixels.iter().copied().fold(0.0f32, f32::max).max(1e-12);
    let heat = Gray::new(heat.width, heat.height, heat.pixels.iter().map(|v| v / peak).collect())?;
    heatmap_overlay(&digit, &heat, scale)
}
