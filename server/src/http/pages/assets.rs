//! Static assets, embedded in the binary at build time: `livestars serve` needs no files.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// (name, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/static/app.css"),
    ),
    (
        "room.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/room.js"),
    ),
    (
        "wallet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/wallet.js"),
    ),
    (
        // Bundled from web/src/studio.js by `npm run build` (age-encryption from npm).
        "studio.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/studio.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../../web/static/favicon.svg"),
    ),
];

/// `/static/{file}`: cached for a day (names are fixed; a new release may change them).
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, ty, bytes)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *ty))
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(*bytes),
        None => super::error_page(actix_web::http::StatusCode::NOT_FOUND),
    }
}
