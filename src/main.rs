//! The `convnets` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use convnets::model::{book_model, no_max_pooling_model};

/// Convolutional neural networks built by hand (Deep Learning with Python, chapter 5.1).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the book's model summary, as Keras's model.summary() does.
    Summary {
        /// Show the model without max pooling (three convolutions in a row) instead.
        #[arg(long)]
        no_max_pooling: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Summary { no_max_pooling } => {
            let model = if no_max_pooling { no_max_pooling_model(0) } else { book_model(0) };
            model.map(|m| print!("{}", m.summary()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
