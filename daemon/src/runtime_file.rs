//! The running daemon's runtime file: where it listens, so that `hubd say`,
//! `status`, `devices`, `history` and `chat` find it with no flags.
//!
//! `hubd run` writes `daemon.json` once the API is up and removes it at a
//! clean shutdown:
//!
//! ```json
//! {"pid": 4242, "web": "127.0.0.1:8080", "config": "/abs/hub.toml",
//!  "mqtt": "127.0.0.1:1883", "token": null, "started_at": 1795305599999}
//! ```
//!
//! The file may hold the web token, so it is created 0600 in a 0700
//! directory: `$HUBD_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/hubd`, else
//! `~/.local/state/hubd`. A file whose pid is no longer alive (the daemon
//! was killed) is stale and ignored.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::private_fs;

/// The file name inside [`dir`].
pub const FILE_NAME: &str = "daemon.json";

#[derive(Debug, Error)]
pub enum RuntimeFileError {
    #[error("no runtime directory: none of HUBD_RUNTIME_DIR, XDG_RUNTIME_DIR or HOME is set")]
    NoDir,
    #[error("cannot write the runtime file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the runtime file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime file {} is not valid", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What a running daemon publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    /// The local API's address (`[web] bind` as bound).
    pub web: SocketAddr,
    /// The configuration file the daemon runs on (absolute).
    pub config: PathBuf,
    /// The MQTT broker, `host:port`.
    pub mqtt: String,
    /// The API's bearer token (`[web] token`), if one is configured.
    pub token: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
}

/// The runtime directory: `$HUBD_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/hubd`, or
/// `~/.local/state/hubd` (empty variables count as unset).
pub fn dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HUBD_RUNTIME_DIR")
        .or_else(|| var("XDG_RUNTIME_DIR").map(|d| d.join("hubd")))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/hubd")))
}

/// The runtime file's path.
pub fn path() -> Option<PathBuf> {
    dir().map(|d| d.join(FILE_NAME))
}

/// Whether process `pid` is alive (Linux: `/proc/<pid>` exists; elsewhere
/// assumed alive).
pub fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

/// The running daemon, if the runtime file exists and its process is alive.
pub fn read() -> Result<Option<DaemonInfo>, RuntimeFileError> {
    match path() {
        Some(p) => read_from(&p),
        None => Ok(None),
    }
}

/// [`read`] from an explicit path.
pub fn read_from(path: &Path) -> Result<Option<DaemonInfo>, RuntimeFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RuntimeFileError::Read { path: path.to_path_buf(), source }),
    };
    let info: DaemonInfo =
        serde_json::from_str(&text).map_err(|source| RuntimeFileError::Invalid { path: path.to_path_buf(), source })?;
    if !pid_alive(info.pid) {
        tracing::debug!(path = %path.display(), pid = info.pid, "ignoring a stale runtime file");
        return Ok(None);
    }
    Ok(Some(info))
}

/// The written runtime file; removed by [`RuntimeFile::remove`] or on drop
/// (only while it still names this process: a newer daemon may have
/// replaced it).
#[derive(Debug)]
pub struct RuntimeFile {
    path: PathBuf,
    pid: u32,
}

impl RuntimeFile {
    /// Write `info` to the runtime file in [`dir`].
    pub fn write(info: &DaemonInfo) -> Result<RuntimeFile, RuntimeFileError> {
        let path = path().ok_or(RuntimeFileError::NoDir)?;
        Self::write_to(&path, info)
    }

    /// Write `info` to `path` (0600, its directory created 0700), atomically
    /// through a temporary file and a rename.
    pub fn write_to(path: &Path, info: &DaemonInfo) -> Result<RuntimeFile, RuntimeFileError> {
        let err = |source| RuntimeFileError::Write { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Our own directory: created 0700, tightened if it exists wider.
            private_fs::create_dir(parent, true).map_err(err)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", info.pid));
        let json = serde_json::to_vec_pretty(info).map_err(|e| err(std::io::Error::other(e)))?;
        let _ = std::fs::remove_file(&tmp);
        let mut f = private_fs::create_file(&tmp).map_err(err)?;
        f.write_all(&json).and_then(|()| f.write_all(b"\n")).and_then(|()| f.sync_all()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        Ok(RuntimeFile { path: path.to_path_buf(), pid: info.pid })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the file (clean shutdown).
    pub fn remove(self) {
        // Drop does the work.
    }
}

impl Drop for RuntimeFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str::<DaemonInfo>(&t).ok())
            .is_some_and(|i| i.pid == self.pid);
        if ours && let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove the runtime file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32) -> DaemonInfo {
        DaemonInfo {
            pid,
            web: "127.0.0.1:8080".parse().unwrap(),
            config: "/etc/hubd/hub.toml".into(),
            mqtt: "127.0.0.1:1883".into(),
            token: Some("secret".into()),
            started_at: 1_795_305_599_999,
        }
    }

    #[test]
    fn written_private_read_back_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("run/hubd").join(FILE_NAME);
        let me = info(std::process::id());
        let f = RuntimeFile::write_to(&p, &me).unwrap();
        assert_eq!(read_from(&p).unwrap(), Some(me));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p), 0o600);
            assert_eq!(mode(p.parent().unwrap()), 0o700);
        }
        f.remove();
        assert!(!p.exists());
        assert_eq!(read_from(&p).unwrap(), None);
    }

    #[test]
    fn stale_file_is_ignored_and_a_replaced_one_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join(FILE_NAME);
        // A pid that cannot be alive (above the kernel's pid_max limit).
        let f = RuntimeFile::write_to(&p, &info(u32::MAX - 1)).unwrap();
        assert_eq!(read_from(&p).unwrap(), None, "dead pid: stale");
        // Another daemon replaced the file: dropping ours must not remove it.
        std::fs::write(&p, serde_json::to_vec(&info(std::process::id())).unwrap()).unwrap();
        drop(f);
        assert!(p.exists());
        std::fs::write(&p, "{not json").unwrap();
        assert!(matches!(read_from(&p), Err(RuntimeFileError::Invalid { .. })));
    }
}
