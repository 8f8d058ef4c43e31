//! Grading the convolution chapter against `convnets::conv::naive::forward`.

use convnets::{Padding, Tensor};

use super::conv_case::{ConvCase, conv_cases};
use super::{Check, Ex, Grader, compare, compare_shape, explain_nhwc, nhwc_at, tensor, unflatten};
use crate::convolution as student;
use crate::fail;

pub const EXERCISES: &[(&str, Grader)] =
    &[("output_value", output_value), ("conv2d_forward", conv2d_forward)];

/// The book's worked examples: the 5×5 `arange` image with a filter of ones, with a centre
/// picker, and with two filters; then 6×6 and 6×7 images, and two input channels.
pub fn book_cases() -> Vec<ConvCase> {
    let arange = |shape: &[usize]| Tensor::arange(shape).expect("small");
    let valid = |x, k, b| ConvCase::new(x, k, b, (1, 1), Padding::Valid);
    let mut centre = vec![0.0; 9];
    centre[4] = 1.0;
    let mut two = vec![0.0; 18];
    for p in 0..9 {
        two[2 * p] = 1.0;
    }
    two[2 * 4 + 1] = 1.0;
    let nine: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let mut deep = vec![0.0; 18];
    for p in 0..9 {
        deep[2 * p] = 1.0;
        deep[2 * p + 1] = -1.0;
    }
    let mut deep_x = vec![0.0; 18];
    for p in 0..9 {
        deep_x[2 * p] = 1.0;
        deep_x[2 * p + 1] = p as f32;
    }
    vec![
        valid(arange(&[1, 5, 5, 1]), tensor(&[3, 3, 1, 1], vec![1.0; 9]), vec![0.0]),
        valid(arange(&[1, 5, 5, 1]), tensor(&[3, 3, 1, 1], centre), vec![0.0]),
        valid(arange(&[1, 5, 5, 1]), tensor(&[3, 3, 1, 2], two), vec![0.0, 100.0]),
        valid(arange(&[1, 6, 6, 1]), tensor(&[3, 3, 1, 1], nine.clone()), vec![0.5]),
        valid(arange(&[1, 6, 7, 1]), tensor(&[3, 3, 1, 1], nine), vec![0.5]),
        valid(tensor(&[1, 3, 3, 2], deep_x), tensor(&[3, 3, 2, 1], deep), vec![0.0]),
    ]
}

fn one_value(ex: &Ex, case: &ConvCase) -> Check {
    let want = case.forward();
    for (i, &expected) in want.data().iter().enumerate() {
        let [n, oh, ow, co] = unflatten(want.shape(), i)[..] else { unreachable!("NHWC") };
        let got = ex.call(format_args!("{case}, position n {n}, oh {oh}, ow {ow}, co {co}"), || {
            student::output_value(&case.x, &case.kernel, &case.bias, n, oh, ow, co)
        })?;
        if (got - expected).abs() > 1e-4 + 1e-4 * expected.abs() || got.is_nan() {
            fail!(
                "output_value(n {n}, oh {oh}, ow {ow}, co {co}) is {got}, but it should be {expected}: {}.\n\
                 The case: {case}.",
                case.explain_value(n, oh, ow, co)
            );
        }
    }
    Ok(())
}

fn output_value(ex: &Ex) -> Check {
    for case in book_cases() {
        one_value(ex, &case)?;
    }
    ex.for_random(64, conv_cases(1, &[Padding::Valid]), |case| one_value(ex, &case))
}

/// Grades a whole convolution output: shape, then values, naming known slips.
pub fn check_output(case: &ConvCase, y: &Tensor) -> Check {
    let want = case.forward();
    compare_shape("the output", y.shape(), want.shape(), || {
        explain_nhwc(
            y.shape(),
            want.shape(),
            case.x.shape(),
            case.kernel_hw(),
            case.strides,
            case.padding,
            "one channel per filter (the kernel's last axis)",
        )
    })?;
    let at = |i: usize| {
        let [n, oh, ow, co] = unflatten(want.shape(), i)[..] else { unreachable!("NHWC") };
        format!("{} (filter {co}), which is {}", nhwc_at(want.shape(), i), case.explain_value(n, oh, ow, co))
    };
    compare("the output", y.data(), want.data(), at, &case.forward_slips())
        .map_err(|f| super::Failure::Wrong(format!("{f}\nThe case: {case}.")))
}

fn one_forward(ex: &Ex, case: &ConvCase) -> Check {
    let y = ex.call(case, || student::conv2d_forward(&case.x, &case.kernel, &case.bias))?;
    check_output(case, &y)
}

fn conv2d_forward(ex: &Ex) -> Check {
    for case in book_cases() {
        one_forward(ex, &case)?;
    }
    ex.for_random(64, conv_cases(1, &[Padding::Valid]), |case| one_forward(ex, &case))
}
