//! A small client for the daemon's local API (hyper's HTTP/1.1 client
//! connection, the same hyper the server runs on). Used by the CLI
//! (`hubd say`, `hubd status`) and by the end-to-end tests.
//!
//! One connection per request: the API is on loopback and the CLI makes one
//! or two calls per run, so there is no pool. Every request is bounded by
//! the client's timeout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// Default bound on one request, connection to last body byte. The daemon's
/// `say` waits for device acks, so this is generous.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to the daemon's API at {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with {addr} failed")]
    Http {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("bad request `{method} {path}`")]
    Request {
        method: String,
        path: String,
        #[source]
        source: hyper::http::Error,
    },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    /// The daemon answered with an error status; `message` is its
    /// `{"error":{"message"}}` text, or the raw body.
    #[error("the daemon refused `{path}` (HTTP {status}): {message}")]
    Status { path: String, status: u16, message: String },
    #[error("`{path}`: the answer is not the expected JSON")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A raw answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Where the daemon's API is, and how to authenticate.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub addr: SocketAddr,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl ApiClient {
    pub fn new(addr: SocketAddr, token: Option<String>) -> ApiClient {
        ApiClient { addr, token, timeout: DEFAULT_TIMEOUT }
    }

    /// One request; `body` is sent as `application/json`.
    pub async fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Response, ClientError> {
        let addr = self.addr;
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| ClientError::Timeout { addr, timeout: self.timeout })?
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Response, ClientError> {
        let addr = self.addr;
        let req_err = |source| ClientError::Request { method: method.to_string(), path: path.to_string(), source };
        let m = Method::from_bytes(method.as_bytes()).map_err(|e| req_err(e.into()))?;
        let mut b = hyper::Request::builder().method(m).uri(path).header(HOST, addr.to_string());
        if let Some(t) = &self.token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, "application/json");
        }
        let req = b.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(req_err)?;

        let stream =
            tokio::net::TcpStream::connect(addr).await.map_err(|source| ClientError::Connect { addr, source })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Http { addr, source })?;
        // The connection task ends when the response is read and `sender`
        // drops, or with the request's timeout (its future is dropped).
        let conn = async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "API client connection ended with an error");
            }
        };
        let exchange = async move {
            let res = sender.send_request(req).await.map_err(|source| ClientError::Http { addr, source })?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.map_err(|source| ClientError::Http { addr, source })?;
            Ok(Response { status, body: body.to_bytes() })
        };
        let (res, ()) = tokio::join!(exchange, conn);
        res
    }

    /// `GET path` and decode a 2xx JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let r = self.request("GET", path, None).await?;
        decode(path, r)
    }

    /// `POST path` with a JSON body and decode a 2xx JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|source| ClientError::Decode { path: path.into(), source })?;
        let r = self.request("POST", path, Some(bytes)).await?;
        decode(path, r)
    }
}

fn decode<T: DeserializeOwned>(path: &str, r: Response) -> Result<T, ClientError> {
    if !(200..300).contains(&r.status) {
        let message = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| r.text().trim().to_string());
        return Err(ClientError::Status { path: path.into(), status: r.status, message });
    }
    serde_json::from_slice(&r.body).map_err(|source| ClientError::Decode { path: path.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a real warp server: JSON both ways, chunked bodies, error
    /// statuses with the API's error shape, and the bearer header.
    #[tokio::test]
    async fn talks_to_a_warp_server() {
        use warp::Filter;
        let echo = warp::post()
            .and(warp::path("echo"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::json())
            .map(|auth: Option<String>, v: serde_json::Value| {
                warp::reply::json(&serde_json::json!({"got": v, "auth": auth}))
            });
        let fail = warp::path("fail").map(|| {
            warp::reply::with_status(
                warp::reply::json(&serde_json::json!({"error": {"code": "bad", "message": "no such thing"}})),
                warp::http::StatusCode::BAD_REQUEST,
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(warp::serve(echo.or(fail)).incoming(listener).run());
        let c = ApiClient::new(addr, Some("tok".into()));
        let v: serde_json::Value = c.post_json("/echo", &serde_json::json!({"a": 1})).await.unwrap();
        assert_eq!(v["got"]["a"], 1);
        assert_eq!(v["auth"], "Bearer tok");
        match c.get_json::<serde_json::Value>("/fail").await {
            Err(ClientError::Status { status: 400, message, .. }) => assert_eq!(message, "no such thing"),
            other => panic!("{other:?}"),
        }
        task.abort();
        let closed = ApiClient::new(addr, None);
        let _ = task.await;
        assert!(matches!(closed.request("GET", "/", None).await, Err(ClientError::Connect { .. })));
    }
}
