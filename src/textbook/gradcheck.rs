//! Finite-difference gradient checks: the proof that a backward pass is right.
//!
//! A derivative is a limit: `f'(v) ≈ (f(v + ε) − f(v − ε)) / 2ε` (central differences, with
//! an error of order ε² where `f` is smooth). Nudging every input and weight one at a time
//! and re-running the forward pass gives gradients that do not depend on any backward code;
//! a backward pass is trusted when its gradients agree with these.
//!
//! Choosing ε in `f32`: each forward pass rounds its outputs by about 1e-7 relative, and
//! dividing by 2ε magnifies that rounding, so ε must not be tiny (1e-6 in f32 gives noise of
//! order 0.1). Too large an ε suffers from curvature and, for ReLU and max pooling, from
//! stepping across a kink. For layers that are linear in what we nudge (convolution, dense,
//! pooling away from ties) curvature is zero, so ε = 1e-2 is exact up to rounding: about
//! `outputs touched × 1e-7 / 2ε ≈ 1e-4`. The default tolerance, 1e-3 absolute plus 1e-3
//! relative, leaves a margin of ten over that and still catches any real mistake (a wrong
//! index or a missing term is off by the size of a whole gradient entry; even a gradient
//! scaled by 1.01 fails). Losses are summed in `f64` so the sum adds no rounding of its own.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

use crate::error::{Error, Result};
use crate::layer::Layer;
use crate::model::Sequential;
use crate::tensor::Tensor;

/// The step `eps` of the central differences and how closely the gradients must agree:
/// `|analytic − numerical| ≤ atol + rtol · |numerical|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// The nudge ε.
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

// ANCHOR: tolerance
impl Default for Tolerance {
    /// ε = 1e-2, atol = 1e-3, rtol = 1e-3: see the module documentation for why.
    fn default() -> Tolerance {
        Tolerance { eps: 1e-2, atol: 1e-3, rtol: 1e-3 }
    }
}
// ANCHOR_END: tolerance

impl Tolerance {
    /// For layers that are not linear in what is nudged (ReLU, softmax, a whole model): a
    /// smaller ε = 1e-3 keeps the curvature error (of order ε²) small, and the looser
    /// 2e-3 + 2e-2·|g| absorbs the rounding noise that a smaller ε magnifies ten times more.
    /// A nudge that crosses ReLU's kink or reorders a max-pool window still breaks the
    /// finite difference itself: keep inputs away from those points, or pick another seed.
    pub const CURVED: Tolerance = Tolerance { eps: 1e-3, atol: 2e-3, rtol: 2e-2 };
}

/// One gradient entry where the backward pass and the finite differences disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Which gradient: `"dx"` or `"param 0"`, `"param 1"`, … (in [`Layer::params`] order).
    pub what: String,
    /// The flat index within it.
    pub index: usize,
    /// The backward pass's value.
    pub analytic: f64,
    /// The finite-difference value.
    pub numerical: f64,
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GradCheck {
    /// How many gradient entries were compared.
    pub checked: usize,
    /// The largest `|analytic − numerical|` seen.
    pub max_abs_error: f64,
    /// Every entry outside the tolerance.
    pub mismatches: Vec<Mismatch>,
}

impl GradCheck {
    /// True if every entry agreed within the tolerance.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.checked > 0
    }

    /// Panics with the first mismatches unless the check passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(
            self.passed(),
            "gradient check failed on {} of {} entries (max abs error {:e}); first: {:?}",
            self.mismatches.len(),
            self.checked,
            self.max_abs_error,
            &self.mismatches[..self.mismatches.len().min(5)]
        );
    }

    fn compare(&mut self, what: &str, analytic: &[f32], numerical: &[f64], tol: &Tolerance) {
        for (index, (&a, &n)) in analytic.iter().zip(numerical).enumerate() {
            let (a, err) = (f64::from(a), (f64::from(a) - n).abs());
            self.checked += 1;
            self.max_abs_error = self.max_abs_error.max(err);
            if err.is_nan() || err > tol.atol + tol.rtol * n.abs() {
                self.mismatches.push(Mismatch { what: what.into(), index, analytic: a, numerical: n });
            }
        }
    }
}

// ANCHOR: central_difference
/// `∂f/∂values[i]` by central differences, leaving `values[i]` as it was. `f` reads the
/// values through whatever owns them (a layer, a model), so it is given `owner` back.
fn central_difference<T: ?Sized>(
    owner: &mut T,
    i: usize,
    eps: f32,
    values: impl Fn(&mut T) -> &mut [f32],
    mut f: impl FnMut(&mut T) -> Result<f64>,
) -> Result<f64> {
    let original = values(owner)[i];
    let (up, down) = (original + eps, original - eps);
    values(owner)[i] = up;
    let f_up = f(owner)?;
    values(owner)[i] = down;
    let f_down = f(owner)?;
    values(owner)[i] = original;
    // Divide by the step really taken: `up − down` in f32 need not be exactly 2ε.
    Ok((f_up - f_down) / f64::from(up - down))
}
// ANCHOR_END: central_difference

/// `Σ y · r` in f64: a scalar "loss" whose gradient with respect to `y` is exactly `r`.
fn weighted_sum(y: &Tensor, r: &[f32]) -> f64 {
    y.data().iter().zip(r).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
}

// ANCHOR: check_layer
/// Checks a layer's backward pass at input `x`: its `dx` and every parameter gradient.
///
/// The scalar being differentiated is `L = Σ y · r` for a fixed random `r` (drawn from
/// `seed`), so the backward pass is started with `dy = r`.
pub fn check_layer(layer: &mut dyn Layer, x: &Tensor, seed: u64, tol: Tolerance) -> Result<GradCheck> {
    let y = layer.forward(x)?.clone();
    let uniform = Uniform::new_inclusive(-1.0f32, 1.0);
    let mut rng = StdRng::seed_from_u64(seed);
    let r: Vec<f32> = (0..y.len()).map(|_| uniform.sample(&mut rng)).collect();
    let dx = layer.backward(&Tensor::new(y.shape(), r.clone())?)?.clone();
    let param_grads: Vec<Vec<f32>> = layer.params().iter().map(|p| p.grad.to_vec()).collect();

    let mut check = GradCheck::default();
    let mut input = x.clone();
    let mut numerical = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let d = central_difference(
            &mut input,
            i,
            tol.eps,
            |t| t.data_mut(),
            |t| Ok(weighted_sum(layer.forward(t)?, &r)),
        )?;
        numerical.push(d);
    }
    check.compare("dx", dx.data(), &numerical, &tol);

    for (p, analytic) in param_grads.iter().enumerate() {
        let mut numerical = Vec::with_capacity(analytic.len());
        for i in 0..analytic.len() {
            let d = central_difference(
                layer,
                i,
                tol.eps,
                |l| l.params().swap_remove(p).value,
                |l| Ok(weighted_sum(l.forward(x)?, &r)),
            )?;
            numerical.push(d);
        }
        check.compare(&format!("param {p}"), analytic, &numerical, &tol);
    }
    Ok(check)
}
// ANCHOR_END: check_layer

/// Checks a whole model end to end: the gradient of the cross-entropy loss on `x` with
/// one-hot `targets`, for every weight of every layer.
pub fn check_model(
    model: &mut Sequential,
    x: &Tensor,
    targets: &Tensor,
    tol: Tolerance,
) -> Result<GradCheck> {
    model.compute_gradients(x, targets)?;
    let grads: Vec<Vec<f32>> = model.params().iter().map(|p| p.grad.to_vec()).collect();
    if grads.is_empty() {
        return Err(Error::model("the model has no weights to check"));
    }
    let mut check = GradCheck::default();
    for (p, analytic) in grads.iter().enumerate() {
        let mut numerical = Vec::with_capacity(analytic.len());
        for i in 0..analytic.len() {
            let d = central_difference(
                model,
                i,
                tol.eps,
                |m| m.params().swap_remove(p).value,
                |m| {
                    let probs = m.forward(x)?.clone();
                    m.loss_of_last_forward(&probs, targets)
                },
            )?;
            numerical.push(d);
        }
        check.compare(&format!("param {p}"), analytic, &numerical, &tol);
    }
    Ok(check)
}
