//! Capture tests against real sources: an `ffmpeg` child, HTTP snapshot and
//! MJPEG servers on loopback, and a V4L2 device path that does not exist.

mod ffmpeg_tests {
    use super::super::*;

    /// An H.264 clip of ffmpeg's moving test pattern: played through an
    /// `ffmpeg` child, its frames arrive; when the clip ends the child exits,
    /// the camera goes unavailable and the child is started again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ffmpeg_source_delivers_and_restarts_after_exit() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        let st = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10"])
            .args(["-t", "1.5", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .arg(&clip)
            .status()
            .expect("ffmpeg (apt install ffmpeg)");
        assert!(st.success());
        let board = Arc::new(Board::default());
        board.register("cam", "cam", false);
        let slot = Arc::new(LatestSlot::default());
        let cap = Capture {
            id: "cam".into(),
            url: format!("ffmpeg:{}", clip.display()),
            fps: 5.0,
            slot: slot.clone(),
            board: board.clone(),
            v4l: Default::default(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(cap.run(stop_rx));
        let s2 = slot.clone();
        let first = tokio::task::spawn_blocking(move || s2.take(Duration::from_secs(10))).await.unwrap();
        let jpeg = first.expect("a frame from ffmpeg");
        let grey = crate::camera::decode::decode_grey(&jpeg.jpeg, 60).unwrap();
        assert_eq!((grey.full_w, grey.full_h), (320, 240));
        // The clip ends: the camera is reported down with ffmpeg's exit, then comes back.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let c = board.get("cam").unwrap();
            if c.reconnects >= 1 && c.available {
                assert!(c.last_error.as_deref().unwrap_or("").contains("ffmpeg exited"), "{:?}", c.last_error);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no restart: {c:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}

mod http_tests {
    use super::super::*;
    use tokio::net::TcpListener;

    /// A snapshot server: answers every GET with `body` (`Content-Length` set).
    async fn serve(bodies: Vec<(&'static str, Vec<u8>)>) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                let n = h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (ctype, body) = bodies[n % bodies.len()].clone();
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req).await;
                let head =
                    format!("HTTP/1.0 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
        });
        (port, hits)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jpeg_polling_delivers_snapshots_and_reports_non_jpegs() {
        let jpeg = vec![0xFF, 0xD8, 7, 7, 0xFF, 0xD9];
        let (port, hits) = serve(vec![("image/jpeg", jpeg.clone()), ("text/html", b"<html>".to_vec())]).await;
        let board = Arc::new(Board::default());
        board.register("snap", "snap", false);
        let slot = Arc::new(LatestSlot::default());
        let cap = Capture {
            id: "snap".into(),
            url: format!("jpeg+http://127.0.0.1:{port}/capture"),
            fps: 20.0,
            slot: slot.clone(),
            board: board.clone(),
            v4l: Default::default(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(cap.run(stop_rx));
        let s2 = slot.clone();
        let f = tokio::task::spawn_blocking(move || s2.take(Duration::from_secs(5))).await.unwrap();
        assert_eq!(f.expect("a polled snapshot").jpeg.as_slice(), jpeg.as_slice());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while hits.load(std::sync::atomic::Ordering::SeqCst) < 6 {
            assert!(tokio::time::Instant::now() < deadline, "not polled at the fps");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let c = board.get("snap").unwrap();
        assert!(c.available && c.errors >= 2, "{c:?}");
        let e = c.last_error.as_deref().unwrap_or_default();
        assert!(e.starts_with("frame ") && e.ends_with(": snapshot is not a JPEG"), "{e}");
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_or_non_multipart_source_is_unavailable_and_retried() {
        let (port, hits) = serve(vec![("text/plain", b"hello".to_vec())]).await;
        let board = Arc::new(Board::default());
        board.register("m", "m", false);
        let cap = Capture {
            id: "m".into(),
            url: format!("mjpeg+http://127.0.0.1:{port}/stream"),
            fps: 5.0,
            slot: Arc::new(LatestSlot::default()),
            board: board.clone(),
            v4l: Default::default(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(cap.run(stop_rx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while hits.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            assert!(tokio::time::Instant::now() < deadline, "not retried");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let c = board.get("m").unwrap();
        assert!(!c.available && c.reconnects >= 1, "{c:?}");
        assert!(c.last_error.as_deref().unwrap_or("").contains("not multipart"), "{c:?}");
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}

mod v4l_tests {
    use super::super::*;

    /// There is no camera here: a device path that does not exist is
    /// reported (unavailable, the error naming it) and retried with back-off.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_v4l_device_is_reported_and_retried() {
        let board = Arc::new(Board::default());
        board.register("usb", "usb", false);
        let cap = Capture {
            id: "usb".into(),
            url: "v4l:///dev/video-hubd-missing".into(),
            fps: 5.0,
            slot: Arc::new(LatestSlot::default()),
            board: board.clone(),
            v4l: video4linux::Settings { width: Some(1280), height: Some(720), format: None },
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(cap.run(stop_rx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while board.get("usb").unwrap().reconnects < 3 {
            assert!(tokio::time::Instant::now() < deadline, "not retried: {:?}", board.get("usb"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let c = board.get("usb").unwrap();
        assert!(!c.available && c.frames == 0, "{c:?}");
        let e = c.last_error.unwrap_or_default();
        assert!(e.starts_with("v4l device /dev/video-hubd-missing: ") && e.contains("No such file"), "{e}");
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
