//! Line plots: the picture has the size asked for, a rising curve rises on screen, dashes
//! leave gaps, the legend writes its labels, bad values never panic, and the PNG file decodes.

use std::path::PathBuf;

use convnets::Error;
use convnets::picture::{Rgb, write_png};
use convnets::plot::{BLUE, GREEN, ORANGE, Plot, RED, Series, render};

/// A plot of the given series, with a title and both axis labels.
fn plot_of(series: Vec<Series>) -> Plot {
    Plot {
        title: "Training and validation accuracy".into(),
        x_label: "Epochs".into(),
        y_label: "Accuracy".into(),
        series,
        y_range: None,
    }
}

/// A series without a label (so it stays out of the legend).
fn unlabelled(values: Vec<f64>, color: [u8; 3], dashed: bool) -> Series {
    Series { label: String::new(), values, color, dashed }
}

/// The `(x, y)` positions of the pixels of exactly `color`.
fn pixels_of(img: &Rgb, color: [u8; 3]) -> Vec<(usize, usize)> {
    (0..img.pixels.len())
        .filter(|&i| img.pixels[i] == color)
        .map(|i| (i % img.width, i / img.width))
        .collect()
}

/// The plots of the book's chapter 5.1: training and validation accuracy over 5 epochs.
fn book_curves() -> Plot {
    plot_of(vec![
        Series {
            label: "Training acc".into(),
            values: vec![0.9425, 0.9853, 0.9897, 0.9925, 0.9942],
            color: BLUE,
            dashed: false,
        },
        Series {
            label: "Validation acc".into(),
            values: vec![0.9818, 0.9870, 0.9893, 0.9912, 0.9905],
            color: ORANGE,
            dashed: true,
        },
    ])
}

#[test]
fn the_picture_has_the_size_asked_for() {
    for (width, height) in [(640, 480), (200, 150), (1001, 333), (300, 900)] {
        let img = render(&book_curves(), width, height).unwrap();
        assert_eq!((img.width, img.height, img.pixels.len()), (width, height, width * height));
    }
}

#[test]
fn sizes_too_small_or_too_large_are_errors() {
    for (width, height) in [(0, 0), (10, 480), (640, 10), (1 << 20, 1 << 20), (usize::MAX, 2)] {
        assert!(matches!(render(&book_curves(), width, height), Err(Error::Image(_))), "{width}×{height}");
    }
}

#[test]
fn a_rising_curve_goes_from_lower_left_to_upper_right() {
    let values = (0..10).map(|i| f64::from(i) * 0.1).collect();
    let img = render(&plot_of(vec![unlabelled(values, GREEN, false)]), 600, 400).unwrap();
    let green = pixels_of(&img, GREEN);
    let mean_row = |from: usize, to: usize| {
        let rows: Vec<f64> = green.iter().filter(|p| p.0 >= from && p.0 < to).map(|p| p.1 as f64).collect();
        assert!(rows.len() > 20, "too few green pixels in columns {from}..{to}: {}", rows.len());
        rows.iter().sum::<f64>() / rows.len() as f64
    };
    let (left, right) = (mean_row(0, 200), mean_row(400, 600));
    // Rows count downwards: lower on screen is a larger row.
    assert!(left > right + 100.0, "left third at row {left}, right third at row {right}");
}

#[test]
fn a_dashed_line_leaves_gaps() {
    let values = vec![1.0, 3.0, 2.0, 4.0, 3.5, 5.0];
    let solid = render(&plot_of(vec![unlabelled(values.clone(), RED, false)]), 500, 400).unwrap();
    let dashed = render(&plot_of(vec![unlabelled(values, RED, true)]), 500, 400).unwrap();
    let (solid, dashed) = (pixels_of(&solid, RED).len(), pixels_of(&dashed, RED).len());
    assert!(dashed > 0 && (dashed as f64) < 0.85 * solid as f64, "dashed {dashed}, solid {solid}");
}

#[test]
fn the_legend_writes_the_labels() {
    let mut plot = book_curves();
    let with_legend = render(&plot, 640, 480).unwrap();
    for series in &mut plot.series {
        series.label.clear();
    }
    let without = render(&plot, 640, 480).unwrap();
    // The pixels the legend changed: its box, its line samples and its black text.
    let changed: Vec<usize> =
        (0..with_legend.pixels.len()).filter(|&i| with_legend.pixels[i] != without.pixels[i]).collect();
    let black = changed.iter().filter(|&&i| with_legend.pixels[i] == [0, 0, 0]).count();
    assert!(black > 100, "only {black} black legend pixels");
    // The legend is a box of modest size inside the picture, not a change all over it.
    let (xs, ys): (Vec<usize>, Vec<usize>) = changed.iter().map(|&i| (i % 640, i / 640)).unzip();
    let span = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
    assert!(span(&xs) < 320 && span(&ys) < 120, "legend spans {}×{}", span(&xs), span(&ys));
}

#[test]
fn bad_values_and_empty_series_do_not_panic() {
    let nasty = vec![f64::NAN, 0.5, f64::INFINITY, f64::NEG_INFINITY, 0.7, f64::NAN, 0.6];
    let plots = [
        plot_of(vec![unlabelled(nasty.clone(), BLUE, false), unlabelled(nasty.clone(), ORANGE, true)]),
        plot_of(vec![unlabelled(vec![], BLUE, false)]),
        plot_of(vec![unlabelled(vec![f64::NAN; 4], BLUE, true)]),
        plot_of(vec![]),
        Plot::default(),
        plot_of(vec![unlabelled(vec![-1e300, 1e300, 0.0], RED, false)]),
        plot_of(vec![unlabelled((0..500).map(|i| (f64::from(i) * 0.1).sin()).collect(), GREEN, true)]),
        Plot {
            y_range: Some((0.0, 1.0)),
            ..plot_of(vec![unlabelled(vec![-5.0, 0.5, 1e300, 2.0], RED, true)])
        },
        Plot {
            title: "Ünïcödé ✓ and\ttabs".into(), ..plot_of(vec![unlabelled(vec![1.0], BLUE, false)])
        },
    ];
    for plot in &plots {
        let img = render(plot, 400, 300).unwrap();
        assert_eq!(img.pixels.len(), 400 * 300);
    }
    // Values too far apart for an f64 to hold their difference, and impossible y ranges, are errors.
    let huge = plot_of(vec![unlabelled(vec![-f64::MAX, f64::MAX], BLUE, false)]);
    assert!(matches!(render(&huge, 400, 300), Err(Error::Image(_))));
    for range in [(1.0, 0.0), (0.5, 0.5), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
        let plot = Plot { y_range: Some(range), ..book_curves() };
        assert!(matches!(render(&plot, 400, 300), Err(Error::Image(_))), "{range:?}");
    }
}

#[test]
fn a_constant_series_is_a_flat_line_in_the_middle() {
    let img = render(&plot_of(vec![unlabelled(vec![0.25; 6], BLUE, false)]), 500, 400).unwrap();
    let blue = pixels_of(&img, BLUE);
    assert!(blue.len() > 300, "{} blue pixels", blue.len());
    let (top, bottom) = (blue.iter().map(|p| p.1).min().unwrap(), blue.iter().map(|p| p.1).max().unwrap());
    // Only the markers are taller than the 2-pixel line.
    assert!(bottom - top <= 5, "blue rows {top}..={bottom}");
}

#[test]
fn the_png_file_decodes_to_the_same_size() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("plot-{}.png", std::process::id()));
    let img = render(&book_curves(), 640, 480).unwrap();
    write_png(&path, &img).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height, info.color_type), (640, 480, png::ColorType::Rgb));
}
