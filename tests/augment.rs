//! Data augmentation: known transforms move pixels where they should (a one-pixel shift, a
//! quarter turn, a zoom), the identity changes nothing bit for bit, random variants keep the
//! shape and the value range, and seeds make everything repeatable.

use convnets::augment::{
    Affine, Augmentation, augment, augment_batch, batch_seed, sample_sheet, transform_image,
};
use convnets::{Error, Tensor};
use proptest::prelude::*;

/// A batch of `(n, h, w, c)` with values that differ from pixel to pixel, in [0, 1].
fn textured(n: usize, h: usize, w: usize, c: usize) -> Tensor {
    let len = n * h * w * c;
    Tensor::new(&[n, h, w, c], (0..len).map(|i| ((i * 7919) % 101) as f32 / 100.0).collect()).unwrap()
}

/// An `h × w` one-channel image, black but for `value` at `(row, column)`.
fn dot(h: usize, w: usize, row: usize, column: usize) -> Tensor {
    let mut image = Tensor::zeros(&[1, h, w, 1]).unwrap();
    let i = image.offset(&[0, row, column, 0]).unwrap();
    image.data_mut()[i] = 1.0;
    image
}

/// The positions `(row, column)` of the pixels above 0 in a one-image, one-channel tensor.
fn lit(image: &Tensor) -> Vec<(usize, usize)> {
    let (_, _, w, _) = image.nhwc().unwrap();
    image.data().iter().enumerate().filter(|&(_, &v)| v > 0.0).map(|(i, _)| (i / w, i % w)).collect()
}

/// Bit patterns, so that "unchanged" means unchanged (−0.0 and 0.0 differ, NaN equals itself).
fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn identity_keeps_even_the_sign_of_zero() {
    let images = Tensor::new(&[1, 2, 2, 1], vec![-0.0, 0.0, -0.0, 0.25]).unwrap();
    assert_eq!(bits(&transform_image(&images, &Affine::identity()).unwrap()), bits(&images));
    assert_eq!(bits(&augment(&images, &Augmentation::none(), 9).unwrap()), bits(&images));
}

#[test]
fn shift_right_by_one_pixel_moves_every_column_right() {
    let image = textured(2, 5, 6, 3);
    let moved = transform_image(&image, &Affine::translation(1.0, 0.0)).unwrap();
    for n in 0..2 {
        for row in 0..5 {
            for ch in 0..3 {
                assert_eq!(moved.get(&[n, row, 0, ch]), Some(0.0), "the first column comes from outside");
                for column in 1..6 {
                    assert_eq!(moved.get(&[n, row, column, ch]), image.get(&[n, row, column - 1, ch]));
                }
            }
        }
    }
}

#[test]
fn shift_down_by_one_pixel_moves_every_row_down() {
    let image = textured(1, 4, 7, 1);
    let moved = transform_image(&image, &Affine::translation(0.0, 1.0)).unwrap();
    for column in 0..7 {
        assert_eq!(moved.get(&[0, 0, column, 0]), Some(0.0));
        for row in 1..4 {
            assert_eq!(moved.get(&[0, row, column, 0]), image.get(&[0, row - 1, column, 0]));
        }
    }
}

#[test]
fn half_pixel_shift_averages_neighbours() {
    let image = Tensor::new(&[1, 1, 3, 1], vec![0.0, 1.0, 0.5]).unwrap();
    let moved = transform_image(&image, &Affine::translation(0.5, 0.0)).unwrap();
    // Output pixel c reads the input at c − 0.5: halfway between c − 1 and c.
    assert_eq!(moved.data(), &[0.0, 0.5, 0.75]);
}

#[test]
fn quarter_turn_of_a_square_maps_row_column_to_last_minus_column_row() {
    // Counter-clockwise on screen: the top-right corner goes to the top-left, so pixel
    // (r, c) of an n × n image goes to (n − 1 − c, r). Both an even and an odd size.
    let exact = Affine { matrix: [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]] };
    for n in [4usize, 5] {
        for affine in [exact, Affine::rotation(90.0)] {
            for (r, c) in [(0, n - 1), (1, 0), (n - 1, 2), (2, 3)] {
                let turned = transform_image(&dot(n, n, r, c), &affine).unwrap();
                assert_eq!(lit(&turned), vec![(n - 1 - c, r)], "n {n}, pixel ({r}, {c}), {affine:?}");
                assert_eq!(turned.get(&[0, n - 1 - c, r, 0]), Some(1.0));
            }
        }
    }
}

#[test]
fn four_quarter_turns_give_back_the_image() {
    let image = textured(1, 6, 6, 2);
    let mut turned = image.clone();
    for _ in 0..4 {
        turned = transform_image(&turned, &Affine::rotation(90.0)).unwrap();
    }
    assert_eq!(bits(&turned), bits(&image));
}

#[test]
fn zooming_twice_spreads_a_centred_dot() {
    let image = dot(9, 9, 4, 4);
    let zoomed = transform_image(&image, &Affine::zoom(2.0)).unwrap();
    assert_eq!(zoomed.get(&[0, 4, 4, 0]), Some(1.0), "the centre stays where it is");
    let spots = lit(&zoomed);
    assert_eq!(spots.len(), 9, "a 3 × 3 patch: {spots:?}");
    assert!(spots.iter().all(|&(r, c)| (3..=5).contains(&r) && (3..=5).contains(&c)));
    // One pixel from the centre reads the original half a pixel away: half the dot.
    assert_eq!(zoomed.get(&[0, 4, 5, 0]), Some(0.5));
    assert_eq!(zoomed.get(&[0, 3, 3, 0]), Some(0.25));

    // Zooming out (0.5) of a large square keeps it centred but makes it smaller.
    let mut square = Tensor::zeros(&[1, 9, 9, 1]).unwrap();
    for r in 2..7 {
        for c in 2..7 {
            let i = square.offset(&[0, r, c, 0]).unwrap();
            square.data_mut()[i] = 1.0;
        }
    }
    let smaller = transform_image(&square, &Affine::zoom(0.5)).unwrap();
    let mass = |t: &Tensor| t.data().iter().sum::<f32>();
    assert!(mass(&smaller) < mass(&square) / 2.0, "{} vs {}", mass(&smaller), mass(&square));
    assert_eq!(smaller.get(&[0, 4, 4, 0]), Some(1.0));
}

#[test]
fn shear_slants_a_vertical_line_to_the_right() {
    // A vertical line through the centre column of a 7 × 7 image.
    let mut line = Tensor::zeros(&[1, 7, 7, 1]).unwrap();
    for r in 0..7 {
        let i = line.offset(&[0, r, 3, 0]).unwrap();
        line.data_mut()[i] = 1.0;
    }
    // tan 45° = 1: each row slides one pixel per row above the centre, to the right.
    let slanted = transform_image(&line, &Affine::shear(45.0)).unwrap();
    assert_eq!(lit(&slanted), vec![(0, 6), (1, 5), (2, 4), (3, 3), (4, 2), (5, 1), (6, 0)]);
}

#[test]
fn chaining_and_inverting_transforms() {
    let a = Affine::rotation(30.0).then(&Affine::translation(2.0, -1.0));
    let (x, y) = a.apply(1.5, -0.5);
    let (rx, ry) = Affine::rotation(30.0).apply(1.5, -0.5);
    let (bx, by) = Affine::translation(2.0, -1.0).apply(rx, ry);
    assert!((x - bx).abs() < 1e-12 && (y - by).abs() < 1e-12);
    let (ox, oy) = a.inverse().unwrap().apply(x, y);
    assert!((ox - 1.5).abs() < 1e-12 && (oy + 0.5).abs() < 1e-12);
    let back = a.then(&a.inverse().unwrap());
    for (row, expected) in back.matrix.iter().zip(Affine::identity().matrix) {
        for (v, e) in row.iter().zip(expected) {
            assert!((v - e).abs() < 1e-12, "{back:?}");
        }
    }
}

#[test]
fn a_transform_that_cannot_be_undone_is_an_error() {
    let image = textured(1, 3, 3, 1);
    for affine in [
        Affine::zoom(0.0),
        Affine { matrix: [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]] },
        Affine::translation(f64::NAN, 0.0),
    ] {
        assert!(matches!(transform_image(&image, &affine), Err(Error::Geometry(_))), "{affine:?}");
    }
}

#[test]
fn settings_out_of_range_are_errors() {
    let image = textured(1, 4, 4, 1);
    let bad = [
        Augmentation { max_zoom: 1.0, ..Augmentation::default() },
        Augmentation { max_zoom: -0.1, ..Augmentation::default() },
        Augmentation { max_shear_degrees: 90.0, ..Augmentation::default() },
        Augmentation { max_shift: f32::NAN, ..Augmentation::default() },
        Augmentation { max_rotation_degrees: f32::INFINITY, ..Augmentation::default() },
    ];
    for settings in bad {
        assert!(matches!(augment(&image, &settings, 0), Err(Error::Geometry(_))), "{settings:?}");
        assert!(settings.check().is_err());
    }
    assert!(Augmentation::default().check().is_ok());
    assert!(Augmentation::none().check().is_ok());
}

#[test]
fn not_a_batch_of_images_is_a_shape_error() {
    let flat = Tensor::zeros(&[2, 784]).unwrap();
    assert!(matches!(augment(&flat, &Augmentation::default(), 0), Err(Error::Shape(_))));
    assert!(matches!(transform_image(&flat, &Affine::identity()), Err(Error::Shape(_))));
}

#[test]
fn empty_batches_and_images_come_back_empty() {
    for shape in [[0, 28, 28, 1], [2, 0, 5, 1], [2, 5, 0, 1], [2, 5, 5, 0]] {
        let images = Tensor::zeros(&shape).unwrap();
        assert_eq!(augment(&images, &Augmentation::default(), 3).unwrap(), images);
    }
}

#[test]
fn the_same_seed_gives_the_same_variants_and_another_seed_others() {
    let images = textured(4, 28, 28, 1);
    let settings = Augmentation::default();
    let a = augment(&images, &settings, 7).unwrap();
    assert_eq!(bits(&a), bits(&augment(&images, &settings, 7).unwrap()));
    assert_ne!(a, augment(&images, &settings, 8).unwrap());
    assert_ne!(a, images);
    // Each image of the batch gets its own transform: identical inputs, different outputs.
    let same = Tensor::concat_batch(&[textured(1, 28, 28, 1), textured(1, 28, 28, 1)]).unwrap();
    let variants = augment(&same, &settings, 7).unwrap();
    assert_ne!(variants.batch_range(0, 1).unwrap(), variants.batch_range(1, 2).unwrap());
}

#[test]
fn each_kind_of_change_alone_changes_the_image() {
    let images = textured(2, 28, 28, 1);
    let none = Augmentation::none();
    for settings in [
        Augmentation { max_shift: 0.1, ..none },
        Augmentation { max_rotation_degrees: 10.0, ..none },
        Augmentation { max_zoom: 0.1, ..none },
        Augmentation { max_shear_degrees: 10.0, ..none },
    ] {
        assert_ne!(augment(&images, &settings, 1).unwrap(), images, "{settings:?}");
    }
}

#[test]
fn batch_seeds_differ_per_epoch_and_step_and_repeat() {
    let images = textured(3, 12, 12, 1);
    let settings = Augmentation::default();
    let first = augment_batch(&images, &settings, 5, 0, 0).unwrap();
    assert_eq!(first, augment_batch(&images, &settings, 5, 0, 0).unwrap());
    assert_ne!(first, augment_batch(&images, &settings, 5, 1, 0).unwrap());
    assert_ne!(first, augment_batch(&images, &settings, 5, 0, 1).unwrap());
    assert_ne!(first, augment_batch(&images, &settings, 6, 0, 0).unwrap());
    // Epoch 1, step 0 is not epoch 0, step 1 (as a plain sum of the numbers would make it).
    assert_ne!(batch_seed(5, 1, 0), batch_seed(5, 0, 1));
    assert_eq!(first, augment(&images, &settings, batch_seed(5, 0, 0)).unwrap());
}

#[test]
fn sample_sheet_shows_the_original_and_the_variants() {
    let image = textured(1, 28, 28, 1);
    let settings = Augmentation::default();
    // 1 + 11 tiles: two rows of 8 columns, each tile 28 · 4 pixels plus a gap of 2.
    let sheet = sample_sheet(&image, &settings, 11, 0).unwrap();
    assert_eq!((sheet.width, sheet.height), (2 + 8 * (28 * 4 + 2), 2 + 2 * (28 * 4 + 2)));
    assert_eq!(sheet.pixels.len(), sheet.width * sheet.height);
    // The first tile is the original: its second pixel, enlarged 4 times, starts 4 pixels
    // after the frame.
    let grey = (image.data()[1] * 255.0).round() as u8;
    assert!(grey > 0);
    assert_eq!(sheet.pixels[2 * sheet.width + 2 + 4], [grey; 3]);
    // Fewer tiles than 8: one row, as many columns as tiles.
    let small = sample_sheet(&image, &settings, 3, 0).unwrap();
    assert_eq!((small.width, small.height), (2 + 4 * (28 * 4 + 2), 2 + 28 * 4 + 2));
    // Only the original.
    let alone = sample_sheet(&image, &settings, 0, 0).unwrap();
    assert_eq!((alone.width, alone.height), (2 + 28 * 4 + 2, 2 + 28 * 4 + 2));
    // Several channels are fine (shown as their mean); several images are not.
    assert!(sample_sheet(&textured(1, 5, 6, 3), &settings, 2, 0).is_ok());
    assert!(matches!(sample_sheet(&textured(2, 5, 5, 1), &settings, 2, 0), Err(Error::Shape(_))));
    assert!(matches!(sample_sheet(&textured(1, 5, 5, 0), &settings, 2, 0), Err(Error::Image(_))));
    assert!(matches!(sample_sheet(&image, &settings, usize::MAX, 0), Err(Error::Image(_))));
}

/// Small NHWC shapes: batch 0..4, height and width 1..12, channels 1..4.
fn shapes() -> impl Strategy<Value = (usize, usize, usize, usize)> {
    (0usize..4, 1usize..12, 1usize..12, 1usize..4)
}

/// A tensor of the given shape with arbitrary finite values (negative ones included).
fn any_images() -> impl Strategy<Value = Tensor> {
    shapes().prop_flat_map(|(n, h, w, c)| {
        proptest::collection::vec(-10.0f32..10.0, n * h * w * c)
            .prop_map(move |data| Tensor::new(&[n, h, w, c], data).unwrap())
    })
}

/// Settings anywhere in their allowed ranges.
fn any_settings() -> impl Strategy<Value = Augmentation> {
    (0.0f32..0.5, 0.0f32..180.0, 0.0f32..0.9, 0.0f32..60.0).prop_map(
        |(max_shift, max_rotation_degrees, max_zoom, max_shear_degrees)| Augmentation {
            max_shift,
            max_rotation_degrees,
            max_zoom,
            max_shear_degrees,
        },
    )
}

proptest! {
    #[test]
    fn augmenting_keeps_the_shape(images in any_images(), settings in any_settings(), seed in any::<u64>()) {
        let out = augment(&images, &settings, seed).unwrap();
        prop_assert_eq!(out.shape(), images.shape());
    }

    #[test]
    fn no_augmentation_changes_nothing(images in any_images(), seed in any::<u64>()) {
        prop_assert_eq!(bits(&augment(&images, &Augmentation::none(), seed).unwrap()), bits(&images));
        prop_assert_eq!(bits(&transform_image(&images, &Affine::identity()).unwrap()), bits(&images));
    }

    #[test]
    fn values_stay_within_the_input_range_and_black(
        images in any_images(),
        settings in any_settings(),
        seed in any::<u64>(),
    ) {
        // Each output is a weighted average (weights ≥ 0, summing to 1) of input values and
        // the black outside, so it lies between the smallest and largest of those.
        let lo = images.data().iter().copied().fold(0.0f32, f32::min);
        let hi = images.data().iter().copied().fold(0.0f32, f32::max);
        let out = augment(&images, &settings, seed).unwrap();
        for &v in out.data() {
            prop_assert!(v >= lo && v <= hi, "{} outside [{}, {}]", v, lo, hi);
        }
    }

    #[test]
    fn whole_pixel_shifts_copy_values_exactly(
        images in any_images(),
        dx in -3i32..=3,
        dy in -3i32..=3,
    ) {
        let (n, h, w, c) = images.nhwc().unwrap();
        let moved = transform_image(&images, &Affine::translation(f64::from(dx), f64::from(dy))).unwrap();
        for s in 0..n {
            for r in 0..h {
                for col in 0..w {
                    let (sr, sc) = (r as i64 - i64::from(dy), col as i64 - i64::from(dx));
                    let inside = (0..h as i64).contains(&sr) && (0..w as i64).contains(&sc);
                    for ch in 0..c {
                        let expected =
                            if inside { images.get(&[s, sr as usize, sc as usize, ch]).unwrap() } else { 0.0 };
                        prop_assert_eq!(moved.get(&[s, r, col, ch]).unwrap().to_bits(), expected.to_bits());
                    }
                }
            }
        }
    }
}
