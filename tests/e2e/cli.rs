//! `make run`'s own path, as a new user takes it: `hubd run --demo` on the
//! example home in one terminal, `hubd say` / `hubd status` with no flags in
//! another (found through the runtime file), and a terminal that stays
//! short. Plus the CLI's failure paths: no daemon and no config, a missing
//! config file, a taken broker port, `transcribe --threads 0`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Observer, free_port, http, hubd, json, runtime, wait_until};

/// The example config with free ports for the API and the embedded broker.
fn example_config(dir: &Path) -> (PathBuf, u16, u16) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
    let text = std::fs::read_to_string(src).unwrap();
    let (web, mqtt) = (free_port(), free_port());
    assert!(text.contains("bind = \"127.0.0.1:8080\"") && text.contains("\nport = 1883\n"), "example config changed");
    // The demo clip's path is relative to config/; the copy lives elsewhere.
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv");
    assert!(text.contains("url = \"file://../.venv/"), "example config changed");
    let text = text
        .replace("bind = \"127.0.0.1:8080\"", &format!("bind = \"127.0.0.1:{web}\""))
        .replace("\nport = 1883\n", &format!("\nport = {mqtt}\n"))
        .replace("url = \"file://../.venv/", &format!("url = \"file://{}/", venv.display()));
    let p = dir.join("hub.toml");
    std::fs::write(&p, text).unwrap();
    (p, web, mqtt)
}

/// `hubd` as a user's shell runs it: in `cwd` (no hub.toml there), with
/// only the runtime directory set.
fn user_cmd(cwd: &Path, runtime_dir: &Path) -> Command {
    let mut c = hubd();
    c.current_dir(cwd).env("HUBD_RUNTIME_DIR", runtime_dir);
    for k in ["HUBD_CONFIG", "HUBD_URL", "HUBD_LOG", "RUST_LOG", "HUBD_TOKEN"] {
        c.env_remove(k);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Terminal 1: `hubd run --config <example> --demo`. Terminal 2: `hubd say
/// "turn on the kitchen light"` and `hubd status` with no flags. The
/// daemon's terminal shows a short banner and no ERROR or repeated line.
#[test]
fn make_run_then_say_with_no_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, web, _mqtt) = example_config(tmp.path());
    let runtime_dir = tmp.path().join("run");
    let elsewhere = tmp.path().join("home");
    std::fs::create_dir(&elsewhere).unwrap();
    let log = tmp.path().join("daemon.stderr");

    let mut daemon = user_cmd(&elsewhere, &runtime_dir);
    daemon.arg("run").arg("--config").arg(&config).arg("--demo");
    let child = daemon.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut d = crate::common::Daemon { child, web_port: web, log: log.clone() };
    let file = runtime_dir.join("daemon.json");
    assert!(
        wait_until(Duration::from_secs(60), || file.exists() || !d.alive()),
        "no runtime file; stderr:\n{}",
        d.log_text()
    );
    assert!(d.alive(), "daemon exited; stderr:\n{}", d.log_text());
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(info["web"], format!("127.0.0.1:{web}"));
    assert_eq!(info["pid"], d.child.id());
    assert_eq!(Path::new(info["config"].as_str().unwrap()), config.as_path());
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&runtime_dir), 0o700);
    }
    d.wait_healthy(Duration::from_secs(20));

    let mut say = user_cmd(&elsewhere, &runtime_dir);
    say.args(["say", "turn on the kitchen light"]);
    let out = run(say);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "say: {:?}\nstdout: {stdout}\nstderr: {stderr}\ndaemon:\n{}",
        out.status,
        d.log_text()
    );
    assert!(stdout.starts_with("Turned on the"), "reply: {stdout}");

    let mut status = user_cmd(&elsewhere, &runtime_dir);
    status.arg("status");
    let out = run(status);
    assert!(out.status.success(), "status: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("mqtt        connected"), "{}", text(&out.stdout));

    let mut devices = user_cmd(&elsewhere, &runtime_dir);
    devices.args(["devices", "--json"]);
    let out = run(devices);
    assert!(out.status.success(), "devices: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"light.kitchen\""));

    let st = d.sigterm();
    assert!(st.success(), "daemon exit: {st:?}");
    assert!(!file.exists(), "runtime file left behind after a clean shutdown");

    // A person reads this terminal: short, no errors, nothing repeated.
    let stderr = d.log_text();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(stderr.contains("hubd say \"turn on the kitchen light\""), "banner names the next command:\n{stderr}");
    assert!(!stderr.contains("ERROR") && !stderr.contains("ALSA lib"), "errors on the terminal:\n{stderr}");
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        // Log lines differ in their timestamp only; compare what follows it.
        let key = if l.starts_with(|c: char| c.is_ascii_digit()) { l.split_once(' ').map_or(*l, |x| x.1) } else { l };
        assert!(seen.insert(key.to_string()), "repeated line `{l}` in:\n{stderr}");
    }
    assert!(lines.len() <= 20, "{} lines on the terminal:\n{stderr}", lines.len());
}

/// `make run`'s camera: the demo porch clip (scripts/setup assembles it),
/// OpenCV's HOG people detector in hubd, and the example's camera rules.
/// Within a minute: motion, a person entering the front-door zone as a
/// Frigate-shaped event on MQTT, its snapshot, and the rule's notification.
#[test]
fn make_run_demo_camera_sees_the_person_at_the_front_door() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, web, mqtt) = example_config(tmp.path());
    // Whatever the hour: the rule's "after dark" step is taken out of the copy.
    let dark = "    { condition = \"sun\", after = \"sunset\", before = \"sunrise\" },\n";
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(dark), "example rule changed");
    std::fs::write(&config, text.replacen(dark, "", 1)).unwrap();
    let log = tmp.path().join("daemon.stderr");
    let mut daemon = user_cmd(tmp.path(), &tmp.path().join("run"));
    daemon.arg("run").arg("--config").arg(&config).arg("--demo");
    let child = daemon.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut d = crate::common::Daemon { child, web_port: web, log };
    d.wait_healthy(Duration::from_secs(60));
    let rt = runtime();
    let obs = Observer::start(&rt, mqtt, &["hubd/#", "cmnd/porch_light/#"]);
    let events = || -> Vec<serde_json::Value> { obs.on("hubd/events").iter().map(|p| json(p)).collect() };
    let within = Duration::from_secs(90);
    let at_door = || {
        events().into_iter().find(|e| {
            e["after"]["label"] == "person"
                && e["after"]["entered_zones"].as_array().is_some_and(|z| z.iter().any(|v| v == "front_door"))
        })
    };
    assert!(wait_until(within, || at_door().is_some()), "no person at the front door; daemon:\n{}", d.log_text());
    let ev = at_door().unwrap();
    let after = &ev["after"];
    assert_eq!(after["camera"], "porch");
    assert!(after["top_score"].as_f64().unwrap() >= 0.7, "{ev}");
    // The figure waits at x 480 of 640, feet at y 440 (scripts/demo_clip.py).
    let b: Vec<f64> = after["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(((b[0] + b[2]) / 2.0 - 480.0).abs() < 60.0 && (b[3] - 440.0).abs() < 60.0, "{ev}");
    assert!(obs.on("hubd/porch/motion").iter().any(|p| p == "ON"), "motion ON published");
    assert_eq!(obs.on("hubd/available").last().map(String::as_str), Some("online"));

    let id = after["id"].as_str().unwrap();
    assert!(wait_until(within, || {
        http(web, "GET", &format!("/api/events/{id}/snapshot.jpg"), None)
            .is_ok_and(|(st, b)| st == 200 && b.len() > 1000)
    }));
    // The rule announced it and switched the porch light on (Tasmota's topic; the simulator echoes).
    assert!(
        wait_until(within, || obs.on("cmnd/porch_light/POWER").iter().any(|p| p == "ON")),
        "no porch light command; daemon:\n{}",
        d.log_text()
    );
    assert!(
        wait_until(within, || obs.on("hubd/notify/phone").iter().any(|p| p.contains("Someone is at the front door"))),
        "no notification; daemon:\n{}",
        d.log_text()
    );
    let (_, runs) = http(web, "GET", "/api/automations/front_door_person/runs", None).unwrap();
    let runs = json(&runs);
    assert_eq!(runs[0]["trigger"]["event"]["camera"], "porch", "{runs}");
    let st = d.sigterm();
    assert!(st.success(), "daemon exit: {st:?}");
    assert!(!d.log_text().contains("ERROR"), "errors:\n{}", d.log_text());
}

/// `hubd say --dry-run` without a daemon loads the config and the NLU and
/// plans: no embedded broker, no MQTT connection, no database.
#[test]
fn dry_run_without_a_daemon_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, _web, mqtt) = example_config(tmp.path());
    // Something on the broker port: a broker start or an MQTT connect shows up here.
    let spy = TcpListener::bind(("127.0.0.1", mqtt)).unwrap();
    spy.set_nonblocking(true).unwrap();
    let mut c = user_cmd(tmp.path(), &tmp.path().join("run"));
    c.arg("--config").arg(&config).args(["say", "--dry-run", "turn on the kitchen light"]);
    let out = run(c);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{:?}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    assert!(stdout.starts_with("Turned on"), "reply: {stdout}");
    assert!(stderr.contains("would command light.kitchen"), "{stderr}");
    assert!(spy.accept().is_err(), "the dry run connected to the broker port");
    assert!(!tmp.path().join("hubd.db").exists(), "the dry run opened the database");
}

/// No daemon and no ./hub.toml: one clear sentence saying what to do, not
/// `hub.toml: cannot read configuration`.
#[test]
fn say_without_daemon_or_config_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = user_cmd(tmp.path(), &tmp.path().join("run"));
    c.args(["say", "turn on the kitchen light"]);
    let out = run(c);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no hubd is running") && stderr.contains("--config"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

/// A missing config file: the OS error appears once, not twice.
#[test]
fn missing_config_os_error_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.toml");
    for args in [&["say", "hello"][..], &["check-config"][..], &["run"][..]] {
        let mut c = user_cmd(tmp.path(), &tmp.path().join("run"));
        c.arg("--config").arg(&missing).args(args);
        let out = run(c);
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {all}");
        assert_eq!(all.matches("(os error 2)").count(), 1, "{args:?}: {all}");
    }
}

/// The embedded broker's port is taken: `hubd run` fails at start-up
/// naming the port, instead of joining the foreign broker.
#[test]
fn run_fails_clearly_when_the_broker_port_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, _web, mqtt) = example_config(tmp.path());
    let _other = TcpListener::bind(("127.0.0.1", mqtt)).unwrap();
    let mut c = user_cmd(tmp.path(), &tmp.path().join("run"));
    c.arg("--config").arg(&config).arg("run");
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let exited = wait_until(Duration::from_secs(30), || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(exited, "hubd kept running on a taken broker port:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("port {mqtt}")) && stderr.contains("already in use"), "{stderr}");
}

/// `hubd transcribe --threads 0` is refused with a usage error, not a
/// panic inside libtorch.
#[test]
fn transcribe_zero_threads_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("x.wav");
    std::fs::write(&wav, b"RIFF").unwrap();
    let mut c = user_cmd(tmp.path(), &tmp.path().join("run"));
    c.arg("transcribe").arg(&wav).args(["--threads", "0"]);
    let out = run(c);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--threads") && !stderr.contains("panicked"), "{stderr}");
}
