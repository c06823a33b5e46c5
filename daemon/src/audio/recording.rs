//! Utterance recordings (`[audio] keep_recordings = true`): 16 kHz mono,
//! 16-bit PCM WAV files written with `hound`. They hold what people said:
//! each file is 0600 and the recordings directory 0700.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("writing recording {path}: {source}")]
pub struct RecordingError {
    pub path: PathBuf,
    #[source]
    pub source: hound::Error,
}

/// Create the recordings directory (0700; an existing one is narrowed to
/// 0700: it is hubd's own).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    crate::private_fs::create_dir(dir, true)
}

/// Write `samples` (16 kHz mono, [-1, 1], clipped) to `path`.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), RecordingError> {
    let err = |source| RecordingError { path: path.to_path_buf(), source };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir).map_err(|e| err(hound::Error::IoError(e)))?;
    }
    let file = crate::private_fs::create_file(path).map_err(|e| err(hound::Error::IoError(e)))?;
    let mut w = hound::WavWriter::new(std::io::BufWriter::new(file), spec).map_err(err)?;
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        w.write_sample(v).map_err(err)?;
    }
    w.finalize().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hound() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.wav");
        let x: Vec<f32> = (0..1600).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        write_wav(&p, &x).unwrap();
        let mut r = hound::WavReader::open(&p).unwrap();
        assert_eq!(r.spec().sample_rate, 16_000);
        let y: Vec<f32> = r.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32767.0).collect();
        assert_eq!(y.len(), x.len());
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-4));
        assert!(write_wav(Path::new("/proc/nonexistent/u.wav"), &x).is_err());
    }

    /// Recordings are private: 0600 files in a 0700 directory.
    #[cfg(unix)]
    #[test]
    fn recordings_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("recordings");
        std::fs::create_dir(&rec).unwrap();
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = rec.join("u.wav");
        write_wav(&p, &[0.0; 160]).unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&rec), 0o700);
    }
}
