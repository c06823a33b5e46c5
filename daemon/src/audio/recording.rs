//! Utterance recordings (`[audio] keep_recordings = true`): 16 kHz mono,
//! 16-bit PCM WAV files written with `hound`.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("writing recording {path}: {source}")]
pub struct RecordingError {
    pub path: PathBuf,
    #[source]
    pub source: hound::Error,
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
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
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
        assert!(write_wav(Path::new("/nonexistent/dir/u.wav"), &x).is_err());
    }
}
