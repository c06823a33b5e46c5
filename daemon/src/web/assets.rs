//! The dashboard's files, compiled into the binary: `/` is `index.html`,
//! `/assets/<name>` one of a fixed table. No file system access at run
//! time, so no path can reach outside the table (`/assets/../x` is 404).
//! Every file has a strong `ETag` (a hash of its bytes) and `Cache-Control:
//! no-cache`: browsers revalidate and get `304 Not Modified` until the
//! binary changes.

use std::sync::LazyLock;

use warp::http::{HeaderValue, StatusCode, header};
use warp::{Rejection, Reply};

use super::errors::ApiError;

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "index.html", mime: "text/html; charset=utf-8", body: include_bytes!("assets/index.html") },
    Asset { name: "app.js", mime: "text/javascript; charset=utf-8", body: include_bytes!("assets/app.js") },
    Asset { name: "app.css", mime: "text/css; charset=utf-8", body: include_bytes!("assets/app.css") },
    Asset { name: "icon.svg", mime: "image/svg+xml", body: include_bytes!("assets/icon.svg") },
];

/// FNV-1a, 64 bit: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| format!("\"{:016x}-{:x}\"", fnv1a(a.body), a.body.len())).collect());

/// Total size of the embedded files in bytes (reported by the benches).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// Whether an `If-None-Match` value matches `etag` (a list, or `*`).
fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// The reply for `name`, or 404 (JSON, like every error).
pub async fn serve(name: String, if_none_match: Option<String>) -> Result<warp::reply::Response, Rejection> {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return Err(ApiError::NotFound("no such asset".into()).rejection());
    };
    let (asset, etag) = (&ASSETS[i], ETAGS[i].as_str());
    let mut r = if if_none_match.as_deref().is_some_and(|v| matches(v, etag)) {
        warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response()
    } else {
        let mut r = warp::reply::Response::new(asset.body.into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
        r
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_small_unique_and_free_of_inline_code() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert!(total_bytes() < 64 * 1024, "{} bytes", total_bytes());
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        // The CSP forbids inline script and style: the page must not need them.
        assert!(!html.contains("<style") && !html.contains(" style=") && !html.contains(" onclick="));
        for (i, line) in html.lines().enumerate() {
            if line.contains("<script") {
                assert!(line.contains(" src=\"/assets/"), "inline script on line {}: {line}", i + 1);
            }
        }
        assert_eq!(ETAGS.len(), ASSETS.len());
        assert_ne!(ETAGS[0], ETAGS[1]);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        assert!(matches("\"a\"", "\"a\""));
        assert!(matches("\"x\", W/\"a\"", "\"a\""));
        assert!(matches("*", "\"a\""));
        assert!(!matches("\"b\"", "\"a\""));
    }

    #[tokio::test]
    async fn unknown_names_and_traversal_are_not_found() {
        for name in ["../Cargo.toml", "..", "", "app.js/", "APP.JS", "/etc/passwd"] {
            assert!(serve(name.into(), None).await.is_err(), "{name}");
        }
        let r = serve("app.js".into(), None).await.unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers().get("etag").unwrap().to_str().unwrap().to_string();
        let r = serve("app.js".into(), Some(etag)).await.unwrap();
        assert_eq!(r.status(), 304);
    }
}
