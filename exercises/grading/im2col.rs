//! Grading the im2col chapter against the crate's `im2col` (see [`super::reference`]),
//! `Dense` (a product with a zero bias) and `convnets::conv::naive::forward`.

use convnets::{Dense, Layer, Padding, Tensor};
use proptest::prelude::*;

use super::conv_case::{ConvCase, conv_cases};
use super::convolution::check_output;
use super::{
    Check, Ex, Failure, Grader, compare, compare_shape, matrix_at, quarters, reference, tensor, unflatten,
};
use crate::im2col as student;

pub const EXERCISES: &[(&str, Grader)] =
    &[("im2col", im2col), ("matmul", matmul), ("conv2d_gemm", conv2d_gemm)];

fn one_im2col(ex: &Ex, case: &ConvCase) -> Check {
    let (kh, kw) = case.kernel_hw();
    let g = reference::geometry(&case.x, &case.kernel, case.strides, case.padding);
    let mut want = vec![0.0; g.patch_rows() * g.patch_len()];
    reference::im2col(&g, case.x.data(), &mut want);
    let got = ex.call(case, || student::im2col(&case.x, (kh, kw), case.strides, case.padding))?;
    let shape = [g.patch_rows(), g.patch_len()];
    let attach = |f: Failure| Failure::Wrong(format!("{f}\nThe case: {case}."));
    compare_shape("the patch matrix", got.shape(), &shape, || {
        format!(
            "one row per output position, batch·out_h·out_w = {}·{}·{}, one column per window cell, kh·kw·in_c = {kh}·{kw}·{}",
            g.batch, g.window.out_h, g.window.out_w, g.in_c
        )
    })
    .map_err(attach)?;
    let at = |i: usize| {
        let [row, col] = unflatten(&shape, i)[..] else { unreachable!("2-D") };
        let [n, oh, ow] = unflatten(&[g.batch, g.window.out_h, g.window.out_w], row)[..] else {
            unreachable!("3-D")
        };
        let [a, b, ci] = unflatten(&[kh, kw, g.in_c], col)[..] else { unreachable!("3-D") };
        format!(
            "row {row} (image {n}, output row {oh}, column {ow}), column {col} (window cell kh {a}, kw {b}, channel {ci}); \
             0 if that cell is in the padding"
        )
    };
    compare("the patch matrix", got.data(), &want, at, &[])
        .map_err(|f| Failure::Wrong(format!("{f}\nThe case: {case}.")))
}

fn im2col(ex: &Ex) -> Check {
    let arange = |n: usize| Tensor::arange(&[1, n, n, 1]).expect("small");
    let k3 = tensor(&[3, 3, 1, 1], vec![0.0; 9]);
    for case in [
        ConvCase::new(arange(4), k3.clone(), vec![0.0], (1, 1), Padding::Valid),
        ConvCase::new(arange(5), k3.clone(), vec![0.0], (2, 2), Padding::Same),
        ConvCase::new(
            Tensor::arange(&[2, 3, 4, 2]).expect("small"),
            tensor(&[2, 3, 2, 1], vec![0.0; 12]),
            vec![0.0],
            (1, 2),
            Padding::Same,
        ),
    ] {
        one_im2col(ex, &case)?;
    }
    ex.for_random(96, conv_cases(3, &[Padding::Valid, Padding::Same]), |case| one_im2col(ex, &case))
}

fn one_matmul(ex: &Ex, a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Check {
    let mut dense = Dense::with_weights(tensor(&[k, n], b.to_vec()), vec![0.0; n]).expect("weights that fit");
    let want = dense.forward(&tensor(&[m, k], a.to_vec())).expect("shapes that fit").clone();
    let input = format!("a ({m}×{k}) = {a:?}, b ({k}×{n}) = {b:?}");
    let got = ex.call(&input, || student::matmul(a, b, m, k, n))?;
    let transposed_b: Vec<f32> = (0..k * n).map(|i| b[i % k * n + i / k]).collect();
    let mut hints = vec![];
    if k == n {
        let mut alt = Dense::with_weights(tensor(&[k, n], transposed_b), vec![0.0; n]).expect("fits");
        hints.push((
            "a · bᵀ: b[p][j] is at p·n + j",
            alt.forward(&tensor(&[m, k], a.to_vec())).expect("fits").clone().into_data(),
        ));
    }
    let shape = [m, n];
    compare(
        "the product",
        &got,
        want.data(),
        |i| format!("{} (Σ_p a[i][p]·b[p][j])", matrix_at(&shape, i)),
        &hints,
    )
    .map_err(|f| Failure::Wrong(format!("{f}\nThe case: {input}.")))
}

fn matmul(ex: &Ex) -> Check {
    one_matmul(ex, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], (2, 3, 2))?;
    one_matmul(ex, &[1.0, 2.0], &[3.0, 4.0], (2, 1, 2))?; // an outer product
    let cases = (1..6usize, 1..6usize, 1..6usize)
        .prop_flat_map(|(m, k, n)| (quarters(m * k), quarters(k * n), Just((m, k, n))));
    ex.for_random(96, cases, |(a, b, mkn)| one_matmul(ex, &a, &b, mkn))
}

fn one_gemm(ex: &Ex, case: &ConvCase) -> Check {
    let y = ex
        .call(case, || student::conv2d_gemm(&case.x, &case.kernel, &case.bias, case.strides, case.padding))?;
    check_output(case, &y)
}

fn conv2d_gemm(ex: &Ex) -> Check {
    for case in super::convolution::book_cases() {
        one_gemm(ex, &case)?;
    }
    ex.for_random(96, conv_cases(3, &[Padding::Valid, Padding::Same]), |case| one_gemm(ex, &case))
}
