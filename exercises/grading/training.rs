//! Grading the training chapter: one-hot rows and accuracy by their definitions, RMSprop
//! against `convnets::optim::RmsProp`, and a training step against `Dense`, `convnets::loss`
//! and `RmsProp`.

use convnets::layer::Param;
use convnets::loss;
use convnets::optim::RmsProp;
use convnets::{Activation, Dense, Layer, Tensor};
use proptest::prelude::*;

use super::{Check, Ex, Failure, Grader, compare, compare_shape, dims, matrix_at, quarters, tensor};
use crate::training as student;
use crate::{ensure, fail};

pub const EXERCISES: &[(&str, Grader)] = &[
    ("one_hot", one_hot),
    ("accuracy", accuracy),
    ("rmsprop_step", rmsprop_step),
    ("train_step", train_step),
];

fn one_one_hot(ex: &Ex, labels: &[u8], classes: usize) -> Check {
    let got =
        ex.call(format_args!("labels {labels:?}, {classes} classes"), || student::one_hot(labels, classes))?;
    let mut want = vec![0.0; labels.len() * classes];
    for (n, &l) in labels.iter().enumerate() {
        want[n * classes + usize::from(l)] = 1.0;
    }
    let shape = [labels.len(), classes];
    compare_shape("the one-hot tensor", got.shape(), &shape, || {
        "one row per label, one column per class".into()
    })?;
    let at = |i| format!("{} (label {} of row {})", matrix_at(&shape, i), labels[i / classes], i / classes);
    compare("the one-hot tensor", got.data(), &want, at, &[])
        .map_err(|f| Failure::Wrong(format!("{f}\nThe labels: {labels:?}, {classes} classes.")))
}

fn one_hot(ex: &Ex) -> Check {
    one_one_hot(ex, &[5, 0, 4], 10)?;
    one_one_hot(ex, &[1, 1], 2)?;
    let cases = (1..12usize).prop_flat_map(|c| (proptest::collection::vec(0..c as u8, 0..8), Just(c)));
    ex.for_random(100, cases, |(labels, c)| one_one_hot(ex, &labels, c))
}

fn one_accuracy(ex: &Ex, probs: &Tensor, labels: &[usize]) -> Check {
    let classes = probs.shape()[1];
    let mut targets = Tensor::zeros(probs.shape()).expect("small");
    for (n, &l) in labels.iter().enumerate() {
        targets.data_mut()[n * classes + l] = 1.0;
    }
    let first_max = |row: &[f32]| (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best });
    let predicted: Vec<usize> = probs.data().chunks(classes).map(first_max).collect();
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    let want = right as f64 / labels.len() as f64;
    let got = ex.call(format_args!("probs {:?}, labels {labels:?}", probs.data()), || {
        student::accuracy(probs, &targets)
    })?;
    if (got - want).abs() > 1e-9 {
        fail!(
            "accuracy is {got}, but it should be {want}: the rows predict classes {predicted:?} (the first maximum of each \
             row), the labels are {labels:?}, so {right} of {} are right.\nThe probabilities ({}): {:?}.",
            labels.len(),
            dims(probs.shape()),
            probs.data()
        );
    }
    Ok(())
}

fn accuracy(ex: &Ex) -> Check {
    let book = tensor(&[4, 3], vec![0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.4, 0.4, 0.2]);
    one_accuracy(ex, &book, &[0, 2, 2, 1])?;
    one_accuracy(ex, &book, &[0, 2, 1, 0])?;
    let cases = (1..6usize, 2..5usize).prop_flat_map(|(b, c)| {
        (
            proptest::collection::vec((0..4u8).prop_map(|v| f32::from(v) / 4.0), b * c),
            proptest::collection::vec(0..c, b),
        )
            .prop_map(move |(p, l)| (tensor(&[b, c], p), l))
    });
    ex.for_random(100, cases, |(p, l)| one_accuracy(ex, &p, &l))
}

#[derive(Debug, Clone)]
struct RmsCase {
    w: Vec<f32>,
    grads: Vec<Vec<f32>>,
    lr: f32,
    rho: f32,
    eps: f32,
}

fn one_rmsprop(ex: &Ex, case: &RmsCase) -> Check {
    let mut reference = RmsProp::new(case.lr);
    reference.rho = case.rho;
    reference.epsilon = case.eps;
    let (mut want, mut got) = (case.w.clone(), case.w.clone());
    let mut v = vec![0.0; case.w.len()];
    for (step, g) in case.grads.iter().enumerate() {
        reference.step(vec![Param { value: &mut want, grad: g }]).expect("sizes that fit");
        let before = got.clone();
        let v_before = v.clone();
        ex.call(
            format_args!(
                "w {before:?}, g {g:?}, v {v_before:?}, lr {}, rho {}, eps {}",
                case.lr, case.rho, case.eps
            ),
            || student::rmsprop_step(&mut got, g, &mut v, case.lr, case.rho, case.eps),
        )?;
        // What two slips would have given, from the same state.
        let slip = |outside: bool, swapped: bool| -> Vec<f32> {
            before
                .iter()
                .zip(g)
                .zip(&v_before)
                .map(|((&w, &g), &v)| {
                    let v = if swapped {
                        (1.0 - case.rho) * v + case.rho * g * g
                    } else {
                        case.rho * v + (1.0 - case.rho) * g * g
                    };
                    let denominator = if outside { v.sqrt() + case.eps } else { (v + case.eps).sqrt() };
                    w - case.lr * g / denominator
                })
                .collect()
        };
        let hints = [
            (
                "epsilon outside the square root, lr·g / (sqrt(v) + eps): Keras puts it inside, sqrt(v + eps)",
                slip(true, false),
            ),
            (
                "rho and 1 − rho swapped: v keeps rho of its old value and takes (1 − rho)·g²",
                slip(false, true),
            ),
        ];
        let at = |i| {
            format!("weight {i} after step {} (g = {}, v before the step = {})", step + 1, g[i], v_before[i])
        };
        const TOL: f32 = 1e-6;
        if super::first_difference(&got, &want, TOL, 1e-5).is_some() {
            return compare("the weights", &got, &want, at, &hints).map_err(|f| {
                Failure::Wrong(format!(
                    "{f}\nThe case: w = {:?}, gradients {:?} (one list per step), lr {}, rho {}, epsilon {}.",
                    case.w, case.grads, case.lr, case.rho, case.eps
                ))
            });
        }
        want.clone_from(&got);
    }
    ensure!(v.iter().all(|x| x.is_finite()), "the running means v hold a value that is not finite: {v:?}");
    Ok(())
}

fn rmsprop_step(ex: &Ex) -> Check {
    // The book: the first and second steps with Keras's defaults, and the scale exercise.
    let book = RmsCase {
        w: vec![0.5, -0.2, 0.0, 1.0],
        grads: vec![vec![0.3, -5.0, 0.0, 1e-4]; 2],
        lr: 0.001,
        rho: 0.9,
        eps: 1e-7,
    };
    one_rmsprop(ex, &book)?;
    let scale =
        RmsCase { w: vec![0.1, 0.2, 0.3], grads: vec![vec![50.0, -500.0, 3000.0]; 5], ..book.clone() };
    one_rmsprop(ex, &scale)?;
    let cases = (1..6usize, 1..5usize).prop_flat_map(|(n, steps)| {
        (
            proptest::collection::vec(-1.0f32..1.0, n),
            proptest::collection::vec(
                proptest::collection::vec(prop_oneof![-3.0f32..3.0, -1e-3f32..1e-3], n),
                steps,
            ),
            prop_oneof![Just(0.001f32), 0.0001f32..0.1],
            prop_oneof![Just(0.9f32), 0.5f32..0.99],
            prop_oneof![Just(1e-7f32), Just(1e-3f32)],
        )
            .prop_map(|(w, grads, lr, rho, eps)| RmsCase { w, grads, lr, rho, eps })
    });
    ex.for_random(100, cases, |case| one_rmsprop(ex, &case))
}

#[derive(Debug, Clone)]
struct StepCase {
    x: Tensor,
    labels: Vec<usize>,
    kernel: Tensor,
    lr: f32,
}

fn one_train(ex: &Ex, case: &StepCase) -> Check {
    let [batch, _] = case.x.shape()[..] else { unreachable!("2-D") };
    let classes = case.kernel.shape()[1];
    let mut targets = Tensor::zeros(&[batch, classes]).expect("small");
    for (n, &l) in case.labels.iter().enumerate() {
        targets.data_mut()[n * classes + l] = 1.0;
    }
    let mut layer = Dense::with_weights(case.kernel.clone(), vec![0.0; classes]).expect("weights that fit");
    let mut optimizer = RmsProp::new(case.lr);
    let (mut kernel, mut bias) = (case.kernel.clone(), vec![0.0; classes]);
    let (mut v_kernel, mut v_bias) = (vec![0.0; kernel.len()], vec![0.0; classes]);
    let describe = || {
        format!(
            "x ({}) = {:?}, labels {:?}, a starting kernel ({}) = {:?}, zero biases, learning rate {}",
            dims(case.x.shape()),
            case.x.data(),
            case.labels,
            dims(case.kernel.shape()),
            case.kernel.data(),
            case.lr
        )
    };
    for step in 1..=3 {
        let logits = layer.forward(&case.x).expect("shapes that fit").clone();
        let want_loss = loss::softmax_crossentropy(&logits, &targets).expect("shapes that fit");
        let mut probs = logits.clone();
        Activation::Softmax.apply(probs.data_mut(), classes);
        let dz = loss::softmax_crossentropy_grad(&probs, &targets).expect("shapes that fit");
        layer.backward(&dz).expect("shapes that fit");
        optimizer.step(layer.params()).expect("sizes that fit");
        let got_loss = ex.call(describe(), || {
            student::train_step(
                &case.x,
                &targets,
                &mut kernel,
                &mut bias,
                &mut v_kernel,
                &mut v_bias,
                case.lr,
            )
        })?;
        if !super::near(got_loss, want_loss, 1e-4, 1e-4) {
            fail!(
                "train_step's loss at step {step} is {got_loss}, but it should be {want_loss}: the cross-entropy of the \
                 batch before the step (tolerance 1e-4 + 1e-4·|expected|).\nThe case: {}.",
                describe()
            );
        }
        let want_kernel = layer.params()[0].value.to_vec();
        let want_bias = layer.params()[1].value.to_vec();
        let attach = |f: Failure| Failure::Wrong(format!("{f}\nThe case: {}.", describe()));
        let kernel_shape = case.kernel.shape().to_vec();
        compare(
            &format!("the kernel after step {step}"),
            kernel.data(),
            &want_kernel,
            |i| matrix_at(&kernel_shape, i),
            &[],
        )
        .map_err(attach)?;
        compare(&format!("the bias after step {step}"), &bias, &want_bias, |u| format!("unit {u}"), &[])
            .map_err(|f| Failure::Wrong(format!("{f}\nThe case: {}.", describe())))?;
    }
    Ok(())
}

fn train_step(ex: &Ex) -> Check {
    let book = StepCase {
        x: tensor(&[4, 3], vec![1.0, 0.0, 0.5, 0.0, 1.0, 0.5, 1.0, 1.0, 0.0, 0.25, 0.5, 1.0]),
        labels: vec![0, 1, 0, 1],
        kernel: tensor(&[3, 2], vec![0.1, -0.2, 0.3, 0.0, -0.1, 0.2]),
        lr: 0.01,
    };
    one_train(ex, &book)?;
    let cases = (1..5usize, 1..5usize, 2..4usize).prop_flat_map(|(b, i, c)| {
        (
            quarters(b * i),
            proptest::collection::vec(0..c, b),
            quarters(i * c),
            prop_oneof![Just(0.001f32), Just(0.01f32)],
        )
            .prop_map(move |(x, labels, k, lr)| StepCase {
                x: tensor(&[b, i], x),
                labels,
                kernel: tensor(&[i, c], k),
                lr,
            })
    });
    ex.for_random(32, cases, |case| one_train(ex, &case))
}
