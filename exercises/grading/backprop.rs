//! Grading the backpropagation chapter against `convnets::conv::naive::backward`, the pooling
//! layers' and `Dense`'s backward passes, `Activation::Relu`, `convnets::loss`, and (for the
//! numerical gradient) against exact derivatives and the convolution's backward pass, with
//! `convnets::gradcheck::Tolerance::default()`.

use std::cell::Cell;

use convnets::gradcheck::Tolerance;
use convnets::loss;
use convnets::{Activation, Dense, Layer, Padding, Tensor};
use proptest::prelude::*;

use super::conv_case::{ConvCase, conv_cases};
use super::pool_case::{PoolCase, book_cases as pool_book_cases, distinct_cases};
use super::{
    Check, Ex, Failure, Grader, compare, compare_shape, dims, hwio_at, matrix_at, near, nhwc_at, quarters,
    reference, tensor,
};
use crate::backprop as student;
use crate::{ensure, fail};

pub const EXERCISES: &[(&str, Grader)] = &[
    ("conv2d_backward", conv2d_backward),
    ("max_pool_backward", max_pool_backward),
    ("avg_pool_backward", avg_pool_backward),
    ("dense_forward", dense_forward),
    ("dense_backward", dense_backward),
    ("relu_forward", relu_forward),
    ("relu_backward", relu_backward),
    ("softmax_crossentropy", softmax_crossentropy),
    ("softmax_crossentropy_grad", softmax_crossentropy_grad),
    ("numerical_gradient", numerical_gradient),
    ("check_gradient", check_gradient),
];

/// Adds the case to a failure's message.
fn with_case(case: impl std::fmt::Display) -> impl Fn(Failure) -> Failure {
    move |f| match f {
        Failure::Wrong(m) => Failure::Wrong(format!("{m}\nThe case: {case}.")),
        other => other,
    }
}

/// An output gradient for a shape: odd multiples of 1/8 between −7/8 and 7/8, none of them 0
/// (and exact in sums with multiples of 1/4).
fn gradient_for(shape: &[usize]) -> Tensor {
    let len = shape.iter().product();
    tensor(shape, (0..len).map(|i| ((i * 5 % 8) as f32 - 3.5) / 4.0).collect())
}

// --- Convolution -----------------------------------------------------------------------------

fn one_conv_backward(ex: &Ex, case: &ConvCase, dy: &Tensor) -> Check {
    let (dx, dk, db) = ex.call(format_args!("{case} and dy = {:?}", dy.data()), || {
        student::conv2d_backward(&case.x, &case.kernel, dy, case.strides, case.padding)
    })?;
    let (want_dx, want_dk, want_db) =
        reference::conv2d_backward(&case.x, &case.kernel, dy, case.strides, case.padding);
    let attach = with_case(format!("{case}, dy = {:?}", dy.data()));
    compare_shape("dx", dx.shape(), want_dx.shape(), || "dx has the shape of the input x".into())
        .map_err(&attach)?;
    compare(
        "the kernel gradient dkernel",
        &dk,
        &want_dk,
        |i| format!("{} (Σ over every window of x under that cell · dy)", hwio_at(case.kernel.shape(), i)),
        &[],
    )
    .map_err(&attach)?;
    compare(
        "the bias gradient dbias",
        &db,
        &want_db,
        |i| format!("filter {i} (Σ of dy over that filter's outputs)"),
        &[],
    )
    .map_err(&attach)?;
    compare(
        "dx",
        dx.data(),
        want_dx.data(),
        |i| {
            format!(
                "{} (Σ of kernel · dy over every window that read it; 0 if none did)",
                nhwc_at(case.x.shape(), i)
            )
        },
        &[],
    )
    .map_err(&attach)
}

fn conv2d_backward(ex: &Ex) -> Check {
    let arange = |shape: &[usize]| Tensor::arange(shape).expect("small");
    let nine: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    // The book: the worked example, the strided edges, and exercise 1.
    let book = [
        (
            ConvCase::new(
                arange(&[1, 3, 3, 1]),
                tensor(&[2, 2, 1, 1], vec![1.0, 2.0, 3.0, 4.0]),
                vec![0.0],
                (1, 1),
                Padding::Valid,
            ),
            tensor(&[1, 2, 2, 1], vec![1.0; 4]),
        ),
        (
            ConvCase::new(
                arange(&[1, 6, 6, 1]),
                tensor(&[3, 3, 1, 1], vec![1.0; 9]),
                vec![0.0],
                (2, 2),
                Padding::Valid,
            ),
            tensor(&[1, 2, 2, 1], vec![1.0; 4]),
        ),
        (
            ConvCase::new(
                arange(&[1, 4, 4, 1]),
                tensor(&[3, 3, 1, 1], nine),
                vec![0.0],
                (1, 1),
                Padding::Valid,
            ),
            tensor(&[1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]),
        ),
    ];
    for (case, dy) in &book {
        one_conv_backward(ex, case, dy)?;
    }
    ex.for_random(96, conv_cases(3, &[Padding::Valid, Padding::Same]), |case| {
        let dy = gradient_for(case.forward().shape());
        one_conv_backward(ex, &case, &dy)
    })
}

// --- Pooling ---------------------------------------------------------------------------------

fn one_max_backward(ex: &Ex, case: &PoolCase) -> Check {
    let (y, argmax) = reference::max_pool(&case.x, case.pool, case.strides);
    let dy = tensor(y.shape(), (1..=y.len()).map(|v| v as f32).collect());
    let want = reference::max_pool_backward(&case.x, &dy, case.pool, case.strides);
    let dx = ex.call(format_args!("{case}, argmax {argmax:?}, dy {:?}", dy.data()), || {
        student::max_pool_backward(&dy, &argmax, case.x.shape())
    })?;
    let attach = with_case(format!("{case}, argmax = {argmax:?}, dy = {:?}", dy.data()));
    compare_shape("dx", dx.shape(), want.shape(), || "dx has the shape of the input x".into())
        .map_err(&attach)?;
    let mut overwritten = vec![0.0; case.x.len()];
    for (&d, &i) in dy.data().iter().zip(&argmax) {
        overwritten[i] = d;
    }
    let at = |i| {
        let winners: Vec<usize> =
            argmax.iter().enumerate().filter(|&(_, &a)| a == i).map(|(o, _)| o).collect();
        if winners.is_empty() {
            format!("{}, which won no window: it gets 0", nhwc_at(case.x.shape(), i))
        } else {
            format!(
                "{}, which won the windows of outputs {winners:?}: it gets the sum of their dy",
                nhwc_at(case.x.shape(), i)
            )
        }
    };
    let hints = [(
        "`=` where it takes `+=`: an input that wins two overlapping windows must collect both gradients",
        overwritten,
    )];
    compare("dx", dx.data(), want.data(), at, &hints).map_err(&attach)
}

fn max_pool_backward(ex: &Ex) -> Check {
    for case in pool_book_cases() {
        one_max_backward(ex, &case)?;
    }
    ex.for_random(96, distinct_cases(), |case| one_max_backward(ex, &case))
}

fn one_avg_backward(ex: &Ex, case: &PoolCase) -> Check {
    let y = reference::avg_pool(&case.x, case.pool, case.strides);
    let dy = tensor(y.shape(), (1..=y.len()).map(|v| v as f32).collect());
    let want = reference::avg_pool_backward(&case.x, &dy, case.pool, case.strides);
    let dx = ex.call(format_args!("{case}, dy {:?}", dy.data()), || {
        student::avg_pool_backward(&dy, case.x.shape(), case.pool, case.strides)
    })?;
    let attach = with_case(format!("{case}, dy = {:?}", dy.data()));
    compare_shape("dx", dx.shape(), want.shape(), || "dx has the shape of the input x".into())
        .map_err(&attach)?;
    let m = (case.pool.0 * case.pool.1) as f32;
    let undivided: Vec<f32> = want.data().iter().map(|v| v * m).collect();
    let mut overwritten = vec![0.0; case.x.len()];
    for o in 0..dy.len() {
        for p in case.window(o) {
            overwritten[p] = dy.data()[o] / m;
        }
    }
    let hints = [
        ("dy not divided by the window's size m: each of the m inputs receives dy / m", undivided),
        ("`=` where it takes `+=`: an input in two overlapping windows must collect from both", overwritten),
    ];
    let at = |i| format!("{} (Σ of dy / {m} over the windows that hold it)", nhwc_at(case.x.shape(), i));
    compare("dx", dx.data(), want.data(), at, &hints).map_err(&attach)
}

fn avg_pool_backward(ex: &Ex) -> Check {
    for case in pool_book_cases() {
        one_avg_backward(ex, &case)?;
    }
    ex.for_random(96, distinct_cases(), |case| one_avg_backward(ex, &case))
}

// --- Dense -----------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct DenseCase {
    x: Tensor,
    kernel: Tensor,
    bias: Vec<f32>,
}

impl std::fmt::Display for DenseCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "x of shape {} (batch×inputs) = {:?}, a kernel of shape {} (inputs×units) = {:?}, bias {:?}",
            dims(self.x.shape()),
            self.x.data(),
            dims(self.kernel.shape()),
            self.kernel.data(),
            self.bias
        )
    }
}

fn dense_cases() -> impl Strategy<Value = DenseCase> {
    (1..=4usize, 1..=6usize, 1..=5usize).prop_flat_map(|(b, i, u)| {
        (quarters(b * i), quarters(i * u), quarters(u)).prop_map(move |(x, k, bias)| DenseCase {
            x: tensor(&[b, i], x),
            kernel: tensor(&[i, u], k),
            bias,
        })
    })
}

fn dense_book() -> DenseCase {
    DenseCase {
        x: tensor(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        kernel: Tensor::arange(&[3, 2]).expect("small"),
        bias: vec![0.5, -1.0],
    }
}

fn reference_dense(case: &DenseCase) -> Dense {
    Dense::with_weights(case.kernel.clone(), case.bias.clone()).expect("weights that fit")
}

fn one_dense_forward(ex: &Ex, case: &DenseCase) -> Check {
    let z = ex.call(case, || student::dense_forward(&case.x, &case.kernel, &case.bias))?;
    let want = reference_dense(case).forward(&case.x).expect("shapes that fit").clone();
    let attach = with_case(case);
    compare_shape("z", z.shape(), want.shape(), || {
        "(batch, units): one row per sample, one column per unit".into()
    })
    .map_err(&attach)?;
    let no_bias = reference_dense(&DenseCase { bias: vec![0.0; case.bias.len()], ..case.clone() })
        .forward(&case.x)
        .expect("shapes that fit")
        .clone()
        .into_data();
    let at = |i| format!("{} (b[u] + Σ_i x[n,i]·W[i,u])", matrix_at(want.shape(), i));
    compare("z", z.data(), want.data(), at, &[("the bias is missing", no_bias)]).map_err(&attach)
}

fn dense_forward(ex: &Ex) -> Check {
    one_dense_forward(ex, &dense_book())?;
    ex.for_random(96, dense_cases(), |case| one_dense_forward(ex, &case))
}

fn one_dense_backward(ex: &Ex, case: &DenseCase) -> Check {
    let mut layer = reference_dense(case);
    let z_shape = layer.forward(&case.x).expect("shapes that fit").shape().to_vec();
    let dz = gradient_for(&z_shape);
    let want_dx = layer.backward(&dz).expect("dz fits").clone();
    let (want_dk, want_db) = (layer.kernel_grad().to_vec(), layer.bias_grad().to_vec());
    let (dx, dk, db) = ex.call(format_args!("{case}, dz = {:?}", dz.data()), || {
        student::dense_backward(&case.x, &case.kernel, &dz)
    })?;
    let attach = with_case(format!("{case}, dz = {:?}", dz.data()));
    let [inputs, units] = case.kernel.shape()[..] else { unreachable!("2-D") };
    let transposed: Vec<f32> =
        (0..inputs * units).map(|i| want_dk[i % inputs * units + i / inputs]).collect();
    let batch = case.x.shape()[0] as f32;
    let mean: Vec<f32> = want_db.iter().map(|v| v / batch).collect();
    let kernel_shape = case.kernel.shape().to_vec();
    compare(
        "the kernel gradient dW",
        &dk,
        &want_dk,
        |i| format!("{} ((xᵀ · dz)[i,u] = Σ_n x[n,i]·dz[n,u])", matrix_at(&kernel_shape, i)),
        &[(
            "dW stored as (units, inputs): the kernel is (inputs, units), and so is its gradient",
            transposed,
        )],
    )
    .map_err(&attach)?;
    compare(
        "the bias gradient db",
        &db,
        &want_db,
        |u| format!("unit {u} (Σ_n dz[n,u])"),
        &[("the mean over the batch: db is the sum", mean)],
    )
    .map_err(&attach)?;
    compare_shape("dx", dx.shape(), want_dx.shape(), || "dx has the shape of x, (batch, inputs)".into())
        .map_err(&attach)?;
    compare(
        "dx",
        dx.data(),
        want_dx.data(),
        |i| format!("{} ((dz · Wᵀ)[n,i] = Σ_u dz[n,u]·W[i,u])", matrix_at(case.x.shape(), i)),
        &[],
    )
    .map_err(&attach)
}

fn dense_backward(ex: &Ex) -> Check {
    one_dense_backward(ex, &dense_book())?;
    ex.for_random(96, dense_cases(), |case| one_dense_backward(ex, &case))
}

// --- ReLU ------------------------------------------------------------------------------------

fn same_bits_or_both_nan(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn one_relu(ex: &Ex, z: &[f32]) -> Check {
    let got = ex.call(format_args!("z = {z:?}"), || student::relu_forward(z))?;
    let mut want = z.to_vec();
    Activation::Relu.apply(&mut want, z.len());
    ensure!(
        got.len() == want.len(),
        "relu_forward gives {} values for {} inputs: one each.",
        got.len(),
        z.len()
    );
    if let Some(i) = got.iter().zip(&want).position(|(&g, &w)| !same_bits_or_both_nan(g, w)) {
        let hint = if z[i].is_nan() {
            "\nNaN must stay NaN: `f32::max` turns NaN into 0 (and so does `if v > 0.0 { v } else { 0.0 }`); \
             write the comparison the other way, `if v < 0.0 { 0.0 } else { v }`."
        } else {
            ""
        };
        fail!(
            "relu_forward is wrong at index {i}: max({}, 0) is {}, yours is {}.{hint}\nThe input: {z:?}.",
            z[i],
            want[i],
            got[i]
        );
    }
    Ok(())
}

fn relu_forward(ex: &Ex) -> Check {
    one_relu(ex, &[-2.0, -0.5, 0.0, 0.5, 2.0])?;
    one_relu(ex, &[1.0, f32::NAN, -1.0])?;
    ex.for_random(64, proptest::collection::vec(-4.0f32..4.0, 0..20), |z| one_relu(ex, &z))
}

fn one_relu_backward(ex: &Ex, y: &[f32], dy: &[f32]) -> Check {
    let got = ex.call(format_args!("y = {y:?}, dy = {dy:?}"), || student::relu_backward(y, dy))?;
    let mut want = vec![0.0; y.len()];
    Activation::Relu.backward(y, dy, &mut want, y.len());
    let at_zero: Vec<f32> = y.iter().zip(dy).map(|(&y, &d)| if y >= 0.0 { d } else { 0.0 }).collect();
    let times_y: Vec<f32> = y.iter().zip(dy).map(|(&y, &d)| if y > 0.0 { d * y } else { 0.0 }).collect();
    let hints = [
        ("the gradient passed where y = 0: it is blocked there (y > 0, not y ≥ 0)", at_zero),
        ("dy multiplied by y: ReLU's slope is 1 where it passes, not y", times_y),
    ];
    compare("dz", &got, &want, |i| format!("index {i} (y = {}, dy = {})", y[i], dy[i]), &hints)
        .map_err(with_case(format_args!("y = {y:?}, dy = {dy:?}").to_string()))
}

fn relu_backward(ex: &Ex) -> Check {
    one_relu_backward(ex, &[0.0, 2.0, 0.0, 0.5], &[1.0, 1.0, -3.0, -3.0])?;
    let cases = (1..12usize).prop_flat_map(|n| {
        (proptest::collection::vec(prop_oneof![Just(0.0f32), 0.25f32..3.0], n), quarters(n))
    });
    ex.for_random(64, cases, |(y, dy)| one_relu_backward(ex, &y, &dy))
}

// --- Softmax and cross-entropy ---------------------------------------------------------------

#[derive(Debug, Clone)]
struct LossCase {
    logits: Tensor,
    targets: Tensor,
}

impl std::fmt::Display for LossCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "logits of shape {} = {:?}, targets {:?}",
            dims(self.logits.shape()),
            self.logits.data(),
            self.targets.data()
        )
    }
}

fn loss_case(shape: [usize; 2], logits: Vec<f32>, labels: &[usize]) -> LossCase {
    let mut targets = vec![0.0; shape[0] * shape[1]];
    for (n, &c) in labels.iter().enumerate() {
        targets[n * shape[1] + c] = 1.0;
    }
    LossCase { logits: tensor(&shape, logits), targets: tensor(&shape, targets) }
}

fn loss_book_cases() -> Vec<LossCase> {
    vec![
        loss_case([2, 3], vec![1.0, 2.0, 3.0, 0.5, 0.5, 0.5], &[2, 0]),
        loss_case([1, 2], vec![0.0, 100.0], &[0]),
        loss_case([2, 2], vec![1000.0, 0.0, -1000.0, 5.0], &[0, 0]),
        loss_case([1, 10], vec![0.0; 10], &[3]),
    ]
}

fn loss_cases() -> impl Strategy<Value = LossCase> {
    (1..=4usize, 2..=6usize).prop_flat_map(|(b, c)| {
        (proptest::collection::vec(-20.0f32..20.0, b * c), proptest::collection::vec(0..c, b))
            .prop_map(move |(z, labels)| loss_case([b, c], z, &labels))
    })
}

fn one_loss(ex: &Ex, case: &LossCase) -> Check {
    let got = ex.call(case, || student::softmax_crossentropy(&case.logits, &case.targets))?;
    let want = loss::softmax_crossentropy(&case.logits, &case.targets).expect("shapes that fit");
    let batch = case.logits.shape()[0] as f64;
    if !near(got, want, 1e-4, 1e-4) {
        let hint = if !got.is_finite() {
            "\nNot a number: exp of a large logit overflows f32 (exp(89) already does). Subtract each row's \
             maximum first: log p_c = (z_c − max) − log Σ_j exp(z_j − max)."
                .to_string()
        } else if (got - want * batch).abs() <= 1e-4 + 1e-4 * (want * batch).abs() {
            "\nThat is the sum over the batch: the loss is the mean.".to_string()
        } else if (got + want).abs() <= 1e-4 + 1e-4 * want.abs() {
            "\nThe sign is flipped: the loss is −Σ y · log p, and log p ≤ 0.".to_string()
        } else if (16.1..16.2).contains(&got) {
            "\nThat is Keras's clipped loss from probabilities (−log 1e-7 ≈ 16.1): from the logits, the loss is exact."
                .to_string()
        } else {
            String::new()
        };
        fail!(
            "softmax_crossentropy is {got}, but it should be {want} (tolerance 1e-4 + 1e-4·|expected|).{hint}\nThe case: {case}."
        );
    }
    Ok(())
}

fn softmax_crossentropy(ex: &Ex) -> Check {
    for case in loss_book_cases() {
        one_loss(ex, &case)?;
    }
    ex.for_random(96, loss_cases(), |case| one_loss(ex, &case))
}

fn one_loss_grad(ex: &Ex, case: &LossCase) -> Check {
    let got = ex.call(case, || student::softmax_crossentropy_grad(&case.logits, &case.targets))?;
    let mut probs = case.logits.clone();
    Activation::Softmax.apply(probs.data_mut(), case.logits.shape()[1]);
    let want = loss::softmax_crossentropy_grad(&probs, &case.targets).expect("shapes that fit");
    let attach = with_case(case);
    compare_shape("the gradient", got.shape(), want.shape(), || "it has the logits' shape".into())
        .map_err(&attach)?;
    let batch = case.logits.shape()[0] as f32;
    let hints = [
        ("p − y without the division by the batch size", want.data().iter().map(|v| v * batch).collect()),
        (
            "y − p: the sign is flipped (the loss goes down where p moves towards y)",
            want.data().iter().map(|v| -v).collect(),
        ),
        ("p / batch: the targets are missing", probs.data().iter().map(|p| p / batch).collect()),
    ];
    let at = |i| format!("{} ((p − y) / batch)", matrix_at(case.logits.shape(), i));
    compare("the gradient", got.data(), want.data(), at, &hints).map_err(&attach)
}

fn softmax_crossentropy_grad(ex: &Ex) -> Check {
    for case in loss_book_cases() {
        one_loss_grad(ex, &case)?;
    }
    ex.for_random(96, loss_cases(), |case| one_loss_grad(ex, &case))
}

// --- Finite differences ----------------------------------------------------------------------

/// `f(v) = Σ c_i v_i² + d_i v_i`: central differences are exact for it.
fn quadratic_case(ex: &Ex, x: &[f32], c: &[f32], d: &[f32], eps: f32) -> Check {
    let calls = Cell::new(0usize);
    let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<_>>();
    let (cc, dd) = (f64s(c), f64s(d));
    let mut f = |v: &[f32]| -> f64 {
        calls.set(calls.get() + 1);
        v.iter().zip(cc.iter().zip(&dd)).map(|(&v, (c, d))| c * f64::from(v).powi(2) + d * f64::from(v)).sum()
    };
    let input = format!("f(v) = Σ c·v² + d·v with c = {c:?}, d = {d:?}, at x = {x:?}, ε = {eps}");
    let got = ex.call(&input, || student::numerical_gradient(&mut f, x, eps))?;
    ensure!(
        got.len() == x.len(),
        "numerical_gradient gives {} values for {} inputs: one each.\nThe case: {input}.",
        got.len(),
        x.len()
    );
    ensure!(
        calls.get() == 2 * x.len(),
        "numerical_gradient called f {} times for {} inputs: central differences take exactly two evaluations per \
         entry, f(x + ε·e_i) and f(x − ε·e_i).\nThe case: {input}.",
        calls.get(),
        x.len()
    );
    let tol = Tolerance::default();
    for i in 0..x.len() {
        let want = 2.0 * cc[i] * f64::from(x[i]) + dd[i];
        if !near(got[i], want, tol.atol, tol.rtol) {
            let one_sided = want + cc[i] * f64::from(eps);
            let hint = if (got[i] - one_sided).abs() < 1e-3 {
                "\nThat is the one-sided difference (f(x + ε) − f(x)) / ε, whose error is of order ε: use \
                 (f(x + ε) − f(x − ε)) / 2ε."
            } else if (got[i] - want * 2.0).abs() < 1e-3 || (got[i] - want / 2.0).abs() < 1e-3 {
                "\nOff by a factor of 2: the two points are 2ε apart."
            } else {
                ""
            };
            fail!(
                "numerical_gradient is wrong at index {i}: yours is {}, the derivative of c·v² + d·v at v = {} is \
                 2·{}·{} + {} = {want} (central differences are exact for a quadratic; tolerance {} + {}·|expected|).\
                 {hint}\nThe case: {input}.",
                got[i],
                x[i],
                c[i],
                x[i],
                d[i],
                tol.atol,
                tol.rtol
            );
        }
    }
    Ok(())
}

/// The student's numerical gradient of `L = Σ conv(x) · dy` must match the convolution's
/// backward pass `dx`, within the crate's default gradient-check tolerance.
fn conv_gradient_case(ex: &Ex, case: &ConvCase) -> Check {
    let y_shape = case.forward().shape().to_vec();
    let r = gradient_for(&y_shape);
    let (want, _, _) = reference::conv2d_backward(&case.x, &case.kernel, &r, case.strides, case.padding);
    let tol = Tolerance::default();
    let mut f = |v: &[f32]| -> f64 {
        let x = tensor(case.x.shape(), v.to_vec());
        let y = reference::conv2d(&x, &case.kernel, &case.bias, case.strides, case.padding);
        y.data().iter().zip(r.data()).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
    };
    let got = ex.call(case, || student::numerical_gradient(&mut f, case.x.data(), tol.eps))?;
    ensure!(
        got.len() == case.x.len(),
        "numerical_gradient gives {} values for {} inputs.",
        got.len(),
        case.x.len()
    );
    for (i, (&g, &w)) in got.iter().zip(want.data()).enumerate() {
        if !near(f64::from(w), g, tol.atol, tol.rtol) {
            fail!(
                "a gradient check of the convolution's dx with your numerical_gradient fails at {}: yours gives {g}, \
                 the backward pass {w} (L = Σ y · r for a fixed r, ε = {}, tolerance {} + {}·|numerical|).\nThe case: {case}.",
                nhwc_at(case.x.shape(), i),
                tol.eps,
                tol.atol,
                tol.rtol
            );
        }
    }
    Ok(())
}

fn numerical_gradient(ex: &Ex) -> Check {
    quadratic_case(ex, &[0.5, -1.0, 2.0], &[1.0, 1.0, 1.0], &[0.0, 0.0, 0.0], 1e-2)?;
    quadratic_case(
        ex,
        &[0.5, -1.0, 2.0, 1.5, -0.25, 3.0],
        &[1.0, 2.0, -1.0, 0.5, 3.0, 1.0],
        &[0.5, 0.0, 1.0, -2.0, 0.25, 0.0],
        1e-2,
    )?;
    let cases = (1..8usize).prop_flat_map(|n| (quarters(n), quarters(n), quarters(n)));
    ex.for_random(48, cases, |(x, c, d)| quadratic_case(ex, &x, &c, &d, 1e-2))?;
    ex.for_random(24, conv_cases(2, &[Padding::Valid, Padding::Same]), |case| conv_gradient_case(ex, &case))
}

fn one_check(ex: &Ex, analytic: &[f32], numerical: &[f64], atol: f64, rtol: f64) -> Check {
    let input = format!("analytic {analytic:?}, numerical {numerical:?}, atol {atol}, rtol {rtol}");
    let got = ex.call(&input, || student::check_gradient(analytic, numerical, atol, rtol))?;
    let disagree = |i: usize| {
        let err = (f64::from(analytic[i]) - numerical[i]).abs();
        err.is_nan() || err > atol + rtol * numerical[i].abs()
    };
    let want = (0..analytic.len()).find(|&i| disagree(i));
    if got != want {
        let why = |i: usize| {
            format!(
                "|{} − {}| = {} against atol + rtol·|numerical| = {}",
                analytic[i],
                numerical[i],
                (f64::from(analytic[i]) - numerical[i]).abs(),
                atol + rtol * numerical[i].abs()
            )
        };
        let detail = match (got, want) {
            (Some(g), _) if g >= analytic.len() => format!("index {g} is past the end"),
            (Some(g), _) if !disagree(g) => format!("index {g} agrees: {}", why(g)),
            (_, Some(w)) if analytic[w].is_nan() || numerical[w].is_nan() => {
                format!("index {w} holds a NaN, which never agrees (a comparison with NaN is always false)")
            }
            (_, Some(w)) => format!("index {w} is the first that disagrees: {}", why(w)),
            (_, None) => "every entry agrees".to_string(),
        };
        fail!("check_gradient({input}) is {got:?}, but it should be {want:?}: {detail}.");
    }
    Ok(())
}

fn check_gradient(ex: &Ex) -> Check {
    let (a, b) = (1e-3, 1e-3);
    one_check(ex, &[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], a, b)?;
    one_check(ex, &[1.0, 2.0, 3.0], &[1.0, 2.1, 3.5], a, b)?;
    one_check(ex, &[1.0, f32::NAN], &[1.0, 2.0], a, b)?;
    one_check(ex, &[100.0], &[100.05], a, b)?; // within the relative part only
    one_check(ex, &[0.0], &[0.0015], a, b)?; // outside the absolute part
    one_check(ex, &[0.5, 0.5], &[0.5005, f64::NAN], a, b)?;
    let cases = (1..10usize).prop_flat_map(|n| {
        (
            proptest::collection::vec(-5.0f32..5.0, n),
            proptest::collection::vec(-0.01f64..0.01, n),
            0.0f64..0.005,
            0.0f64..0.01,
        )
    });
    ex.for_random(200, cases, |(analytic, noise, atol, rtol)| {
        let numerical: Vec<f64> = analytic.iter().zip(&noise).map(|(&a, e)| f64::from(a) + e).collect();
        one_check(ex, &analytic, &numerical, atol, rtol)
    })
}
