//! The output-size rules: checked against brute-force counting, against the shapes the
//! forward passes really produce, and on the book's model.

use convnets::padding::pads_1d;
use convnets::{AveragePooling2D, Conv2D, Layer, MaxPooling2D, Padding, Tensor, Window2D, out_len};
use proptest::prelude::*;

fn any_padding() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::Valid), Just(Padding::Same)]
}

/// Counts window positions one by one: start at 0, step by `s`, stop when the window no
/// longer fits inside the padded axis.
fn count_positions(n: usize, k: usize, s: usize, padding: Padding) -> usize {
    let (before, after) = pads_1d(padding, n, k, s);
    let padded = n + before + after;
    (0..).take_while(|i| i * s + k <= padded).count()
}

proptest! {
    #[test]
    fn out_len_counts_the_window_positions(n in 1usize..40, k in 1usize..8, s in 1usize..5, padding in any_padding()) {
        match out_len(n, k, s, padding) {
            Ok(len) => {
                prop_assert_eq!(len, count_positions(n, k, s, padding));
                prop_assert!(len >= 1);
            }
            Err(_) => prop_assert!(padding == Padding::Valid && k > n),
        }
    }

    #[test]
    fn same_padding_follows_tensorflows_split(n in 1usize..40, k in 1usize..8, s in 1usize..5) {
        let (top, bottom) = pads_1d(Padding::Same, n, k, s);
        let out = n.div_ceil(s);
        prop_assert_eq!(top + bottom, ((out - 1) * s + k).saturating_sub(n));
        prop_assert_eq!(top, (top + bottom) / 2);
        prop_assert!(bottom == top || bottom == top + 1, "the extra zero goes at the bottom");
        prop_assert!(top + bottom < k, "a window never lies entirely in the padding");
    }

    #[test]
    fn kernel_rows_and_cols_inside_are_those_input_row_and_col_find(
        n in 1usize..20, k in 1usize..8, s in 1usize..5, padding in any_padding()
    ) {
        if let Ok(win) = Window2D::new((n, n), (k, k), (s, s), padding) {
            for o in 0..win.out_w {
                let ((rows, first_row), (cols, first_col)) = (win.kernel_rows_inside(o), win.kernel_cols_inside(o));
                for i in 0..k {
                    let row = rows.contains(&i).then(|| first_row + (i - rows.start));
                    let col = cols.contains(&i).then(|| first_col + (i - cols.start));
                    prop_assert_eq!(win.input_row(o, i), row, "oh {} kh {}", o, i);
                    prop_assert_eq!(win.input_col(o, i), col, "ow {} kw {}", o, i);
                }
            }
        }
    }

    #[test]
    fn same_with_stride_one_keeps_height_and_width(h in 1usize..30, w in 1usize..30, kh in 1usize..8, kw in 1usize..8) {
        let win = Window2D::new((h, w), (kh, kw), (1, 1), Padding::Same).unwrap();
        prop_assert_eq!((win.out_h, win.out_w), (h, w));
    }

    #[test]
    fn forward_shapes_agree_with_the_rule(
        batch in 1usize..3, h in 1usize..12, w in 1usize..12, c in 1usize..4, filters in 1usize..4,
        kh in 1usize..6, kw in 1usize..6, sh in 1usize..4, sw in 1usize..4, padding in any_padding(),
    ) {
        let x = Tensor::arange(&[batch, h, w, c]).unwrap();
        let kernel = Tensor::zeros(&[kh, kw, c, filters]).unwrap();
        let mut conv = Conv2D::with_weights(kernel, vec![0.0; filters]).unwrap().strides((sh, sw)).padding(padding);
        let mut max = MaxPooling2D::new((kh, kw)).strides((sh, sw)).padding(padding);
        let mut avg = AveragePooling2D::new((kh, kw)).strides((sh, sw)).padding(padding);
        match (out_len(h, kh, sh, padding), out_len(w, kw, sw, padding)) {
            (Ok(oh), Ok(ow)) => {
                prop_assert_eq!(conv.forward(&x).unwrap().shape().to_vec(), vec![batch, oh, ow, filters]);
                prop_assert_eq!(max.forward(&x).unwrap().shape().to_vec(), vec![batch, oh, ow, c]);
                prop_assert_eq!(avg.forward(&x).unwrap().shape().to_vec(), vec![batch, oh, ow, c]);
            }
            _ => {
                prop_assert!(conv.forward(&x).is_err());
                prop_assert!(max.forward(&x).is_err());
                prop_assert!(avg.forward(&x).is_err());
            }
        }
    }
}

#[test]
fn impossible_geometries_are_errors() {
    assert!(out_len(3, 5, 1, Padding::Valid).is_err(), "kernel larger than input");
    assert!(out_len(5, 3, 0, Padding::Valid).is_err(), "zero stride");
    assert!(out_len(5, 3, 0, Padding::Same).is_err(), "zero stride");
    assert!(out_len(5, 0, 1, Padding::Valid).is_err(), "empty kernel");
    assert!(out_len(0, 1, 1, Padding::Same).is_err(), "empty input");
    assert!(Window2D::new((28, 28), (29, 3), (1, 1), Padding::Valid).is_err());
    // With `same`, a kernel larger than the input is fine: the padding makes room.
    assert_eq!(out_len(3, 5, 1, Padding::Same).unwrap(), 3);
}

#[test]
fn the_books_chain_28_26_13_11_5_3_576() {
    let conv = |n| out_len(n, 3, 1, Padding::Valid).unwrap();
    let pool = |n| out_len(n, 2, 2, Padding::Valid).unwrap();
    let sizes = [28, conv(28), pool(conv(28)), conv(pool(conv(28))), pool(conv(pool(conv(28))))];
    assert_eq!(sizes, [28, 26, 13, 11, 5]);
    assert_eq!(conv(5), 3);
    assert_eq!(3 * 3 * 64, 576);

    let model = convnets::model::book_model(0).unwrap();
    let shapes: Vec<&[usize]> = model.layer_shapes();
    let expected: [&[usize]; 8] =
        [&[26, 26, 32], &[13, 13, 32], &[11, 11, 64], &[5, 5, 64], &[3, 3, 64], &[576], &[64], &[10]];
    assert_eq!(shapes, expected);
}

#[test]
fn the_no_max_pooling_chain_26_24_22() {
    let model = convnets::model::no_max_pooling_model(0).unwrap();
    let expected: [&[usize]; 3] = [&[26, 26, 32], &[24, 24, 64], &[22, 22, 64]];
    assert_eq!(model.layer_shapes(), expected);
    assert_eq!(model.param_count(), 55_744);
}
