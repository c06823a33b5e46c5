//! A `hubd run` the bench started: stopped on drop (SIGTERM, 5 s to drain,
//! then SIGKILL), so an error in a section never leaves a daemon behind.

use std::process::Child;
use std::time::{Duration, Instant};

pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // Already reaped (a section killed and waited for it): its pid may be reused.
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
