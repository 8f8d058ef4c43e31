//! The boundary between the textbook and the engine (issue 12):
//!
//! - the engine's training plan computes the textbook's gradients, losses and predictions, on
//!   the book's model with every convolution algorithm and on odd geometries;
//! - the textbook's source never imports the engine or the app, and the engine's never
//!   imports the app;
//! - Part I of the book includes code from textbook files only.
//!
//! Tolerance between the plan and the textbook: each gradient within `common::PLAN_OF_MAX`
//! (1e-4) times the largest gradient of its array plus `common::PLAN_RTOL` (1e-3) times itself
//! (see there why the absolute part scales with the array). The two add the same f32 products
//! in another order (GEMM blocks, register blocks, shards added at the end), partly with fused
//! multiply-adds, so they agree to rounding and no closer; no whole model has the very same
//! arithmetic on both sides (the engine's dense layers are GEMMs). Where the arithmetic is the
//! same, the tests ask for the same bits: the engine's naive convolution kernel here, its max
//! pooling (with the ReLU folded in or not) in tests/layers.rs.

mod common;
mod conv_case;

use std::fs;
use std::path::{Path, PathBuf};

use common::{ALGORITHMS, assert_plan_matches_textbook, digit_batch};
use conv_case::{case, run_engine, run_textbook};
use convnets::engine::ConvKernel;
use convnets::model::book_model;
use convnets::{
    Activation, AveragePooling2D, Conv2D, ConvAlgorithm, Dense, MaxPooling2D, Padding, Sequential,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The plan's gradients are the textbook's.

#[test]
fn the_plans_gradients_are_the_textbooks_on_the_book_model() {
    // Ten MNIST-shaped images. With the direct loops (and with Auto, which picks them for the
    // first layer) the first convolution and its pooling train image by image (`fused.rs`);
    // with every algorithm the poolings take the ReLU's gradient of the convolution before
    // them.
    let (x, y) = digit_batch(10);
    let mut model = book_model(12).unwrap();
    for algorithm in ALGORITHMS {
        for threads in [1, 3] {
            let grads = assert_plan_matches_textbook(&mut model, &x, &y, algorithm, threads);
            assert_eq!(grads.len(), 10, "three convolutions and two dense layers");
            assert!(grads.iter().all(|g| g.iter().any(|&v| v != 0.0)), "every layer learns something");
        }
    }
}

/// A model of odd geometries, on 11×10×3 inputs, 3 classes:
///
/// ```text
/// 0 Conv2D(5, 3×2, strides (2, 1), same, relu)      (6, 10, 5)   rectangular kernel, stride 2
/// 1 MaxPooling2D(3×2, strides (1, 2))                (4, 5, 5)    overlapping rows, stride < pool
/// 2 Conv2D(6, 2×3, relu)                             (3, 3, 6)    frozen in the test of a frozen middle layer
/// 3 AveragePooling2D(2×2, strides (1, 1), same)      (3, 3, 6)    after a ReLU: nothing to fold
/// 4 Conv2D(4, 3×3, strides (2, 2), same)             (2, 2, 4)    linear
/// 5 MaxPooling2D(2×2)                                (1, 1, 4)    after a linear convolution
/// 6 Flatten                                          (4)
/// 7 Dense(7, relu)
/// 8 Dense(3, softmax)
/// ```
fn odd_geometries(seed: u64) -> Sequential {
    let relu = Activation::Relu;
    common::model(&[11, 10, 3], seed)
        .add(Conv2D::new(5, (3, 2)).strides((2, 1)).padding(Padding::Same).activation(relu))
        .add(MaxPooling2D::new((3, 2)).strides((1, 2)))
        .add(Conv2D::new(6, (2, 3)).activation(relu))
        .add(AveragePooling2D::new((2, 2)).strides((1, 1)).padding(Padding::Same))
        .add(Conv2D::new(4, (3, 3)).strides((2, 2)).padding(Padding::Same))
        .max_pool(2)
        .flatten()
        .dense(7)
        .softmax(3)
}

#[test]
fn the_odd_geometries_have_the_shapes_the_test_means() {
    let shapes: Vec<Vec<usize>> = odd_geometries(0).layer_shapes().iter().map(|s| s.to_vec()).collect();
    let expected: [&[usize]; 9] =
        [&[6, 10, 5], &[4, 5, 5], &[3, 3, 6], &[3, 3, 6], &[2, 2, 4], &[1, 1, 4], &[4], &[7], &[3]];
    assert_eq!(shapes, expected);
}

#[test]
fn the_plans_gradients_are_the_textbooks_on_odd_geometries_with_a_frozen_middle_layer() {
    // With the direct loops the first two layers are fused, on a strided, padded, rectangular
    // convolution and an overlapping pooling; the frozen convolution passes its input's
    // gradient on without weight gradients of its own.
    let mut model = odd_geometries(21);
    model.set_trainable(2, false).unwrap();
    let (x, y) = common::batch_for(&model, 5, 22);
    for algorithm in ALGORITHMS {
        for threads in [1, 3] {
            let grads = assert_plan_matches_textbook(&mut model, &x, &y, algorithm, threads);
            assert_eq!(grads.len(), 8, "four trainable layers with a kernel and a bias each");
            assert!(grads.iter().all(|g| g.iter().any(|&v| v != 0.0)), "every trainable layer learns");
        }
    }
}

#[test]
fn the_plans_gradients_are_the_textbooks_with_the_first_layer_frozen() {
    // Nothing is fused, and the pooling after the frozen first layer sends no gradient down.
    let mut model = odd_geometries(31);
    model.set_trainable(0, false).unwrap();
    let (x, y) = common::batch_for(&model, 6, 32);
    for algorithm in ALGORITHMS {
        let grads = assert_plan_matches_textbook(&mut model, &x, &y, algorithm, 2);
        assert_eq!(grads.len(), 8);
    }
}

proptest! {
    #[test]
    fn the_engines_naive_kernel_is_the_textbooks_conv_bit_for_bit(c in case(1..9), relu: bool) {
        // The same loops on both sides: the same bits, output and all three gradients.
        let activation = if relu { Activation::Relu } else { Activation::Linear };
        let (engine, textbook) = (run_engine(&c, activation, ConvKernel::Naive), run_textbook(&c, activation));
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        prop_assert_eq!(bits(&engine.y), bits(&textbook.y));
        prop_assert_eq!(bits(&engine.dx), bits(&textbook.dx));
        prop_assert_eq!(bits(&engine.dkernel), bits(&textbook.dkernel));
        prop_assert_eq!(bits(&engine.dbias), bits(&textbook.dbias));
    }
}

#[test]
fn a_dense_model_gets_the_textbooks_gradients_too() {
    // No convolution at all: Flatten and dense layers only.
    let mut model = common::model(&[4, 3, 2], 41).flatten().dense(5).add(Dense::new(3)).softmax(4);
    let (x, y) = common::batch_for(&model, 7, 42);
    assert_plan_matches_textbook(&mut model, &x, &y, ConvAlgorithm::Auto, 2);
}

// ---------------------------------------------------------------------------------------------
// Imports go down only: app → engine → textbook.

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `source` with its comments and the insides of its string and character literals turned
/// into spaces (line breaks kept, so offsets still give line numbers).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && (i == 0 || !is_ident(chars[i - 1]))
            && matches!(chars.get(i + if c == 'b' { 2 } else { 1 }), Some('"' | '#'))
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let hashes = chars[j..].iter().take_while(|&&h| h == '#').count();
            j += hashes;
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let end = (j + 1..chars.len())
                .find(|&k| chars[k..].starts_with(&closing))
                .map_or(chars.len(), |k| k + closing.len());
            chars[i..end].iter().for_each(|&c| out.push(blank(c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                chars[i..(i + skip).min(chars.len())].iter().for_each(|&c| out.push(blank(c)));
                i += skip;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('a', '\n', '\''); a lifetime ('a) is left alone.
            let end = if next == Some('\\') {
                (i + 3..chars.len()).find(|&k| chars[k] == '\'').unwrap_or(chars.len())
            } else {
                i + 2
            };
            (i..=end.min(chars.len() - 1)).for_each(|_| out.push(' '));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

/// The tokens of `code` that matter for paths, each with its byte offset.
fn tokens(code: &str) -> Vec<(Token, usize)> {
    let mut out = Vec::new();
    let mut iter = code.char_indices().peekable();
    while let Some((at, c)) = iter.next() {
        let token = match c {
            c if c.is_alphabetic() || c == '_' => {
                let mut ident = String::from(c);
                while let Some(&(_, c)) = iter.peek() {
                    if !(c.is_alphanumeric() || c == '_') {
                        break;
                    }
                    ident.push(c);
                    iter.next();
                }
                Token::Ident(ident)
            }
            ':' if iter.peek().is_some_and(|&(_, c)| c == ':') => {
                iter.next();
                Token::PathSep
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            '*' => Token::Star,
            c if c.is_whitespace() => continue,
            _ => Token::Other,
        };
        out.push((token, at));
    }
    out
}

/// Parses the path (or `use` tree) that starts at `tokens[*i]`, adding every full path it
/// names to `paths` (`a::{b, c::{d, e}}` names `a::b`, `a::c::d` and `a::c::e`).
fn parse_tree(tokens: &[(Token, usize)], i: &mut usize, prefix: &[String], paths: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*i).map(|t| &t.0) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                *i += 1;
            }
            Some(Token::Star) => {
                path.push("*".into());
                *i += 1;
                break;
            }
            Some(Token::Open) => {
                *i += 1;
                while !matches!(tokens.get(*i).map(|t| &t.0), Some(Token::Close) | None) {
                    parse_tree(tokens, i, &path, paths);
                    if tokens.get(*i).map(|t| &t.0) == Some(&Token::Comma) {
                        *i += 1;
                    } else {
                        break;
                    }
                }
                *i += 1; // the closing brace
                return;
            }
            _ => break,
        }
        if tokens.get(*i).map(|t| &t.0) == Some(&Token::PathSep) {
            *i += 1;
        } else {
            break;
        }
    }
    // `path as alias`: the alias names nothing new to check.
    if tokens.get(*i).map(|t| &t.0) == Some(&Token::Ident("as".into())) {
        *i += 2;
    }
    paths.push(path);
}

/// Every path in `code` that starts at `crate` or `super`, with the offset where it starts.
fn crate_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let tokens = tokens(code);
    let mut found = Vec::new();
    for start in 0..tokens.len() {
        let starts_path = matches!(&tokens[start].0, Token::Ident(s) if s == "crate" || s == "super");
        let continues_path = start > 0 && tokens[start - 1].0 == Token::PathSep;
        if starts_path && !continues_path {
            let (mut i, mut paths) = (start, Vec::new());
            parse_tree(&tokens, &mut i, &[], &mut paths);
            found.extend(paths.into_iter().map(|p| (p, tokens[start].1)));
        }
    }
    found
}

/// The names `src/lib.rs` makes available at the crate's root from the modules `layers`
/// (`pub use app::{augment, …}` puts `augment` at the root).
fn root_reexports_of(layers: &[&str]) -> Vec<String> {
    let lib = code_only(&fs::read_to_string(root().join("src/lib.rs")).unwrap());
    let tokens = tokens(&lib);
    let mut names = Vec::new();
    for start in 0..tokens.len() {
        if tokens[start].0 != Token::Ident("use".into()) {
            continue;
        }
        let (mut i, mut paths) = (start + 1, Vec::new());
        parse_tree(&tokens, &mut i, &[], &mut paths);
        for path in paths {
            let path: Vec<&str> =
                path.iter().map(String::as_str).skip_while(|s| *s == "crate" || *s == "self").collect();
            if path.len() > 1 && layers.contains(&path[0]) {
                names.push(path[path.len() - 1].to_string());
            }
        }
    }
    names
}

/// What a file of one layer may not import: a name of the crate's root (`crate::<name>…`).
struct Rule {
    /// The folder under `src/` the rule is for.
    layer: &'static str,
    /// Root names the layer may not reach.
    forbidden: Vec<String>,
    /// Whether reaching the crate's root through `super` is forbidden outright.
    no_super_to_root: bool,
}

/// The module path of `file` (under `src/`): `src/textbook/conv/naive.rs` is
/// `["textbook", "conv", "naive"]`, `src/textbook/conv/mod.rs` is `["textbook", "conv"]`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root().join("src")).unwrap();
    let mut module: Vec<String> =
        relative.with_extension("").iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    module
}

/// The ways `source`, the file of module `module`, breaks `rule`, one line each.
fn violations(rule: &Rule, module: &[String], source: &str) -> Vec<String> {
    let code = code_only(source);
    let mut found = Vec::new();
    for (path, at) in crate_paths(&code) {
        let line = code[..at].matches('\n').count() + 1;
        let shown = path.join("::");
        // Resolve `super`s against the module; `crate` is the root.
        let (mut base, mut rest) = (module.to_vec(), &path[..]);
        let mut through_super = false;
        if rest.first().is_some_and(|s| s == "crate") {
            base.clear();
            rest = &rest[1..];
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            through_super = true;
            rest = &rest[1..];
        }
        if !base.is_empty() || rest.is_empty() {
            continue; // still inside a module below the root, or a bare `pub(crate)`
        }
        if through_super && rule.no_super_to_root {
            found.push(format!("line {line}: `{shown}` leaves src/{} through the crate's root", rule.layer));
        } else if let Some(first) = rest.first().filter(|f| rule.forbidden.contains(f)) {
            found.push(format!("line {line}: `{shown}` reaches `crate::{first}`"));
        }
    }
    found
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The app's modules and the names lib.rs re-exports from it, plus those the design names.
fn app_names() -> Vec<String> {
    let mut names: Vec<String> =
        ["app", "save", "augment", "experiment", "picture", "plot", "visualize", "serve", "cli"]
            .map(String::from)
            .into();
    names.extend(root_reexports_of(&["app"]));
    names
}

/// The engine's modules and the names lib.rs re-exports from it, plus those the design names.
fn engine_names() -> Vec<String> {
    let mut names: Vec<String> =
        ["engine", "im2col", "direct", "fused", "gemm", "plan", "runs", "fit", "data_parallel"]
            .map(String::from)
            .into();
    names.extend(root_reexports_of(&["engine"]));
    names
}

fn textbook_rule() -> Rule {
    Rule { layer: "textbook", forbidden: [engine_names(), app_names()].concat(), no_super_to_root: true }
}

fn engine_rule() -> Rule {
    Rule { layer: "engine", forbidden: app_names(), no_super_to_root: false }
}

/// Checks every file of `rule.layer`.
fn assert_layer_follows(rule: &Rule) {
    let files = rust_files(&root().join("src").join(rule.layer));
    assert!(files.len() >= 5, "src/{} holds only {files:?}", rule.layer);
    let mut broken = Vec::new();
    for file in files {
        let source = fs::read_to_string(&file).unwrap();
        // The check sees at least every plain `use crate::…;` / `use super::…;` line.
        let plain_uses =
            source.lines().filter(|l| l.starts_with("use crate::") || l.starts_with("use super::")).count();
        let seen = crate_paths(&code_only(&source)).len();
        assert!(seen >= plain_uses, "{}: {seen} paths seen, {plain_uses} use lines", file.display());
        for v in violations(rule, &module_of(&file), &source) {
            broken.push(format!("{}: {v}", file.strip_prefix(root()).unwrap().display()));
        }
    }
    assert!(broken.is_empty(), "src/{} imports what lies above it:\n{}", rule.layer, broken.join("\n"));
}

#[test]
fn the_textbook_never_imports_the_engine_or_the_app() {
    let rule = textbook_rule();
    for name in ["engine", "app", "ConvAlgorithm", "Plan", "save", "augment", "im2col"] {
        assert!(rule.forbidden.iter().any(|f| f == name), "{name} is not among {:?}", rule.forbidden);
    }
    assert_layer_follows(&rule);
}

#[test]
fn the_engine_never_imports_the_app() {
    assert_layer_follows(&engine_rule());
}

#[test]
fn the_import_check_catches_what_it_should_and_only_that() {
    // The check must be able to fail: grouped, nested, multi-line and relative imports, and
    // paths in expressions; comments, doc links and strings do not count.
    let rule = textbook_rule();
    let pool: Vec<String> = vec!["textbook".into(), "pool".into()];
    let naive: Vec<String> = vec!["textbook".into(), "conv".into(), "naive".into()];
    let caught = |module: &[String], source: &str| violations(&rule, module, source).len();
    assert_eq!(caught(&pool, "use crate::engine::Plan;"), 1);
    assert_eq!(caught(&pool, "use crate::{tensor::Tensor, engine::plan::Plan};"), 1);
    assert_eq!(
        caught(&pool, "use crate::{\n    tensor::{self, Tensor},\n    app::{save, plot as p},\n};"),
        2
    );
    assert_eq!(caught(&pool, "fn f() { crate::im2col::im2col(g, x, cols); }"), 1);
    assert_eq!(caught(&pool, "use crate::Plan;\nuse crate::ConvAlgorithm as A;"), 2);
    assert_eq!(caught(&pool, "use super::super::engine;"), 1);
    assert_eq!(caught(&pool, "use super::super::tensor::Tensor;"), 1, "out of the textbook and back");
    assert_eq!(caught(&naive, "use super::super::super::app;"), 1);
    assert_eq!(caught(&["textbook".to_string()], "use super::engine;"), 1);
    assert_eq!(caught(&["textbook".to_string()], "pub(super) fn f() {}\npub(crate) fn g() {}"), 0);
    assert_eq!(caught(&pool, "fn f() { $crate::engine::fit(); }"), 1);
    // Not imports of the engine or the app:
    let clean = "use crate::tensor::Tensor;\nuse super::conv::naive;\nuse crate::{padding::Padding, shape::Window2D};\n\
                 // crate::engine::Plan is faster\n/// [`Plan`](crate::engine::Plan)\n/* crate::app /* nested */ */\n\
                 const S: &str = \"crate::engine\";\nconst R: &str = r#\"crate::app \"quoted\"\"#;\n\
                 fn f<'a>(c: char) -> bool { c == '\"' || c == '\\'' }\nuse crate::engineering::Tool;";
    assert_eq!(violations(&rule, &pool, clean), Vec::<String>::new());
    assert_eq!(caught(&naive, "use super::super::pool::max_pool_forward;"), 0, "within the textbook");
    let lines = violations(&rule, &pool, "use crate::tensor::Tensor;\n\nuse crate::engine::Plan;");
    assert!(lines[0].starts_with("line 3:"), "{lines:?}");
    // The engine may use the textbook, not the app.
    let engine = engine_rule();
    let module: Vec<String> = vec!["engine".into(), "plan".into()];
    assert_eq!(
        violations(&engine, &module, "use crate::model::Sequential;\nuse super::conv::ConvKernel;").len(),
        0
    );
    assert_eq!(
        violations(&engine, &module, "use crate::save::LayerSpec;\nuse super::super::app::plot;").len(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Part I of the book shows the textbook's code only.

/// The chapters of Part I, in the order of SUMMARY.md: those linked before the heading of
/// Part II (any `# Part …` heading other than Part I). Without such a heading, the chapters
/// the issue names: introduction through training.
fn part_one_chapters() -> Vec<String> {
    let summary = fs::read_to_string(root().join("chapters/SUMMARY.md")).unwrap();
    let mut chapters = Vec::new();
    for line in summary.lines() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_prefix('#') {
            let heading = heading.trim_start_matches('#').trim().to_lowercase();
            if let Some(rest) = heading.strip_prefix("part") {
                let numeral: String = rest.trim_start().chars().take_while(|c| c.is_alphanumeric()).collect();
                if !numeral.is_empty() && numeral != "i" && numeral != "1" {
                    return chapters;
                }
            }
            continue;
        }
        let mut rest = trimmed;
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let end = rest.find(')').expect("an unclosed link in SUMMARY.md");
            if !rest[..end].is_empty() {
                chapters.push(rest[..end].to_string());
            }
            rest = &rest[end..];
        }
    }
    ["introduction", "convolution", "padding", "strides", "max_pooling", "backprop", "idx", "training"]
        .map(|c| format!("{c}.md"))
        .into()
}

/// Every `{{#include …}}`-like directive of `text` (mdBook's include, rustdoc_include and
/// playground), as `(line, path)`; one escaped with a backslash shows literally and is left out.
fn source_includes(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{#") {
            let escaped = rest[..start].ends_with('\\');
            rest = &rest[start + 3..];
            let end = rest.find("}}").unwrap_or(rest.len());
            let mut words = rest[..end].split_whitespace();
            let directive = words.next().unwrap_or("");
            if !escaped && matches!(directive, "include" | "rustdoc_include" | "playground") {
                let target = words.next().unwrap_or("");
                found.push((i + 1, target.split(':').next().unwrap_or("").to_string()));
            }
            rest = &rest[end..];
        }
    }
    found
}

/// Whether a chapter's include path is a file under `src/textbook/` (no `..` out of it).
fn is_textbook_file(path: &str) -> bool {
    path.strip_prefix("../src/textbook/")
        .is_some_and(|rest| !rest.is_empty() && rest.split('/').all(|c| c != ".." && !c.is_empty()))
}

#[test]
fn part_one_of_the_book_includes_code_only_from_textbook_files() {
    let chapters = part_one_chapters();
    for expected in ["introduction.md", "training.md"] {
        assert!(chapters.iter().any(|c| c == expected), "Part I ({chapters:?}) lacks {expected}");
    }
    let mut outside = Vec::new();
    for chapter in &chapters {
        let text = fs::read_to_string(root().join("chapters").join(chapter)).unwrap();
        for (line, path) in source_includes(&text) {
            if !is_textbook_file(&path) {
                outside.push(format!("{chapter}:{line}: {path}"));
            }
        }
    }
    assert!(outside.is_empty(), "Part I includes code from outside src/textbook/:\n{}", outside.join("\n"));
}

#[test]
fn the_chapter_check_reads_includes_as_mdbook_does() {
    let text = "```rust,ignore\n{{#include ../src/textbook/pool.rs:max_forward}}\n```\n\
                {{#rustdoc_include ../src/engine/pool.rs:window_max}}\n\
                \\{{#include ../src/app/save.rs}} shows the directive itself\n\
                {{#playground ../src/textbook/../engine/fused.rs}}\n{{#title The title}}";
    let found = source_includes(text);
    let paths: Vec<&str> = found.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["../src/textbook/pool.rs", "../src/engine/pool.rs", "../src/textbook/../engine/fused.rs"]
    );
    assert_eq!(found[1].0, 4);
    let textbook: Vec<bool> = paths.iter().map(|p| is_textbook_file(p)).collect();
    assert_eq!(textbook, [true, false, false]);
    assert!(is_textbook_file("../src/textbook/conv/naive.rs"));
    assert!(!is_textbook_file("../src/textbook.rs"));
}
