//! Incremental `multipart/x-mixed-replace` parser for MJPEG streams
//! (ESP32-CAM, IP cameras, `ffmpeg -f mpjpeg`): bytes in, JPEG parts out. No
//! I/O; the capture task feeds it whatever the socket returned.
//!
//! A part is `--boundary` CRLF, headers, CRLF, body. The body ends after
//! `Content-Length` bytes when the part says so, else at the next
//! `CRLF--boundary`. Errors are reported inline and the parser resyncs on the
//! next delimiter, so one bad part costs one frame, not the stream.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MjpegError {
    #[error("stream delimiter `{found}` is not the announced boundary `{expected}`")]
    WrongBoundary { expected: String, found: String },
    #[error("part is not a JPEG (content type `{0}`)")]
    NotJpeg(String),
    #[error("part of {size} bytes or more exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("malformed part headers: {0}")]
    BadHeaders(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a delimiter line.
    Delimiter,
    /// Reading part headers.
    Headers,
    /// Reading a body; `Some(n)`: exactly n bytes.
    Body(Option<usize>),
    /// Dropping a body (bad or too large) up to the next delimiter.
    Skip,
}

const MAX_HEADERS: usize = 8 * 1024;

/// The parser. `max_part` bounds one JPEG and so the buffer.
#[derive(Debug)]
pub struct MultipartParser {
    /// `--` + boundary.
    delim: Vec<u8>,
    /// CRLF + `--` + boundary: the end of a body without Content-Length.
    body_end: Vec<u8>,
    buf: Vec<u8>,
    state: State,
    max_part: usize,
    /// The current part's content type is not JPEG: skip its body.
    part_bad: bool,
}

/// What one `push` produced, in stream order.
pub type Parts = Vec<Result<Vec<u8>, MjpegError>>;

impl MultipartParser {
    /// `boundary` as announced in `Content-Type: multipart/x-mixed-replace;
    /// boundary=...` (a leading `--` some cameras put there is accepted).
    pub fn new(boundary: &str, max_part: usize) -> MultipartParser {
        let b = boundary.trim().trim_matches('"');
        let b = b.strip_prefix("--").unwrap_or(b);
        let delim = format!("--{b}").into_bytes();
        let mut body_end = b"\r\n".to_vec();
        body_end.extend_from_slice(&delim);
        MultipartParser { delim, body_end, buf: Vec::new(), state: State::Delimiter, max_part, part_bad: false }
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, data: &[u8]) -> Parts {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0usize;
        loop {
            let rest = &self.buf[pos..];
            match self.state {
                State::Delimiter => {
                    let Some(nl) = find(rest, b"\n") else {
                        if rest.len() > MAX_HEADERS {
                            // A line this long is no delimiter: drop it.
                            pos = self.buf.len();
                        }
                        break;
                    };
                    let line = trim_cr(&rest[..nl]);
                    pos += nl + 1;
                    if line.is_empty() {
                        continue;
                    }
                    if line.starts_with(&self.delim) {
                        self.state = State::Headers;
                        self.part_bad = false;
                    } else if line.starts_with(b"--") {
                        out.push(Err(MjpegError::WrongBoundary {
                            expected: String::from_utf8_lossy(&self.delim[2..]).into_owned(),
                            found: String::from_utf8_lossy(&line[2..line.len().min(80)]).into_owned(),
                        }));
                    }
                }
                State::Headers => {
                    let Some(end) = find(rest, b"\r\n\r\n").map(|i| (i, 4)).or_else(|| headers_end_lf(rest)) else {
                        if rest.len() > MAX_HEADERS {
                            out.push(Err(MjpegError::BadHeaders(format!("over {MAX_HEADERS} bytes"))));
                            pos = self.buf.len();
                            self.state = State::Delimiter;
                        }
                        break;
                    };
                    let (len, ctype) = match parse_headers(&rest[..end.0]) {
                        Ok(h) => h,
                        Err(e) => {
                            out.push(Err(e));
                            (None, None)
                        }
                    };
                    pos += end.0 + end.1;
                    if let Some(t) = ctype.filter(|t| !t.eq_ignore_ascii_case("image/jpeg")) {
                        out.push(Err(MjpegError::NotJpeg(t)));
                        self.part_bad = true;
                    }
                    self.state = match len {
                        Some(n) if n > self.max_part => {
                            out.push(Err(MjpegError::TooLarge { size: n, max: self.max_part }));
                            State::Skip
                        }
                        // A bad part with a length is dropped by its length, so
                        // what follows it is still seen (and checked).
                        Some(n) => State::Body(Some(n)),
                        None if self.part_bad => State::Skip,
                        None => State::Body(None),
                    };
                }
                State::Body(Some(n)) => {
                    if rest.len() < n {
                        break;
                    }
                    if !self.part_bad {
                        out.push(check_jpeg(rest[..n].to_vec()));
                    }
                    pos += n;
                    self.state = State::Delimiter;
                }
                State::Body(None) | State::Skip => {
                    let skipping = self.state == State::Skip;
                    match find(rest, &self.body_end) {
                        Some(i) => {
                            if !skipping {
                                out.push(check_jpeg(rest[..i].to_vec()));
                            }
                            pos += i + 2;
                            self.state = State::Delimiter;
                        }
                        None => {
                            // Keep a possible delimiter prefix; drop the rest when skipping.
                            let keep = self.body_end.len();
                            if skipping && rest.len() > keep {
                                pos += rest.len() - keep;
                            } else if !skipping && rest.len() > self.max_part {
                                out.push(Err(MjpegError::TooLarge { size: rest.len(), max: self.max_part }));
                                pos += rest.len() - keep;
                                self.state = State::Skip;
                                continue;
                            }
                            break;
                        }
                    }
                }
            }
        }
        self.buf.drain(..pos);
        out
    }
}

fn check_jpeg(body: Vec<u8>) -> Result<Vec<u8>, MjpegError> {
    if body.starts_with(&[0xFF, 0xD8]) {
        Ok(body)
    } else {
        Err(MjpegError::NotJpeg("body without a JPEG start marker".into()))
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn headers_end_lf(b: &[u8]) -> Option<(usize, usize)> {
    find(b, b"\n\n").map(|i| (i, 2))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `Content-Length` and `Content-Type` of a header block.
fn parse_headers(block: &[u8]) -> Result<(Option<usize>, Option<String>), MjpegError> {
    let text = std::str::from_utf8(block).map_err(|_| MjpegError::BadHeaders("not UTF-8".into()))?;
    let (mut len, mut ctype) = (None, None);
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        if k.trim().eq_ignore_ascii_case("content-length") {
            len = Some(v.parse::<usize>().map_err(|_| MjpegError::BadHeaders(format!("Content-Length `{v}`")))?);
        } else if k.trim().eq_ignore_ascii_case("content-type") {
            ctype = Some(v.split(';').next().unwrap_or("").trim().to_string());
        }
    }
    Ok((len, ctype))
}

/// The boundary parameter of a `multipart/x-mixed-replace` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend(std::iter::repeat_n(n, len));
        v.extend([0xFF, 0xD9]);
        v
    }

    fn part(boundary: &str, body: &[u8], ctype: &str, with_len: bool) -> Vec<u8> {
        let mut v = format!("--{boundary}\r\nContent-Type: {ctype}\r\n").into_bytes();
        if with_len {
            v.extend(format!("Content-Length: {}\r\n", body.len()).bytes());
        }
        v.extend(b"\r\n");
        v.extend(body);
        v.extend(b"\r\n");
        v
    }

    fn ok_parts(out: &Parts) -> Vec<Vec<u8>> {
        out.iter().filter_map(|r| r.as_ref().ok().cloned()).collect()
    }

    #[test]
    fn parts_with_and_without_length_in_any_chunking() {
        let frames: Vec<Vec<u8>> = (0..5).map(|i| jpeg(i, 100 + i as usize * 37)).collect();
        let mut stream = b"HTTP preamble junk\r\n".to_vec();
        for (i, f) in frames.iter().enumerate() {
            stream.extend(part("frame", f, "image/jpeg", i % 2 == 0));
        }
        stream.extend(b"--frame\r\n");
        for chunk in [1, 2, 7, 64, 4096] {
            let mut p = MultipartParser::new("frame", 1 << 20);
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                let out = p.push(c);
                assert!(out.iter().all(Result::is_ok), "chunk {chunk}: {out:?}");
                got.extend(ok_parts(&out));
            }
            assert_eq!(got, frames, "chunk {chunk}");
            assert!(p.buffered() < 64, "chunk {chunk}: {}", p.buffered());
        }
    }

    #[test]
    fn body_containing_crlf_dashes_is_kept_whole_with_content_length() {
        let mut body = jpeg(1, 10);
        body.extend(b"\r\n--fram");
        body.extend([0xFF, 0xD9]);
        let mut p = MultipartParser::new("\"--frame\"", 1000);
        let out = p.push(&[part("frame", &body, "image/jpeg", true), b"--frame\r\n".to_vec()].concat());
        assert_eq!(ok_parts(&out), vec![body]);
    }

    #[test]
    fn wrong_boundary_is_reported_and_the_right_one_still_parses() {
        let mut p = MultipartParser::new("frame", 1000);
        let stream = [
            part("frame", b"<html/>", "text/html", true),
            part("other", &jpeg(1, 5), "image/jpeg", true),
            part("frame", &jpeg(2, 5), "image/jpeg", true),
        ]
        .concat();
        let out = p.push(&[stream, b"--frame\r\n".to_vec()].concat());
        assert_eq!(out[0], Err(MjpegError::NotJpeg("text/html".into())));
        assert!(matches!(&out[1], Err(MjpegError::WrongBoundary { found, .. }) if found == "other"), "{out:?}");
        assert_eq!(ok_parts(&out), vec![jpeg(2, 5)]);
    }

    #[test]
    fn non_jpeg_parts_are_errors_and_skipped() {
        let mut p = MultipartParser::new("b", 1000);
        let stream = [
            part("b", b"hello", "text/plain", false),
            part("b", b"not a jpeg", "image/jpeg", true),
            part("b", &jpeg(3, 4), "image/jpeg", false),
            b"--b--\r\n".to_vec(),
        ]
        .concat();
        let out = p.push(&stream);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0], Err(MjpegError::NotJpeg("text/plain".into())));
        assert!(matches!(out[1], Err(MjpegError::NotJpeg(_))));
        assert_eq!(out[2], Ok(jpeg(3, 4)));
    }

    #[test]
    fn oversized_parts_are_refused_without_buffering_them() {
        for with_len in [true, false] {
            let mut p = MultipartParser::new("b", 100);
            let big = jpeg(7, 10_000);
            let stream =
                [part("b", &big, "image/jpeg", with_len), part("b", &jpeg(1, 3), "image/jpeg", with_len)].concat();
            let mut out = Vec::new();
            for c in stream.chunks(50) {
                out.extend(p.push(c));
                assert!(p.buffered() < 300, "buffer grew to {}", p.buffered());
            }
            out.extend(p.push(b"--b\r\n"));
            assert!(matches!(out[0], Err(MjpegError::TooLarge { max: 100, .. })), "{out:?}");
            assert_eq!(ok_parts(&out), vec![jpeg(1, 3)], "with_len {with_len}");
        }
    }

    #[test]
    fn bad_content_length_and_endless_headers() {
        let mut p = MultipartParser::new("b", 100);
        let out = p.push(b"--b\r\nContent-Length: many\r\n\r\n\xFF\xD8\xFF\xD9\r\n--b\r\n");
        assert!(matches!(out[0], Err(MjpegError::BadHeaders(_))), "{out:?}");
        let mut p = MultipartParser::new("b", 100);
        let mut out = p.push(b"--b\r\n");
        out.extend(p.push(&vec![b'x'; MAX_HEADERS + 10]));
        assert!(matches!(out[0], Err(MjpegError::BadHeaders(_))), "{out:?}");
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(boundary_of("multipart/x-mixed-replace; boundary=ffmpeg").as_deref(), Some("ffmpeg"));
        assert_eq!(boundary_of("multipart/x-mixed-replace;boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary_of("image/jpeg"), None);
        assert_eq!(boundary_of("text/html; charset=utf-8"), None);
    }
}
