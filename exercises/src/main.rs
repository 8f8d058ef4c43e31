//! Progress at a glance: `cargo run -p exercises` grades every exercise in-process and prints
//! chapter | exercise | status, then the next one to do.
//!
//! ```console
//! $ cargo run -p exercises                 # the whole table
//! $ cargo run -p exercises -- backprop     # one chapter, with every failure message
//! $ cargo run -p exercises -- --list       # chapter and function of every exercise
//! ```
//!
//! (`--expect done` or `--expect todo` make it exit with an error unless every exercise is
//! done, or none is even started: how CI checks the solutions and the stubs.)

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use exercises::grading::{self, Ex, Failure};

enum Status {
    Done,
    Todo,
    Wrong(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = grading::exercises();
    if args.iter().any(|a| a == "--list") {
        for e in &all {
            println!("{} {}", e.chapter, e.function);
        }
        return ExitCode::SUCCESS;
    }
    let expect = args.iter().position(|a| a == "--expect").and_then(|i| args.get(i + 1)).cloned();
    let chapter = args.iter().find(|a| !a.starts_with("--") && Some(*a) != expect.as_ref()).cloned();
    let chosen: Vec<_> = all.iter().filter(|e| chapter.as_ref().is_none_or(|c| c == e.chapter)).collect();
    if chosen.is_empty() {
        let mut chapters: Vec<&str> = all.iter().map(|e| e.chapter).collect();
        chapters.dedup();
        eprintln!("no chapter {:?}; the chapters are: {}", chapter.unwrap_or_default(), chapters.join(", "));
        return ExitCode::FAILURE;
    }

    println!("{:<14} {:<28} status", "chapter", "exercise");
    println!("{:<14} {:<28} ------", "-------", "--------");
    let mut statuses = Vec::new();
    for e in &chosen {
        let ex = Ex { chapter: e.chapter, function: e.function };
        let outcome = grading::quietly(|| panic::catch_unwind(AssertUnwindSafe(|| (e.check)(&ex))));
        let status = match outcome {
            Ok(Ok(())) => Status::Done,
            Ok(Err(Failure::NotDone { .. })) => Status::Todo,
            Ok(Err(Failure::Wrong(message))) => Status::Wrong(message),
            Err(_) => {
                Status::Wrong("the grader itself panicked: run `cargo test -p exercises` to see where".into())
            }
        };
        let word = match &status {
            Status::Done => "done".to_string(),
            Status::Todo => "todo".to_string(),
            Status::Wrong(message) => format!("wrong: {}", message.lines().next().unwrap_or_default()),
        };
        let mut word = word;
        if word.chars().count() > 90 {
            word = word.chars().take(87).collect::<String>() + "...";
        }
        println!("{:<14} {:<28} {word}", e.chapter, e.function);
        statuses.push(status);
    }

    let done = statuses.iter().filter(|s| matches!(s, Status::Done)).count();
    println!("\n{done} of {} done.", statuses.len());
    let next = chosen.iter().zip(&statuses).find(|(_, s)| !matches!(s, Status::Done));
    if let Some((e, status)) = next {
        println!(
            "Next: exercises/src/{}.rs, {} (its doc comment says what to write). Grade it with\n  \
             cargo test -p exercises --test {} {}",
            e.chapter, e.function, e.chapter, e.function
        );
        if let Status::Wrong(message) = status {
            println!("\nWhat is wrong with it:\n{message}");
        }
    } else {
        println!("All done.");
    }
    if chapter.is_some() {
        for (e, status) in chosen.iter().zip(&statuses) {
            if let Status::Wrong(message) = status
                && next.is_none_or(|(n, _)| n.function != e.function)
            {
                println!("\n{}:\n{message}", e.function);
            }
        }
    }

    match expect.as_deref() {
        Some("done") if done != statuses.len() => {
            eprintln!("expected every exercise to be done; {} are not", statuses.len() - done);
            ExitCode::FAILURE
        }
        Some("todo") if statuses.iter().any(|s| !matches!(s, Status::Todo)) => {
            eprintln!("expected every exercise to be an untouched stub (todo)");
            ExitCode::FAILURE
        }
        Some(other) if other != "done" && other != "todo" => {
            eprintln!("--expect takes `done` or `todo`, not {other:?}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
