//! The Wyoming codec (daemon/src/wyoming/codec.rs, included by path: it
//! names nothing else of the daemon crate) fed a byte stream in arbitrary
//! chunks, the way a connection's reads arrive. Every chunking decodes the
//! same events and ends in the same error; a frame is `Ok(None)` one byte
//! short of complete; every decoded event encodes and decodes back to itself.
//! Oversize lengths are errors before anything is buffered (small limits
//! here, so they are reachable).
#![no_main]

#[path = "../../daemon/src/wyoming/codec.rs"]
#[allow(dead_code)]
mod codec;

use codec::{Event, Limits, decode, encode};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { header: 512, data: 2048, payload: 4096 };

/// Decode `stream` arriving in chunks of the given sizes (cycled), as the
/// session loop does: decode until `Ok(None)`, then read more.
fn run(stream: &[u8], chunks: &[u8]) -> (Vec<Event>, Option<String>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut at = 0;
    let mut i = 0;
    loop {
        loop {
            match decode(&buf, &LIMITS) {
                Ok(Some((ev, used))) => {
                    assert!(used > 0 && used <= buf.len(), "used {used} of {}", buf.len());
                    buf.drain(..used);
                    events.push(ev);
                }
                Ok(None) => break,
                Err(e) => return (events, Some(e.to_string())),
            }
        }
        if at >= stream.len() {
            return (events, None);
        }
        let n = chunks.get(i % chunks.len().max(1)).map_or(stream.len(), |c| usize::from(*c).max(1));
        i += 1;
        let end = (at + n).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        // Never more than one frame's limits (plus the last read) waiting.
        if !chunks.is_empty() {
            assert!(buf.len() <= LIMITS.header + 1 + LIMITS.data + LIMITS.payload + 256, "buffer {}", buf.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many chunk sizes follow; then the stream.
    let [n, rest @ ..] = data else { return };
    let n = usize::from(*n % 16).min(rest.len());
    let (chunks, stream) = rest.split_at(n);
    let whole = run(stream, &[]);
    let chunked = run(stream, chunks);
    assert_eq!(whole, chunked, "chunking changed the decoding");
    let (events, _) = whole;
    for ev in &events {
        let bytes = encode(ev);
        // One byte short waits; the whole frame is the event again.
        assert!(matches!(decode(&bytes[..bytes.len() - 1], &Limits::default()), Ok(None)));
        let (back, used) = match decode(&bytes, &Limits::default()) {
            Ok(Some(x)) => x,
            other => panic!("re-encoded {ev:?} does not decode: {other:?}"),
        };
        assert_eq!(used, bytes.len());
        assert_eq!(&back, ev);
    }
});
