//! The playground: the microscope's arithmetic against the layers' own outputs, and the JSON
//! API's answers to good and bad requests (through the router, no network needed).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use convnets::idx::{IdxArray, IdxData, write_idx_file};
use convnets::layer::Layer;
use convnets::mnist::{TEST_IMAGES, TEST_LABELS};
use convnets::model::book_model;
use convnets::serve::digits::TestDigits;
use convnets::serve::microscope::{self, Arithmetic};
use convnets::serve::{Playground, router};
use convnets::spec::LayerSpec;
use convnets::visualize::activations;
use convnets::{
    Activation, Conv2D, ConvAlgorithm, Dense, Flatten, MaxPooling2D, Padding, Plan, Sequential, Tensor,
};

/// A digit-like picture: a thick stroke on black, values in 0..1.
fn stroke() -> Vec<f32> {
    (0..28 * 28)
        .map(|i| {
            let (y, x) = ((i / 28) as f32, (i % 28) as f32);
            let distance = (x - 14.0 - (y - 14.0) * 0.25).abs();
            if (4.0..24.0).contains(&y) { (2.5 - distance).clamp(0.0, 1.0) } else { 0.0 }
        })
        .collect()
}

fn image() -> Tensor {
    Tensor::new(&[1, 28, 28, 1], stroke()).unwrap()
}

/// `same`-padded convolutions (stride 1 and 2, odd and even kernels) and a `same` max pooling,
/// so that windows reach into the padding.
fn same_padded_model() -> Sequential {
    let mut model = Sequential::new(&[28, 28, 1], 5);
    model
        .add(Conv2D::new(4, (3, 3)).padding(Padding::Same).activation(Activation::Relu))
        .unwrap()
        .add(Conv2D::new(3, (4, 4)).strides((2, 2)).padding(Padding::Same).activation(Activation::Relu))
        .unwrap()
        .add(MaxPooling2D::new((3, 3)).strides((2, 2)).padding(Padding::Same))
        .unwrap()
        .add(Conv2D::new(2, (2, 2)).padding(Padding::Same))
        .unwrap()
        .add(Flatten::new())
        .unwrap()
        .add(Dense::new(10).activation(Activation::Softmax))
        .unwrap();
    model
}

/// A few positions of an `h × w × c` output: the four corners, the centre, and one more.
fn positions(h: usize, w: usize, c: usize) -> Vec<(usize, usize, usize)> {
    vec![
        (0, 0, 0),
        (0, w - 1, c - 1),
        (h - 1, 0, c / 2),
        (h - 1, w - 1, 1 % c),
        (h / 2, w / 2, c - 1),
        (1, 2, 0),
    ]
}

/// For every convolution and pooling layer of `model` and a few positions, the microscope's
/// result is exactly the value in that layer's output; returns how many windows reached into
/// the padding.
fn check_every_layer(model: &mut Sequential) -> usize {
    let outputs = activations(model, &image()).unwrap();
    let mut padded_windows = 0;
    for (layer, (name, output)) in outputs.iter().enumerate() {
        let Ok((_, h, w, c)) = output.nhwc() else { continue };
        if name.starts_with("flatten") {
            continue;
        }
        for (row, col, channel) in positions(h, w, c) {
            let reading = microscope::look(model, &image(), layer, (row, col, channel)).unwrap();
            let expected = output.data()[(row * w + col) * c + channel];
            assert_eq!(reading.value, expected, "{name} ({row}, {col}, {channel}): the layer's own value");
            assert_eq!(
                reading.arithmetic.output(),
                expected,
                "{name} ({row}, {col}, {channel}): the arithmetic"
            );
            let inputs = match &reading.arithmetic {
                Arithmetic::Conv(conv) => {
                    let relu = if conv.pre_activation < 0.0 { 0.0 } else { conv.pre_activation };
                    let activated = if conv.activation == "relu" { relu } else { conv.pre_activation };
                    assert_eq!(activated, conv.output);
                    assert!(
                        (conv.sum + conv.bias - conv.pre_activation).abs() <= 1e-5 * (1.0 + conv.sum.abs())
                    );
                    let subtotals: f32 = conv.channels.iter().map(|t| t.subtotal).sum();
                    assert!((subtotals - conv.sum).abs() <= 1e-5 * (1.0 + conv.sum.abs()));
                    for terms in &conv.channels {
                        for ((x, w), p) in terms.inputs.iter().zip(&terms.weights).zip(&terms.products) {
                            assert_eq!(x.map(|x| x * w), *p);
                        }
                    }
                    conv.channels[0].inputs.clone()
                }
                Arithmetic::Pool(pool) => pool.inputs.clone(),
            };
            padded_windows += usize::from(inputs.iter().any(Option::is_none));
        }
    }
    padded_windows
}

#[test]
fn the_microscope_gives_every_conv_and_pool_value_of_the_book_model() {
    let mut model = book_model(3).unwrap();
    assert_eq!(check_every_layer(&mut model), 0, "valid padding: no window reaches outside the input");
}

#[test]
fn the_microscope_gives_every_value_of_a_same_padded_model_and_marks_the_padding() {
    let mut model = same_padded_model();
    assert!(check_every_layer(&mut model) > 10);
    // The first layer's top-left output: its window starts one row and one column into the
    // padding, so the first row and the first column are padding.
    let reading = microscope::look(&mut model, &image(), 0, (0, 0, 0)).unwrap();
    let Arithmetic::Conv(conv) = reading.arithmetic else { panic!("conv2d_1 is a convolution") };
    assert_eq!((conv.window.top, conv.window.left, conv.window.padding), (-1, -1, "same"));
    let padding: Vec<bool> = conv.channels[0].inputs.iter().map(Option::is_none).collect();
    assert_eq!(padding, [true, true, true, true, false, false, true, false, false]);
    assert_eq!(conv.channels[0].products.iter().filter(|p| p.is_none()).count(), 5);
}

#[test]
fn the_max_pooling_winner_is_the_layers_argmax() {
    for (pool, strides, padding) in
        [((2, 2), (2, 2), Padding::Valid), ((3, 3), (2, 2), Padding::Same), ((2, 3), (1, 2), Padding::Same)]
    {
        // Ties included: values repeat every 7.
        let x = Tensor::new(&[1, 9, 8, 3], (0..9 * 8 * 3).map(|i| ((i * 5) % 7) as f32).collect()).unwrap();
        let mut layer = MaxPooling2D::new(pool).strides(strides).padding(padding);
        let y = layer.forward(&x).unwrap().clone();
        let (_, h, w, c) = y.nhwc().unwrap();
        for row in 0..h {
            for col in 0..w {
                for channel in 0..c {
                    let o = (row * w + col) * c + channel;
                    let spec = LayerSpec::MaxPooling2D { pool, strides, padding };
                    let looked = microscope::pool(&spec, &x, (row, col, channel)).unwrap();
                    assert_eq!(looked.output, y.data()[o]);
                    assert_eq!(looked.argmax, Some(layer.argmax()[o] as usize), "{pool:?} at {o}");
                    let winner = looked.winner.and_then(|i| looked.inputs[i]);
                    assert_eq!(winner, Some(looked.output));
                }
            }
        }
    }
}

#[test]
fn the_microscope_refuses_other_layers_and_outside_positions() {
    let mut model = book_model(0).unwrap();
    let dense = microscope::look(&mut model, &image(), 6, (0, 0, 0)).unwrap_err().to_string();
    assert!(dense.contains("neither a convolution nor a pooling layer"), "{dense}");
    let outside = microscope::look(&mut model, &image(), 0, (26, 0, 0)).unwrap_err().to_string();
    assert!(outside.contains("outside the layer's 26×26×32 output"), "{outside}");
    let missing = microscope::look(&mut model, &image(), 8, (0, 0, 0)).unwrap_err().to_string();
    assert!(missing.contains("there is no layer 8"), "{missing}");
}

#[test]
fn the_pages_maps_are_the_textbooks_outputs() {
    // The page draws the maps from the engine's forward pass: with the naive kernels they are
    // the textbook's bit for bit, with the default ones equal up to the order of f32 sums.
    for model in [book_model(4).unwrap(), same_padded_model()] {
        let mut model = model;
        let textbook: Vec<Tensor> =
            activations(&mut model, &image()).unwrap().into_iter().map(|(_, t)| t).collect();
        for conv in [ConvAlgorithm::Naive, ConvAlgorithm::Auto] {
            let mut plan = Plan::new(&model, conv, 1).unwrap();
            let engine = plan.activations(&mut model, &image()).unwrap();
            assert_eq!(engine.len(), textbook.len());
            for (layer, (e, t)) in engine.iter().zip(&textbook).enumerate() {
                assert_eq!(e.shape(), t.shape(), "layer {layer}");
                if conv == ConvAlgorithm::Naive {
                    assert_eq!(e.data(), t.data(), "layer {layer}");
                } else {
                    convnets::testing::assert_close(e.data(), t.data(), 1e-5, 1e-4);
                }
            }
        }
    }
}

// --- the API ---

/// A fresh, empty directory in Cargo's scratch directory for integration tests.
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three test digits (all pixels `i·40`, labels 7, 2, 1).
fn test_digits() -> TestDigits {
    let dir = temp_dir("digits");
    let pixels: Vec<u8> = (0..3).flat_map(|i| std::iter::repeat_n(i as u8 * 40, 28 * 28)).collect();
    let images = IdxArray::new(vec![3, 28, 28], IdxData::U8(pixels)).unwrap();
    let labels = IdxArray::new(vec![3], IdxData::U8(vec![7, 2, 1])).unwrap();
    write_idx_file(dir.join(format!("{TEST_IMAGES}.gz")), &images, true).unwrap();
    write_idx_file(dir.join(TEST_LABELS), &labels, false).unwrap();
    TestDigits::load(&dir).unwrap()
}

fn playground(with_digits: bool) -> Router {
    let digits =
        if with_digits { Ok(test_digits()) } else { Err("no MNIST here: run scripts/fetch-mnist".into()) };
    router(Arc::new(Playground::new(book_model(0).unwrap(), ConvAlgorithm::Auto, digits).unwrap()))
}

/// Sends one request to the router; returns the status and the JSON body.
async fn send(app: &Router, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    send(app, "POST", uri, body.to_string()).await
}

/// Asserts the status and that the error message contains `needle`.
#[track_caller]
fn assert_error((status, body): (StatusCode, Value), expected: StatusCode, needle: &str) {
    let message = body["error"].as_str().unwrap_or_else(|| panic!("no error message in {body}"));
    assert_eq!(status, expected, "{message}");
    assert!(message.contains(needle), "{message:?} does not say {needle:?}");
}

fn pixels() -> Value {
    json!(stroke())
}

#[tokio::test]
async fn predict_returns_probabilities_the_input_and_every_layers_maps() {
    let app = playground(false);
    let (status, body) = post(&app, "/api/predict", json!({ "pixels": pixels() })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let probabilities: Vec<f64> =
        body["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    let best = (0..10).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b])).unwrap();
    assert_eq!(body["prediction"], best);
    assert_eq!(body["input"].as_array().unwrap().len(), 784);
    let layers = body["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "conv2d_1",
            "max_pooling2d_1",
            "conv2d_2",
            "max_pooling2d_2",
            "conv2d_3",
            "flatten_1",
            "dense_1",
            "dense_2"
        ]
    );
    for layer in &layers[..5] {
        let maps = &layer["maps"];
        assert!(maps["png"].as_str().unwrap().starts_with("data:image/png;base64,iVBORw0KGgo"));
        assert_eq!(maps["columns"], 8);
        assert_eq!(maps["min"].as_array().unwrap().len(), layer["shape"][2].as_u64().unwrap() as usize);
    }
    assert!(layers[5].get("maps").is_none() && layers[5].get("values").is_none());
    assert_eq!(layers[6]["values"].as_array().unwrap().len(), 64);

    // Without maps: the same probabilities, no layers.
    let (_, lean) = post(&app, "/api/predict", json!({ "pixels": pixels(), "maps": false })).await;
    assert_eq!(lean["probabilities"], body["probabilities"]);
    assert!(lean["layers"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn predict_prepares_the_picture_as_convnets_predict_does_unless_told_not_to() {
    let app = playground(false);
    // A small dark digit on white paper, in a corner: inverted, scaled up and centred.
    let paper: Vec<f32> = (0..784)
        .map(|i| if (2..10).contains(&(i / 28)) && (3..5).contains(&(i % 28)) { 0.0 } else { 1.0 })
        .collect();
    let (_, prepared) = post(&app, "/api/predict", json!({ "pixels": paper, "maps": false })).await;
    let input: Vec<f64> = prepared["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected =
        convnets::picture::to_mnist(&convnets::picture::Gray::new(28, 28, paper.clone()).unwrap()).unwrap();
    assert_eq!(input, expected.data().iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    assert!(input[14 * 28 + 14] > 0.5 && input[0] == 0.0);

    let (_, raw) =
        post(&app, "/api/predict", json!({ "pixels": paper, "preprocess": false, "maps": false })).await;
    let input: Vec<f64> = raw["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(input, paper.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_pictures_get_a_clear_4xx_and_the_server_keeps_serving() {
    let app = playground(false);
    let with = |i: usize, v: Value| {
        let mut p: Vec<Value> = stroke().into_iter().map(Value::from).collect();
        p[i] = v;
        json!({ "pixels": p }).to_string()
    };
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{\"pixels\": [0.1, 0.2".into(), StatusCode::BAD_REQUEST, "malformed JSON"),
        ("not json at all".into(), StatusCode::BAD_REQUEST, "malformed JSON"),
        (String::new(), StatusCode::BAD_REQUEST, "malformed JSON"),
        ("{\"pixels\": [NaN]}".into(), StatusCode::BAD_REQUEST, "malformed JSON"),
        (format!("{{\"pixels\": [1e999{}]}}", ", 0".repeat(783)), StatusCode::BAD_REQUEST, "malformed JSON"),
        ("{\"picture\": []}".into(), StatusCode::BAD_REQUEST, "missing field `pixels`"),
        ("{\"pixels\": 5}".into(), StatusCode::BAD_REQUEST, "JSON of the wrong form"),
        ("[1, 2, 3]".into(), StatusCode::BAD_REQUEST, "JSON of the wrong form"),
        (
            json!({ "pixels": stroke()[..783] }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "holds 783 values",
        ),
        (json!({ "pixels": [] }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "it must hold 784"),
        (with(5, json!("NaN")), StatusCode::UNPROCESSABLE_ENTITY, "pixels[5] is \"NaN\", not a number"),
        (with(6, Value::Null), StatusCode::UNPROCESSABLE_ENTITY, "pixels[6] is null, not a number"),
        (with(7, json!(1.5)), StatusCode::UNPROCESSABLE_ENTITY, "pixels[7] is 1.5, outside 0..1"),
        (with(8, json!(-0.25)), StatusCode::UNPROCESSABLE_ENTITY, "pixels[8] is -0.25, outside 0..1"),
        (with(9, json!([0.5])), StatusCode::UNPROCESSABLE_ENTITY, "pixels[9] is [0.5], not a number"),
        (
            json!({ "pixels": pixels(), "preprocess": "yes" }).to_string(),
            StatusCode::BAD_REQUEST,
            "expected a boolean",
        ),
        (
            format!("{{\"pixels\": [{}]}}", vec!["0.5"; 20_000].join(",")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than the limit of 64 KiB",
        ),
    ];
    for (body, status, needle) in cases {
        assert_error(send(&app, "POST", "/api/predict", body).await, status, needle);
        let (ok, _) = post(&app, "/api/predict", json!({ "pixels": pixels(), "maps": false })).await;
        assert_eq!(ok, StatusCode::OK, "the server still answers after a {status} for {needle:?}");
    }
}

#[tokio::test]
async fn gradcam_and_the_microscope_check_their_picture_too() {
    let app = playground(false);
    for (uri, extra) in [
        ("/api/gradcam", json!({ "class": 1 })),
        ("/api/microscope", json!({ "layer": 0, "row": 0, "col": 0, "channel": 0 })),
    ] {
        let mut body = extra.clone();
        body["pixels"] = json!(vec![0.5; 10]);
        assert_error(
            post(&app, uri, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "holds 10 values",
        );
        body["pixels"] = json!(vec!["NaN"; 784]);
        assert_error(post(&app, uri, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "not a number");
        body["pixels"] = pixels();
        let (status, answer) = post(&app, uri, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

fn look_at(layer: Value, row: i64, col: i64, channel: i64) -> Value {
    json!({ "pixels": pixels(), "layer": layer, "row": row, "col": col, "channel": channel })
}

#[tokio::test]
async fn the_microscope_answers_with_the_arithmetic_and_refuses_what_is_not_there() {
    let app = playground(false);
    let (status, conv) = post(&app, "/api/microscope", look_at(json!("conv2d_2"), 3, 4, 5)).await;
    assert_eq!(status, StatusCode::OK, "{conv}");
    assert_eq!(
        (conv["kind"].as_str(), conv["layer"].as_u64(), conv["name"].as_str()),
        (Some("conv"), Some(2), Some("conv2d_2"))
    );
    assert_eq!(conv["channels"].as_array().unwrap().len(), 32);
    assert_eq!(conv["channels"][0]["inputs"].as_array().unwrap().len(), 9);
    assert_eq!(conv["output"], conv["value"]);
    let (sum, bias, value) =
        (conv["sum"].as_f64().unwrap(), conv["bias"].as_f64().unwrap(), conv["value"].as_f64().unwrap());
    assert!(((sum + bias).max(0.0) - value).abs() < 1e-5, "{sum} + {bias} -> {value}");

    let (status, pool) = post(&app, "/api/microscope", look_at(json!(1), 12, 0, 31)).await;
    assert_eq!(status, StatusCode::OK, "{pool}");
    assert_eq!((pool["kind"].as_str(), pool["pooling"].as_str()), (Some("pool"), Some("max")));
    let winner = pool["winner"].as_u64().unwrap() as usize;
    assert_eq!(pool["inputs"][winner], pool["value"]);

    let refusals = [
        (look_at(json!("conv2d_9"), 0, 0, 0), "there is no layer \"conv2d_9\""),
        (look_at(json!(8), 0, 0, 0), "there is no layer 8: give an index from 0 to 7"),
        (look_at(json!(-1), 0, 0, 0), "there is no layer -1"),
        (look_at(json!(null), 0, 0, 0), "there is no layer null"),
        (look_at(json!("dense_1"), 0, 0, 0), "dense_1 is a dense layer"),
        (look_at(json!("flatten_1"), 0, 0, 0), "flatten_1 is a flatten layer"),
        (look_at(json!(0), 26, 0, 0), "row 26 is outside conv2d_1's 26×26×32 output (row runs from 0 to 25)"),
        (look_at(json!(0), 0, 99, 0), "col 99 is outside conv2d_1's"),
        (
            look_at(json!("max_pooling2d_2"), 0, 0, 64),
            "channel 64 is outside max_pooling2d_2's 5×5×64 output",
        ),
    ];
    for (request, needle) in refusals {
        assert_error(post(&app, "/api/microscope", request).await, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    assert_error(
        post(&app, "/api/microscope", look_at(json!(0), -1, 0, 0)).await,
        StatusCode::BAD_REQUEST,
        "invalid value: integer `-1`",
    );
    let mut no_layer = look_at(json!(0), 0, 0, 0);
    no_layer.as_object_mut().unwrap().remove("layer");
    assert_error(
        post(&app, "/api/microscope", no_layer).await,
        StatusCode::BAD_REQUEST,
        "missing field `layer`",
    );
}

#[tokio::test]
async fn gradcam_draws_a_class_and_refuses_unknown_classes_and_layers() {
    let app = playground(false);
    let (status, cam) = post(&app, "/api/gradcam", json!({ "pixels": pixels(), "class": 3 })).await;
    assert_eq!(status, StatusCode::OK, "{cam}");
    assert_eq!((cam["class"].as_u64(), cam["name"].as_str()), (Some(3), Some("conv2d_3")));
    assert!(cam["overlay"].as_str().unwrap().starts_with("data:image/png;base64,"));
    let (status, _) =
        post(&app, "/api/gradcam", json!({ "pixels": pixels(), "class": 3, "layer": "conv2d_1" })).await;
    assert_eq!(status, StatusCode::OK);
    let refusals = [
        (json!({ "pixels": pixels(), "class": 10 }), "class 10 is not one of the model's classes (0 to 9)"),
        (json!({ "pixels": pixels(), "class": 1, "layer": "conv2d_7" }), "there is no layer \"conv2d_7\""),
        (json!({ "pixels": pixels(), "class": 1, "layer": "dense_1" }), "dense_1 is not one"),
    ];
    for (request, needle) in refusals {
        assert_error(post(&app, "/api/gradcam", request).await, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
}

#[tokio::test]
async fn test_digits_by_index_or_at_random_and_a_clear_503_without_mnist() {
    let app = playground(true);
    let (status, digit) = send(&app, "GET", "/api/digit?index=2", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{digit}");
    assert_eq!((digit["index"].as_u64(), digit["label"].as_u64()), (Some(2), Some(1)));
    let pixels = digit["pixels"].as_array().unwrap();
    assert_eq!(pixels.len(), 784);
    assert!(pixels.iter().all(|p| (p.as_f64().unwrap() - 80.0 / 255.0).abs() < 1e-6));
    let (status, random) = send(&app, "GET", "/api/digit", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(random["index"].as_u64().unwrap() < 3);
    assert_error(
        send(&app, "GET", "/api/digit?index=3", Body::empty()).await,
        StatusCode::NOT_FOUND,
        "there is no test digit 3: they are numbered 0 to 2",
    );
    assert_error(
        send(&app, "GET", "/api/digit?index=x", Body::empty()).await,
        StatusCode::BAD_REQUEST,
        "whole number",
    );
    let (_, info) = send(&app, "GET", "/api/model", Body::empty()).await;
    assert_eq!((info["test_digits"].as_u64(), info["params"].as_u64()), (Some(3), Some(93_322)));

    let without = playground(false);
    assert_error(
        send(&without, "GET", "/api/digit", Body::empty()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "run scripts/fetch-mnist",
    );
    let (_, info) = send(&without, "GET", "/api/model", Body::empty()).await;
    assert_eq!(info["test_digits"], 0);
    assert!(info["test_digits_missing"].as_str().unwrap().contains("scripts/fetch-mnist"));
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_json_errors_and_the_page_is_served() {
    let app = playground(false);
    assert_error(
        send(&app, "GET", "/api/nothing", Body::empty()).await,
        StatusCode::NOT_FOUND,
        "nothing at /api/nothing",
    );
    assert_error(
        send(&app, "GET", "/api/predict", Body::empty()).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "use POST",
    );
    assert_error(
        send(&app, "POST", "/api/digit", Body::empty()).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "use GET",
    );
    let request = Request::builder().method("DELETE").uri("/api/microscope").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    for (path, kind, needle) in [
        ("/", "text/html", "<canvas"),
        ("/app.js", "text/javascript", "/api/predict"),
        ("/style.css", "text/css", "{"),
    ] {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let text = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(String::from_utf8_lossy(&text).contains(needle), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_answer() {
    let app = playground(false);
    // Two different pictures, many times at once: every answer matches its own picture.
    let blank = vec![0.0f32; 784];
    let (_, alone_stroke) = post(&app, "/api/predict", json!({ "pixels": stroke(), "maps": false })).await;
    let (_, alone_blank) = post(&app, "/api/predict", json!({ "pixels": blank, "maps": false })).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let app = app.clone();
        let picture = if i % 2 == 0 { stroke() } else { blank.clone() };
        tasks.push(tokio::spawn(async move {
            (i, post(&app, "/api/predict", json!({ "pixels": picture, "maps": i % 4 == 0 })).await)
        }));
    }
    for task in tasks {
        let (i, (status, body)) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let expected = if i % 2 == 0 { &alone_stroke } else { &alone_blank };
        assert_eq!(body["probabilities"], expected["probabilities"], "request {i}");
    }
}
