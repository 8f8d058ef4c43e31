//! Winograd's minimal filtering F(2×2, 3×3) against the textbook's naive loops, over random
//! 3×3 convolutions with stride 1 (odd and even sides, `valid` and `same` padding, a few to
//! many channels), with the products compiled for every instruction set the processor has.
//! (`tests/plan.rs` checks the predictions of a plan that uses it.)
//!
//! Tolerance. Winograd's sums take another path through the roundings than the naive loops':
//! the transforms add and subtract up to 4 input values (and halve sums of 3 weights) before
//! multiplying. The error bound of such sums is proportional to the sum of the magnitudes
//! of the products, `Σ |x·k|` over an output's window, not to the output itself (which may
//! cancel to near zero). So each output may differ by `TOLERANCE × (|b| + Σ |x·k|)`: about
//! 40 units in the last place (f32's is 1.2e-7) of that sum, ten times the largest error
//! seen in 3,000 cases (4.9e-7, on every instruction set alike).

use convnets::Padding;
use convnets::conv::{ConvGeometry, naive};
use convnets::engine::{Isa, winograd};
use proptest::prelude::*;

/// See the module docs.
const TOLERANCE: f32 = 5e-6;

/// A 3×3 convolution with stride 1: 1–3 images of 1–20 × 1–20 pixels (at least 3 × 3 with
/// `valid` padding: up to 100 tiles, several groups of them), 1–40 input channels and
/// filters, and values in [-1, 1].
fn winograd_case() -> impl Strategy<Value = (ConvGeometry, Vec<f32>, Vec<f32>, Vec<f32>)> {
    (1usize..4, 1usize..21, 1usize..21, 1usize..41, 1usize..41, any::<bool>())
        .prop_filter_map("the window must fit", |(n, h, w, c, f, same)| {
            let padding = if same { Padding::Same } else { Padding::Valid };
            ConvGeometry::new(&[n, h, w, c], &[3, 3, c, f], (1, 1), padding).ok()
        })
        .prop_flat_map(|g| {
            let v = |len| prop::collection::vec(-1.0f32..1.0, len);
            (Just(g), v(g.batch * g.sample_input_len()), v(9 * g.in_c * g.out_c), v(g.out_c))
        })
}

/// `Σ |x·k|` plus `|b|` for every output: the scale of each output's rounding errors.
fn magnitudes(g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32]) -> Vec<f32> {
    let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
    let mut sums = vec![0.0; g.batch * g.sample_output_len()];
    naive::forward(g, &abs(x), &abs(kernel), &abs(bias), &mut sums);
    sums
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn winograd_equals_naive_then_relu_on_every_instruction_set((g, x, kernel, bias) in winograd_case()) {
        prop_assert!(winograd::applies(&g));
        let mut slow = vec![0.0; g.batch * g.sample_output_len()];
        naive::forward(&g, &x, &kernel, &bias, &mut slow);
        slow.iter_mut().for_each(|v| *v = v.max(0.0));
        let scale = magnitudes(&g, &x, &kernel, &bias);
        for isa in Isa::available() {
            let mut fast = vec![f32::NAN; slow.len()];
            winograd::forward_on(isa, &g, &x, &kernel, &bias, &mut fast).unwrap();
            for (i, ((f, s), m)) in fast.iter().zip(&slow).zip(&scale).enumerate() {
                prop_assert!((f - s).abs() <= TOLERANCE * m, "{isa:?} output {i}: {f} against {s} (scale {m})");
            }
        }
    }
}

#[test]
fn winograd_refuses_a_convolution_it_does_not_compute() {
    for (kernel, strides) in [((3, 3), (2, 1)), ((2, 3), (1, 1)), ((5, 5), (1, 1))] {
        let g =
            ConvGeometry::new(&[1, 9, 9, 2], &[kernel.0, kernel.1, 2, 4], strides, Padding::Valid).unwrap();
        assert!(!winograd::applies(&g));
        let (x, k) = (vec![0.5; g.sample_input_len()], vec![0.25; kernel.0 * kernel.1 * 8]);
        let mut z = vec![0.0; g.sample_output_len()];
        let err = winograd::forward_on(Isa::current(), &g, &x, &k, &[0.0; 4], &mut z).unwrap_err();
        assert!(err.to_string().contains("3×3 windows with stride 1"), "{err}");
    }
}
