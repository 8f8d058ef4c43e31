//! Reference solutions of the introduction's exercises (see `exercises/src/introduction.rs`
//! for the tasks).

/// The NHWC offset: `((n H + h) W + w) C + c`.
pub fn nhwc_offset(shape: [usize; 4], n: usize, h: usize, w: usize, c: usize) -> usize {
    let [_, hh, ww, cc] = shape;
    ((n * hh + h) * ww + w) * cc + c
}

/// `(kh · kw · in_c + 1) · filters`.
pub fn conv2d_params(kh: usize, kw: usize, in_c: usize, filters: usize) -> usize {
    (kh * kw * in_c + 1) * filters
}

/// `(inputs + 1) · units`.
pub fn dense_params(inputs: usize, units: usize) -> usize {
    (inputs + 1) * units
}
