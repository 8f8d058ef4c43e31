//! The book stays wired to the code: every chapter is compiled as a doctest, every included
//! anchor exists, and every code fence says what language it holds.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chapters_dir() -> PathBuf {
    root().join("chapters")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The chapter files linked from SUMMARY.md, in order: the targets of `[title](file.md)`.
fn summary_chapters() -> Vec<String> {
    let summary = read(&chapters_dir().join("SUMMARY.md"));
    let mut files = Vec::new();
    let mut rest = summary.as_str();
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let end = rest.find(')').expect("an unclosed link in SUMMARY.md");
        let target = &rest[..end];
        if !target.is_empty() {
            files.push(target.to_string());
        }
        rest = &rest[end..];
    }
    files
}

/// The Markdown files of the book, except SUMMARY.md.
fn chapter_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(chapters_dir())
        .expect("the chapters directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "SUMMARY.md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_chapter_in_the_summary_is_a_doctest() {
    let chapters = summary_chapters();
    assert!(chapters.len() >= 5, "SUMMARY.md links only {chapters:?}");
    let lib = read(&root().join("src/lib.rs"));
    for chapter in &chapters {
        assert!(chapters_dir().join(chapter).is_file(), "SUMMARY.md links {chapter}, which does not exist");
        let include = format!("include_str!(\"../chapters/{chapter}\")");
        assert!(
            lib.contains(&include),
            "src/lib.rs does not compile chapter {chapter} as a doctest: add `#[doc = {include}]` \
             to its `chapters` module"
        );
    }
}

#[test]
fn every_chapter_file_is_in_the_summary() {
    let linked = summary_chapters();
    for file in chapter_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(linked.contains(&name), "chapters/{name} is not linked from SUMMARY.md");
    }
}

/// Every `{{#include path:anchor}}` of a chapter, as `(chapter, path, anchor)`.
fn includes() -> Vec<(String, String, Option<String>)> {
    let mut found = Vec::new();
    for file in chapter_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = read(&file);
        let mut rest = text.as_str();
        while let Some(start) = rest.find("{{#include ") {
            rest = &rest[start + "{{#include ".len()..];
            let end = rest.find("}}").unwrap_or_else(|| panic!("{name}: an unclosed {{{{#include"));
            let spec = rest[..end].trim();
            let (path, anchor) = match spec.split_once(':') {
                Some((path, anchor)) => (path, Some(anchor.to_string())),
                None => (spec, None),
            };
            found.push((name.clone(), path.to_string(), anchor));
            rest = &rest[end..];
        }
    }
    found
}

#[test]
fn every_include_points_at_an_existing_anchor() {
    let includes = includes();
    assert!(!includes.is_empty(), "no chapter includes any source");
    for (chapter, path, anchor) in includes {
        let file = chapters_dir().join(&path);
        assert!(file.is_file(), "{chapter} includes {path}, which does not exist");
        let Some(anchor) = anchor else { continue };
        assert!(
            !anchor.is_empty() && anchor.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'),
            "{chapter}: `{anchor}` is not an anchor name (line ranges drift: use anchors)"
        );
        let source = read(&file);
        let lines: Vec<&str> = source.lines().map(str::trim).collect();
        let begin = lines.iter().position(|l| *l == format!("// ANCHOR: {anchor}"));
        let end = lines.iter().position(|l| *l == format!("// ANCHOR_END: {anchor}"));
        match (begin, end) {
            (Some(b), Some(e)) => {
                assert!(b < e, "{path}: ANCHOR_END: {anchor} comes before ANCHOR: {anchor}")
            }
            _ => panic!(
                "{chapter} includes {path}:{anchor}, but {path} lacks `// ANCHOR: {anchor}` or `// ANCHOR_END: {anchor}`"
            ),
        }
    }
}

#[test]
fn every_code_fence_is_tagged_and_includes_are_not_run() {
    for file in chapter_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = read(&file);
        // The info string of the fence we are inside, if any.
        let mut open: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let trimmed = line.trim_start();
            if let Some(info) = trimmed.strip_prefix("```") {
                // A fence line opens a block, or closes the one that is open.
                if open.take().is_none() {
                    let info = info.trim().to_string();
                    // rustdoc runs untagged fences as Rust: say what each one holds.
                    assert!(!info.is_empty(), "{name}:{lineno}: an untagged code fence");
                    open = Some((lineno, info));
                }
                continue;
            }
            if let Some((start, info)) = &open
                && trimmed.starts_with("{{#include")
            {
                assert_eq!(
                    info, "rust,ignore",
                    "{name}:{lineno}: the include in the fence opened at line {start} must be in a \
                     ```rust,ignore fence (the included code is compiled as the crate itself)"
                );
            }
        }
        assert!(open.is_none(), "{name}: a code fence is never closed");
    }
}
