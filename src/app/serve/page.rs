//! The page itself: one HTML file, its script and its style sheet, compiled into the binary,
//! so the playground needs no files next to it, no CDN and no build step.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// `GET /`, `/app.js` and `/style.css`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| file("text/html; charset=utf-8", INDEX)))
        .route("/app.js", get(|| file("text/javascript; charset=utf-8", SCRIPT)))
        .route("/style.css", get(|| file("text/css; charset=utf-8", STYLE)))
}

async fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}
