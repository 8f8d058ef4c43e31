//! Grading the max-pooling chapter against `convnets::MaxPooling2D` and
//! `convnets::AveragePooling2D`.

use convnets::{Padding, Tensor};

use super::pool_case::{PoolCase, book_cases, distinct_cases, tied_cases};
use super::{Check, Ex, Failure, Grader, compare, compare_shape, explain_nhwc, reference};
use crate::fail;
use crate::max_pooling as student;

pub const EXERCISES: &[(&str, Grader)] =
    &[("max_pool_forward", max_pool_forward), ("avg_pool_forward", avg_pool_forward)];

/// Checks a pooled shape.
pub fn check_pool_shape(case: &PoolCase, got: &[usize], want: &[usize]) -> Check {
    compare_shape("the pooled output", got, want, || {
        explain_nhwc(
            got,
            want,
            case.x.shape(),
            case.pool,
            case.strides,
            Padding::Valid,
            "as many channels as the input: pooling works on each channel separately",
        )
    })
}

/// Where the student's wrong value `got` for output `o` may have come from.
fn whence(case: &PoolCase, o: usize, got: f32) -> String {
    let window = case.window(o);
    let xs = case.x.data();
    if window.iter().all(|&p| xs[p] < 0.0) && got == 0.0 {
        return "\nEvery value of this window is negative: a maximum that starts at 0 never moves. Start from the \
                window's first value."
            .to_string();
    }
    if window.iter().any(|&p| xs[p] == got) {
        return "\nYour value is in the window, but it is not the largest.".to_string();
    }
    let c = case.x.shape()[3];
    let channel = window[0] % c;
    match xs.iter().position(|&v| v == got) {
        Some(p) if p % c != channel => format!(
            "\nYour value is at {}: another channel. Pooling never mixes channels: in NHWC a pixel's channels \
             are next to each other, so one step to the next pixel is C = {c} positions.",
            case.input_at(p)
        ),
        Some(p) => format!(
            "\nYour value is at {}, outside this window: window (oh, ow) covers rows oh·s_h .. oh·s_h + pool_h and \
             columns ow·s_w .. ow·s_w + pool_w (the end not included).",
            case.input_at(p)
        ),
        None => String::new(),
    }
}

fn one_max(ex: &Ex, case: &PoolCase) -> Check {
    let (y, argmax) = ex.call(case, || student::max_pool_forward(&case.x, case.pool, case.strides))?;
    let (want, want_arg) = reference::max_pool(&case.x, case.pool, case.strides);
    check_pool_shape(case, y.shape(), want.shape())?;
    if let Some(o) = super::first_difference(y.data(), want.data(), 0.0, 0.0) {
        let got = y.data()[o];
        fail!(
            "the pooled output is wrong at output {o}: yours is {got}, but the largest value of {} is {}.{}\nThe case: {case}.",
            case.describe_window(o),
            want.data()[o],
            whence(case, o, got)
        );
    }
    if argmax.len() != want_arg.len() {
        fail!(
            "the argmax holds {} positions, but it should hold one per output value: {}.\nThe case: {case}.",
            argmax.len(),
            want_arg.len()
        );
    }
    if let Some(o) = argmax.iter().zip(&want_arg).position(|(a, b)| a != b) {
        let (got, want) = (argmax[o], want_arg[o]);
        let xs = case.x.data();
        let window = case.window(o);
        let per_image: usize = case.x.shape()[1..].iter().product();
        let tied: Vec<usize> = window.iter().copied().filter(|&p| xs[p] == xs[want]).collect();
        let hint = if window.contains(&got) && xs[got] == xs[want] {
            format!(
                "\nThis window's maximum, {}, is there {} times, at positions {tied:?} of x (row-major order). On a tie \
                 the *first* maximum in row-major order wins, as in TensorFlow: compare with a strict `>`, so that a \
                 later equal value does not take the win.",
                xs[want],
                tied.len()
            )
        } else if got == want % per_image && want >= per_image {
            format!(
                "\nYour position counts from the start of the image; it must count from the start of the whole batch \
                 x: add n·H·W·C = {}.",
                want - want % per_image
            )
        } else if got < xs.len() && xs[got] == xs[want] {
            format!("\nx[{got}] has the right value, but it is not in this window: {}.", case.input_at(got))
        } else {
            String::new()
        };
        fail!(
            "the argmax is wrong at output {o}: yours is {got}, but the winner of {} is at position {want} of x ({}).{hint}\n\
             The case: {case}.",
            case.describe_window(o),
            case.input_at(want)
        );
    }
    Ok(())
}

fn max_pool_forward(ex: &Ex) -> Check {
    for case in book_cases() {
        one_max(ex, &case)?;
    }
    ex.for_random(96, distinct_cases(), |case| one_max(ex, &case))?;
    ex.for_random(96, tied_cases(), |case| one_max(ex, &case))
}

fn one_avg(ex: &Ex, case: &PoolCase) -> Check {
    let y: Tensor = ex.call(case, || student::avg_pool_forward(&case.x, case.pool, case.strides))?;
    let want = reference::avg_pool(&case.x, case.pool, case.strides);
    check_pool_shape(case, y.shape(), want.shape())?;
    let area = (case.pool.0 * case.pool.1) as f32;
    let sums: Vec<f32> = want.data().iter().map(|v| v * area).collect();
    let at = |o| format!("{}, whose mean is their sum / {area}", case.describe_window(o));
    compare(
        "the pooled output",
        y.data(),
        want.data(),
        at,
        &[("the sum of each window, not divided by its size", sums)],
    )
    .map_err(|f| Failure::Wrong(format!("{f}\nThe case: {case}.")))
}

fn avg_pool_forward(ex: &Ex) -> Check {
    for case in book_cases() {
        one_avg(ex, &case)?;
    }
    ex.for_random(96, distinct_cases(), |case| one_avg(ex, &case))
}
