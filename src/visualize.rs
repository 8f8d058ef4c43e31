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

use crate::error::{Error, Result};
use crate::model::Sequential;
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
        return Err(Error::Shape(format!("expected a batch of one image, got {n}")));
    }
    if channel >= c {
        return Err(Error::Model(format!("layer {layer} has {c} channels, not {}", channel + 1)));
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
/// The input that makes channel `filter` of layer `layer` respond most, found by gradient
/// ascent from a uniform grey image: `steps` steps of `step_size` along the gradient,
/// normalised by its root mean square (as the book does), so each step has the same size
/// whatever the scale of the activations.
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
    let mut x = Tensor::new(&shape, vec![0.5; len])?;
    for _ in 0..steps {
        let (_, grad) = filter_mean_gradient(model, &x, layer, filter)?;
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
        return Err(Error::Model(format!(
            "layer {layer} is not followed by any layer of this {n}-layer model"
        )));
    }
    let activation = model.forward_range(image, 0..layer + 1)?.clone();
    let output = model.forward_range(&activation, layer + 1..n)?;
    let [1, classes] = output.shape()[..] else {
        return Err(Error::Shape(format!(
            "expected one image's class scores, got shape {:?}",
            output.shape()
        )));
    };
    if class >= classes {
        return Err(Error::Model(format!("class {class} is not one of the model's {classes} classes")));
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
