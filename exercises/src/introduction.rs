//! Exercises of the introduction (`chapters/introduction.md`): where a pixel lives, and how
//! many weights a layer learns.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test introduction
//! ```

/// Where does a pixel live? The position of element `(n, h, w, c)` of an NHWC tensor of
/// shape `[N, H, W, C]` in its flat `Vec<f32>`.
///
/// From the book: "A `Tensor` is just a shape and a flat `Vec<f32>` in row-major order, so
/// element `(n, h, w, c)` lives at position `((n H + h) W + w) C + c`: the channels of one
/// pixel sit next to each other." Moving one channel moves one position; one column, `C`;
/// one row, `W·C`.
///
/// Example: in a `[2, 3, 4, 5]` tensor, `(1, 2, 3, 4)` is the very last value, 119.
pub fn nhwc_offset(shape: [usize; 4], n: usize, h: usize, w: usize, c: usize) -> usize {
    todo!()
}

/// Count the weights yourself: the number of parameters of a `Conv2D` layer with `filters`
/// filters of size `kh × kw` over `in_c` input channels.
///
/// From the book: "A conv layer with `f` filters of size `kh × kw` over `c` input channels
/// learns one `kh × kw × c` block of weights per filter plus one bias per filter." The first
/// layer of the book's model, 32 filters of 3×3 over one grey channel, has 320.
pub fn conv2d_params(kh: usize, kw: usize, in_c: usize, filters: usize) -> usize {
    todo!()
}

/// The number of parameters of a `Dense` layer of `units` outputs over `inputs` inputs.
///
/// From the book: "The dense layers learn one weight per input–output pair plus one bias per
/// output." The book's `Dense(64)` after the 576 values of `Flatten` has 36,928.
pub fn dense_params(inputs: usize, units: usize) -> usize {
    todo!()
}
