//! Capture: one tokio task per camera reads its source and puts each JPEG
//! into the camera's [`LatestSlot`] (newest wins). A source that cannot be
//! reached, stalls (no frame for [`STALL`]) or breaks is marked unavailable
//! and retried with capped exponential back-off; other cameras never notice.
//!
//! - `mjpeg+http://host[:port]/path`: one HTTP/1.0 GET, multipart parts via
//!   [`MultipartParser`];
//! - `jpeg+http://...`: a GET per frame at the camera's fps;
//! - `file:///path`: an MJPEG file (concatenated JPEGs or a multipart dump)
//!   or a folder of `.jpg`/`.jpeg` files, replayed in a loop at the fps.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::board::{Board, Frame, LatestSlot};
use super::mjpeg::{MjpegError, MultipartParser, boundary_of};

/// No frame for this long: the source is stalled and reconnected.
pub const STALL: Duration = Duration::from_secs(5);
/// Largest JPEG accepted from a source.
pub const MAX_PART: usize = 8 * 1024 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("unusable camera url `{0}`")]
    Url(String),
    #[error("connect/read: {0}")]
    Io(#[from] std::io::Error),
    #[error("stalled: no frame for {0:?}")]
    Stalled(Duration),
    #[error("HTTP: {0}")]
    Http(String),
    #[error(transparent)]
    Mjpeg(#[from] MjpegError),
    #[error("stream ended")]
    Ended,
    #[error("no JPEG frames in `{0}`")]
    Empty(String),
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Capped exponential back-off: 0.5 s, 1 s, 2 s ... 30 s.
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_MIN.saturating_mul(1u32 << attempt.min(10)).min(BACKOFF_MAX)
}

/// Everything a capture task needs.
pub struct Capture {
    pub id: String,
    pub url: String,
    pub fps: f32,
    pub slot: Arc<LatestSlot>,
    pub board: Arc<Board>,
}

impl Capture {
    fn deliver(&self, jpeg: Vec<u8>) {
        let f = Frame { jpeg: Arc::new(jpeg), at_ms: now_ms() };
        self.board.frame_received(&self.id, &f);
        self.slot.put(f);
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f32(1.0 / self.fps.max(0.01))
    }

    /// Run until `stop`: connect, read, and on failure back off and retry.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut attempt = 0u32;
        loop {
            let res = tokio::select! {
                r = self.once(&mut attempt) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let e = match res {
                Ok(()) => SourceError::Ended,
                Err(e) => e,
            };
            self.board.unavailable(&self.id, e.to_string());
            let wait = backoff(attempt);
            attempt = attempt.saturating_add(1);
            tracing::debug!(camera = %self.id, error = %e, ?wait, "camera source retry");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One connection; `attempt` is reset once a frame arrives.
    async fn once(&self, attempt: &mut u32) -> Result<(), SourceError> {
        if let Some(rest) = self.url.strip_prefix("mjpeg+") {
            self.mjpeg(rest, attempt).await
        } else if let Some(rest) = self.url.strip_prefix("jpeg+") {
            self.poll_jpeg(rest, attempt).await
        } else if let Some(path) = self.url.strip_prefix("file://") {
            self.replay(Path::new(path), attempt).await
        } else {
            Err(SourceError::Url(self.url.clone()))
        }
    }

    async fn mjpeg(&self, url: &str, attempt: &mut u32) -> Result<(), SourceError> {
        let (mut stream, head, rest) = http_get(url).await?;
        let ctype = head.header("content-type").unwrap_or_default();
        let boundary = boundary_of(&ctype).ok_or_else(|| SourceError::Http(format!("not multipart: `{ctype}`")))?;
        let mut parser = MultipartParser::new(&boundary, MAX_PART);
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending = rest;
        let mut last_frame = tokio::time::Instant::now();
        loop {
            for part in parser.push(&pending) {
                match part {
                    Ok(jpeg) => {
                        *attempt = 0;
                        last_frame = tokio::time::Instant::now();
                        self.deliver(jpeg);
                    }
                    Err(e) => self.board.error(&self.id, e.to_string()),
                }
            }
            let left = STALL.saturating_sub(last_frame.elapsed());
            let n = match tokio::time::timeout(left, stream.read(&mut buf)).await {
                Err(_) => return Err(SourceError::Stalled(STALL)),
                Ok(r) => r?,
            };
            if n == 0 {
                return Err(SourceError::Ended);
            }
            pending = buf[..n].to_vec();
        }
    }

    async fn poll_jpeg(&self, url: &str, attempt: &mut u32) -> Result<(), SourceError> {
        let mut tick = tokio::time::interval(self.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let body = tokio::time::timeout(STALL, async {
                let (mut stream, head, mut body) = http_get(url).await?;
                let len = head.header("content-length").and_then(|l| l.parse::<usize>().ok());
                if len.is_some_and(|l| l > MAX_PART) {
                    return Err(SourceError::Http(format!("snapshot of {len:?} bytes is too large")));
                }
                let mut chunk = vec![0u8; 64 * 1024];
                while len.is_none_or(|l| body.len() < l) {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                    if body.len() > MAX_PART {
                        return Err(SourceError::Http("snapshot too large".into()));
                    }
                }
                Ok(body)
            })
            .await
            .map_err(|_| SourceError::Stalled(STALL))??;
            if body.starts_with(&[0xFF, 0xD8]) {
                *attempt = 0;
                self.deliver(body);
            } else {
                self.board.error(&self.id, "snapshot is not a JPEG".into());
            }
        }
    }

    async fn replay(&self, path: &Path, attempt: &mut u32) -> Result<(), SourceError> {
        let frames = load_replay(path).await?;
        let mut tick = tokio::time::interval(self.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            for f in &frames {
                tick.tick().await;
                *attempt = 0;
                self.deliver(f.clone());
            }
        }
    }
}

/// The JPEGs of a replay source, in order.
pub async fn load_replay(path: &Path) -> Result<Vec<Vec<u8>>, SourceError> {
    let meta = tokio::fs::metadata(path).await?;
    let mut frames = Vec::new();
    if meta.is_dir() {
        let mut names = Vec::new();
        let mut rd = tokio::fs::read_dir(path).await?;
        while let Some(e) = rd.next_entry().await? {
            let p = e.path();
            let ext = p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("jpg" | "jpeg")) {
                names.push(p);
            }
        }
        names.sort();
        for p in names {
            let b = tokio::fs::read(&p).await?;
            if b.starts_with(&[0xFF, 0xD8]) && b.len() <= MAX_PART {
                frames.push(b);
            }
        }
    } else {
        if meta.len() > 512 * 1024 * 1024 {
            return Err(SourceError::Http(format!("replay file of {} bytes is too large", meta.len())));
        }
        let data = tokio::fs::read(path).await?;
        frames = split_mjpeg_file(&data);
    }
    if frames.is_empty() {
        return Err(SourceError::Empty(path.display().to_string()));
    }
    Ok(frames)
}

/// The JPEGs of an MJPEG file: a multipart dump (`ffmpeg -f mpjpeg`, first
/// line `--boundary`) or concatenated JPEGs (`ffmpeg -f mjpeg`), split where
/// an end-of-image marker is followed by a start-of-image or the end.
pub fn split_mjpeg_file(data: &[u8]) -> Vec<Vec<u8>> {
    if data.starts_with(b"--") {
        let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let boundary = String::from_utf8_lossy(&data[2..line_end]).trim().to_string();
        let mut p = MultipartParser::new(&boundary, MAX_PART);
        let mut out: Vec<Vec<u8>> = p.push(data).into_iter().filter_map(Result::ok).collect();
        let sep = if data.ends_with(b"\r\n") { "" } else { "\r\n" };
        let end = format!("{sep}--{boundary}\r\n").into_bytes();
        out.extend(p.push(&end).into_iter().filter_map(Result::ok));
        return out;
    }
    let mut out = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 1 < data.len() {
        if start.is_none() && data[i] == 0xFF && data[i + 1] == 0xD8 {
            start = Some(i);
        } else if let Some(s) = start
            && data[i] == 0xFF
            && data[i + 1] == 0xD9
            && (i + 2 == data.len() || data[i + 2..].starts_with(&[0xFF, 0xD8]))
        {
            out.push(data[s..i + 2].to_vec());
            start = None;
        }
        i += 1;
    }
    out
}

/// A parsed HTTP response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

/// `http://host[:port]/path` -> (host, port, path).
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), SourceError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| SourceError::Url(url.into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| SourceError::Url(url.into()))?),
        None => (authority, 80),
    };
    if host.is_empty() || authority.contains('@') || path.contains(['\r', '\n', ' ']) {
        return Err(SourceError::Url(url.into()));
    }
    Ok((host.to_string(), port, path.to_string()))
}

/// GET `url` (HTTP/1.0, so no chunked encoding); returns the stream, the
/// head and the body bytes that came with the head.
async fn http_get(url: &str) -> Result<(TcpStream, Head, Vec<u8>), SourceError> {
    let (host, port, path) = parse_http_url(url)?;
    let mut stream = tokio::time::timeout(STALL, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| SourceError::Stalled(STALL))??;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: hubd\r\nAccept: */*\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return Err(SourceError::Http("response head over 16 KiB".into()));
        }
        let n =
            tokio::time::timeout(STALL, stream.read(&mut chunk)).await.map_err(|_| SourceError::Stalled(STALL))??;
        if n == 0 {
            return Err(SourceError::Http("connection closed before the response head".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let head = Head { status, headers };
    if status != 200 {
        return Err(SourceError::Http(format!("status `{status_line}`")));
    }
    if head.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        return Err(SourceError::Http("chunked transfer encoding is not supported".into()));
    }
    Ok((stream, head, buf[end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_backoff() {
        assert_eq!(parse_http_url("http://10.0.0.5:81/stream").unwrap(), ("10.0.0.5".into(), 81, "/stream".into()));
        assert_eq!(parse_http_url("http://cam").unwrap(), ("cam".into(), 80, "/".into()));
        assert!(parse_http_url("http://:80/x").is_err());
        assert!(parse_http_url("http://a:b/x").is_err());
        assert!(parse_http_url("http://u@cam/x").is_err());
        assert!(parse_http_url("http://cam/x y").is_err());
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(50), Duration::from_secs(30));
    }

    #[test]
    fn mjpeg_files_split_into_jpegs() {
        let a = vec![0xFF, 0xD8, 1, 0xFF, 0xD9];
        let b = vec![0xFF, 0xD8, 2, 2, 0xFF, 0xD9];
        assert_eq!(split_mjpeg_file(&[a.clone(), b.clone()].concat()), vec![a.clone(), b.clone()]);
        let mut mp = b"--ffmpeg\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        mp.extend(&a);
        mp.extend(b"\r\n--ffmpeg\r\nContent-Type: image/jpeg\r\n\r\n");
        mp.extend(&b);
        mp.extend(b"\r\n");
        assert_eq!(split_mjpeg_file(&mp), vec![a, b]);
        assert!(split_mjpeg_file(b"no jpeg here").is_empty());
    }

    #[tokio::test]
    async fn replay_folder_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for (name, v) in [("b.jpg", 2u8), ("a.jpeg", 1), ("c.txt", 3)] {
            std::fs::write(dir.path().join(name), [0xFF, 0xD8, v, 0xFF, 0xD9]).unwrap();
        }
        std::fs::write(dir.path().join("d.mjpeg"), b"not a picture").unwrap();
        let frames = load_replay(dir.path()).await.unwrap();
        assert_eq!(frames.iter().map(|f| f[2]).collect::<Vec<_>>(), vec![1, 2]);
        assert!(matches!(load_replay(&dir.path().join("d.mjpeg")).await, Err(SourceError::Empty(_))));
        assert!(load_replay(&dir.path().join("missing")).await.is_err());
    }
}
