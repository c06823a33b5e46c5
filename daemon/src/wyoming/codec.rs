//! Wyoming framing (the `wyoming` 1.10 Python package's `event.py`), pure:
//! bytes in, events out, and back.
//!
//! A frame is one JSON header line (`{"type": ..., "data_length": N,
//! "payload_length": M}` and the writer's `version`), then N bytes of JSON
//! data (an object), then M bytes of binary payload. The older form carries
//! `data` inline in the header; both are accepted, and as in the reference
//! reader the data bytes are merged over the inline object. Lengths are
//! bounded ([`Limits`]): a header line, data or payload over its limit is an
//! error before any of it is buffered.

use serde_json::{Map, Value};
use thiserror::Error;

/// The protocol version written in every header (the package this was built against).
pub const VERSION: &str = "1.10.2";

/// Largest frame parts accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header line, without its newline.
    pub header: usize,
    pub data: usize,
    pub payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A 16 kHz 16-bit chunk is 2 KiB; a TTS chunk 2 KiB; info is ~20 KiB.
        Limits { header: 64 * 1024, data: 1024 * 1024, payload: 4 * 1024 * 1024 }
    }
}

/// One Wyoming event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub data: Map<String, Value>,
    pub payload: Option<Vec<u8>>,
}

impl Event {
    pub fn new(kind: &str) -> Event {
        Event { kind: kind.to_string(), data: Map::new(), payload: None }
    }

    /// An event with `data` (must be a JSON object; anything else gives empty data).
    pub fn with(kind: &str, data: Value) -> Event {
        let data = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Event { kind: kind.to_string(), data, payload: None }
    }

    pub fn payload(mut self, payload: Vec<u8>) -> Event {
        self.payload = Some(payload);
        self
    }

    /// A string field of `data`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// What was wrong with a frame. The connection cannot be resynchronised
/// after any of these (the stream position is unknown).
#[derive(Debug, Error)]
pub enum CodecError {
    #[error("header line longer than {limit} bytes without a newline")]
    HeaderTooLong { limit: usize },
    #[error("empty header line")]
    EmptyHeader,
    #[error("header is not JSON: {0}")]
    HeaderNotJson(#[source] serde_json::Error),
    #[error("header is not a JSON object")]
    HeaderNotObject,
    #[error("header has no string `type`")]
    MissingType,
    #[error("`{field}` is not a non-negative integer")]
    BadLength { field: &'static str },
    #[error("`data_length` {len} is over the {limit}-byte limit")]
    DataTooLong { len: u64, limit: usize },
    #[error("`payload_length` {len} is over the {limit}-byte limit")]
    PayloadTooLong { len: u64, limit: usize },
    #[error("inline `data` is not a JSON object")]
    InlineDataNotObject,
    #[error("data is not JSON: {0}")]
    DataNotJson(#[source] serde_json::Error),
    #[error("data is not a JSON object")]
    DataNotObject,
}

fn length(header: &Map<String, Value>, field: &'static str) -> Result<u64, CodecError> {
    match header.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or(CodecError::BadLength { field }),
    }
}

/// Decode one frame from the front of `buf`: `Ok(None)` until the whole
/// frame is there, else the event and how many bytes it took.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Event, usize)>, CodecError> {
    let scan = &buf[..buf.len().min(limits.header + 1)];
    let Some(nl) = scan.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.header {
            return Err(CodecError::HeaderTooLong { limit: limits.header });
        }
        return Ok(None);
    };
    let line = &buf[..nl];
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(CodecError::EmptyHeader);
    }
    let header: Value = serde_json::from_slice(line).map_err(CodecError::HeaderNotJson)?;
    let Value::Object(mut header) = header else { return Err(CodecError::HeaderNotObject) };
    let kind = match header.remove("type") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(CodecError::MissingType),
    };
    let data_len = length(&header, "data_length")?;
    if data_len > limits.data as u64 {
        return Err(CodecError::DataTooLong { len: data_len, limit: limits.data });
    }
    let payload_len = length(&header, "payload_length")?;
    if payload_len > limits.payload as u64 {
        return Err(CodecError::PayloadTooLong { len: payload_len, limit: limits.payload });
    }
    let (data_len, payload_len) = (data_len as usize, payload_len as usize);
    let total = nl + 1 + data_len + payload_len;
    if buf.len() < total {
        return Ok(None);
    }
    let mut data = match header.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(CodecError::InlineDataNotObject),
    };
    let body = nl + 1;
    if data_len > 0 {
        let extra: Value = serde_json::from_slice(&buf[body..body + data_len]).map_err(CodecError::DataNotJson)?;
        let Value::Object(extra) = extra else { return Err(CodecError::DataNotObject) };
        data.extend(extra);
    }
    let payload = (payload_len > 0).then(|| buf[body + data_len..total].to_vec());
    Ok(Some((Event { kind, data, payload }, total)))
}

/// Encode an event as the reference writer does: data after the header
/// (when not empty), then the payload (when not empty).
pub fn encode(ev: &Event) -> Vec<u8> {
    let mut header = Map::new();
    header.insert("type".into(), Value::String(ev.kind.clone()));
    header.insert("version".into(), Value::String(VERSION.into()));
    let data = (!ev.data.is_empty()).then(|| Value::Object(ev.data.clone()).to_string().into_bytes());
    if let Some(d) = &data {
        header.insert("data_length".into(), Value::from(d.len()));
    }
    let payload = ev.payload.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = payload {
        header.insert("payload_length".into(), Value::from(p.len()));
    }
    let mut out = Value::Object(header).to_string().into_bytes();
    out.push(b'\n');
    out.extend(data.unwrap_or_default());
    out.extend_from_slice(payload.unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lim() -> Limits {
        Limits { header: 200, data: 100, payload: 1000 }
    }

    fn frame(header: &str, data: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = header.as_bytes().to_vec();
        v.push(b'\n');
        v.extend_from_slice(data);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn round_trip_with_data_and_payload() {
        let ev =
            Event::with("audio-chunk", json!({"rate": 16000, "width": 2, "channels": 1})).payload(vec![1, 2, 3, 4]);
        let bytes = encode(&ev);
        let line_end = bytes.iter().position(|&b| b == b'\n').unwrap();
        let header: Value = serde_json::from_slice(&bytes[..line_end]).unwrap();
        assert_eq!(header["type"], "audio-chunk");
        assert_eq!(header["version"], VERSION);
        assert_eq!(header["payload_length"], 4);
        assert!(header.get("data").is_none(), "data goes after the header");
        let (back, used) = decode(&bytes, &lim()).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(back, ev);
    }

    /// Found by the `wyoming` fuzz target: without serde_json's
    /// `float_roundtrip`, `60e099` parsed to 6.0000000000000005e100 while the
    /// re-encoded `6e100` parsed to 6e100, so an event did not survive
    /// encode/decode. Numbers now parse correctly rounded.
    #[test]
    fn numbers_round_trip_exactly() {
        for text in ["60e099", "0.1", "1.7976931348623157e308", "2.2250738585072014e-308", "123456789.123456789"] {
            let data = format!(r#"{{"x":{text}}}"#);
            let h = format!(r#"{{"type":"t","data_length":{}}}"#, data.len());
            let (ev, _) = decode(&frame(&h, data.as_bytes(), b""), &lim()).unwrap().unwrap();
            let expected: f64 = text.parse().unwrap();
            assert_eq!(ev.data["x"].as_f64(), Some(expected), "{text}");
            let bytes = encode(&ev);
            assert_eq!(decode(&bytes, &lim()).unwrap().unwrap().0, ev, "{text}");
        }
    }

    #[test]
    fn empty_data_and_payload_are_left_out() {
        let bytes = encode(&Event::new("describe"));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("data_length") && !text.contains("payload_length"), "{text}");
        let (ev, used) = decode(&bytes, &lim()).unwrap().unwrap();
        assert_eq!((ev.kind.as_str(), ev.data.len(), ev.payload, used), ("describe", 0, None, bytes.len()));
    }

    #[test]
    fn inline_data_and_merge() {
        // The older form: data in the header.
        let b = frame(r#"{"type":"transcript","data":{"text":"hi"}}"#, b"", b"");
        let (ev, _) = decode(&b, &lim()).unwrap().unwrap();
        assert_eq!(ev.str("text"), Some("hi"));
        // Both: the data bytes win over the inline object, key by key.
        let data = br#"{"text":"later"}"#;
        let h =
            format!(r#"{{"type":"transcript","data":{{"text":"hi","language":"en"}},"data_length":{}}}"#, data.len());
        let (ev, _) = decode(&frame(&h, data, b""), &lim()).unwrap().unwrap();
        assert_eq!((ev.str("text"), ev.str("language")), (Some("later"), Some("en")));
        // null lengths and null data, as some writers send.
        let b = frame(r#"{"type":"ping","data":null,"data_length":null,"payload_length":null}"#, b"", b"");
        assert_eq!(decode(&b, &lim()).unwrap().unwrap().0.kind, "ping");
    }

    #[test]
    fn incomplete_frames_wait() {
        let data = br#"{"rate":16000}"#;
        let h = format!(r#"{{"type":"audio-chunk","data_length":{},"payload_length":3}}"#, data.len());
        let full = frame(&h, data, &[9, 8, 7]);
        for cut in 0..full.len() {
            assert!(decode(&full[..cut], &lim()).unwrap().is_none(), "cut at {cut}");
        }
        let mut two = full.clone();
        two.extend_from_slice(&encode(&Event::new("audio-stop")));
        let (ev, used) = decode(&two, &lim()).unwrap().unwrap();
        assert_eq!((ev.payload.as_deref(), used), (Some(&[9u8, 8, 7][..]), full.len()));
        assert_eq!(decode(&two[used..], &lim()).unwrap().unwrap().0.kind, "audio-stop");
    }

    #[test]
    fn limits_are_enforced_before_buffering() {
        let long = vec![b'x'; 201];
        assert!(matches!(decode(&long, &lim()), Err(CodecError::HeaderTooLong { limit: 200 })));
        assert!(decode(&long[..200], &lim()).unwrap().is_none(), "200 bytes may still become a header");
        let b = frame(r#"{"type":"x","data_length":101}"#, b"", b"");
        let e = decode(&b, &lim()).unwrap_err();
        assert_eq!(e.to_string(), "`data_length` 101 is over the 100-byte limit");
        let b = frame(r#"{"type":"x","payload_length":99999999999}"#, b"", b"");
        assert!(matches!(decode(&b, &lim()), Err(CodecError::PayloadTooLong { len: 99_999_999_999, .. })));
    }

    #[test]
    fn malformed_frames_say_what_is_wrong() {
        let cases: [(&str, &[u8], &str); 9] = [
            ("not json", b"", "header is not JSON"),
            ("[1,2]", b"", "header is not a JSON object"),
            (r#"{"data":{}}"#, b"", "header has no string `type`"),
            (r#"{"type":5}"#, b"", "header has no string `type`"),
            (r#"{"type":"x","data_length":-1}"#, b"", "`data_length` is not a non-negative integer"),
            (r#"{"type":"x","payload_length":"3"}"#, b"", "`payload_length` is not a non-negative integer"),
            (r#"{"type":"x","data":[1]}"#, b"", "inline `data` is not a JSON object"),
            (r#"{"type":"x","data_length":3}"#, b"abc", "data is not JSON"),
            (r#"{"type":"x","data_length":3}"#, b"[1]", "data is not a JSON object"),
        ];
        for (h, d, want) in cases {
            let e = decode(&frame(h, d, b""), &lim()).unwrap_err().to_string();
            assert!(e.starts_with(want), "{h}: {e}");
        }
        assert!(matches!(decode(b"\n", &lim()), Err(CodecError::EmptyHeader)));
    }

    #[test]
    fn reads_the_reference_writers_bytes() {
        // Exactly what wyoming 1.10.2's `async_write_event` writes for a transcript.
        let b = b"{\"type\": \"transcript\", \"version\": \"1.10.2\", \"data_length\": 14}\n{\"text\": \"hi\"}";
        assert!(decode(&b[..b.len() - 1], &lim()).unwrap().is_none(), "one byte short waits");
        let (ev, used) = decode(b, &lim()).unwrap().unwrap();
        assert_eq!((ev.str("text"), used), (Some("hi"), b.len()));
    }
}
