//! Grading the padding chapter against `convnets::out_len`, `convnets::padding::pads_1d` and
//! `convnets::padding::zero_pad`.

use convnets::padding::pads_1d;
use convnets::{Padding, Pads, Tensor};
use proptest::prelude::*;

use super::{
    Check, Ex, Grader, compare, compare_shape, dims, distinct, explain_len, nhwc_at, padding_name, tensor,
};
use crate::padding as student;
use crate::{ensure, fail};

pub const EXERCISES: &[(&str, Grader)] =
    &[("out_len", out_len), ("same_pads", same_pads), ("zero_pad", zero_pad)];

fn one_out_len(ex: &Ex, n: usize, k: usize, s: usize, padding: Padding) -> Check {
    let want = convnets::out_len(n, k, s, padding).ok();
    let name = padding_name(padding);
    let got = ex
        .call(format_args!("n {n}, k {k}, s {s}, `{name}` padding"), || student::out_len(n, k, s, padding))?;
    match (got, want) {
        (g, w) if g == w => Ok(()),
        (Some(g), None) if n == 0 || k == 0 || s == 0 => {
            fail!(
                "out_len({n}, {k}, {s}, {name}) is Some({g}), but a zero length, window or stride has no answer: None."
            )
        }
        (Some(g), None) => fail!(
            "out_len({n}, {k}, {s}, {name}) is Some({g}), but a window of {k} never fits in {n} with `valid` padding: \
             the answer is None."
        ),
        (None, Some(w)) => fail!(
            "out_len({n}, {k}, {s}, {name}) is None, but it should be Some({w}): {}.",
            explain_len("axis", n, k, s, padding, w)
        ),
        (Some(g), Some(_)) => fail!(
            "out_len({n}, {k}, {s}, {name}) is Some({g}), but {}.",
            explain_len("axis", n, k, s, padding, g)
        ),
        (None, None) => unreachable!("equal"),
    }
}

fn out_len(ex: &Ex) -> Check {
    // The book's sizes: 28 → 26 and 24, 28 kept by `same`, 5×5 on 3×3, the 5×5 image with stride 2.
    for (n, k, s, padding) in [
        (28, 3, 1, Padding::Valid),
        (28, 5, 1, Padding::Valid),
        (28, 3, 1, Padding::Same),
        (3, 5, 1, Padding::Valid),
        (3, 5, 1, Padding::Same),
        (5, 3, 2, Padding::Valid),
        (5, 3, 2, Padding::Same),
        (11, 2, 2, Padding::Valid),
    ] {
        one_out_len(ex, n, k, s, padding)?;
    }
    let cases = (0..31usize, 0..8usize, 0..5usize, prop_oneof![Just(Padding::Valid), Just(Padding::Same)]);
    ex.for_random(300, cases, |(n, k, s, p)| one_out_len(ex, n, k, s, p))
}

fn one_pads(ex: &Ex, n: usize, k: usize, s: usize) -> Check {
    let want = pads_1d(Padding::Same, n, k, s);
    let got = ex.call(format_args!("n {n}, k {k}, s {s}"), || student::same_pads(n, k, s))?;
    if got != want {
        let out = n.div_ceil(s);
        let total = want.0 + want.1;
        let hint = if got == (want.1, want.0) {
            "\nThe extra zero is on the wrong side: TensorFlow puts total / 2 before and the extra one after."
        } else if got.0 + got.1 == k - 1 && total != k - 1 {
            "\nk − 1 zeros are right for stride 1 only: with stride s the padded axis must be (out − 1)·s + k long."
        } else if got.0 + got.1 != total {
            "\nThe total is wrong; the split comes after it."
        } else {
            ""
        };
        fail!(
            "same_pads({n}, {k}, {s}) is {got:?}, but it should be {want:?}: `same` wants ⌈{n}/{s}⌉ = {out} windows, \
             the last one starts at ({out} − 1)·{s} and needs {k} positions, so the padded axis is {} long and \
             total = max({} − {n}, 0) = {total}, split ({}, {}).{hint}",
            (out - 1) * s + k,
            (out - 1) * s + k,
            total / 2,
            total - total / 2
        );
    }
    Ok(())
}

fn same_pads(ex: &Ex) -> Check {
    for (n, k, s) in [(28, 3, 1), (28, 5, 1), (4, 2, 1), (28, 3, 2), (6, 3, 2), (5, 3, 2), (1, 4, 3)] {
        one_pads(ex, n, k, s)?;
    }
    ex.for_random(300, (1..31usize, 1..8usize, 1..5usize), |(n, k, s)| one_pads(ex, n, k, s))
}

#[derive(Debug, Clone)]
struct PadCase {
    x: Tensor,
    pads: Pads,
}

fn one_zero_pad(ex: &Ex, case: &PadCase) -> Check {
    let PadCase { x, pads } = case;
    let want = convnets::padding::zero_pad(x, *pads).expect("a 4-D input");
    let input = format_args!("a {} input and {pads:?}", dims(x.shape())).to_string();
    let got = ex.call(&input, || student::zero_pad(x, *pads))?;
    compare_shape("the padded batch", got.shape(), want.shape(), || {
        let [n, h, w, c] = x.shape()[..] else { unreachable!("NHWC") };
        format!(
            "the same {n} images and {c} channels, {h} + {} + {} rows and {w} + {} + {} columns",
            pads.top, pads.bottom, pads.left, pads.right
        )
    })?;
    let pad = |p: Pads| convnets::padding::zero_pad(x, p).expect("a 4-D input").into_data();
    let flip_v = Pads { top: pads.bottom, bottom: pads.top, ..*pads };
    let flip_h = Pads { left: pads.right, right: pads.left, ..*pads };
    let mut hints = vec![];
    if flip_v != *pads {
        hints.push(("top and bottom swapped", pad(flip_v)));
    }
    if flip_h != *pads {
        hints.push(("left and right swapped", pad(flip_h)));
    }
    let at = |i| nhwc_at(want.shape(), i);
    compare("the padded batch", got.data(), want.data(), at, &hints)
        .map_err(|f| super::Failure::Wrong(format!("{f}\nThe input: {input}.")))?;
    ensure!(got.data().len() == want.len(), "the padded batch has the wrong number of values");
    Ok(())
}

fn zero_pad(ex: &Ex) -> Check {
    let one = Pads { top: 1, bottom: 1, left: 1, right: 1 };
    let after = Pads { top: 0, bottom: 1, left: 0, right: 1 };
    let before = Pads { top: 1, bottom: 0, left: 1, right: 0 };
    let book = [
        PadCase { x: Tensor::arange(&[1, 5, 5, 1]).expect("small"), pads: one },
        PadCase { x: Tensor::arange(&[1, 4, 4, 1]).expect("small"), pads: after },
        PadCase { x: Tensor::arange(&[1, 4, 4, 1]).expect("small"), pads: before },
        PadCase {
            x: Tensor::arange(&[2, 3, 2, 3]).expect("small"),
            pads: Pads { top: 2, bottom: 0, left: 1, right: 3 },
        },
    ];
    for case in &book {
        one_zero_pad(ex, case)?;
    }
    let cases = (1..=2usize, 1..=6usize, 1..=6usize, 1..=3usize, prop::array::uniform4(0..=3usize))
        .prop_flat_map(|(n, h, w, c, [top, bottom, left, right])| {
            // Distinct values, none of them 0: a misplaced value cannot pass for a padding zero.
            distinct(n * h * w * c).prop_map(move |data| PadCase {
                x: tensor(&[n, h, w, c], data.into_iter().map(|v| v + 100.0).collect()),
                pads: Pads { top, bottom, left, right },
            })
        });
    ex.for_random(100, cases, |case| one_zero_pad(ex, &case))
}
