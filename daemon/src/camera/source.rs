//! Capture: one tokio task per camera reads its source and puts each JPEG
//! into the camera's [`LatestSlot`] (newest wins). A source that cannot be
//! reached, stalls (no frame for [`STALL`]) or breaks is marked unavailable
//! and retried with capped exponential back-off; other cameras never notice.
//!
//! - `mjpeg+http://host[:port]/path`: one HTTP/1.0 GET, multipart parts via
//!   [`MultipartParser`];
//! - `jpeg+http://...`: a GET per frame at the camera's fps;
//! - `file:///path`: an MJPEG file (concatenated JPEGs or a multipart dump)
//!   or a folder of `.jpg`/`.jpeg` files, replayed in a loop at the fps;
//! - `ffmpeg:<input>`: anything ffmpeg reads (RTSP H.264/H.265 above all),
//!   decoded by an `ffmpeg` child that re-encodes JPEGs at the camera's fps
//!   onto a pipe (`-f mpjpeg`), parsed like an MJPEG stream. The child is
//!   supervised: when it exits or stalls it is killed, the camera is marked
//!   unavailable with ffmpeg's last error line, and it is restarted with the
//!   same capped back-off. (JPEG on the pipe keeps one decode path and the
//!   reduced-scale decode; raw frames would cost pipe bandwidth instead.)
//! - `v4l:///dev/videoN`: a V4L2 device ([`super::video4linux`]) on a
//!   blocking thread; a missing or failing device is retried like the rest.
//!
//! Every part a source delivers, good or bad, gets the camera's next frame
//! number, and errors name it (`frame 57: part is not a JPEG ...`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::board::{Board, Frame, LatestSlot};
use super::mjpeg::{MjpegError, MultipartParser, boundary_of};
use super::video4linux::{self, V4lError};

/// No frame for this long: the source is stalled and reconnected.
pub const STALL: Duration = Duration::from_secs(5);
/// An `ffmpeg` child's first frame may take this long: it probes its input
/// first (5 s of an MPEG-TS stream by default), and RTSP sets up a session.
pub const FFMPEG_START: Duration = Duration::from_secs(15);
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
    #[error(transparent)]
    V4l(#[from] V4lError),
    /// The `ffmpeg` child exited: its status and last error line.
    #[error("ffmpeg exited ({status}): {last}")]
    FfmpegExited { status: String, last: String },
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Capped exponential back-off: 0.5 s, 1 s, 2 s ... 30 s.
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_MIN.saturating_mul(1u32 << attempt.min(10)).min(BACKOFF_MAX)
}

/// The `v4l://` keys of a camera's config.
pub fn video4linux_settings(cam: &crate::config::CameraSource) -> video4linux::Settings {
    video4linux::Settings { width: cam.width, height: cam.height, format: cam.format }
}

/// Everything a capture task needs.
pub struct Capture {
    pub id: String,
    pub url: String,
    pub fps: f32,
    pub slot: Arc<LatestSlot>,
    pub board: Arc<Board>,
    /// `v4l://` only: size and format asked of the device.
    pub v4l: video4linux::Settings,
}

impl Capture {
    fn deliver(&self, jpeg: Vec<u8>) {
        let seq = self.board.next_frame(&self.id);
        let f = Frame { jpeg: Arc::new(jpeg), at_ms: now_ms(), seq };
        self.board.frame_received(&self.id, &f);
        self.slot.put(f);
    }

    /// A part that is no usable frame: counted as a frame and reported by its number.
    fn bad_part(&self, what: impl std::fmt::Display) {
        let seq = self.board.next_frame(&self.id);
        self.board.error(&self.id, format!("frame {seq}: {what}"));
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
        } else if let Some(input) = self.url.strip_prefix("ffmpeg:") {
            self.ffmpeg(input, attempt).await
        } else if let Some(path) = self.url.strip_prefix("file://") {
            self.replay(Path::new(path), attempt).await
        } else if let Some(device) = self.url.strip_prefix("v4l://") {
            self.v4l(device, attempt).await
        } else {
            Err(SourceError::Url(self.url.clone()))
        }
    }

    async fn mjpeg(&self, url: &str, attempt: &mut u32) -> Result<(), SourceError> {
        let (mut stream, head, rest) = http_get(url).await?;
        let ctype = head.header("content-type").unwrap_or_default();
        let boundary = boundary_of(&ctype).ok_or_else(|| SourceError::Http(format!("not multipart: `{ctype}`")))?;
        self.pump(&mut stream, MultipartParser::new(&boundary, MAX_PART), rest, attempt, STALL).await
    }

    /// Run an `ffmpeg` child for `input` and read its JPEGs.
    async fn ffmpeg(&self, input: &str, attempt: &mut u32) -> Result<(), SourceError> {
        let mut cmd = tokio::process::Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
        if input.starts_with('/') {
            // A local file plays at its own rate, like a camera.
            cmd.arg("-re");
        }
        if input.starts_with("rtsp://") {
            cmd.args(["-rtsp_transport", "tcp"]);
        }
        let fps = format!("fps={}", self.fps);
        cmd.arg("-i").arg(input).args(["-an", "-vf", &fps, "-q:v", "5", "-f", "mpjpeg", "pipe:1"]);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(SourceError::Http("ffmpeg pipes missing".into()));
        };
        // ffmpeg's last words, kept small.
        let stderr = tokio::spawn(async move {
            let mut tail = Vec::new();
            let mut chunk = [0u8; 1024];
            while let Ok(n) = err.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 4096 {
                    tail.drain(..tail.len() - 4096);
                }
            }
            String::from_utf8_lossy(&tail).lines().last().unwrap_or_default().to_string()
        });
        let parser = MultipartParser::new("ffmpeg", MAX_PART);
        let res = self.pump(&mut out, parser, Vec::new(), attempt, FFMPEG_START).await;
        let _ = child.start_kill();
        let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        let last = tokio::time::timeout(Duration::from_secs(1), stderr).await.ok().and_then(Result::ok);
        match res {
            Err(SourceError::Ended) => {
                let code = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "no exit status".into(),
                };
                Err(SourceError::FfmpegExited { status: code, last: last.unwrap_or_default() })
            }
            other => other,
        }
    }

    /// Feed `reader` through `parser` until it ends, fails or stalls (no
    /// frame within `first_within` of the start, or within [`STALL`] of the last).
    async fn pump(
        &self,
        reader: &mut (impl AsyncRead + Unpin),
        mut parser: MultipartParser,
        rest: Vec<u8>,
        attempt: &mut u32,
        first_within: Duration,
    ) -> Result<(), SourceError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending = rest;
        let mut last_frame = tokio::time::Instant::now();
        let mut limit = first_within;
        loop {
            for part in parser.push(&pending) {
                match part {
                    Ok(jpeg) => {
                        *attempt = 0;
                        last_frame = tokio::time::Instant::now();
                        limit = STALL;
                        self.deliver(jpeg);
                    }
                    Err(e) => self.bad_part(e),
                }
            }
            let left = limit.saturating_sub(last_frame.elapsed());
            let n = match tokio::time::timeout(left, reader.read(&mut buf)).await {
                Err(_) => return Err(SourceError::Stalled(limit)),
                Ok(r) => r?,
            };
            if n == 0 {
                return Err(SourceError::Ended);
            }
            pending = buf[..n].to_vec();
        }
    }

    /// Capture from a V4L2 device on a blocking thread until it fails or stalls.
    async fn v4l(&self, device: &str, attempt: &mut u32) -> Result<(), SourceError> {
        /// Ends the capture thread when this connection is dropped (stop).
        struct StopOnDrop(Arc<AtomicBool>);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let flag = stop.0.clone();
        let want = video4linux::Want::new(self.v4l, self.fps);
        let path = std::path::PathBuf::from(device);
        let task = tokio::task::spawn_blocking(move || {
            video4linux::capture(&path, want, STALL, &flag, |jpeg| tx.blocking_send(jpeg).is_ok())
        });
        while let Some(jpeg) = rx.recv().await {
            *attempt = 0;
            self.deliver(jpeg);
        }
        drop(stop);
        match task.await {
            Ok(r) => r.map_err(SourceError::from),
            Err(e) => Err(SourceError::Http(format!("v4l capture thread: {e}"))),
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
                self.bad_part("snapshot is not a JPEG");
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

#[cfg(test)]
#[path = "source_tests.rs"]
mod source_tests;
