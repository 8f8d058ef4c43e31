//! The JSON API under the playground's page (documented in the README, "Playground").
//!
//! Every request that carries a picture sends it as `pixels`: 784 grey values in 0..1 (0
//! black, 1 white), 28 rows of 28, row-major. With `"preprocess": true` (the default) they
//! go through [`to_mnist`] first, as `convnets predict` prepares a picture; with `false` they
//! are the model's input as they are (white digit on black, as MNIST's test digits).
//!
//! Bad requests get a 4xx status and `{"error": "…"}` saying what is wrong: 400 when the
//! body cannot be read as the JSON expected, 413 when it is larger than [`BODY_LIMIT`], 422
//! when it is read but its values are wrong (count, range, layer, position, class), 404 for
//! an unknown path or test digit, 405 for a wrong method, 503 when the test digits are not
//! there. The model's work runs on tokio's blocking threads, each request with a model of
//! its own ([`SharedModel`](super::models::SharedModel)): the feature maps of `/api/predict`
//! from the engine's fast forward pass, the microscope and Grad-CAM on the textbook's layers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Playground;
use super::microscope::{self, Reading};
use super::models::LayerInfo;
use crate::error::Error;
use crate::metrics::argmax_rows;
use crate::picture::{Gray, png_bytes, to_mnist};
use crate::tensor::Tensor;
use crate::visualize;

/// The largest request body accepted: 64 KiB, ample for 784 numbers.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The side of the pictures the API takes.
const SIDE: usize = 28;

/// Columns in the grids of feature maps the API returns.
const MAP_COLUMNS: usize = 8;

/// How much the Grad-CAM picture is enlarged (28 × 28 becomes 224 × 224).
const GRAD_CAM_SCALE: usize = 8;

/// A failed request: its status and a message for whoever sent it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 422: the request was read, but its values are wrong.
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 500: the model failed on a request that passed every check (a bug, not the caller's).
    fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the model failed: {error}"))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        ApiError::internal(error)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: &self.message })).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The API's routes, under `/api/`.
pub fn routes() -> Router<Arc<Playground>> {
    Router::new()
        .route("/api/model", only_get(get(model)))
        .route("/api/digit", only_get(get(digit)))
        .route("/api/predict", only_post(post(predict)))
        .route("/api/gradcam", only_post(post(gradcam)))
        .route("/api/microscope", only_post(post(look)))
}

fn only_get(route: MethodRouter<Arc<Playground>>) -> MethodRouter<Arc<Playground>> {
    route.fallback(|| async {
        ([(header::ALLOW, "GET")], ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "use GET here"))
    })
}

fn only_post(route: MethodRouter<Arc<Playground>>) -> MethodRouter<Arc<Playground>> {
    route.fallback(|| async {
        let error = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "use POST here, with a JSON body");
        ([(header::ALLOW, "POST")], error)
    })
}

/// The answer to an unknown path.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("there is nothing at {}", uri.path()))
}

/// Reads a JSON body, with the errors a caller can act on.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than the limit of {} KiB", BODY_LIMIT / 1024),
            )
        } else {
            ApiError::new(
                rejection.status(),
                format!("cannot read the request body: {}", rejection.body_text()),
            )
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_data() { "JSON of the wrong form" } else { "malformed JSON" };
        ApiError::new(StatusCode::BAD_REQUEST, format!("the request body is {what}: {e}"))
    })
}

/// Runs the model's work on a blocking thread, so the server keeps answering meanwhile.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

fn yes() -> bool {
    true
}

/// The picture in a request.
#[derive(Deserialize)]
struct Picture {
    /// 784 numbers in 0..1.
    pixels: Vec<Value>,
    /// Prepare the picture as `convnets predict` does.
    #[serde(default = "yes")]
    preprocess: bool,
}

impl Picture {
    /// The model's input: a `(1, 28, 28, 1)` tensor.
    fn to_input(&self) -> Result<Tensor, ApiError> {
        let values = grey_values(&self.pixels)?;
        let input = if self.preprocess {
            to_mnist(&Gray::new(SIDE, SIDE, values)?)?
        } else {
            Tensor::new(&[1, SIDE, SIDE, 1], values)?
        };
        Ok(input)
    }
}

/// Checks the 784 grey values: numbers, each in 0..1.
fn grey_values(pixels: &[Value]) -> Result<Vec<f32>, ApiError> {
    if pixels.len() != SIDE * SIDE {
        return Err(ApiError::invalid(format!(
            "pixels holds {} values; it must hold {} (28 rows of 28, row-major)",
            pixels.len(),
            SIDE * SIDE
        )));
    }
    pixels
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(x as f32),
            Some(x) => Err(ApiError::invalid(format!("pixels[{i}] is {x}, outside 0..1"))),
            None => Err(ApiError::invalid(format!(
                "pixels[{i}] is {v}, not a number: every value must be a number in 0..1 \
                 (JSON has no NaN)"
            ))),
        })
        .collect()
}

/// `GET /api/model`: the model's layers, and how many test digits there are.
#[derive(Serialize)]
struct ModelInfo<'a> {
    input_shape: &'a [usize],
    layers: &'a [LayerInfo],
    params: usize,
    summary: &'a str,
    /// How many test digits `/api/digit` can give (0 without MNIST's test set).
    test_digits: usize,
    /// Why there are no test digits, if there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    test_digits_missing: Option<&'a str>,
}

async fn model(State(app): State<Arc<Playground>>) -> Response {
    let info = ModelInfo {
        input_shape: app.model.input_shape(),
        layers: app.model.layers(),
        params: app.model.layers().iter().map(|l| l.params).sum(),
        summary: app.model.summary(),
        test_digits: app.digits.as_ref().map_or(0, |d| d.len()),
        test_digits_missing: app.digits.as_ref().err().map(String::as_str),
    };
    Json(info).into_response()
}

#[derive(Deserialize)]
struct DigitQuery {
    index: Option<usize>,
}

#[derive(Serialize)]
struct Digit {
    index: usize,
    label: u8,
    /// 784 grey values, MNIST's own: send them back with `"preprocess": false`.
    pixels: Vec<f32>,
}

/// `GET /api/digit?index=N`: test digit N; without `index`, a random one.
async fn digit(
    State(app): State<Arc<Playground>>,
    query: Result<Query<DigitQuery>, QueryRejection>,
) -> ApiResult<Digit> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("index must be a whole number from 0: {}", e.body_text()),
        )
    })?;
    let digits = app.digits.as_ref().map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))?;
    if digits.is_empty() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the test set holds no digits"));
    }
    let index = query.index.unwrap_or_else(|| rand::thread_rng().gen_range(0..digits.len()));
    let (pixels, label) = digits.get(index).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("there is no test digit {index}: they are numbered 0 to {}", digits.len() - 1),
        )
    })?;
    Ok(Json(Digit { index, label, pixels }))
}

#[derive(Deserialize)]
struct PredictRequest {
    #[serde(flatten)]
    picture: Picture,
    /// Also return every layer's output (default); `false` for the probabilities only.
    #[serde(default = "yes")]
    maps: bool,
}

#[derive(Serialize)]
struct Prediction {
    /// The most probable class.
    prediction: usize,
    /// One per class.
    probabilities: Vec<f32>,
    /// The 784 values the model read, after any preprocessing.
    input: Vec<f32>,
    /// One per layer, if asked for.
    layers: Vec<LayerOutput>,
}

#[derive(Serialize)]
struct LayerOutput {
    index: usize,
    name: String,
    shape: Vec<usize>,
    /// An image-shaped output's channels, as one picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    maps: Option<Maps>,
    /// A dense layer's outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<f32>>,
}

/// A layer's feature maps as one PNG: channel `k`'s `height × width` tile in row
/// `k / columns`, column `k % columns`, one pixel per value, no gaps, each tile scaled from its
/// own minimum (black) to its maximum (white).
#[derive(Serialize)]
struct Maps {
    png: String,
    columns: usize,
    /// Each channel's smallest value.
    min: Vec<f32>,
    /// Each channel's largest value.
    max: Vec<f32>,
}

impl Maps {
    fn of(activation: &Tensor) -> Result<Maps, ApiError> {
        let (_, _, _, c) = activation.nhwc()?;
        let mut min = vec![f32::INFINITY; c];
        let mut max = vec![f32::NEG_INFINITY; c];
        for pixel in activation.data().chunks(c) {
            for ((lo, hi), &v) in min.iter_mut().zip(max.iter_mut()).zip(pixel) {
                (*lo, *hi) = (lo.min(v), hi.max(v));
            }
        }
        let columns = MAP_COLUMNS.min(c);
        let grid = visualize::channel_grid(activation, columns, 1, 0)?;
        Ok(Maps { png: data_url(&png_bytes(&grid)?), columns, min, max })
    }
}

/// `POST /api/predict`.
async fn predict(
    State(app): State<Arc<Playground>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Prediction> {
    let request: PredictRequest = parse(body)?;
    let input = request.picture.to_input()?;
    let prediction = blocking(move || {
        let outputs = app.model.with(|lent| lent.plan.activations(&mut lent.model, &input))?;
        let probabilities = outputs.last().cloned().unwrap_or_default();
        let layers = if request.maps {
            outputs
                .into_iter()
                .zip(app.model.layers())
                .map(|(output, info)| {
                    let image_shaped = info.shape.len() == 3;
                    Ok(LayerOutput {
                        index: info.index,
                        name: info.name.clone(),
                        shape: info.shape.clone(),
                        maps: if image_shaped { Some(Maps::of(&output)?) } else { None },
                        values: (info.kind == "dense").then(|| output.data().to_vec()),
                    })
                })
                .collect::<Result<_, ApiError>>()?
        } else {
            Vec::new()
        };
        Ok(Prediction {
            prediction: argmax_rows(&probabilities)?.first().copied().unwrap_or(0),
            probabilities: probabilities.data().to_vec(),
            input: input.data().to_vec(),
            layers,
        })
    })
    .await?;
    Ok(Json(prediction))
}

#[derive(Deserialize)]
struct GradCamRequest {
    #[serde(flatten)]
    picture: Picture,
    /// The class to explain.
    class: usize,
    /// The layer (index or name); by default the last convolution.
    layer: Option<Value>,
}

#[derive(Serialize)]
struct GradCam {
    class: usize,
    layer: usize,
    name: String,
    /// The map over the digit as a 224 × 224 PNG, in the jet colours, scaled so its peak is
    /// the top of the scale.
    overlay: String,
}

/// `POST /api/gradcam`.
async fn gradcam(
    State(app): State<Arc<Playground>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<GradCam> {
    let request: GradCamRequest = parse(body)?;
    let input = request.picture.to_input()?;
    let layers = app.model.layers();
    let classes = layers.last().and_then(|l| l.shape.last()).copied().unwrap_or(0);
    if request.class >= classes {
        return Err(ApiError::invalid(format!(
            "class {} is not one of the model's classes (0 to {})",
            request.class,
            classes.saturating_sub(1)
        )));
    }
    let layer = match &request.layer {
        Some(which) => find_layer(layers, which)?,
        None => layers
            .iter()
            .rev()
            .find(|l| l.kind == "conv2d")
            .ok_or_else(|| ApiError::invalid("the model has no convolution to explain"))?,
    };
    if layer.shape.len() != 3 || layer.index + 1 >= layers.len() {
        return Err(ApiError::invalid(format!(
            "Grad-CAM needs a layer with feature maps and layers after it; {} is not one",
            layer.name
        )));
    }
    let (index, name, class) = (layer.index, layer.name.clone(), request.class);
    let overlay = blocking(move || {
        let picture = app.model.with(|lent| {
            visualize::grad_cam_overlay(&mut lent.model, &input, index, class, GRAD_CAM_SCALE)
        })?;
        Ok(data_url(&png_bytes(&picture)?))
    })
    .await?;
    Ok(Json(GradCam { class, layer: index, name, overlay }))
}

#[derive(Deserialize)]
struct MicroscopeRequest {
    #[serde(flatten)]
    picture: Picture,
    /// The layer: its index or its name.
    layer: Value,
    row: usize,
    col: usize,
    channel: usize,
}

#[derive(Serialize)]
struct Microscope {
    layer: usize,
    name: String,
    row: usize,
    col: usize,
    channel: usize,
    #[serde(flatten)]
    reading: Reading,
}

/// `POST /api/microscope`.
async fn look(
    State(app): State<Arc<Playground>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Microscope> {
    let request: MicroscopeRequest = parse(body)?;
    let input = request.picture.to_input()?;
    let layer = find_layer(app.model.layers(), &request.layer)?;
    if !matches!(layer.kind.as_str(), "conv2d" | "max_pooling2d" | "average_pooling2d") {
        return Err(ApiError::invalid(format!(
            "{} is a {} layer: the microscope shows convolution and pooling outputs",
            layer.name, layer.kind
        )));
    }
    let [h, w, c] = layer.shape[..] else {
        return Err(ApiError::internal(format!("{} has output shape {:?}", layer.name, layer.shape)));
    };
    let (row, col, channel) = (request.row, request.col, request.channel);
    for (what, value, size) in [("row", row, h), ("col", col, w), ("channel", channel, c)] {
        if value >= size {
            return Err(ApiError::invalid(format!(
                "{what} {value} is outside {}'s {h}×{w}×{c} output ({what} runs from 0 to {})",
                layer.name,
                size - 1
            )));
        }
    }
    let (index, name) = (layer.index, layer.name.clone());
    let reading = blocking(move || {
        Ok(app.model.with(|lent| microscope::look(&mut lent.model, &input, index, (row, col, channel)))?)
    })
    .await?;
    Ok(Json(Microscope { layer: index, name, row, col, channel, reading }))
}

/// The layer a request names, by index or by name.
fn find_layer<'a>(layers: &'a [LayerInfo], which: &Value) -> Result<&'a LayerInfo, ApiError> {
    let names = || layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ");
    let found = match which {
        Value::Number(n) => n.as_u64().and_then(|i| layers.get(usize::try_from(i).ok()?)),
        Value::String(name) => layers.iter().find(|l| &l.name == name),
        _ => None,
    };
    found.ok_or_else(|| {
        ApiError::invalid(format!(
            "there is no layer {which}: give an index from 0 to {} or a name ({})",
            layers.len().saturating_sub(1),
            names()
        ))
    })
}

/// `bytes` as a `data:image/png;base64,…` URL, which an `<img>` shows as it is.
fn data_url(png: &[u8]) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(22 + png.len().div_ceil(3) * 4);
    out.push_str("data:image/png;base64,");
    for chunk in png.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(DIGITS[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::data_url;

    #[test]
    fn base64_as_rfc_4648_spells_it() {
        let encode =
            |s: &str| data_url(s.as_bytes()).trim_start_matches("data:image/png;base64,").to_string();
        assert_eq!(encode(""), "");
        assert_eq!(encode("f"), "Zg==");
        assert_eq!(encode("fo"), "Zm8=");
        assert_eq!(encode("foo"), "Zm9v");
        assert_eq!(encode("foobar"), "Zm9vYmFy");
    }
}
