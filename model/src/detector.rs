//! A user's own object detector as TorchScript (`[camera.detector]
//! torchscript = "path"`), loaded with `tch::CModule`.
//!
//! Contract of the module's `forward`: input `[1, 3, H, W]` f32 RGB in 0..1 at
//! the configured input size; output `[N, 6]` rows `x1, y1, x2, y2, score,
//! class` in input pixels, after the model's own NMS (a YOLO export is wrapped
//! in a module that decodes and suppresses). Boxes are scaled back to the
//! frame and clipped; the class index picks the label from `labels`.

use std::path::Path;

use tch::{CModule, Device, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DetectorError {
    #[error("cannot load TorchScript detector {path}: {source}")]
    Load {
        path: String,
        #[source]
        source: tch::TchError,
    },
    #[error("detector forward failed: {0}")]
    Forward(#[from] tch::TchError),
    #[error("detector output has shape {0:?}, expected [N, 6]")]
    Output(Vec<i64>),
    #[error("frame buffer has {len} bytes, expected {w}x{h}x3")]
    Frame { len: usize, w: usize, h: usize },
}

/// One detection in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub label: String,
    pub score: f32,
    pub bbox: [f32; 4],
}

pub struct TorchScriptDetector {
    module: CModule,
    labels: Vec<String>,
    input_w: i64,
    input_h: i64,
}

impl TorchScriptDetector {
    pub fn load(path: &Path, labels: Vec<String>, input_w: u32, input_h: u32) -> Result<Self, DetectorError> {
        let mut module = CModule::load_on_device(path, Device::Cpu)
            .map_err(|source| DetectorError::Load { path: path.display().to_string(), source })?;
        module.set_eval();
        Ok(TorchScriptDetector { module, labels, input_w: i64::from(input_w), input_h: i64::from(input_h) })
    }

    /// Detect on an interleaved RGB `u8` frame of `w` x `h`.
    pub fn detect(&self, rgb: &[u8], w: usize, h: usize) -> Result<Vec<Detected>, DetectorError> {
        if rgb.len() != w * h * 3 || w == 0 || h == 0 {
            return Err(DetectorError::Frame { len: rgb.len(), w, h });
        }
        let _guard = tch::no_grad_guard();
        let x =
            Tensor::from_slice(rgb).view([h as i64, w as i64, 3]).permute([2, 0, 1]).unsqueeze(0).to_kind(Kind::Float)
                / 255.0;
        let x = if (w as i64, h as i64) == (self.input_w, self.input_h) {
            x
        } else {
            x.f_upsample_bilinear2d([self.input_h, self.input_w], false, None, None)?
        };
        let y = self.module.forward_ts(&[x])?.to_kind(Kind::Float).contiguous();
        let size = y.size();
        if size.len() != 2 || size[1] != 6 {
            return Err(DetectorError::Output(size));
        }
        let rows = size[0] as usize;
        let mut flat = vec![0f32; rows * 6];
        y.f_copy_data(&mut flat, rows * 6)?;
        let (sx, sy) = (w as f32 / self.input_w as f32, h as f32 / self.input_h as f32);
        let mut out = Vec::with_capacity(rows);
        for r in flat.chunks_exact(6) {
            if !r.iter().all(|v| v.is_finite()) {
                continue;
            }
            let class = r[5].round().max(0.0) as usize;
            let label = self.labels.get(class).cloned().unwrap_or_else(|| format!("class_{class}"));
            let clip = |v: f32, max: usize| v.clamp(0.0, max as f32);
            let bbox = [clip(r[0] * sx, w), clip(r[1] * sy, h), clip(r[2] * sx, w), clip(r[3] * sy, h)];
            if bbox[2] > bbox[0] && bbox[3] > bbox[1] {
                out.push(Detected { label, score: r[4].clamp(0.0, 1.0), bbox });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TorchScript module the venv's torch writes: one box around the bright area.
    pub fn write_bright_detector(dir: &Path) -> std::path::PathBuf {
        let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        let out = dir.join("bright.pt");
        let script = r#"
import sys, torch
class Bright(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[0].mean(0) > 0.8
        if int(m.sum()) < 20:
            return torch.zeros((0, 6))
        nz = torch.nonzero(m)
        ys = nz[:, 0].float()
        xs = nz[:, 1].float()
        return torch.stack([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0,
                            torch.tensor(0.9), torch.tensor(0.0)]).unsqueeze(0)
torch.jit.script(Bright()).save(sys.argv[1])
"#;
        // TorchScript reads the class's source, so the script must be a file.
        let src = dir.join("make_bright.py");
        std::fs::write(&src, script).unwrap();
        let st = std::process::Command::new(py).arg(&src).arg(&out).status().expect("venv python");
        assert!(st.success());
        out
    }

    #[test]
    fn torchscript_boxes_come_back_in_frame_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_bright_detector(dir.path());
        let det = TorchScriptDetector::load(&path, vec!["person".into()], 80, 60).unwrap();
        let (w, h) = (160usize, 120usize);
        let mut rgb = vec![40u8; w * h * 3];
        for y in 40..100 {
            for x in 20..60 {
                rgb[(y * w + x) * 3..][..3].fill(250);
            }
        }
        let d = det.detect(&rgb, w, h).unwrap();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].label.as_str(), d[0].score), ("person", 0.9));
        let b = d[0].bbox;
        assert!((b[0] - 20.0).abs() <= 2.0 && (b[1] - 40.0).abs() <= 2.0, "{b:?}");
        assert!((b[2] - 60.0).abs() <= 2.0 && (b[3] - 100.0).abs() <= 2.0, "{b:?}");
        assert!(det.detect(&vec![40u8; w * h * 3], w, h).unwrap().is_empty());
        assert!(matches!(det.detect(&rgb[1..], w, h), Err(DetectorError::Frame { .. })));
        assert!(TorchScriptDetector::load(&dir.path().join("none.pt"), vec![], 8, 8).is_err());
    }
}
