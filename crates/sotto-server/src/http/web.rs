//! The web client's files: the copy built into the binary by `build.rs`, or the folder
//! `web_dir` names. Both answer by the same rules (`docs/api.md`, "The web client"):
//!
//! - `/` and the app's routes (a path with no file extension) get `index.html`, `no-cache`;
//! - a file of the build answers with its bytes: brotli, gzip or identity by `Accept-Encoding`,
//!   `Vary: Accept-Encoding`, an `ETag` (`If-None-Match` gives `304`); Vite's hashed files under
//!   `/assets/` are `immutable` for a year, every other file is `no-cache`;
//! - any other path that names a file (`/favicon.ico`, `/app.js.map`, `/assets/gone.js`) is the
//!   API's JSON `404`, never the app: a missing script must fail as a missing script;
//! - source maps are never served.
//!
//! The security headers (CSP and the rest) are added around this by [`super::router`].

mod mime;

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Error};

/// One embedded file, as `build.rs` writes it.
pub struct Asset {
    /// Its URL path, from `/`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The first 16 bytes of the SHA-256 of `identity`, in hex.
    pub etag: &'static str,
    /// Its bytes as built.
    pub identity: &'static [u8],
    /// Kept only when smaller than `identity`.
    pub gzip: Option<&'static [u8]>,
    /// Kept only when smaller than `identity`.
    pub br: Option<&'static [u8]>,
}

mod embedded {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Hashed files: their name changes with their content, so a browser may keep them for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else (above all `index.html`, which names the hashed files): kept, but checked
/// with the server (`If-None-Match`) before each use, so a new version shows on the next load.
const REVALIDATE: &str = "no-cache";

/// Where the web client's files come from.
#[derive(Debug, Clone)]
pub enum WebClient {
    /// The files built into this binary.
    Embedded(&'static [Asset]),
    /// The folder `web_dir` names, read on each request.
    Folder(PathBuf),
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset").field("path", &self.path).finish()
    }
}

impl WebClient {
    /// `web_dir` when it is a folder, otherwise the built-in files, otherwise nothing.
    pub fn select(web_dir: Option<&Path>) -> Option<Self> {
        match web_dir {
            Some(dir) if dir.is_dir() => Some(Self::Folder(dir.to_path_buf())),
            _ => Self::embedded(),
        }
    }

    /// The built-in files, when the binary was built with the web client.
    pub fn embedded() -> Option<Self> {
        let assets = embedded::ASSETS;
        assets
            .iter()
            .any(|a| a.path == "/index.html")
            .then_some(Self::Embedded(assets))
    }

    /// Answers a request the API did not route.
    pub async fn serve(&self, req: Request) -> Response {
        let path = req.uri().path();
        if is_server_path(path) {
            return not_found();
        }
        let method = req.method();
        if method != Method::GET && method != Method::HEAD {
            return super::method_not_allowed().await;
        }
        let wanted = if path == "/" { "/index.html" } else { path };
        let file = match self.file(wanted).await {
            Ok(Some(file)) => file,
            Ok(None) if looks_like_file(path) => return not_found(),
            Ok(None) => match self.file("/index.html").await {
                Ok(Some(index)) => index,
                Ok(None) => return not_found(),
                Err(e) => return ApiError(e).into_response(),
            },
            Err(e) => return ApiError(e).into_response(),
        };
        file.respond(req.headers())
    }

    async fn file(&self, path: &str) -> Result<Option<File>, Error> {
        if path.ends_with(".map") {
            return Ok(None);
        }
        match self {
            Self::Embedded(assets) => Ok(assets
                .binary_search_by(|a| a.path.cmp(path))
                .ok()
                .and_then(|i| assets.get(i))
                .map(|a| File {
                    cache: cache_rule(a.path),
                    content_type: a.content_type,
                    etag: a.etag.to_owned(),
                    identity: Bytes::from_static(a.identity),
                    gzip: a.gzip.map(Bytes::from_static),
                    br: a.br.map(Bytes::from_static),
                })),
            Self::Folder(dir) => read_folder_file(dir, path).await,
        }
    }
}

/// A file ready to answer with, in each form it has.
struct File {
    cache: &'static str,
    content_type: &'static str,
    etag: String,
    identity: Bytes,
    gzip: Option<Bytes>,
    br: Option<Bytes>,
}

impl File {
    fn respond(self, request: &HeaderMap) -> Response {
        let accept = request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let encoding = choose_encoding(accept, self.br.is_some(), self.gzip.is_some());
        let (body, suffix) = match encoding {
            Encoding::Br => (self.br.unwrap_or_default(), "-br"),
            Encoding::Gzip => (self.gzip.unwrap_or_default(), "-gz"),
            Encoding::Identity => (self.identity, ""),
        };
        // Each encoding is its own representation with its own validator (RFC 9110 §8.8.3).
        let etag = format!("\"{}{suffix}\"", self.etag);
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(self.cache));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        let not_modified = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| etag_matches(v, &etag));
        if not_modified {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        match encoding {
            Encoding::Br => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
            Encoding::Gzip => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Encoding::Identity => {}
        }
        (StatusCode::OK, headers, Body::from(body)).into_response()
    }
}

/// Reads `path` under `dir`, with its `.br` and `.gz` siblings when the folder has them.
/// A path with an empty, `.` or `..` segment, or a backslash, names nothing.
async fn read_folder_file(dir: &Path, path: &str) -> Result<Option<File>, Error> {
    let mut file = dir.to_path_buf();
    for segment in path.trim_start_matches('/').split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['\\', '\0'])
        {
            return Ok(None);
        }
        file.push(segment);
    }
    let identity = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        // A missing file, or a folder, is not a file of the client.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound) || file.is_dir() => {
            return Ok(None)
        }
        Err(source) => {
            return Err(Error::Io {
                what: "reading a web client file",
                source,
            })
        }
    };
    let sibling = |ext: &str| {
        let mut name = file.clone().into_os_string();
        name.push(ext);
        PathBuf::from(name)
    };
    let gzip = tokio::fs::read(sibling(".gz")).await.ok().map(Bytes::from);
    let br = tokio::fs::read(sibling(".br")).await.ok().map(Bytes::from);
    Ok(Some(File {
        cache: cache_rule(path),
        content_type: mime::content_type(path),
        etag: hex::encode(
            sotto_proto::crypto::sha256(&identity)
                .get(..16)
                .unwrap_or_default(),
        ),
        identity: Bytes::from(identity),
        gzip,
        br,
    }))
}

/// Paths the server itself answers: never the app, whatever the method.
fn is_server_path(path: &str) -> bool {
    ["/v1", "/healthz", "/metrics"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// A path that names a file rather than an app route: under `/assets/`, or a last segment with
/// an extension.
fn looks_like_file(path: &str) -> bool {
    path.starts_with("/assets/") || path.rsplit('/').next().is_some_and(|s| s.contains('.'))
}

/// Vite names the files under `/assets/` `name-HASH.ext`, the hash 8 or more characters of
/// base64url: those never change. Anything else may change under the same name.
fn cache_rule(path: &str) -> &'static str {
    let hashed = path.strip_prefix("/assets/").is_some_and(|name| {
        !name.contains('/')
            && name.split_once('.').is_some_and(|(stem, _)| {
                stem.rsplit_once('-').is_some_and(|(_, hash)| {
                    hash.len() >= 8
                        && hash
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
            })
    });
    if hashed {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Br,
    Gzip,
    Identity,
}

/// Picks the form to send: the highest `q` among the forms we have, brotli before gzip before
/// identity on a tie; `q=0` refuses a form (`*` covers codings not named). Identity is the answer
/// when nothing else is acceptable, even if refused (RFC 9110 §12.5.3 allows that over `406`).
fn choose_encoding(accept: &str, have_br: bool, have_gzip: bool) -> Encoding {
    let mut br = None;
    let mut gzip = None;
    let mut identity = None;
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "identity" => identity = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = if have_br {
        br.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    let gzip = if have_gzip {
        gzip.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    // Identity is acceptable unless refused by name, or by `*;q=0` without naming it.
    let identity = identity.or(star.filter(|q| *q <= 0.0)).unwrap_or(1.0);
    let mut best = (Encoding::Identity, identity.max(0.0));
    for (encoding, q) in [(Encoding::Gzip, gzip), (Encoding::Br, br)] {
        if q > 0.0 && q >= best.1 {
            best = (encoding, q);
        }
    }
    best.0
}

/// `If-None-Match` holds `*` or a list of entity tags, compared weakly (RFC 9110 §13.1.2).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn not_found() -> Response {
    ApiError(Error::NotFound { what: "file" }).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_is_preferred_then_gzip_and_q_zero_refuses() {
        assert_eq!(
            choose_encoding("gzip, deflate, br", true, true),
            Encoding::Br
        );
        assert_eq!(choose_encoding("gzip, br;q=0", true, true), Encoding::Gzip);
        assert_eq!(
            choose_encoding("br;q=0.5, gzip", true, true),
            Encoding::Gzip
        );
        assert_eq!(choose_encoding("br", false, true), Encoding::Identity);
        assert_eq!(choose_encoding("", true, true), Encoding::Identity);
        assert_eq!(choose_encoding("*", true, true), Encoding::Br);
        assert_eq!(choose_encoding("*;q=0, gzip", true, true), Encoding::Gzip);
        assert_eq!(
            choose_encoding("identity;q=0, gzip;q=0", true, true),
            Encoding::Identity
        );
        assert_eq!(
            choose_encoding("gzip;q=0.1, identity", true, true),
            Encoding::Identity
        );
        assert_eq!(
            choose_encoding("gzip;q=nonsense", true, true),
            Encoding::Identity
        );
    }

    #[test]
    fn only_vite_hashed_assets_are_immutable() {
        assert_eq!(cache_rule("/assets/index-Beu9K1FK.js"), IMMUTABLE);
        assert_eq!(cache_rule("/assets/index-BW1JuDrq.css"), IMMUTABLE);
        assert_eq!(cache_rule("/assets/logo.svg"), REVALIDATE);
        assert_eq!(cache_rule("/index.html"), REVALIDATE);
        assert_eq!(cache_rule("/SHA256SUMS"), REVALIDATE);
        assert_eq!(cache_rule("/a-Beu9K1FK.js"), REVALIDATE);
    }

    #[test]
    fn app_routes_api_paths_and_file_names_are_told_apart() {
        assert!(is_server_path("/v1"));
        assert!(is_server_path("/v1/nope"));
        assert!(!is_server_path("/v1x"));
        assert!(looks_like_file("/favicon.ico"));
        assert!(looks_like_file("/assets/nope"));
        assert!(!looks_like_file("/c/abc"));
        assert!(etag_matches("W/\"ab\", \"cd\"", "\"ab\""));
        assert!(!etag_matches("\"ab-br\"", "\"ab\""));
    }
}
