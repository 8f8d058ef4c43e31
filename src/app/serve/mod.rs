//! The playground: a local web page where a learner draws a digit and watches the book's
//! convnet read it: the input as the model sees it, the probabilities as they draw, every
//! layer's feature maps, Grad-CAM for any class, and the microscope, which writes out the
//! arithmetic of any convolution or pooling output.
//!
//! - [`api`]: the JSON API the page calls (and anyone else may);
//! - [`microscope`]: the arithmetic of one output value, as the textbook's loops compute it;
//! - [`models`]: one trained model, lent to many requests at once;
//! - [`digits`]: MNIST's test digits, to pick from;
//! - [`page`]: the page's HTML, script and style, compiled into the binary.
//!
//! The server is axum on tokio, listening on 127.0.0.1 only.

pub mod api;
pub mod digits;
pub mod microscope;
pub mod models;
pub mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::engine::ConvAlgorithm;
use crate::error::{Error, Result};
use crate::model::Sequential;
use digits::TestDigits;
use models::SharedModel;

/// What the server holds: the model, and the test digits if they could be loaded.
pub struct Playground {
    /// The trained model.
    pub model: SharedModel,
    /// MNIST's test digits, or why they are not there.
    pub digits: std::result::Result<TestDigits, String>,
}

impl Playground {
    /// The playground for `model` (it must read 28 × 28 × 1 pictures, as the book's does),
    /// its feature maps computed by the engine with `conv` ([`ConvAlgorithm::Naive`]: the
    /// textbook's own loops).
    pub fn new(
        model: Sequential,
        conv: ConvAlgorithm,
        digits: std::result::Result<TestDigits, String>,
    ) -> Result<Playground> {
        if model.input_shape() != [28, 28, 1] {
            return Err(Error::model(format!(
                "the playground shows models of 28×28×1 pictures, not {:?}",
                model.input_shape()
            )));
        }
        Ok(Playground { model: SharedModel::new(model, conv)?, digits })
    }
}

/// The whole site: the page, the API, a JSON 404 for anything else, and the body limit.
pub fn router(playground: Arc<Playground>) -> Router {
    Router::new()
        .merge(page::routes())
        .merge(api::routes())
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(api::BODY_LIMIT))
        .with_state(playground)
}

/// Serves `playground` on `127.0.0.1:port` (0: any free port) until the process ends. Calls
/// `ready` with the address once it is listening.
///
/// The model's work runs on at most `2 × cores` threads at a time; further requests wait
/// their turn.
pub fn run(playground: Playground, port: u16, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(2 * cores)
        .enable_all()
        .build()
        .map_err(|e| Error::Server(format!("cannot start the server's threads: {e}")))?;
    runtime.block_on(async move {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| Error::Server(format!("cannot listen on {address}: {e}")))?;
        ready(listener.local_addr().unwrap_or(address));
        axum::serve(listener, router(Arc::new(playground)))
            .await
            .map_err(|e| Error::Server(format!("it stopped: {e}")))
    })
}
