//! Comparing floating-point results, for tests and exercises.

/// The first position where `actual` and `expected` differ by more than
/// `atol + rtol · |expected|`, as `(index, actual, expected)`; `None` if all are close.
/// Slices of different lengths differ at the first index past the shorter one.
pub fn first_mismatch(actual: &[f32], expected: &[f32], atol: f32, rtol: f32) -> Option<(usize, f32, f32)> {
    if actual.len() != expected.len() {
        let i = actual.len().min(expected.len());
        return Some((
            i,
            actual.get(i).copied().unwrap_or(f32::NAN),
            expected.get(i).copied().unwrap_or(f32::NAN),
        ));
    }
    actual
        .iter()
        .zip(expected)
        .enumerate()
        .find(|&(_, (a, e))| (a - e).abs().is_nan() || (a - e).abs() > atol + rtol * e.abs())
        .map(|(i, (&a, &e))| (i, a, e))
}

/// Panics, naming the first differing index, unless `actual` and `expected` have the same
/// length and every pair is within `atol + rtol · |expected|` (NaN is never close).
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    if let Some((i, a, e)) = first_mismatch(actual, expected, atol, rtol) {
        panic!(
            "values differ at index {i}: got {a}, expected {e} (atol {atol}, rtol {rtol}; lengths {} and {})",
            actual.len(),
            expected.len()
        );
    }
}
