//! The microscope: the arithmetic behind one output value of a convolution or pooling layer,
//! laid out so a reader can check it by hand.
//!
//! For a convolution output `(row, col, channel)` it lists the input window (with the cells
//! that fall in the padding marked), the kernel slice of that filter, the element-wise
//! products, their sum, the bias and the activation, computed the way the textbook's direct
//! loop computes them ([`crate::conv::naive::forward`]): the same [`Window2D::input_row`] and
//! [`Window2D::input_col`], the same order of additions, starting from the bias. The result is
//! therefore exactly the value in the layer's feature map, not merely close to it.
//!
//! For a pooling output it lists the window and, for max pooling, which input won, with the
//! rule of [`crate::pool::max_pool_forward`]: the first maximum in row-major order.

use serde::Serialize;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::model::Sequential;
use crate::padding::Padding;
use crate::shape::Window2D;
use crate::spec::LayerSpec;
use crate::tensor::Tensor;

/// Where a window lies: its top-left corner in input coordinates (negative when it starts in
/// the padding), its size, and the padding of the layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowPlace {
    /// The input row of the window's first row (`row · stride − top padding`).
    pub top: isize,
    /// The input column of the window's first column (`col · stride − left padding`).
    pub left: isize,
    /// Window rows.
    pub height: usize,
    /// Window columns.
    pub width: usize,
    /// `"valid"` or `"same"`.
    pub padding: &'static str,
}

/// One input channel's share of a convolution output: the window of that channel, the
/// weights it meets and their products, each `height × width`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelTerms {
    /// The input channel.
    pub channel: usize,
    /// The input values under the window; `None` where the window is over the padding.
    pub inputs: Vec<Option<f32>>,
    /// The kernel slice `kernel[.., .., channel, filter]`.
    pub weights: Vec<f32>,
    /// `input · weight` at each position; `None` over the padding, which the loop skips
    /// (a zero input adds nothing).
    pub products: Vec<Option<f32>>,
    /// The sum of this channel's products.
    pub subtotal: f32,
}

/// The arithmetic of one convolution output value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvArithmetic {
    /// The window over the layer's input.
    pub window: WindowPlace,
    /// One entry per input channel.
    pub channels: Vec<ChannelTerms>,
    /// The sum of every product, over every channel.
    pub sum: f32,
    /// The filter's bias.
    pub bias: f32,
    /// The value before the activation, summed in the direct loop's order (bias first, then
    /// kernel row, kernel column, input channel): exactly what the layer computed.
    pub pre_activation: f32,
    /// `"linear"`, `"relu"` or `"softmax"`.
    pub activation: &'static str,
    /// The activation applied to `pre_activation`: the feature-map value.
    pub output: f32,
}

/// The arithmetic of one pooling output value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolArithmetic {
    /// `"max"` or `"average"`.
    pub pooling: &'static str,
    /// The window over the layer's input.
    pub window: WindowPlace,
    /// The input values under the window (of the output's channel), row-major; `None` over
    /// the padding, which never takes part.
    pub inputs: Vec<Option<f32>>,
    /// Max pooling: the position in `inputs` of the value that won (the first maximum).
    pub winner: Option<usize>,
    /// Max pooling: the winner's index into the input's `(h, w, c)` values, as
    /// [`MaxPooling2D::argmax`](crate::MaxPooling2D::argmax) records it.
    pub argmax: Option<usize>,
    /// The pooled value.
    pub output: f32,
}

/// What the microscope shows for one output value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arithmetic {
    /// A convolution output.
    Conv(ConvArithmetic),
    /// A pooling output.
    Pool(PoolArithmetic),
}

impl Arithmetic {
    /// The output value the arithmetic arrives at.
    pub fn output(&self) -> f32 {
        match self {
            Arithmetic::Conv(c) => c.output,
            Arithmetic::Pool(p) => p.output,
        }
    }
}

/// The name of an activation, as Keras spells it.
pub fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Linear => "linear",
        Activation::Relu => "relu",
        Activation::Softmax => "softmax",
    }
}

/// The name of a padding, as Keras spells it.
pub fn padding_name(padding: Padding) -> &'static str {
    match padding {
        Padding::Valid => "valid",
        Padding::Same => "same",
    }
}

/// The `(height, width, channels)` of a batch of one.
fn one_image(input: &Tensor) -> Result<(usize, usize, usize)> {
    match input.nhwc()? {
        (1, h, w, c) => Ok((h, w, c)),
        (n, ..) => Err(Error::shape(format!("the microscope looks at one image, not a batch of {n}"))),
    }
}

fn check_position(win: &Window2D, channels: usize, row: usize, col: usize, channel: usize) -> Result<()> {
    if row >= win.out_h || col >= win.out_w || channel >= channels {
        return Err(Error::model(format!(
            "output ({row}, {col}, channel {channel}) is outside the layer's {}×{}×{channels} output",
            win.out_h, win.out_w
        )));
    }
    Ok(())
}

fn place(win: &Window2D, row: usize, col: usize, padding: Padding) -> WindowPlace {
    let start = |out: usize, stride: usize, pad: usize| (out * stride) as isize - pad as isize;
    WindowPlace {
        top: start(row, win.stride_h, win.pads.top),
        left: start(col, win.stride_w, win.pads.left),
        height: win.k_h,
        width: win.k_w,
        padding: padding_name(padding),
    }
}

// ANCHOR: conv
/// The arithmetic of output `(row, col, filter)` of the convolution `layer` describes (its
/// HWIO kernel, biases, strides, padding and activation) over `input` (a batch of one, NHWC):
/// the layer's own loop, written out for a single output.
pub fn conv(
    layer: &LayerSpec,
    input: &Tensor,
    (row, col, filter): (usize, usize, usize),
) -> Result<ConvArithmetic> {
    let LayerSpec::Conv2D { kernel, bias, strides, padding, activation } = layer else {
        return Err(Error::model("this is not a convolution"));
    };
    let (strides, padding, activation) = (*strides, *padding, *activation);
    let (in_h, in_w, in_c) = one_image(input)?;
    let [k_h, k_w, k_in, out_c] = kernel.shape()[..] else {
        return Err(Error::shape(format!("a Conv2D kernel of shape {:?}", kernel.shape())));
    };
    if k_in != in_c || bias.len() != out_c {
        return Err(Error::shape(format!(
            "a {k_h}×{k_w}×{k_in}×{out_c} kernel with {} biases over an input of {in_c} channels",
            bias.len()
        )));
    }
    let win = Window2D::new((in_h, in_w), (k_h, k_w), strides, padding)?;
    check_position(&win, out_c, row, col, filter)?;
    let (x, k) = (input.data(), kernel.data());
    let x_at = |ih, iw, ci| (ih * in_w + iw) * in_c + ci;
    let k_at = |kh, kw, ci| ((kh * k_w + kw) * in_c + ci) * out_c + filter;

    let mut channels: Vec<ChannelTerms> = (0..in_c)
        .map(|channel| ChannelTerms {
            channel,
            inputs: vec![None; k_h * k_w],
            weights: (0..k_h * k_w).map(|i| k[k_at(i / k_w, i % k_w, channel)]).collect(),
            products: vec![None; k_h * k_w],
            subtotal: 0.0,
        })
        .collect();
    // The direct loop's order: the bias, then kernel row, kernel column, input channel.
    let (mut pre_activation, mut sum) = (bias[filter], 0.0f32);
    for kh in 0..k_h {
        let Some(ih) = win.input_row(row, kh) else { continue };
        for kw in 0..k_w {
            let Some(iw) = win.input_col(col, kw) else { continue };
            for (ci, terms) in channels.iter_mut().enumerate() {
                let product = x[x_at(ih, iw, ci)] * k[k_at(kh, kw, ci)];
                pre_activation += product;
                sum += product;
                terms.inputs[kh * k_w + kw] = Some(x[x_at(ih, iw, ci)]);
                terms.products[kh * k_w + kw] = Some(product);
                terms.subtotal += product;
            }
        }
    }
    let mut output = [pre_activation];
    activation.apply(&mut output, 1);
    Ok(ConvArithmetic {
        window: place(&win, row, col, padding),
        channels,
        sum,
        bias: bias[filter],
        pre_activation,
        activation: activation_name(activation),
        output: output[0],
    })
}
// ANCHOR_END: conv

// ANCHOR: pool
/// The window of output `(row, col, channel)` of the pooling `layer` describes over `input`
/// (a batch of one, NHWC), and, for max pooling, which input won: the first maximum in
/// row-major order, as the layer decides it (a NaN wins too).
pub fn pool(
    layer: &LayerSpec,
    input: &Tensor,
    (row, col, channel): (usize, usize, usize),
) -> Result<PoolArithmetic> {
    let (max, pool_size, strides, padding) = match *layer {
        LayerSpec::MaxPooling2D { pool, strides, padding } => (true, pool, strides, padding),
        LayerSpec::AveragePooling2D { pool, strides, padding } => (false, pool, strides, padding),
        _ => return Err(Error::model("this is not a pooling layer")),
    };
    let (in_h, in_w, c) = one_image(input)?;
    let win = Window2D::new((in_h, in_w), pool_size, strides, padding)?;
    check_position(&win, c, row, col, channel)?;
    let x_at = |ih, iw| (ih * in_w + iw) * c + channel;
    let mut inputs = vec![None; win.k_h * win.k_w];
    let (mut best, mut winner, mut argmax) = (f32::NEG_INFINITY, None, None);
    let (mut total, mut count) = (0.0f32, 0usize);
    for kh in 0..win.k_h {
        let Some(ih) = win.input_row(row, kh) else { continue };
        for kw in 0..win.k_w {
            let Some(iw) = win.input_col(col, kw) else { continue };
            let v = input.data()[x_at(ih, iw)];
            inputs[kh * win.k_w + kw] = Some(v);
            let wins = v > best || (v.is_nan() && !best.is_nan());
            if winner.is_none() || wins {
                (best, winner, argmax) = (v, Some(kh * win.k_w + kw), Some(x_at(ih, iw)));
            }
            total += v;
            count += 1;
        }
    }
    let window = place(&win, row, col, padding);
    Ok(if max {
        PoolArithmetic { pooling: "max", window, inputs, winner, argmax, output: best }
    } else {
        let output = total / count.max(1) as f32;
        PoolArithmetic { pooling: "average", window, inputs, winner: None, argmax: None, output }
    })
}
// ANCHOR_END: pool

/// What the microscope reads off one output value: the arithmetic, and the value the layer
/// itself put in its feature map (the two are equal; the page shows both).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// How the value is computed.
    #[serde(flatten)]
    pub arithmetic: Arithmetic,
    /// The value in the layer's output, from the model's own forward pass.
    pub value: f32,
}

/// The arithmetic of output `(row, col, channel)` of layer `layer` of `model` for `image` (a
/// batch of one): runs the layers before it to get the layer's input, then looks at the
/// layer's weights; and the value the layer itself computes there. Fails for a layer that is
/// neither a convolution nor a pooling layer, and for a position outside the layer's output.
pub fn look(
    model: &mut Sequential,
    image: &Tensor,
    layer: usize,
    position: (usize, usize, usize),
) -> Result<Reading> {
    let count = model.len();
    let (Some(name), Some(spec)) =
        (model.layer_names().get(layer).map(|n| n.to_string()), model.layer(layer))
    else {
        return Err(Error::model(format!("there is no layer {layer} in a model of {count} layers")));
    };
    let spec = spec.spec().ok_or_else(|| Error::model(format!("{name} cannot describe its weights")))?;
    let input = model.forward_range(image, 0..layer)?.clone();
    let arithmetic = match spec {
        LayerSpec::Conv2D { .. } => Arithmetic::Conv(conv(&spec, &input, position)?),
        LayerSpec::MaxPooling2D { .. } | LayerSpec::AveragePooling2D { .. } => {
            Arithmetic::Pool(pool(&spec, &input, position)?)
        }
        LayerSpec::Flatten | LayerSpec::Dense { .. } => {
            return Err(Error::model(format!(
                "{name} is neither a convolution nor a pooling layer: the microscope has nothing to show"
            )));
        }
    };
    let output = model.forward_range(&input, layer..layer + 1)?;
    let (_, _, w, c) = output.nhwc()?;
    let (row, col, channel) = position;
    let value = output.data().get((row * w + col) * c + channel).copied();
    let value = value.ok_or_else(|| Error::shape(format!("{name}'s output has no value at {position:?}")))?;
    Ok(Reading { arithmetic, value })
}
