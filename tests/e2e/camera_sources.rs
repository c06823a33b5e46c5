//! The `ffmpeg:` source end to end, with its supervision: the test makes an
//! H.264 clip (lavfi: a grey yard with ffmpeg's test pattern moving across)
//! and serves it as MPEG-TS over HTTP with ffmpeg itself. hubd's `ffmpeg`
//! child decodes it and motion is seen. Then the server freezes (SIGSTOP: the
//! connection stays open, no bytes): hubd's stall watchdog kills the child and
//! reports the camera offline; the server dies: the restarted children exit
//! (connection refused) and are restarted with capped back-off; the server comes
//! back: the camera is online and sees motion again. Next to it a `file://`
//! camera keeps producing frames and a `v4l://` device that does not exist
//! is reported offline, naming the device, and retried.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::camera::camera_json;
use crate::common::*;

/// A 4 s H.264 clip, 320x240 at 10 fps: a 64x64 test pattern moving right on grey.
fn make_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("clip.mp4");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=0x404040:s=320x240:r=10:d=4"])
        .args(["-f", "lavfi", "-i", "testsrc=s=64x64:r=10:d=4"])
        .args(["-filter_complex", "[0][1]overlay=x='mod(t*64,256)':y=88:shortest=1"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10"])
        .arg(&clip)
        .status()
        .expect("ffmpeg (apt install ffmpeg)");
    assert!(st.success(), "ffmpeg could not make the clip");
    clip
}

/// `ffmpeg` serving `clip` in a loop as MPEG-TS on `http://127.0.0.1:port/live.ts`
/// (one client); killed on drop.
struct Server(Child);

impl Server {
    fn start(clip: &Path, port: u16) -> Server {
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "mpegts", "-listen", "1"])
            .arg(format!("http://127.0.0.1:{port}/live.ts"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg");
        Server(child)
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill").arg(format!("-{sig}")).arg(self.0.id().to_string()).status().unwrap().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pids of the live (not zombie) `ffmpeg` processes whose parent is `pid`.
fn ffmpeg_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid ...
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next().unwrap_or(""), f.next().and_then(|p| p.parse::<u32>().ok()));
        if head.ends_with("(ffmpeg") && ppid == Some(pid) && state != "Z" {
            out.extend(head.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
}

#[test]
fn ffmpeg_source_sees_motion_survives_a_stall_and_a_dead_server_next_to_other_cameras() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let clip = make_clip(dir.path());
    let port = free_port();
    let server = Server::start(&clip, port);
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).unwrap();
    std::fs::write(replay.join("0001.jpg"), crate::camera::picture(Some((100, 100, 48, 48)))).unwrap();
    let cfg = dir.path().join("hub.toml");
    let text = config_text(broker.port, web, 3000)
        + &format!(
            r#"
[camera]
enabled = true

[[camera.source]]
id = "drive"
url = "ffmpeg:http://127.0.0.1:{port}/live.ts"
fps = 5
[camera.source.motion]
frame_height = 60
mqtt_off_delay = 1

[[camera.source]]
id = "yard"
url = "file://{}"
fps = 2

[[camera.source]]
id = "usb"
url = "v4l:///dev/video-hubd-missing"
width = 640
height = 480
format = "mjpeg"
"#,
            replay.display()
        );
    std::fs::write(&cfg, text).unwrap();
    let obs = Observer::start(&rt, broker.port, &["hubd/#"]);
    let mut daemon = Daemon::start(&cfg, web, None);
    let pid = daemon.child.id();
    let within = Duration::from_secs(20);
    let last = |topic: &str| obs.on(topic).last().cloned().unwrap_or_default();

    // The stream plays: online, and the moving pattern is motion.
    assert!(wait_until(within, || last("hubd/drive/available") == "online"), "{}", daemon.log_text());
    assert!(wait_until(within, || last("hubd/drive/motion") == "ON"));
    assert!(camera_json(web, "drive")["frames"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(ffmpeg_children(pid).len(), 1);
    // The missing V4L2 device: offline, named, retried; the others are not affected.
    assert!(wait_until(within, || camera_json(web, "usb")["reconnects"].as_u64().unwrap_or(0) >= 2));
    let usb = camera_json(web, "usb");
    assert!(usb["available"] == false, "{usb}");
    let err = usb["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("/dev/video-hubd-missing") && err.contains("No such file"), "{usb}");
    assert!(wait_until(within, || last("hubd/usb/available") == "offline"));
    assert!(wait_until(within, || last("hubd/yard/available") == "online"));

    // The server freezes with the connection open: the watchdog kills the stalled child.
    let child = ffmpeg_children(pid);
    server.signal("STOP");
    assert!(wait_until(within, || last("hubd/drive/available") == "offline"));
    assert!(camera_json(web, "drive")["last_error"].as_str().unwrap_or("").contains("stalled"));
    assert!(wait_until(within, || last("hubd/drive/motion") == "OFF"));
    assert!(wait_until(Duration::from_secs(5), || !child.iter().any(|p| alive(*p))), "stalled ffmpeg {child:?} lives");

    // The server dies (`-listen 1` already refuses a second client): the
    // restarted children exit and are restarted with growing back-off.
    drop(server);
    let reconnects = camera_json(web, "drive")["reconnects"].as_u64().unwrap_or(0);
    assert!(
        wait_until(Duration::from_secs(40), || {
            let c = camera_json(web, "drive");
            c["reconnects"].as_u64().unwrap_or(0) > reconnects
                && c["last_error"].as_str().is_some_and(|e| e.starts_with("ffmpeg exited") && e.contains("refused"))
        }),
        "{}",
        camera_json(web, "drive")
    );
    assert!(ffmpeg_children(pid).len() <= 1, "{:?}", ffmpeg_children(pid));

    // It comes back: online again, and motion is seen again.
    let server = Server::start(&clip, port);
    let offline_at = obs.on("hubd/drive/motion").len();
    // (The next try comes after at most the 30 s back-off cap.)
    assert!(wait_until(Duration::from_secs(60), || last("hubd/drive/available") == "online"), "{}", daemon.log_text());
    assert!(wait_until(within, || obs.on("hubd/drive/motion")[offline_at..].contains(&"ON".to_string())));
    assert_eq!(ffmpeg_children(pid).len(), 1);

    // The replay camera never noticed, the missing device is still retried.
    let yard = obs.on("hubd/yard/available");
    assert_eq!(yard.iter().filter(|a| *a == "online").count(), 1, "{yard:?}");
    assert_eq!(yard.last().map(String::as_str), Some("online"));
    let yard_frames = camera_json(web, "yard")["frames"].as_u64().unwrap_or(0);
    assert!(wait_until(within, || camera_json(web, "yard")["frames"].as_u64().unwrap_or(0) > yard_frames));
    let out = hubd().arg("--config").arg(&cfg).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.trim_start().starts_with("camera      drive  available")), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("camera      usb  UNAVAILABLE")
            && l.contains("last error: v4l device /dev/video-hubd-missing")),
        "{text}"
    );

    // Shutdown ends the child too.
    let children = ffmpeg_children(pid);
    daemon.stop_cleanly();
    assert!(wait_until(Duration::from_secs(5), || !children.iter().any(|p| alive(*p))), "{children:?} outlived hubd");
    drop(server);
}
