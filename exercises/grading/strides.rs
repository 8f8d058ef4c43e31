//! Grading the strides chapter against `convnets::Window2D` and
//! `convnets::conv::naive::forward`.

use convnets::{Padding, Tensor, Window2D};
use proptest::prelude::*;

use super::conv_case::{ConvCase, conv_cases};
use super::convolution::{book_cases, check_output};
use super::{Check, Ex, Grader, tensor};
use crate::fail;
use crate::strides as student;

pub const EXERCISES: &[(&str, Grader)] = &[("input_index", input_index), ("conv2d_strided", conv2d_strided)];

fn one_window(ex: &Ex, n: usize, k: usize, s: usize, padding: Padding) -> Check {
    let Ok(window) = Window2D::new((n, n), (k, k), (s, s), padding) else { return Ok(()) };
    let pad = window.pads.top;
    for o in 0..window.out_h {
        for kk in 0..k {
            let want = window.input_row(o, kk);
            let got = ex.call(format_args!("o {o}, k {kk}, s {s}, pad_before {pad}, n {n}"), || {
                student::input_index(o, kk, s, pad, n)
            })?;
            if got != want {
                let raw = (o * s + kk) as isize - pad as isize;
                let hint = if got == Some(o * s + kk) && pad > 0 {
                    "\nThe padding is missing: the window's cells count from the padded edge, so subtract pad_before."
                } else if got == (o + kk).checked_sub(pad).filter(|&i| i < n) && s > 1 {
                    "\nThe stride is missing: window o starts at o·s."
                } else if got.is_some_and(|i| i >= n) {
                    "\nRow n and beyond are padding after the image: None."
                } else {
                    ""
                };
                fail!(
                    "input_index(o {o}, k {kk}, s {s}, pad_before {pad}, n {n}) is {got:?}, but it should be \
                     {want:?}: output row {o} starts at padded row {o}·{s} = {}, its kernel row {kk} is padded row {}, \
                     which is input row {} − {pad} = {raw}{}.{hint}",
                    o * s,
                    o * s + kk,
                    o * s + kk,
                    if want.is_none() { ", in the padding" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn input_index(ex: &Ex) -> Check {
    // The book's windows: 5 wide, 3×3 kernel, stride 2, valid and same; 6 wide, stride 2, same.
    for (n, k, s, padding) in [
        (5, 3, 2, Padding::Valid),
        (5, 3, 2, Padding::Same),
        (6, 3, 2, Padding::Same),
        (4, 2, 1, Padding::Same),
    ] {
        one_window(ex, n, k, s, padding)?;
    }
    let cases = (1..13usize, 1..6usize, 1..5usize, prop_oneof![Just(Padding::Valid), Just(Padding::Same)]);
    ex.for_random(200, cases, |(n, k, s, padding)| one_window(ex, n, k, s, padding))
}

/// The strides chapter's examples: the centre picker with stride 2, `valid` and `same`; the
/// 7×7 and 6×6 images of its exercises; a 2×2 kernel with `same` padding (an odd total).
fn strided_book_cases() -> Vec<ConvCase> {
    let mut centre = vec![0.0; 9];
    centre[4] = 1.0;
    let nine: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let arange = |n: usize| Tensor::arange(&[1, n, n, 1]).expect("small");
    let case = |x, k: &[f32], s, p| ConvCase::new(x, tensor(&[3, 3, 1, 1], k.to_vec()), vec![0.0], (s, s), p);
    vec![
        case(arange(5), &centre, 2, Padding::Valid),
        case(arange(5), &centre, 2, Padding::Same),
        case(arange(7), &nine, 2, Padding::Valid),
        case(arange(6), &nine, 2, Padding::Same),
        case(arange(6), &nine, 1, Padding::Same),
        ConvCase::new(arange(4), tensor(&[2, 2, 1, 1], vec![1.0; 4]), vec![0.0], (1, 1), Padding::Same),
    ]
}

fn one_strided(ex: &Ex, case: &ConvCase) -> Check {
    let y = ex.call(case, || {
        student::conv2d_strided(&case.x, &case.kernel, &case.bias, case.strides, case.padding)
    })?;
    check_output(case, &y)
}

fn conv2d_strided(ex: &Ex) -> Check {
    for case in book_cases().iter().chain(&strided_book_cases()) {
        one_strided(ex, case)?;
    }
    ex.for_random(96, conv_cases(3, &[Padding::Valid, Padding::Same]), |case| one_strided(ex, &case))
}
