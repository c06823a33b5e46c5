//! Helpers shared by the end-to-end tests: a real mosquitto on a free
//! loopback port, the real `hubd` binary with a temp config and SQLite file,
//! MQTT test devices that answer like Zigbee2MQTT, and a tiny HTTP client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

pub fn free_port() -> u16 {
    hubd::testing::free_port().expect("a free loopback port")
}

/// Debian's mosquitto on `127.0.0.1:port`, killed on drop: the launcher the
/// benches use too.
pub use hubd::testing::Mosquitto;

/// Test home: four dimmable Zigbee2MQTT lights in three areas.
pub const LIGHTS: &[(&str, &str, &str)] = &[
    ("light.kitchen", "Kitchen Light", "kitchen"),
    ("light.hall", "Hall Light", "hallway"),
    ("light.living_room", "Living Room Light", "living_room"),
    ("light.living_room_lamp", "Reading Lamp", "living_room"),
];

pub fn write_config(dir: &Path, mqtt_port: u16, web_port: u16, command_timeout_ms: u64) -> PathBuf {
    let p = dir.join("hub.toml");
    std::fs::write(&p, config_text(mqtt_port, web_port, command_timeout_ms)).unwrap();
    p
}

/// The test home's configuration text (see [`write_config`]).
pub fn config_text(mqtt_port: u16, web_port: u16, command_timeout_ms: u64) -> String {
    let mut s = format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "hubd-e2e-{mqtt_port}"
keepalive = 2
command_timeout_ms = {command_timeout_ms}
max_attempts = 5
expire_after_s = 120

[store]
path = "hubd.db"

[web]
bind = "127.0.0.1:{web_port}"
# The tests' plain `http()` POSTs without a token; tests/e2e/security.rs
# removes this line to test the token, cookie and refusals.
loopback_without_token = true

[audio]
enabled = false

[[floor]]
id = "ground_floor"
name = "Ground Floor"

[[area]]
id = "kitchen"
name = "Kitchen"
floor = "ground_floor"

[[area]]
id = "hallway"
name = "Hallway"
floor = "ground_floor"

[[area]]
id = "living_room"
name = "Living Room"
floor = "ground_floor"
"#
    );
    for (id, name, area) in LIGHTS {
        s.push_str(&format!(
            r#"
[[device]]
id = "{id}"
name = "{name}"
area = "{area}"
features = {{ dimmable = true }}
dialect = {{ type = "zigbee2mqtt", friendly_name = "{name}" }}
"#
        ));
    }
    s
}

/// The `hubd` binary under test.
/// Its runtime file goes to a directory of this test process, never the
/// user's (`$XDG_RUNTIME_DIR/hubd`); tests that need their own set it again.
pub fn hubd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hubd"));
    c.env("HUBD_RUNTIME_DIR", std::env::temp_dir().join(format!("hubd-e2e-run-{}", std::process::id())));
    c
}

/// `hubd run` as a child process; SIGKILLed on drop.
pub struct Daemon {
    pub child: Child,
    pub web_port: u16,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, web_port: u16, fault: Option<&str>) -> Daemon {
        let mut d = Daemon::spawn(config, web_port, fault);
        d.wait_healthy(Duration::from_secs(20));
        d
    }

    /// [`Daemon::start`] without waiting for anything (a broker that is not
    /// there yet); see [`Daemon::wait_api`].
    pub fn spawn(config: &Path, web_port: u16, fault: Option<&str>) -> Daemon {
        let dir = config.parent().unwrap();
        let log = dir.join(format!("hubd-{}.log", Instant::now().elapsed().as_nanos() ^ u128::from(free_port())));
        let logf = std::fs::File::create(&log).unwrap();
        let mut cmd = hubd();
        cmd.arg("--config").arg(config).arg("--log").arg("info,hubd=debug").arg("run");
        cmd.env_remove("HUBD_FAULT");
        if let Some(f) = fault {
            cmd.env("HUBD_FAULT", f);
        }
        let child = cmd.stdout(Stdio::null()).stderr(logf).spawn().unwrap();
        Daemon { child, web_port, log }
    }

    /// Wait until the API answers `/healthz`, connected to the broker or not.
    pub fn wait_api(&mut self, within: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("hubd exited early ({st}); log:\n{}", self.log_text());
            }
            if let Ok((200, _)) = http(self.web_port, "GET", "/healthz", None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("hubd API not up within {within:?}; log:\n{}", self.log_text());
    }

    pub fn wait_healthy(&mut self, within: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("hubd exited early ({st}); log:\n{}", self.log_text());
            }
            if let Ok((200, body)) = http(self.web_port, "GET", "/healthz", None)
                && body.contains("\"mqtt_connected\":true")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("hubd not healthy within {within:?}; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for the process to exit by itself (fault hook); returns whether it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM, and the daemon must exit 0; the status and its log otherwise.
    pub fn stop_cleanly(&mut self) {
        let st = self.sigterm();
        assert!(st.success(), "hubd exited with {st} on SIGTERM:\n{}", self.log_text());
    }

    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("hubd did not stop on SIGTERM within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocking call to the local API through the daemon's own client
/// (`hubd::api_client`, hyper), on a private runtime in its own thread so
/// it works from sync tests and from inside a tokio runtime alike.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    let client = hubd::api_client::ApiClient::new(SocketAddr::from(([127, 0, 0, 1], port)), None);
    let body = body.map(|b| b.as_bytes().to_vec());
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let r = rt.block_on(client.request(method, path, body)).map_err(std::io::Error::other)?;
            Ok((r.status, r.text()))
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("HTTP client thread panicked")))
    })
}

/// A raw-socket request for the security probes (headers a well-behaved
/// client never sends: foreign `Host`/`Origin`, non-UTF-8 values); as
/// [`http`], with exactly the given headers (plus `Content-Length` and
/// `Connection: close`); header values may be any bytes. Returns the
/// status, the response head (lowercased) and the body.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String, String)> {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    http_raw(port, method, path, body, &raw)
}

/// As [`http_with`], with header values as raw bytes (e.g. not UTF-8).
pub fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &[u8])],
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
    s.write_all(&req)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    Ok((status, head, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `POST /api/say` (loopback, no token needed), the answer as JSON.
pub fn say(web: u16, text: &str) -> serde_json::Value {
    let (code, body) = http(web, "POST", "/api/say", Some(&serde_json::json!({ "text": text }).to_string())).unwrap();
    assert_eq!(code, 200, "{body}");
    json(&body)
}

/// The test home plus a front door lock in the hallway and `extra` (more
/// `[[device]]`s), with `nlu` (e.g. `heads = true`) as the `[nlu]` table,
/// written to `dir/hub.toml`.
pub fn write_config_with_lock(dir: &Path, mqtt_port: u16, web_port: u16, nlu: &str, extra: &str) -> PathBuf {
    let mut text = config_text(mqtt_port, web_port, 2000);
    text.push_str(
        r#"
[[device]]
id = "lock.front_door"
name = "Front Door Lock"
area = "hallway"
dialect = { type = "zigbee2mqtt", friendly_name = "Front Door Lock" }
"#,
    );
    text.push_str(extra);
    // `[nlu]` goes before the first table array the text has.
    let text = text.replacen("[[floor]]", &format!("[nlu]\n{nlu}\n\n[[floor]]"), 1);
    let p = dir.join("hub.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The test home's devices on the broker, run by hubd's own simulator
/// (`hubd::simulate`, Zigbee2MQTT firmware behaviour): each applies
/// `<base>/<name>/set` JSON, publishes its full state on `<base>/<name>`
/// (retained, Zigbee2MQTT's `retain: true` device option, so a restarted
/// daemon sees the last state), re-announces on reconnect, and counts every
/// command it receives per (topic, payload).
#[derive(Clone)]
pub struct Devices {
    log: hubd::simulate::SimLog,
}

impl Devices {
    pub fn start(rt: &tokio::runtime::Runtime, port: u16) -> Devices {
        Devices::start_home(rt, port, &config_text(port, 8080, 1000))
    }

    /// [`Devices::start`] for the Zigbee2MQTT lights of another home (`config` is its hub.toml text).
    pub fn start_home(rt: &tokio::runtime::Runtime, port: u16, config: &str) -> Devices {
        let cfg = hubd::config::Config::from_str(config, "e2e-devices").unwrap();
        let registry = cfg.registry().unwrap();
        let names: Vec<String> = registry
            .devices
            .iter()
            .filter_map(|d| match &d.dialect {
                Some(firmware_bridge::Dialect::Zigbee2mqtt { friendly_name, base_topic }) => {
                    Some(format!("{base_topic}/{friendly_name}"))
                }
                _ => None,
            })
            .collect();
        let log = hubd::simulate::SimLog::default();
        let options = hubd::simulate::SimOptions {
            z2m_retain: true,
            backoff_max: Duration::from_millis(200),
            log: Some(log.clone()),
        };
        // Runs as long as the test's runtime (the shutdown future never resolves).
        rt.spawn(hubd::simulate::run_with(registry, "127.0.0.1".into(), port, options, std::future::pending()));
        let devs = Devices { log };
        // Every light has announced itself (subscriptions are made before the birth).
        assert!(
            wait_until(Duration::from_secs(5), || names.iter().all(|t| devs.log.last(t).is_some())),
            "simulated devices did not come up"
        );
        devs
    }

    /// Commands received, all devices.
    pub fn total(&self) -> u32 {
        u32::try_from(self.log.received()).unwrap_or(u32::MAX)
    }

    /// How often each (topic, payload) command was received.
    pub fn receipts(&self) -> HashMap<(String, String), u32> {
        self.log.receipts()
    }

    /// The light's last published state (`zigbee2mqtt/<friendly>`).
    pub fn state(&self, friendly: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.log.last_json(&format!("zigbee2mqtt/{friendly}"))
    }
}

/// One message seen by the [`Observer`]: topic, payload, retain flag.
pub type Seen = (String, Vec<u8>, bool);

/// A second MQTT client recording everything on some filters.
#[derive(Clone, Default)]
pub struct Observer {
    pub msgs: Arc<Mutex<Vec<Seen>>>,
}

impl Observer {
    pub fn start(rt: &tokio::runtime::Runtime, port: u16, filters: &[&str]) -> Observer {
        let obs = Observer::default();
        let o = obs.clone();
        let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        let mut opts = MqttOptions::new(format!("e2e-observer-{}", free_port()), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(2));
        opts.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut el) = AsyncClient::new(opts, 256);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        for f in &filters {
                            let _ = client.try_subscribe(f.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        o.msgs.lock().unwrap().push((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("observer subscribed");
        obs
    }

    pub fn on(&self, topic: &str) -> Vec<String> {
        self.msgs
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == topic)
            .map(|(_, p, _)| String::from_utf8_lossy(p).to_string())
            .collect()
    }
}

/// Publish raw bytes as a separate client (bad-input tests).
pub fn publish_raw(rt: &tokio::runtime::Runtime, port: u16, topic: &str, payload: Vec<u8>) {
    let topic = topic.to_string();
    rt.block_on(async move {
        let mut opts = MqttOptions::new(format!("e2e-pub-{}", free_port()), "127.0.0.1", port);
        opts.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut el) = AsyncClient::new(opts, 16);
        client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Event::Incoming(Incoming::PubAck(_))) = el.poll().await {
                break;
            }
        }
    });
}

pub fn open_store(rt: &tokio::runtime::Runtime, dir: &Path) -> hubd::store::Store {
    rt.block_on(hubd::store::Store::open(dir.join("hubd.db"))).unwrap()
}

pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One SSE event as read off the wire.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: serde_json::Value,
}

/// Open `GET /api/events` and forward every event to a channel from a thread.
pub fn subscribe(web: u16, last_event_id: Option<u64>) -> std::sync::mpsc::Receiver<Sse> {
    let mut s = TcpStream::connect(("127.0.0.1", web)).expect("connect");
    let extra = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\nAccept: text/event-stream\r\n{extra}\r\n")
        .expect("request");
    // The daemon subscribes to the bus before it answers, so once the
    // response's head is here no later event can be missed (a request made
    // right after this returns has its first stage on the stream).
    let mut r = std::io::BufReader::new(s);
    r.get_ref().set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    let mut head = String::new();
    while std::io::BufRead::read_line(&mut r, &mut head).is_ok_and(|n| n > 0) && !head.ends_with("\r\n\r\n") {}
    assert!(head.starts_with("HTTP/1.1 200"), "GET /api/events answered {head:?}");
    r.get_ref().set_read_timeout(None).expect("timeout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut id, mut event, mut data) = (0u64, String::new(), String::new());
        for line in std::io::BufRead::lines(r) {
            let Ok(line) = line else { break };
            // Chunked framing: size lines are hex numbers alone; skip them.
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            } else if line.is_empty() && !data.is_empty() {
                let v = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
                if tx.send(Sse { id, event: std::mem::take(&mut event), data: v }).is_err() {
                    break;
                }
                data.clear();
            }
        }
    });
    rx
}

/// A running daemon on the test home with its broker and simulated lights.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub broker: Mosquitto,
    pub devices: Devices,
    pub web: u16,
    pub cfg: std::path::PathBuf,
    pub daemon: Daemon,
}

impl Home {
    pub fn start() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let broker = Mosquitto::start(dir.path());
        let devices = Devices::start(&rt, broker.port);
        let web = free_port();
        let cfg = write_config(dir.path(), broker.port, web, 2000);
        let daemon = Daemon::start(&cfg, web, None);
        Home { dir, rt, broker, devices, web, cfg, daemon }
    }
}
