//! Grading the introduction: `Tensor::offset` and the layers' `param_count`.

use convnets::{Conv2D, Dense, Layer, Tensor};
use proptest::prelude::*;

use super::{Check, Ex, Grader};
use crate::introduction as student;
use crate::{ensure, fail};

pub const EXERCISES: &[(&str, Grader)] =
    &[("nhwc_offset", nhwc_offset), ("conv2d_params", conv2d_params), ("dense_params", dense_params)];

fn one_offset(ex: &Ex, shape: [usize; 4], index: [usize; 4]) -> Check {
    let [n, h, w, c] = index;
    let want = Tensor::zeros(&shape).expect("a small tensor").offset(&index).expect("an index inside");
    let got = ex
        .call(format_args!("shape {shape:?}, index {index:?}"), || student::nhwc_offset(shape, n, h, w, c))?;
    if got != want {
        let [nn, hh, ww, cc] = shape;
        let hint = if got == ((n * cc + c) * hh + h) * ww + w {
            "\nThat is the NCHW (channels-first) position. Keras's default, and this crate's, is NHWC: \
             channels last, the channels of one pixel next to each other."
        } else if got == ((n * ww + h) * hh + w) * cc + c {
            "\nHeight and width are swapped: a row holds W pixels, so one row down moves W·C positions."
        } else if got == n * nn + h * hh + w * ww + c * cc || got == n * hh * ww * cc + h * ww + w * cc + c {
            "\nEach index must be multiplied by the size of everything after it: one row is W·C values, \
             one image H·W·C."
        } else {
            ""
        };
        fail!(
            "nhwc_offset({shape:?}, {n}, {h}, {w}, {c}) is {got}, but element (n {n}, h {h}, w {w}, c {c}) \
             of an NHWC tensor of shape {shape:?} lives at ((n·H + h)·W + w)·C + c = {want}.{hint}"
        );
    }
    Ok(())
}

fn nhwc_offset(ex: &Ex) -> Check {
    // The book's example, then its three steps: a channel, a column, a row.
    for index in [[1, 2, 3, 4], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]] {
        one_offset(ex, [2, 3, 4, 5], index)?;
    }
    let shapes_and_indices = prop::array::uniform4(1..6usize).prop_flat_map(|shape| {
        let index =
            (0..shape[0], 0..shape[1], 0..shape[2], 0..shape[3]).prop_map(|(n, h, w, c)| [n, h, w, c]);
        (Just(shape), index)
    });
    ex.for_random(200, shapes_and_indices, |(shape, index)| one_offset(ex, shape, index))
}

fn conv_reference(kh: usize, kw: usize, in_c: usize, filters: usize) -> usize {
    let kernel = Tensor::zeros(&[kh, kw, in_c, filters]).expect("a small kernel");
    Conv2D::with_weights(kernel, vec![0.0; filters]).expect("weights that fit").param_count()
}

fn one_conv(ex: &Ex, kh: usize, kw: usize, in_c: usize, filters: usize) -> Check {
    let want = conv_reference(kh, kw, in_c, filters);
    let got = ex
        .call(format_args!("a {kh}×{kw} kernel, {in_c} input channels, {filters} filters"), || {
            student::conv2d_params(kh, kw, in_c, filters)
        })?;
    if got != want {
        let hint = if got == kh * kw * in_c * filters {
            "\nThe biases are missing: one per filter."
        } else if got == (kh * kw + 1) * filters {
            "\nA filter has a kh×kw window of weights for *each* input channel: kh·kw·in_c of them."
        } else if got == (kh * kw * in_c + 1) * in_c || got == kh * kw * in_c + filters {
            "\nEach filter has its own kh·kw·in_c weights and its own bias."
        } else {
            ""
        };
        fail!(
            "conv2d_params({kh}, {kw}, {in_c}, {filters}) is {got}, but a Conv2D layer with {filters} filters of \
             {kh}×{kw} over {in_c} input channels learns ({kh}·{kw}·{in_c} + 1)·{filters} = {want} parameters.{hint}"
        );
    }
    Ok(())
}

fn conv2d_params(ex: &Ex) -> Check {
    // The book's three conv layers.
    one_conv(ex, 3, 3, 1, 32)?;
    one_conv(ex, 3, 3, 32, 64)?;
    one_conv(ex, 3, 3, 64, 64)?;
    let sizes = (1..6usize, 1..6usize, 1..8usize, 1..9usize);
    ex.for_random(100, sizes, |(kh, kw, c, f)| one_conv(ex, kh, kw, c, f))
}

fn one_dense(ex: &Ex, inputs: usize, units: usize) -> Check {
    let kernel = Tensor::zeros(&[inputs, units]).expect("a small kernel");
    let want = Dense::with_weights(kernel, vec![0.0; units]).expect("weights that fit").param_count();
    let got =
        ex.call(format_args!("{inputs} inputs, {units} units"), || student::dense_params(inputs, units))?;
    ensure!(
        got == want,
        "dense_params({inputs}, {units}) is {got}, but a Dense({units}) layer over {inputs} inputs learns \
         one weight per input–output pair plus one bias per output: ({inputs} + 1)·{units} = {want}.{}",
        if got == inputs * units { "\nThe biases are missing: one per unit." } else { "" }
    );
    Ok(())
}

fn dense_params(ex: &Ex) -> Check {
    one_dense(ex, 576, 64)?;
    one_dense(ex, 64, 10)?;
    ex.for_random(100, (1..50usize, 1..20usize), |(i, u)| one_dense(ex, i, u))
}
