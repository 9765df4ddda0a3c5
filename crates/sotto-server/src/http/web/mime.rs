//! The content type of each kind of file the web client's build emits, by name. Shared by
//! `build.rs` (the embedded table) and [`super`] (files read from `web_dir`).

/// The content type a browser needs for each kind of file Vite emits; anything else is bytes.
pub fn content_type(url: &str) -> &'static str {
    let name = url.rsplit('/').next().unwrap_or(url);
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        // `SHA256SUMS`: the bundle's hashes, for comparing with a published build.
        None => return "text/plain; charset=utf-8",
    };
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}
