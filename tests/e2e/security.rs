//! The local API against a hostile but fair client (issue 17): a web page
//! cannot control devices (Host, Origin, Content-Type, token or session
//! cookie even on loopback), malformed headers are 4xx not 500, methods get
//! 405 with `Allow` and HEAD works, retries with an `Idempotency-Key` act
//! once, and slow or idle sockets are closed within the configured bounds
//! while the connection cap holds.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Daemon, Mosquitto, free_port, http_raw, http_with, json, write_config};

const TOKEN: &str = "e2e-secret-token-0123";
const AUTH: &str = "Bearer e2e-secret-token-0123";

/// A daemon without the test suite's loopback opt-out; `extra` is added to `[web]`.
fn start(dir: &std::path::Path, broker: &Mosquitto, extra: &str) -> Daemon {
    let web_port = free_port();
    let config = write_config(dir, broker.port, web_port, 3000);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("loopback_without_token = true\n", extra);
    assert!(text.contains("[web]"), "{text}");
    std::fs::write(&config, text).unwrap();
    Daemon::start(&config, web_port, None)
}

fn commands(d: &Daemon) -> usize {
    let auth = format!("Bearer {TOKEN}");
    let (code, _, body) = http_with(
        d.web_port,
        "GET",
        "/api/commands?limit=1000",
        None,
        &[("Host", "127.0.0.1"), ("Authorization", &auth)],
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    json(&body).as_array().map_or(0, Vec::len)
}

#[test]
fn a_web_page_cannot_control_devices() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(dir.path(), &broker, &format!("token = \"{TOKEN}\"\nallowed_origins = [\"http://hub.lan:8080\"]\n"));
    let port = d.web_port;
    let host = format!("127.0.0.1:{port}");
    let auth = format!("Bearer {TOKEN}");
    let say = r#"{"text":"turn on the kitchen light"}"#;
    let post = |headers: &[(&str, &str)]| http_with(port, "POST", "/api/say", Some(say), headers).unwrap();

    // The probe from the issue: a DNS-rebinding page (foreign Host and Origin).
    let (code, _, body) = post(&[
        ("Host", "attacker.example:8080"),
        ("Origin", "http://attacker.example:8080"),
        ("Content-Type", "application/json"),
    ]);
    assert_eq!(code, 421, "{body}");
    // A page on another site, even with the right Host: its Origin is refused.
    let (code, _, body) =
        post(&[("Host", &host), ("Origin", "http://attacker.example"), ("Content-Type", "application/json")]);
    assert_eq!(code, 403, "{body}");
    // `fetch(..., {mode: "no-cors"})`: no JSON content type, no token.
    let (code, _, body) = post(&[("Host", &host), ("Content-Type", "text/plain")]);
    assert!(code == 401 || code == 415, "{code} {body}");
    // Loopback without the token: refused (no opt-out configured).
    let (code, head, body) = post(&[("Host", &host), ("Content-Type", "application/json")]);
    assert_eq!(code, 401, "{body}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    // The token, but a body that is not declared JSON.
    let (code, _, body) = post(&[("Host", &host), ("Authorization", &auth)]);
    assert_eq!(code, 415, "{body}");
    let (code, _, body) = post(&[("Host", &host), ("Authorization", &auth), ("Content-Type", "text/plain")]);
    assert_eq!(code, 415, "{body}");
    assert_eq!(commands(&d), 0, "a refused request reached the outbox");

    // The legitimate client: token (scheme in any case), same-origin or allow-listed Origin.
    for (scheme, origin) in [("Bearer", None), ("bearer", Some(format!("http://{host}"))), ("BEARER", None)] {
        let auth = format!("{scheme} {TOKEN}");
        let mut headers = vec![("Host", host.as_str()), ("Authorization", &auth), ("Content-Type", "application/json")];
        if let Some(o) = &origin {
            headers.push(("Origin", o));
        }
        let (code, _, body) = post(&headers);
        assert_eq!(code, 200, "{scheme}: {body}");
    }
    let (code, _, body) = post(&[
        ("Host", "localhost"),
        ("Origin", "http://hub.lan:8080"),
        ("Authorization", &auth),
        ("Content-Type", "application/json; charset=utf-8"),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(commands(&d) >= 4);

    // A non-UTF-8 Authorization header is a 401, not a 500.
    let (code, _, body) = http_raw(
        port,
        "POST",
        "/api/say",
        Some(say),
        &[("Host", host.as_bytes()), ("Authorization", b"Bearer \xff\xfe\xfd"), ("Content-Type", b"application/json")],
    )
    .unwrap();
    assert_eq!(code, 401, "{body}");
    // Reads need the token too when one is configured and loopback is not opted out.
    let (code, _, _) = http_with(port, "GET", "/api/status", None, &[("Host", &host)]).unwrap();
    assert_eq!(code, 401);
}

#[test]
fn without_a_configured_token_loopback_reads_but_only_the_generated_token_writes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(dir.path(), &broker, "");
    let port = d.web_port;
    let (code, _, body) = http_with(port, "GET", "/api/status", None, &[("Host", "127.0.0.1")]).unwrap();
    assert_eq!(code, 200, "{body}");
    for auth in ["", "Bearer ", "Bearer guess-the-token", "Basic dXNlcjpwYXNz"] {
        let mut headers = vec![("Host", "127.0.0.1"), ("Content-Type", "application/json")];
        if !auth.is_empty() {
            headers.push(("Authorization", auth));
        }
        let (code, _, body) = http_with(port, "POST", "/api/say", Some(r#"{"text":"unlock"}"#), &headers).unwrap();
        assert_eq!(code, 401, "{auth:?}: {body}");
    }
}

#[test]
fn methods_headers_and_inputs_get_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(dir.path(), &broker, &format!("token = \"{TOKEN}\"\n"));
    let port = d.web_port;
    let auth = format!("Bearer {TOKEN}");
    let hdr = [("Host", "127.0.0.1"), ("Authorization", auth.as_str()), ("Content-Type", "application/json")];

    // HEAD where GET is served; 405 with Allow elsewhere.
    for path in ["/healthz", "/api/status", "/metrics", "/v1/models"] {
        let (code, head, body) = http_with(port, "HEAD", path, None, &hdr).unwrap();
        assert_eq!(code, 200, "HEAD {path}: {head}");
        assert!(body.is_empty(), "HEAD {path} has a body: {body}");
    }
    for (method, path, allow) in [
        ("GET", "/api/say", "post"),
        ("DELETE", "/api/say", "post"),
        ("PUT", "/api/commands", "get, head, post"),
        ("POST", "/healthz", "get, head"),
        ("GET", "/v1/chat/completions", "post"),
    ] {
        let (code, head, body) = http_with(port, method, path, None, &hdr).unwrap();
        assert_eq!(code, 405, "{method} {path}: {body}");
        assert!(head.contains(&format!("allow: {allow}")), "{method} {path}: {head}");
    }

    // Bounded session id, no control characters in text.
    let big = format!(r#"{{"text":"turn on the kitchen light","session":"{}"}}"#, "s".repeat(5_000_000));
    let (code, _, body) = http_with(port, "POST", "/api/say", Some(&big), &hdr).unwrap();
    assert_eq!(code, 400, "{}", &body[..body.len().min(300)]);
    assert!(body.contains("`session`") && body.len() < 1000, "{}", &body[..body.len().min(300)]);
    for text in [r#"turn on the kitchen light\u0000"#, r#"\u001b[2Jturn on the kitchen light"#] {
        let (code, _, body) =
            http_with(port, "POST", "/api/say", Some(&format!(r#"{{"text":"{text}"}}"#)), &hdr).unwrap();
        assert_eq!(code, 400, "{text}: {body}");
        assert!(body.contains("control characters"), "{body}");
    }
}

#[test]
fn a_retry_with_the_same_idempotency_key_acts_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(dir.path(), &broker, &format!("token = \"{TOKEN}\"\n"));
    let port = d.web_port;
    let with_key = |key: &'static str| {
        [("Host", "127.0.0.1"), ("Authorization", AUTH), ("Content-Type", "application/json"), ("Idempotency-Key", key)]
    };
    let cmd = r#"{"device_id":"light.kitchen","action":{"action":"turn_on"}}"#;
    let (c1, h1, b1) = http_with(port, "POST", "/api/commands", Some(cmd), &with_key("cmd-1")).unwrap();
    let (c2, h2, b2) = http_with(port, "POST", "/api/commands", Some(cmd), &with_key("cmd-1")).unwrap();
    assert_eq!((c1, c2), (202, 202), "{b1} {b2}");
    assert_eq!(json(&b1)["commands"][0]["id"], json(&b2)["commands"][0]["id"], "{b1} {b2}");
    assert!(!h1.contains("idempotent-replayed") && h2.contains("idempotent-replayed: true"), "{h2}");
    assert_eq!(commands(&d), 1);
    let say = r#"{"text":"turn off the kitchen light"}"#;
    let (_, _, s1) = http_with(port, "POST", "/api/say", Some(say), &with_key("say-1")).unwrap();
    let n1 = commands(&d);
    let (_, _, s2) = http_with(port, "POST", "/api/say", Some(say), &with_key("say-1")).unwrap();
    assert_eq!(s1, s2);
    assert!(n1 > 1 && commands(&d) == n1, "{s1}");
    // A new key acts again; a bad key is refused.
    let (code, _, _) = http_with(port, "POST", "/api/commands", Some(cmd), &with_key("cmd-2")).unwrap();
    assert_eq!(code, 202);
    assert_eq!(commands(&d), n1 + 1);
    let (code, _, body) = http_with(port, "POST", "/api/commands", Some(cmd), &with_key("has space")).unwrap();
    assert_eq!(code, 400, "{body}");
}

/// Read until the server closes the socket; the time it took (`None`: still open after `within`).
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 1024];
    while t0.elapsed() < within {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).unwrap()
}

#[test]
fn slow_and_idle_sockets_are_closed_and_connections_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(
        dir.path(),
        &broker,
        "loopback_without_token = true\nheader_timeout_ms = 1000\nbody_timeout_ms = 1000\nmax_connections = 4\n",
    );
    let port = d.web_port;
    let bound = Duration::from_secs(4);

    // The cap: four idle sockets take every slot; a fifth client waits in the
    // backlog until the header timeout frees one, then is served.
    let idle: Vec<TcpStream> = (0..4).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let (code, _, _) = http_with(port, "GET", "/healthz", None, &[("Host", "127.0.0.1")]).unwrap();
    let waited = t0.elapsed();
    assert_eq!(code, 200);
    assert!(waited >= Duration::from_millis(600), "served at once ({waited:?}): the cap did not hold");
    assert!(waited < bound, "not served after a slot freed ({waited:?})");
    for mut s in idle {
        assert!(closed_within(&mut s, bound).is_some(), "an idle connection stayed open");
    }

    // An idle connection is closed within the header timeout.
    let mut s = connect(port);
    let took = closed_within(&mut s, Duration::from_secs(10)).expect("idle connection never closed");
    assert!(took < bound, "{took:?}");

    // Headers trickled a byte at a time: closed at the header deadline.
    let mut s = connect(port);
    let trickler = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
            for _ in 0..100 {
                if w.write_all(b"a").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let took = closed_within(&mut s, Duration::from_secs(10)).expect("trickled headers kept the connection open");
    assert!(took < bound, "{took:?}");
    drop(s);
    let _ = trickler.join();

    // A body trickled after complete headers: 408 at the body deadline.
    let mut s = connect(port);
    write!(
        s,
        "POST /api/say HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    )
    .unwrap();
    let t0 = Instant::now();
    let trickler = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..100 {
                if w.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let took = t0.elapsed();
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?} after {took:?}");
    assert!(took < bound, "{took:?}");
    drop(s);
    let _ = trickler.join();

    // Still serving.
    let (code, _, _) = http_with(port, "GET", "/healthz", None, &[("Host", "127.0.0.1")]).unwrap();
    assert_eq!(code, 200);
}

#[test]
fn a_client_hanging_up_mid_request_is_not_logged_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let d = start(dir.path(), &broker, "loopback_without_token = true\n");
    for partial in [
        "GET /healthz HTTP/1.1\r\nHo".to_string(),
        "POST /api/say HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te"
            .to_string(),
    ] {
        let mut s = connect(d.web_port);
        s.write_all(partial.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
    }
    let (code, _, _) = http_with(d.web_port, "GET", "/healthz", None, &[("Host", "127.0.0.1")]).unwrap();
    assert_eq!(code, 200);
    std::thread::sleep(Duration::from_millis(300));
    let log = d.log_text();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && ["connection", "Incomplete", "hyper"].iter().any(|w| l.contains(w)))
        .collect();
    assert!(errors.is_empty(), "client hang-ups logged as errors:\n{}", errors.join("\n"));
}
