//! The `convnets` command line: print the book's model, train it on MNIST, evaluate it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use convnets::augment::{self, Augmentation};
use convnets::engine::Isa;
use convnets::error::ModelFileProblem;
use convnets::experiment::Experiment;
use convnets::metrics::{argmax_rows, to_categorical};
use convnets::mnist::{self, Mnist, load_data};
use convnets::model::{book_model, no_max_pooling_model};
use convnets::optim::RmsProp;
use convnets::picture::{self, Gray, read_image, to_mnist};
use convnets::save::{check_can_save, load_model, save_model};
use convnets::train::{FitExtras, FitOptions, Progress};
use convnets::{ConvAlgorithm, Plan, Result, Tensor};
use convnets::{experiment, plot, serve, visualize};

/// `println!`, except that when the reader has gone away (`convnets … | head`) the program
/// stops quietly instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    };
}

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
    /// Train the book's convnet on MNIST with RMSprop, then evaluate it on the test set.
    Train(TrainArgs),
    /// Classify digit pictures (PNG or PGM, any size) with a saved model.
    Predict {
        /// The model file written by `convnets train --save`.
        #[arg(long)]
        model: PathBuf,
        /// The pictures: a digit, dark on light or light on dark.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Draw what a saved model sees in one image: activations, filters, filter patterns and
    /// class activation maps, as labelled PNG files.
    Visualize {
        /// The model file written by `convnets train --save`.
        #[arg(long)]
        model: PathBuf,
        /// Which test image (0 to 9999).
        #[arg(long, default_value_t = 0, conflicts_with = "image")]
        index: usize,
        /// Your own digit instead of a test image (PNG or PGM, any size, prepared as `predict`
        /// prepares it).
        #[arg(long)]
        image: Option<PathBuf>,
        /// The classes to draw Grad-CAM maps for (default: the two the model finds likeliest).
        #[arg(long = "class", value_name = "N")]
        classes: Vec<usize>,
        /// The folder to write the pictures to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The folder with the MNIST files (fetch them with scripts/fetch-mnist).
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
    },
    /// Run one of the small-data experiments, print its results table and save its plots.
    Experiment {
        /// Which experiment.
        #[arg(value_enum)]
        name: Experiment,
        /// The folder with the MNIST files (fetch them with scripts/fetch-mnist).
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// The folder to save the plots in (created if missing).
        #[arg(long, default_value = "experiments")]
        out: PathBuf,
        /// Epochs per model (default: 5; small-data and transfer: 20).
        #[arg(long)]
        epochs: Option<usize>,
    },
    /// Start the playground: a local web page where you draw a digit and watch the model
    /// read it, layer by layer.
    Serve(ServeArgs),
    /// Evaluate a saved model on the MNIST test set.
    Evaluate {
        /// The model file written by `convnets train --save`.
        #[arg(long)]
        model: PathBuf,
        /// The folder with the MNIST files (fetch them with scripts/fetch-mnist).
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// Threads for the convolutions (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Passes over the training images.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Images per gradient step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// RMSprop's learning rate.
    #[arg(long, default_value_t = 0.001)]
    learning_rate: f32,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The folder with the MNIST files (fetch them with scripts/fetch-mnist).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Train on the first N training images only, for a quick run.
    #[arg(long)]
    limit: Option<usize>,
    /// Save the trained model to this file (read it back with `convnets evaluate --model`).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Threads for the convolutions (0: one per core). Results are deterministic for a given
    /// seed and thread count.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// How the convolutions are computed.
    #[arg(long, value_enum, default_value_t = ConvAlgorithm::Auto)]
    conv: ConvAlgorithm,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The model file to show (default: models/book.bin, trained and saved first if missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The port to listen on, on 127.0.0.1 only (0: any free port).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Epochs for training models/book.bin when it is missing.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Train that model on the first N training images only, for a quick start.
    #[arg(long)]
    limit: Option<usize>,
    /// The folder with the MNIST files: for training, and the page's test digits.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// How the page's feature maps are computed (`naive`: the textbook's own loops, about 25
    /// times slower). The microscope always uses the textbook's loops.
    #[arg(long, value_enum, default_value_t = ConvAlgorithm::Auto)]
    conv: ConvAlgorithm,
}

/// Where `convnets serve` keeps the model it trains when given none.
const CACHED_MODEL: &str = "models/book.bin";

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Summary { no_max_pooling } => {
            let model = if no_max_pooling { no_max_pooling_model(0) } else { book_model(0) };
            model.map(|m| out!("{}", m.summary().trim_end())).map_err(CliError::from)
        }
        Command::Train(args) => train(&args).map(|_| ()),
        Command::Serve(args) => serve(&args),
        Command::Evaluate { model, data, threads } => evaluate(&model, &data, threads),
        Command::Predict { model, images } => predict(&model, &images).map_err(CliError::from),
        Command::Experiment { name, data, out, epochs } => run_experiment(name, &data, &out, epochs),
        Command::Visualize { model, index, image, classes, out, data } => {
            visualize(&model, index, image.as_deref(), &classes, &out, &data)
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

/// The most images a training step may take (`--batch-size`): a step keeps every layer's
/// activations and gradients for each image of its batch, about 200 KB per image for the
/// book's model (a batch of 1024 peaked at 434 MB, the data included), so 2048 images take
/// about 400 MB. Keras's default batch is 32, the book's 64.
const MAX_BATCH_SIZE: usize = 2048;

/// The most threads `--threads` may ask for.
const MAX_THREADS: usize = 1024;

/// Why the command line stopped: a flag that makes no sense (refused before any work), or an
/// error of the crate.
enum CliError {
    Flag { flag: &'static str, value: String, reason: String },
    Run(convnets::Error),
}

impl From<convnets::Error> for CliError {
    fn from(e: convnets::Error) -> CliError {
        CliError::Run(e)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Flag { flag, value, reason } => write!(f, "{flag} {value}: {reason}"),
            CliError::Run(e) => write!(f, "{e}"),
        }
    }
}

/// The refusal of `flag` given `value`, and why.
fn refuse(flag: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> CliError {
    CliError::Flag { flag, value: value.to_string(), reason: reason.into() }
}

/// Checks every flag of `train` before any work, so that a run that cannot give a useful
/// result (or cannot keep it) does not start.
fn check_train_args(args: &TrainArgs) -> std::result::Result<(), CliError> {
    if args.epochs == 0 {
        return Err(refuse(
            "--epochs",
            0,
            "train for at least 1 epoch: 0 epochs would report the untrained model",
        ));
    }
    let lr = args.learning_rate;
    if !lr.is_finite() || lr <= 0.0 {
        return Err(refuse(
            "--learning-rate",
            lr,
            "the learning rate must be a finite number above 0 (the book's RMSprop uses 0.001): \
             0 would not learn, and a negative rate climbs the loss instead of descending it",
        ));
    }
    if args.batch_size == 0 {
        return Err(refuse("--batch-size", 0, "a step needs at least 1 image"));
    }
    if args.batch_size > MAX_BATCH_SIZE {
        return Err(refuse(
            "--batch-size",
            args.batch_size,
            format!(
                "at most {MAX_BATCH_SIZE} images per step: a step keeps every image's activations and \
                 gradients in memory (the book uses 64)"
            ),
        ));
    }
    if args.limit == Some(0) {
        return Err(refuse("--limit", 0, "train on at least 1 image"));
    }
    check_threads(args.threads)?;
    if let Some(path) = &args.save {
        check_can_save(path).map_err(|e| match e {
            convnets::Error::ModelFile(e) => {
                let why = match e.problem {
                    ModelFileProblem::Write { message, .. } => message,
                    other => other.to_string(),
                };
                refuse("--save", path.display(), format!("cannot save there: {why}"))
            }
            other => CliError::Run(other),
        })?;
    }
    Ok(())
}

/// Refuses more threads than [`MAX_THREADS`].
fn check_threads(threads: usize) -> std::result::Result<(), CliError> {
    if threads > MAX_THREADS {
        return Err(refuse("--threads", threads, format!("at most {MAX_THREADS} (0: one per core)")));
    }
    Ok(())
}

/// Loads a model for a command that runs it on MNIST digits, and checks that it takes
/// 28×28×1 images and gives 10 classes, before any data is read.
fn load_mnist_model(path: &Path) -> Result<convnets::Sequential> {
    let model = load_model(path)?;
    mnist::check_model(&model)?;
    Ok(model)
}

/// Trains the book's model as `args` say, with a progress bar, saves it if asked to, and
/// reports its test accuracy. Returns the trained model.
fn train(args: &TrainArgs) -> std::result::Result<convnets::Sequential, CliError> {
    check_train_args(args)?;
    use_threads(args.threads)?;
    let Mnist { train_images, train_labels, test_images, test_labels } = load_data(&args.data)?;
    // Copy the first N images only when asked to: the full set is 188 MB of f32.
    let (x, n) = match args.limit {
        Some(n) if n < train_labels.len() => (train_images.batch_range(0, n)?, n),
        _ => (train_images, train_labels.len()),
    };
    let mut batch_size = args.batch_size;
    if batch_size > n {
        out!("--batch-size {batch_size} is more than the {n} training images: using batches of {n}");
        batch_size = n;
    }
    let y = to_categorical(&train_labels[..n], 10)?;
    let mut model = book_model(args.seed)?;
    let mut plan = Plan::new(&model, args.conv, rayon::current_num_threads())?;
    let mut optimizer = RmsProp::new(args.learning_rate);
    let options = FitOptions { epochs: args.epochs, batch_size, seed: args.seed };
    out!(
        "Training on {n} images: {} epoch(s), batch size {batch_size}, RMSprop lr {}, {} thread(s), {} loops",
        args.epochs,
        args.learning_rate,
        rayon::current_num_threads(),
        Isa::current().name()
    );

    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{pos:>5}/{len} [{bar:30}] {elapsed_precise} - {msg}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    let mut epoch_start = Instant::now();
    let extras = FitExtras::default();
    model.fit_using(&mut plan, &x, &y, &mut optimizer, &options, &extras, |p: &Progress| {
        if p.step == 1 {
            epoch_start = Instant::now();
            bar.reset();
            bar.set_length(p.steps as u64);
            say(&bar, format!("Epoch {}/{}", p.epoch, p.epochs));
        }
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss: {:.4} - accuracy: {:.4}", p.loss, p.accuracy));
        if p.step == p.steps {
            let secs = epoch_start.elapsed().as_secs_f64();
            say(
                &bar,
                format!(
                    "Epoch {}/{}: {} steps - {secs:.1}s ({:.0} ms/step) - loss: {:.4} - accuracy: {:.4}",
                    p.epoch,
                    p.epochs,
                    p.steps,
                    secs * 1000.0 / p.steps as f64,
                    p.loss,
                    p.accuracy
                ),
            );
        }
    })?;
    bar.finish_and_clear();
    // Save first (a crash later must not lose the trained model), but report the test
    // results even if the save failed, then say so.
    let saved = match &args.save {
        Some(path) => save_model(&model, path).map(|()| out!("saved the model to {}", path.display())),
        None => Ok(()),
    };
    report_test(&mut model, &test_images, &test_labels)?;
    saved?;
    Ok(model)
}

fn serve(args: &ServeArgs) -> std::result::Result<(), CliError> {
    let model = match &args.model {
        Some(path) => load_model(path)?,
        None if Path::new(CACHED_MODEL).is_file() => {
            out!("using the model in {CACHED_MODEL}");
            load_model(Path::new(CACHED_MODEL))?
        }
        None => {
            out!("{CACHED_MODEL} does not exist yet: training the book's model first (it needs MNIST)");
            let save = PathBuf::from(CACHED_MODEL);
            if let Some(dir) = save.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| convnets::Error::model(format!("cannot create {}: {e}", dir.display())))?;
            }
            train(&TrainArgs {
                epochs: args.epochs,
                batch_size: 64,
                learning_rate: 0.001,
                seed: 0,
                data: args.data.clone(),
                limit: args.limit,
                save: Some(save),
                threads: 0,
                conv: ConvAlgorithm::Auto,
            })?
        }
    };
    let digits = serve::digits::TestDigits::load(&args.data).map_err(|e| e.to_string());
    if let Err(why) = &digits {
        out!("no test digits for the page: {why}");
    }
    let playground = serve::Playground::new(model, args.conv, digits)?;
    Ok(serve::run(playground, args.port, |address| {
        out!("the playground is at http://{address}/  (Ctrl-C stops it)");
    })?)
}

fn evaluate(model: &Path, data: &Path, threads: usize) -> std::result::Result<(), CliError> {
    check_threads(threads)?;
    use_threads(threads)?;
    let mut model = load_mnist_model(model)?;
    let Mnist { test_images, test_labels, .. } = load_data(data)?;
    Ok(report_test(&mut model, &test_images, &test_labels)?)
}

fn predict(model: &Path, images: &[PathBuf]) -> Result<()> {
    let mut model = load_mnist_model(model)?;
    for path in images {
        let digit = to_mnist(&read_image(path)?)?;
        let probs = model.forward(&digit)?;
        let best = argmax_rows(probs)?
            .first()
            .copied()
            .ok_or_else(|| convnets::Error::model("the model gave no output for the picture"))?;
        let listed: Vec<String> =
            probs.data().iter().enumerate().map(|(d, p)| format!("{d}: {p:.3}")).collect();
        out!("{}: {best} ({:.1}%)   [{}]", path.display(), 100.0 * probs.data()[best], listed.join(", "));
    }
    Ok(())
}

fn visualize(
    model: &Path,
    index: usize,
    own: Option<&Path>,
    classes: &[usize],
    out: &Path,
    data: &Path,
) -> std::result::Result<(), CliError> {
    let mut model = load_mnist_model(model)?;
    let (image, what) = match own {
        Some(path) => (to_mnist(&read_image(path)?)?, path.display().to_string()),
        None => {
            let test = load_data(data)?;
            let count = test.test_labels.len();
            if index >= count {
                let reason = match count {
                    0 => "the test set is empty".to_string(),
                    _ => format!("there is no test image {index} (0 to {})", count - 1),
                };
                return Err(refuse("--index", index, reason));
            }
            let image = test.test_images.batch_range(index, index + 1)?;
            (image, format!("test image {index} (label {})", test.test_labels[index]))
        }
    };
    let probs = model.forward(&image)?.data().to_vec();
    let mut ranked: Vec<usize> = (0..probs.len()).collect();
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    // `load_mnist_model` checked there are 10 classes.
    let Some(&best) = ranked.first() else {
        return Err(convnets::Error::model("the model gave no output for the image").into());
    };
    out!("{what}: predicted {best} ({:.1}%)", 100.0 * probs[best]);
    if let Some(&bad) = classes.iter().find(|&&c| c >= probs.len()) {
        let reason =
            format!("the model has {} classes (0 to {})", probs.len(), probs.len().saturating_sub(1));
        return Err(refuse("--class", bad, reason));
    }
    let classes =
        if classes.is_empty() { ranked.iter().take(2).copied().collect() } else { classes.to_vec() };

    let digit = Gray::from_tensor_channel(&image, 0, 0)?;
    let mut pictures = vec![("digit.png".to_string(), picture::grid(&[digit], 1, 8, 2)?)];
    pictures.extend(visualize::activation_grids(&mut model, &image)?);
    pictures.extend(visualize::first_filters(&model)?);
    pictures.extend(visualize::pattern_grids(&mut model, 16, 40)?);
    pictures.extend(visualize::grad_cam_overlays(&mut model, &image, &classes)?);

    std::fs::create_dir_all(out).map_err(|e| convnets::Error::image(format!("{}: {e}", out.display())))?;
    for (name, picture) in &pictures {
        let path = out.join(name);
        picture::write_png(&path, picture)?;
        out!("wrote {}", path.display());
    }
    Ok(())
}

fn run_experiment(
    which: Experiment,
    data: &Path,
    out: &Path,
    epochs: Option<usize>,
) -> std::result::Result<(), CliError> {
    if epochs == Some(0) {
        return Err(refuse("--epochs", 0, "train for at least 1 epoch"));
    }
    let data = load_data(data)?;
    let started = Instant::now();
    let runs = match which {
        Experiment::DenseVsConvnet => experiment::dense_vs_convnet(&data)?,
        Experiment::NoMaxPool => experiment::no_max_pool(&data, epochs.unwrap_or(5))?,
        Experiment::MaxVsAverage => experiment::max_vs_average(&data)?,
        Experiment::SmallData => experiment::small_data(&data, epochs.unwrap_or(20))?,
        Experiment::Transfer => {
            let result = experiment::transfer(&data, &[0, 1, 2], epochs.unwrap_or(20))?;
            out!(
                "pretrained on digits 0-4: {:.2}% on their test images\n",
                100.0 * result.pretrained_accuracy
            );
            out!("{}", experiment::transfer_table(&result));
            result.runs
        }
    };
    out!("{}", experiment::table(&runs));
    for run in &runs {
        let accuracies: Vec<String> = run.val_accuracy.iter().map(|a| format!("{:.4}", a)).collect();
        out!("{} test accuracy by epoch: {}", run.name, accuracies.join(" "));
    }
    let name =
        clap::ValueEnum::to_possible_value(&which).map_or_else(String::new, |v| v.get_name().to_string());
    save_plots(&name, &runs, out)?;
    if which == Experiment::SmallData {
        // What augmentation does to one training image: the original, then 15 variants.
        let sheet =
            augment::sample_sheet(&data.train_images.batch_range(0, 1)?, &Augmentation::default(), 15, 0)?;
        let path = out.join("augmented_samples.png");
        picture::write_png(&path, &sheet)?;
        out!("wrote {}", path.display());
    }
    out!("({:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// `<name>_accuracy.png` and `<name>_loss.png`: training (dashed) and test (solid) curves of
/// every run, one colour per run.
fn save_plots(name: &str, runs: &[experiment::Run], out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| convnets::Error::image(format!("{}: {e}", out.display())))?;
    let colours = [plot::BLUE, plot::ORANGE, plot::GREEN, plot::RED, plot::PURPLE];
    let curves = |train: fn(&experiment::Run) -> &Vec<f64>, test: fn(&experiment::Run) -> &Vec<f64>| {
        let mut series = Vec::new();
        for (run, &color) in runs.iter().zip(colours.iter().cycle()) {
            let label = |what: &str| format!("{} ({what})", run.name);
            series.push(plot::Series {
                label: label("train"),
                values: train(run).clone(),
                color,
                dashed: true,
            });
            series.push(plot::Series {
                label: label("test"),
                values: test(run).clone(),
                color,
                dashed: false,
            });
        }
        series
    };
    let plots = [
        ("accuracy", "Accuracy", curves(|r| &r.train_accuracy, |r| &r.val_accuracy)),
        ("loss", "Loss", curves(|r| &r.train_loss, |r| &r.val_loss)),
    ];
    for (file, y_label, series) in plots {
        let title = format!("{name}: {file}");
        let chart =
            plot::Plot { title, x_label: "Epochs".into(), y_label: y_label.into(), series, y_range: None };
        let path = out.join(format!("{name}_{file}.png"));
        picture::write_png(&path, &plot::render(&chart, 720, 480)?)?;
        out!("wrote {}", path.display());
    }
    Ok(())
}

/// Sets the number of threads rayon (and so the convolutions) may use; 0 means one per core.
fn use_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| convnets::Error::model(format!("cannot start {threads} threads: {e}")))
}

/// Prints a line above the progress bar, or plainly when there is no terminal to draw on.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() { out!("{line}") } else { bar.println(line) }
}

/// Evaluates on the test set and prints the line scripts look for.
fn report_test(model: &mut convnets::Sequential, images: &Tensor, labels: &[u8]) -> Result<()> {
    let (loss, accuracy) = model.evaluate(images, &to_categorical(labels, 10)?, 256)?;
    out!("test loss: {loss:.4} - test accuracy: {accuracy:.4}");
    Ok(())
}
