//! The graders: one check per exercise, shared by the tests (`cargo test -p exercises`) and
//! the progress table (`cargo run -p exercises`).
//!
//! Every check compares the student's function with the `convnets` crate's reference
//! implementation, reached through the crate's public API only: first on the book's own
//! hand-checkable examples, then on shapes drawn at random by proptest (odd sizes, strides
//! larger than the window, rectangular images and kernels, one channel and many). A mistake
//! is reported in the learner's terms: which value is wrong, where it sits in the image, what
//! it should have been, and, when the wrong answer matches a known slip (a missing `+ 1`, a
//! flipped kernel, the last maximum winning a tie), which slip that is.
//!
//! The student's code runs inside [`Ex::call`], which turns a `todo!()` into "not done yet"
//! and any other panic into a message naming where it happened, instead of a panic dump.

// Some helpers serve only some chapters' checks.
#![allow(dead_code)]

pub mod backprop;
pub mod conv_case;
pub mod convolution;
pub mod idx;
pub mod im2col;
pub mod introduction;
pub mod max_pooling;
pub mod padding;
pub mod pool_case;
pub mod reference;
pub mod strides;
pub mod training;

use std::cell::{Cell, RefCell};
use std::fmt::{self, Debug, Display};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use convnets::{Padding, Tensor};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// Why an exercise does not pass yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The function still panics with `todo!()`.
    NotDone {
        /// The student's file, e.g. `exercises/src/convolution.rs`.
        file: String,
        /// The function to write.
        function: &'static str,
    },
    /// The function runs but gives a wrong answer, or panics: what is wrong, in words.
    Wrong(String),
}

impl Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotDone { file, function } => write!(f, "not done yet: {file}, {function}"),
            Failure::Wrong(message) => write!(f, "{message}"),
        }
    }
}

/// What a check returns: `Ok` when the student's function agrees with the reference.
pub type Check = Result<(), Failure>;

/// The check of one exercise.
pub type Grader = fn(&Ex) -> Check;

/// True if `got` is within `atol + rtol·|want|` of `want` (never for NaN).
pub fn near(got: f64, want: f64, atol: f64, rtol: f64) -> bool {
    (got - want).abs() <= atol + rtol * want.abs()
}

/// Fails the check with a message (formatted like `format!`).
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::grading::Failure::Wrong(format!($($arg)*)))
    };
}

/// Fails the check with a message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// One exercise being graded: its chapter (the file `exercises/src/<chapter>.rs`) and function.
#[derive(Debug, Clone, Copy)]
pub struct Ex {
    /// The chapter, which is also the student's file name.
    pub chapter: &'static str,
    /// The function the student writes.
    pub function: &'static str,
}

thread_local! {
    /// Set while the student's code runs: its panics are caught and explained, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The location and message of the last panic in the student's code.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that stays silent for panics inside [`Ex::call`] (and records
/// where they happened) and leaves every other panic to the default hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info.location().map_or_else(|| "?".to_string(), |l| l.to_string());
                let payload = info.payload();
                let message = if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_string()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "(a panic without a message)".to_string()
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, message)));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f` with every panic hook message silenced, for the progress table.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = f();
    QUIET.with(|q| q.set(was));
    result
}

impl Ex {
    /// The student's file, relative to the repository: `exercises/src/<chapter>.rs`.
    pub fn file(&self) -> String {
        format!("exercises/src/{}.rs", self.chapter)
    }

    /// Runs the student's code: its result, or [`Failure::NotDone`] for a `todo!()`, or a
    /// [`Failure::Wrong`] naming the panic and where it happened; `input` describes the input
    /// it was given, for that message.
    pub fn call<T>(&self, input: impl Display, f: impl FnOnce() -> T) -> Result<T, Failure> {
        install_hook();
        let was = QUIET.with(|q| q.replace(true));
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        QUIET.with(|q| q.set(was));
        result.map_err(|_| {
            let (location, message) = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| ("?".to_string(), "(unknown panic)".to_string()));
            if message.starts_with("not yet implemented") || message.starts_with("not implemented") {
                Failure::NotDone { file: self.file(), function: self.function }
            } else {
                let hint = if message.contains("with overflow") {
                    "\nA usize cannot go below 0 (or past usize::MAX): check before you subtract or multiply \
                     (`checked_sub`, `checked_mul`)."
                } else if message.contains("index out of bounds") {
                    "\nAn index went past the end of a slice: check the loop bounds and the index formula against \
                     the shapes."
                } else {
                    ""
                };
                Failure::Wrong(format!(
                    "{} panicked at {location}:\n  {message}\nwhen given {input}.{hint}",
                    self.function
                ))
            }
        })
    }

    /// Runs `test` on `cases` inputs drawn from `strategy` (the same inputs on every run), and
    /// on a failure, on the smallest input proptest can find that still fails.
    pub fn for_random<S>(&self, cases: u32, strategy: S, test: impl Fn(S::Value) -> Check) -> Check
    where
        S: Strategy,
        S::Value: Debug,
    {
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 512, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let not_done = Cell::new(None);
        let result = runner.run(&strategy, |value| match test(value) {
            Ok(()) => Ok(()),
            Err(Failure::NotDone { file, function }) => {
                not_done.set(Some(Failure::NotDone { file, function }));
                Err(TestCaseError::fail("not done"))
            }
            Err(Failure::Wrong(message)) => Err(TestCaseError::fail(message)),
        });
        if let Some(failure) = not_done.take() {
            return Err(failure);
        }
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, _)) => Err(Failure::Wrong(format!(
                "{}\n(A case drawn at random, made as small as proptest could while it still fails.)",
                reason.message()
            ))),
            Err(TestError::Abort(reason)) => {
                Err(Failure::Wrong(format!("the random cases gave up: {reason}")))
            }
        }
    }
}

/// Every exercise, in the order of the book: chapter, function, check.
pub struct Exercise {
    /// The chapter and file (`exercises/src/<chapter>.rs`).
    pub chapter: &'static str,
    /// The function to write.
    pub function: &'static str,
    /// The check that grades it.
    pub check: Grader,
}

/// The chapters, in the order of the book, each with its exercises in order.
pub fn exercises() -> Vec<Exercise> {
    let chapters: [(&'static str, &[(&'static str, Grader)]); 9] = [
        ("introduction", introduction::EXERCISES),
        ("convolution", convolution::EXERCISES),
        ("padding", padding::EXERCISES),
        ("strides", strides::EXERCISES),
        ("max_pooling", max_pooling::EXERCISES),
        ("backprop", backprop::EXERCISES),
        ("idx", idx::EXERCISES),
        ("training", training::EXERCISES),
        ("im2col", im2col::EXERCISES),
    ];
    chapters
        .into_iter()
        .flat_map(|(chapter, list)| {
            list.iter().map(move |&(function, check)| Exercise { chapter, function, check })
        })
        .collect()
}

/// Runs one exercise's check (in-process, for the progress table).
pub fn run(chapter: &str, function: &str) -> Check {
    let exercise = exercises()
        .into_iter()
        .find(|e| e.chapter == chapter && e.function == function)
        .unwrap_or_else(|| panic!("there is no exercise {function} in chapter {chapter}"));
    let ex = Ex { chapter: exercise.chapter, function: exercise.function };
    (exercise.check)(&ex)
}

/// Grades one exercise for `cargo test`: panics with the teaching message unless it passes.
#[track_caller]
pub fn grade(chapter: &str, function: &str) {
    if let Err(failure) = run(chapter, function) {
        panic!("{failure}");
    }
}

/// One `#[test]` per exercise of a chapter, each grading that exercise.
#[macro_export]
macro_rules! graded {
    ($chapter:ident: $($function:ident),+ $(,)?) => {
        $(
            #[test]
            fn $function() {
                $crate::grading::grade(stringify!($chapter), stringify!($function));
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Describing shapes, positions and cases in the book's words.

/// `2×5×5×1`.
pub fn dims(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
}

/// The multi-dimensional index of flat position `i` in a row-major `shape`.
pub fn unflatten(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            index[axis] = i % n;
            i /= n;
        }
    }
    index
}

/// Position `i` of an NHWC tensor in words: `image 0, row 2, column 1, channel 0`.
pub fn nhwc_at(shape: &[usize], i: usize) -> String {
    match unflatten(shape, i)[..] {
        [n, h, w, c] => format!("image {n}, row {h}, column {w}, channel {c}"),
        ref other => format!("index {other:?}"),
    }
}

/// Position `i` of an HWIO kernel in words.
pub fn hwio_at(shape: &[usize], i: usize) -> String {
    match unflatten(shape, i)[..] {
        [kh, kw, ci, co] => format!("kernel row {kh}, column {kw}, input channel {ci}, filter {co}"),
        ref other => format!("index {other:?}"),
    }
}

/// Position `i` of a `(rows, columns)` matrix in words.
pub fn matrix_at(shape: &[usize], i: usize) -> String {
    match unflatten(shape, i)[..] {
        [r, c] => format!("row {r}, column {c}"),
        ref other => format!("index {other:?}"),
    }
}

/// `valid` or `same`.
pub fn padding_name(padding: Padding) -> &'static str {
    match padding {
        Padding::Valid => "valid",
        Padding::Same => "same",
    }
}

/// The first index where `got` and `want` differ by more than `atol + rtol·|want|` (NaN is
/// never close; lengths must match, the caller checks them first).
pub fn first_difference(got: &[f32], want: &[f32], atol: f32, rtol: f32) -> Option<usize> {
    got.iter().zip(want).position(|(&g, &w)| {
        let d = (g - w).abs();
        d.is_nan() || d > atol + rtol * w.abs()
    })
}

/// True if `got` is close to `want` everywhere (same length).
pub fn close(got: &[f32], want: &[f32], atol: f32, rtol: f32) -> bool {
    got.len() == want.len() && first_difference(got, want, atol, rtol).is_none()
}

/// Compares two tensors of the same meaning; `what` names the result ("the output"), `at`
/// names a position in it, `hints` pairs each known slip with the result it would give.
pub fn compare(
    what: &str,
    got: &[f32],
    want: &[f32],
    at: impl Fn(usize) -> String,
    hints: &[(&str, Vec<f32>)],
) -> Check {
    const TOL: f32 = 1e-4;
    ensure!(got.len() == want.len(), "{what} holds {} values, but it should hold {}.", got.len(), want.len());
    if let Some(i) = first_difference(got, want, TOL, TOL) {
        let hint = hints
            .iter()
            .find(|(_, slip)| close(got, slip, TOL, TOL))
            .map(|(h, _)| format!("\nThis looks like {h}."))
            .unwrap_or_default();
        let wrong =
            got.iter().zip(want).filter(|(g, w)| first_difference(&[**g], &[**w], TOL, TOL).is_some());
        fail!(
            "{what} is wrong at {}: yours is {}, it should be {} ({} of {} values differ; \
             tolerance {TOL} + {TOL}·|expected|).{hint}",
            at(i),
            got[i],
            want[i],
            wrong.count(),
            got.len()
        );
    }
    Ok(())
}

/// Checks a shape, with `explain` saying why the expected one is right.
pub fn compare_shape(what: &str, got: &[usize], want: &[usize], explain: impl FnOnce() -> String) -> Check {
    if got != want {
        fail!("{what} is {}, but it should be {}: {}", dims(got), dims(want), explain());
    }
    Ok(())
}

/// Why a window of `k` with stride `s` visits `want` positions along an axis of `n`, and what
/// the student's `got` suggests.
pub fn explain_len(axis: &str, n: usize, k: usize, s: usize, padding: Padding, got: usize) -> String {
    let valid = n.checked_sub(k).map(|d| d / s + 1);
    let same = n.div_ceil(s);
    let (want, rule) = match padding {
        Padding::Valid => (
            valid.unwrap_or(0),
            format!(
                "a {k}-wide window with stride {s} on a {axis} of {n} (`valid`) starts at 0, {s}, … \
                 as long as it fits: ⌊({n} − {k}) / {s}⌋ + 1 = {}",
                valid.unwrap_or(0)
            ),
        ),
        Padding::Same => {
            (same, format!("`same` padding with stride {s} on a {axis} of {n} gives ⌈{n} / {s}⌉ = {same}"))
        }
    };
    let suggests = if got == want {
        None
    } else if padding == Padding::Valid && Some(got + 1) == valid {
        Some("one short: the + 1 is missing (a window also starts at position 0)".to_string())
    } else if padding == Padding::Valid && Some(got) == valid.map(|v| v + 1) {
        Some("one too many: your last window hangs off the input".to_string())
    } else if padding == Padding::Valid && got == n && k > 1 {
        Some("as long as the input: that ignores the kernel size (it is the `same` size)".to_string())
    } else if padding == Padding::Valid && got == same && s > 1 {
        Some("the `same` rule ⌈n / s⌉; `valid` counts only the windows that fit".to_string())
    } else if s > 1 && padding == Padding::Valid && Some(got) == n.checked_sub(k).map(|d| d + 1) {
        Some("the stride-1 count: your size ignores the stride".to_string())
    } else if s > 1 && padding == Padding::Same && got == n {
        Some("the input length: your size ignores the stride".to_string())
    } else if padding == Padding::Same && got == n / s {
        Some("rounded down: `same` rounds ⌈n / s⌉ up".to_string())
    } else if padding == Padding::Same && Some(got) == valid {
        Some("the `valid` size: `same` pads the input so that ⌈n / s⌉ windows fit".to_string())
    } else {
        None
    };
    match suggests {
        Some(s) => format!("{rule}; your {got} is {s}"),
        None => rule,
    }
}

/// Explains an NHWC output shape of a window op: batch, height and width, and channels.
pub fn explain_nhwc(
    got: &[usize],
    want: &[usize],
    input: &[usize],
    kernel: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
    channels: &str,
) -> String {
    if got.len() != 4 {
        return "the output is NHWC, 4-D: (batch, height, width, channels)".to_string();
    }
    let mut reasons = Vec::new();
    if got[0] != want[0] {
        reasons.push(format!("one output image per input image, {}", want[0]));
    }
    if got[1] == want[2] && got[2] == want[1] && got[1] != got[2] {
        reasons.push("height and width are swapped".to_string());
    } else {
        let height = (got[1] != want[1])
            .then(|| explain_len("height", input[1], kernel.0, strides.0, padding, got[1]));
        let width =
            (got[2] != want[2]).then(|| explain_len("width", input[2], kernel.1, strides.1, padding, got[2]));
        match (height, width) {
            // The same slip on both axes: say it once.
            (Some(h), Some(w)) if h.replace("height", "width") == w => {
                reasons.push(h.replace("height", "height (and width)"))
            }
            (h, w) => reasons.extend(h.into_iter().chain(w)),
        }
    }
    if got[3] != want[3] {
        reasons.push(format!("{channels}, {}", want[3]));
    }
    if reasons.is_empty() {
        reasons.push(format!("{} is NHWC", dims(want)));
    }
    reasons.join("; ")
}

/// `n` values that are multiples of 1/4 in `[-2, 2]`: their products and sums are exact in
/// `f32`, so the order in which a student adds them up does not matter.
pub fn quarters(n: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec((-8i32..=8).prop_map(|v| v as f32 / 4.0), n)
}

/// `n` distinct values (a shuffled `0.25·(0..n)`, shifted): no ties anywhere.
pub fn distinct(n: usize) -> impl Strategy<Value = Vec<f32>> {
    Just((0..n).map(|i| i as f32 * 0.25 - 2.0).collect::<Vec<_>>()).prop_shuffle()
}

use proptest::strategy::Just;

/// A tensor, or a failure explaining that the student's shape and data disagree.
pub fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::new(shape, data).expect("the grader builds consistent tensors")
}
