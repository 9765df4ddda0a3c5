//! The web client built into the binary, served by a real server over TLS from an empty data
//! folder with no `web_dir`: the app at `/` and its routes, compressed and cached hashed assets,
//! `ETag` revalidation, `404` for files the build does not have (source maps included), the API
//! untouched, and `web_dir` still overriding the built-in copy.
//!
//! The built-in copy exists only when `web/dist` was built before the server (`cd web && npm ci
//! && npm run build`); without it these tests say so loudly and pass, except under `CI=true`,
//! where they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::Read as _;

use reqwest::header::{HeaderMap, ACCEPT_ENCODING, IF_NONE_MATCH};
use reqwest::StatusCode;
use sotto_server::http::web::WebClient;
use support::{Backend, TestServer};

/// The built-in files, or `None` (after saying why) when this binary has none.
fn embedded() -> Option<&'static [sotto_server::http::web::Asset]> {
    match WebClient::embedded() {
        Some(WebClient::Embedded(assets)) => Some(assets),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but the web client is not built into sotto-server: run \
                 `cd web && npm ci && npm run build` before `cargo test`"
            );
            eprintln!(
                "\n!!! SKIPPED: the web client is not built into this sotto-server, so its \
                 serving is not tested. Run `cd web && npm ci && npm run build`, then `cargo \
                 test` again. !!!\n"
            );
            None
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The main script Vite emitted: a hashed file under `/assets/`.
fn main_script(assets: &[sotto_server::http::web::Asset]) -> &sotto_server::http::web::Asset {
    assets
        .iter()
        .find(|a| a.path.starts_with("/assets/") && a.path.ends_with(".js"))
        .expect("the build has a script under /assets/")
}

#[tokio::test]
async fn the_app_is_served_at_the_root_and_its_routes_without_being_cached_stale() {
    let Some(_) = embedded() else { return };
    let server = TestServer::start().await;
    let client = &server.api().client;
    let mut index = None;
    for path in ["/", "/c/abc", "/settings", "/index.html"] {
        let resp = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers().clone();
        assert_eq!(
            header(&h, "content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&h, "cache-control"), "no-cache", "{path}");
        assert!(header(&h, "content-security-policy").contains("script-src 'self'"));
        assert_eq!(header(&h, "x-frame-options"), "DENY");
        let body = resp.bytes().await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("<div id=\"root\""),
            "{path}"
        );
        // Every route is the same document.
        assert_eq!(index.get_or_insert_with(|| body.clone()), &body, "{path}");
    }
    // HEAD answers the same headers with no body.
    let resp = client
        .head(format!("{}/c/abc", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "cache-control"), "no-cache");
    assert!(resp.bytes().await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_hashed_asset_is_sent_brotli_or_gzip_as_asked_and_cached_for_good() {
    let Some(assets) = embedded() else { return };
    let script = main_script(assets);
    let server = TestServer::start().await;
    let client = &server.api().client;
    let url = format!("{}{}", server.base, script.path);

    let fetch = |accept: &'static str| {
        let req = client.get(&url).header(ACCEPT_ENCODING, accept);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{accept}");
            let h = resp.headers().clone();
            assert_eq!(
                header(&h, "cache-control"),
                "public, max-age=31536000, immutable"
            );
            assert_eq!(header(&h, "vary"), "Accept-Encoding");
            assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
            (h, resp.bytes().await.unwrap().to_vec())
        }
    };

    let (h, identity) = fetch("identity").await;
    assert!(h.get("content-encoding").is_none());
    assert_eq!(identity, script.identity, "identity is the built file");

    let (h, br) = fetch("gzip, deflate, br").await;
    assert_eq!(header(&h, "content-encoding"), "br");
    assert!(
        br.len() < identity.len() / 2,
        "{} of {}",
        br.len(),
        identity.len()
    );
    let mut unpacked = Vec::new();
    brotli::Decompressor::new(&br[..], 4096)
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, identity, "brotli unpacks to the file");

    let (h, gz) = fetch("gzip, br;q=0").await;
    assert_eq!(header(&h, "content-encoding"), "gzip");
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, identity, "gzip unpacks to the file");
    assert!(br.len() < gz.len(), "brotli at its best beats gzip");
    server.stop().await;
}

#[tokio::test]
async fn an_etag_the_browser_holds_gets_304_without_the_body() {
    let Some(assets) = embedded() else { return };
    let script = main_script(assets);
    let server = TestServer::start().await;
    let client = &server.api().client;
    for (path, accept) in [
        (script.path, "br"),
        (script.path, "identity"),
        ("/", "gzip"),
    ] {
        let url = format!("{}{path}", server.base);
        let resp = client
            .get(&url)
            .header(ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        let etag = header(resp.headers(), "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let resp = client
            .get(&url)
            .header(ACCEPT_ENCODING, accept)
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path} {accept}");
        assert_eq!(header(resp.headers(), "etag"), etag);
        assert!(resp.bytes().await.unwrap().is_empty());
        // A stale validator gets the file.
        let resp = client
            .get(&url)
            .header(ACCEPT_ENCODING, accept)
            .header(IF_NONE_MATCH, "\"0000\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test]
async fn files_the_build_does_not_have_are_404_and_source_maps_are_never_served() {
    let Some(assets) = embedded() else { return };
    assert!(
        assets.iter().all(|a| !a.path.ends_with(".map")),
        "no source map is built in"
    );
    let script = main_script(assets);
    let server = TestServer::start().await;
    let client = &server.api().client;
    let map = format!("{}.map", script.path);
    for path in [
        "/favicon.ico",
        "/x.js.map",
        map.as_str(),
        "/assets/nope.js",
        "/assets/nope",
        "/v1/nope",
    ] {
        let resp = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_api_and_operational_endpoints_answer_as_before() {
    let Some(_) = embedded() else { return };
    let server = TestServer::start().await;
    let api = server.api();
    // An API route is still the API: JSON, never cached, even unauthenticated.
    let resp = api
        .client
        .get(format!("{}/v1/devices", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(resp.headers(), "cache-control"), "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized", "{body}");
    let resp = api
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok\n");
    // A write to an app route is not the app.
    let resp = api
        .client
        .post(format!("{}/c/abc", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn web_dir_overrides_the_built_in_client_by_the_same_rules() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>from web_dir</title>",
    )
    .unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/app-AbCd1234.js"), "console.log(1)").unwrap();
    std::fs::write(web.path().join("assets/app-AbCd1234.js.map"), "{}").unwrap();
    let dir = web.path().to_path_buf();
    let server = TestServer::start_with(Backend::Sqlite, move |c| c.web_dir = Some(dir))
        .await
        .unwrap();
    let client = &server.api().client;
    for path in ["/", "/c/abc"] {
        let resp = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(resp.headers(), "cache-control"), "no-cache");
        assert!(resp.text().await.unwrap().contains("from web_dir"));
    }
    let url = format!("{}/assets/app-AbCd1234.js", server.base);
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(
        header(&h, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
    let resp = client
        .get(&url)
        .header(IF_NONE_MATCH, header(&h, "etag"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    for path in [
        "/assets/app-AbCd1234.js.map",
        "/assets/other.js",
        "/favicon.ico",
    ] {
        let resp = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    server.stop().await;
}
