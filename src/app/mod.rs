//! What the command line adds on top of the textbook and the engine: the model file format,
//! reading and drawing pictures, plots, looking inside a trained model, data augmentation,
//! the small-data experiments of the book's last chapters, and the playground (`serve`).

pub mod augment;
pub mod experiment;
pub mod picture;
pub mod plot;
pub mod save;
pub mod serve;
pub mod visualize;
