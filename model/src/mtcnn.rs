//! MTCNN face detection (Zhang et al. 2016) on tch: P-, R- and O-Net with
//! the weights of the `facenet-pytorch` package (converted to safetensors at
//! setup by `scripts/convert_facenet.py`), and the cascade of
//! `facenet_pytorch/models/utils/detect_face.py` step by step: image
//! pyramid (area resampling), P-Net proposals with NMS per scale and across
//! scales, box regression, squaring, 24x24 crops through R-Net, 48x48 crops
//! through O-Net, and a final "Min" NMS.

use std::collections::HashMap;
use std::path::Path;

use tch::{Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MtcnnError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: tch::TchError,
    },
    #[error("weight `{0}` missing")]
    Missing(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error("image buffer has {len} bytes, expected {w}x{h}x3")]
    Image { len: usize, w: usize, h: usize },
}

/// A face: box `[x1, y1, x2, y2]` in image pixels and probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub bbox: [f32; 4],
    pub score: f32,
}

struct Net(HashMap<String, Tensor>);

impl Net {
    fn load(path: &Path) -> Result<Net, MtcnnError> {
        let list = Tensor::read_safetensors(path)
            .map_err(|source| MtcnnError::Read { path: path.display().to_string(), source })?;
        Ok(Net(list.into_iter().map(|(k, v)| (k, v.to_kind(Kind::Float))).collect()))
    }

    fn t(&self, k: &str) -> Result<&Tensor, MtcnnError> {
        self.0.get(k).ok_or_else(|| MtcnnError::Missing(k.to_string()))
    }

    fn conv(&self, x: &Tensor, name: &str) -> Result<Tensor, MtcnnError> {
        let w = self.t(&format!("{name}.weight"))?;
        let b = self.t(&format!("{name}.bias"))?;
        Ok(x.f_conv2d(w, Some(b), [1, 1], [0, 0], [1, 1], 1)?)
    }

    fn prelu(&self, x: &Tensor, name: &str) -> Result<Tensor, MtcnnError> {
        Ok(x.f_prelu(self.t(&format!("{name}.weight"))?)?)
    }

    fn dense(&self, x: &Tensor, name: &str) -> Result<Tensor, MtcnnError> {
        let w = self.t(&format!("{name}.weight"))?;
        let b = self.t(&format!("{name}.bias"))?;
        Ok(x.f_linear(w, Some(b))?)
    }
}

fn pool(x: &Tensor, k: i64, s: i64) -> Result<Tensor, MtcnnError> {
    Ok(x.f_max_pool2d([k, k], [s, s], [0, 0], [1, 1], true)?)
}

/// Flatten as facenet-pytorch does (`permute(0, 3, 2, 1)`, Caffe order).
fn flatten(x: &Tensor) -> Result<Tensor, MtcnnError> {
    let n = x.size()[0];
    Ok(x.f_permute([0, 3, 2, 1])?.f_contiguous()?.f_view([n, -1])?)
}

pub struct Mtcnn {
    pnet: Net,
    rnet: Net,
    onet: Net,
    /// Smallest face, in pixels (facenet-pytorch's `min_face_size`).
    pub min_size: f64,
    /// Pyramid step.
    pub factor: f64,
    pub thresholds: [f32; 3],
}

/// `[x1, y1, x2, y2, score, r1, r2, r3, r4]`.
type Cand = [f32; 9];

impl Mtcnn {
    /// Load `pnet.safetensors`, `rnet.safetensors`, `onet.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Mtcnn, MtcnnError> {
        Ok(Mtcnn {
            pnet: Net::load(&dir.join("pnet.safetensors"))?,
            rnet: Net::load(&dir.join("rnet.safetensors"))?,
            onet: Net::load(&dir.join("onet.safetensors"))?,
            min_size: 20.0,
            factor: 0.709,
            thresholds: [0.6, 0.7, 0.7],
        })
    }

    fn pnet(&self, x: &Tensor) -> Result<(Tensor, Tensor), MtcnnError> {
        let n = &self.pnet;
        let x = n.prelu(&n.conv(x, "conv1")?, "prelu1")?;
        let x = pool(&x, 2, 2)?;
        let x = n.prelu(&n.conv(&x, "conv2")?, "prelu2")?;
        let x = n.prelu(&n.conv(&x, "conv3")?, "prelu3")?;
        let prob = n.conv(&x, "conv4_1")?.f_softmax(1, Kind::Float)?;
        Ok((n.conv(&x, "conv4_2")?, prob))
    }

    fn rnet(&self, x: &Tensor) -> Result<(Tensor, Tensor), MtcnnError> {
        let n = &self.rnet;
        let x = pool(&n.prelu(&n.conv(x, "conv1")?, "prelu1")?, 3, 2)?;
        let x = pool(&n.prelu(&n.conv(&x, "conv2")?, "prelu2")?, 3, 2)?;
        let x = n.prelu(&n.conv(&x, "conv3")?, "prelu3")?;
        let x = n.prelu(&n.dense(&flatten(&x)?, "dense4")?, "prelu4")?;
        let prob = n.dense(&x, "dense5_1")?.f_softmax(1, Kind::Float)?;
        Ok((n.dense(&x, "dense5_2")?, prob))
    }

    fn onet(&self, x: &Tensor) -> Result<(Tensor, Tensor), MtcnnError> {
        let n = &self.onet;
        let x = pool(&n.prelu(&n.conv(x, "conv1")?, "prelu1")?, 3, 2)?;
        let x = pool(&n.prelu(&n.conv(&x, "conv2")?, "prelu2")?, 3, 2)?;
        let x = pool(&n.prelu(&n.conv(&x, "conv3")?, "prelu3")?, 2, 2)?;
        let x = n.prelu(&n.conv(&x, "conv4")?, "prelu4")?;
        let x = n.prelu(&n.dense(&flatten(&x)?, "dense5")?, "prelu5")?;
        let prob = n.dense(&x, "dense6_1")?.f_softmax(1, Kind::Float)?;
        Ok((n.dense(&x, "dense6_2")?, prob))
    }

    /// Faces in an interleaved RGB `u8` image of `w` x `h`.
    pub fn detect(&self, rgb: &[u8], w: usize, h: usize) -> Result<Vec<Face>, MtcnnError> {
        if rgb.len() != w * h * 3 || w == 0 || h == 0 {
            return Err(MtcnnError::Image { len: rgb.len(), w, h });
        }
        let _g = tch::no_grad_guard();
        let img =
            Tensor::from_slice(rgb).view([h as i64, w as i64, 3]).permute([2, 0, 1]).unsqueeze(0).to_kind(Kind::Float);
        let norm = |t: Tensor| (t - 127.5) * 0.0078125;
        // Stage 1: P-Net over the pyramid.
        let m = 12.0 / self.min_size;
        let mut minl = (h.min(w) as f64) * m;
        let mut scales = Vec::new();
        let mut s = m;
        while minl >= 12.0 {
            scales.push(s);
            s *= self.factor;
            minl *= self.factor;
        }
        let mut cands: Vec<Cand> = Vec::new();
        for &scale in &scales {
            let (hs, ws) = ((h as f64 * scale + 1.0) as i64, (w as f64 * scale + 1.0) as i64);
            let im = norm(img.f_adaptive_avg_pool2d([hs, ws])?);
            let (reg, prob) = self.pnet(&im)?;
            let (gh, gw) = (prob.size()[2] as usize, prob.size()[3] as usize);
            let p: Vec<f32> = tensor_vec(&prob.get(0).get(1))?;
            let r: Vec<f32> = tensor_vec(&reg.get(0))?;
            let mut level: Vec<Cand> = Vec::new();
            for y in 0..gh {
                for x in 0..gw {
                    let score = p[y * gw + x];
                    if score >= self.thresholds[0] {
                        let q = |v: usize, off: f64| ((2.0 * v as f64 + off) / scale).floor() as f32;
                        let rg = |c: usize| r[c * gh * gw + y * gw + x];
                        level.push([q(x, 1.0), q(y, 1.0), q(x, 12.0), q(y, 12.0), score, rg(0), rg(1), rg(2), rg(3)]);
                    }
                }
            }
            let keep = nms_iou(&level, 0.5);
            cands.extend(keep.into_iter().map(|i| level[i]));
        }
        let keep = nms_iou(&cands, 0.7);
        let mut boxes: Vec<[f32; 5]> = keep
            .into_iter()
            .map(|i| {
                let c = cands[i];
                let (rw, rh) = (c[2] - c[0], c[3] - c[1]);
                [c[0] + c[5] * rw, c[1] + c[6] * rh, c[2] + c[7] * rw, c[3] + c[8] * rh, c[4]]
            })
            .collect();
        rerec(&mut boxes);
        // Stage 2: R-Net on 24x24 crops: filter, NMS, regress, square.
        if !boxes.is_empty() {
            let (reg, prob) = self.rnet(&norm(crops(&img, &boxes, w, h, 24)?))?;
            let pass = passing(&boxes, &reg, &prob, self.thresholds[1])?;
            boxes = nms_iou(&pass, 0.7).into_iter().map(|i| bbreg(&pass[i])).collect();
            rerec(&mut boxes);
        }
        // Stage 3: O-Net on 48x48 crops: filter, regress, "Min" NMS.
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let (reg, prob) = self.onet(&norm(crops(&img, &boxes, w, h, 48)?))?;
        let pass = passing(&boxes, &reg, &prob, self.thresholds[2])?;
        let done: Vec<[f32; 5]> = pass.iter().map(bbreg).collect();
        Ok(nms_min(&done, 0.7)
            .into_iter()
            .map(|i| Face { bbox: [done[i][0], done[i][1], done[i][2], done[i][3]], score: done[i][4] })
            .collect())
    }
}

/// `bbreg`: apply a candidate's regression (width and height with the +1 of the original).
fn bbreg(c: &Cand) -> [f32; 5] {
    let (bw, bh) = (c[2] - c[0] + 1.0, c[3] - c[1] + 1.0);
    [c[0] + c[5] * bw, c[1] + c[6] * bh, c[2] + c[7] * bw, c[3] + c[8] * bh, c[4]]
}

/// facenet-pytorch's `nms_numpy(..., 'Min')`: overlap over the smaller box
/// (areas with +1), highest score first, drops overlap > `t`.
fn nms_min(b: &[[f32; 5]], t: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..b.len()).collect();
    order.sort_by(|&x, &y| b[y][4].total_cmp(&b[x][4]));
    let area = |r: &[f32; 5]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
    let mut keep = Vec::new();
    let mut dead = vec![false; b.len()];
    for (k, &i) in order.iter().enumerate() {
        if dead[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[k + 1..] {
            let iw = (b[i][2].min(b[j][2]) - b[i][0].max(b[j][0]) + 1.0).max(0.0);
            let ih = (b[i][3].min(b[j][3]) - b[i][1].max(b[j][1]) + 1.0).max(0.0);
            if iw * ih / area(&b[i]).min(area(&b[j])) > t {
                dead[j] = true;
            }
        }
    }
    keep
}

fn tensor_vec(t: &Tensor) -> Result<Vec<f32>, MtcnnError> {
    let t = t.f_contiguous()?.f_view([-1])?;
    Ok(Vec::<f32>::try_from(&t)?)
}

/// `rerec`: square each box around its centre on its longer side.
fn rerec(boxes: &mut [[f32; 5]]) {
    for b in boxes {
        let (h, w) = (b[3] - b[1], b[2] - b[0]);
        let l = w.max(h);
        b[0] = b[0] + w * 0.5 - l * 0.5;
        b[1] = b[1] + h * 0.5 - l * 0.5;
        b[2] = b[0] + l;
        b[3] = b[1] + l;
    }
}

/// torchvision's `nms`: indices kept, by descending score; drops IoU > `t`.
fn nms_iou(c: &[Cand], t: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..c.len()).collect();
    order.sort_by(|&a, &b| c[b][4].total_cmp(&c[a][4]));
    let area = |b: &Cand| (b[2] - b[0]) * (b[3] - b[1]);
    let mut keep = Vec::new();
    let mut dead = vec![false; c.len()];
    for (k, &i) in order.iter().enumerate() {
        if dead[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[k + 1..] {
            if dead[j] {
                continue;
            }
            let iw = (c[i][2].min(c[j][2]) - c[i][0].max(c[j][0])).max(0.0);
            let ih = (c[i][3].min(c[j][3]) - c[i][1].max(c[j][1])).max(0.0);
            let inter = iw * ih;
            if inter / (area(&c[i]) + area(&c[j]) - inter) > t {
                dead[j] = true;
            }
        }
    }
    keep
}

/// `pad` + crop + area resize to `size`, stacked.
fn crops(img: &Tensor, boxes: &[[f32; 5]], w: usize, h: usize, size: i64) -> Result<Tensor, MtcnnError> {
    let mut out = Vec::with_capacity(boxes.len());
    for b in boxes {
        let x = (b[0].trunc() as i64).max(1);
        let y = (b[1].trunc() as i64).max(1);
        let ex = (b[2].trunc() as i64).min(w as i64);
        let ey = (b[3].trunc() as i64).min(h as i64);
        let crop = if ey > y - 1 && ex > x - 1 {
            img.f_narrow(2, y - 1, ey - (y - 1))?.f_narrow(3, x - 1, ex - (x - 1))?
        } else {
            Tensor::zeros([1, 3, 1, 1], (Kind::Float, tch::Device::Cpu))
        };
        out.push(crop.f_adaptive_avg_pool2d([size, size])?);
    }
    Ok(Tensor::f_cat(&out, 0)?)
}

/// The boxes whose probability passes `t`, with the new score and their
/// regression (applied after NMS, as the original does).
fn passing(boxes: &[[f32; 5]], reg: &Tensor, prob: &Tensor, t: f32) -> Result<Vec<Cand>, MtcnnError> {
    let p = tensor_vec(&prob.f_select(1, 1)?)?;
    let r = tensor_vec(reg)?;
    Ok(boxes
        .iter()
        .enumerate()
        .filter(|(i, _)| p[*i] > t)
        .map(|(i, b)| [b[0], b[1], b[2], b[3], p[i], r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venv() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv")
    }

    /// Parity with `facenet_pytorch.MTCNN.detect` on scikit-image's astronaut
    /// (and the same image at half size): boxes within 2 px, scores within 0.01.
    #[test]
    fn matches_facenet_pytorch_on_the_astronaut() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("ref.py");
        std::fs::write(
            &script,
            r#"
import sys, json, glob, os, numpy as np
from skimage import data
from PIL import Image
from facenet_pytorch import MTCNN
out = sys.argv[1]
img = data.astronaut()
half = np.asarray(Image.fromarray(img).resize((256, 256), Image.BILINEAR))
m = MTCNN(keep_all=True)
res = []
for name, im in [("full", img), ("half", half)]:
    im = np.ascontiguousarray(im)
    im.tofile(os.path.join(out, name + ".rgb"))
    boxes, probs = m.detect(im)
    res.append({"name": name, "w": im.shape[1], "h": im.shape[0],
                "boxes": [] if boxes is None else boxes.tolist(),
                "probs": [] if probs is None else probs.tolist()})
print(json.dumps(res))
import facenet_pytorch
print(os.path.join(os.path.dirname(facenet_pytorch.__file__), "data"))
"#,
        )
        .unwrap();
        let o = std::process::Command::new(venv().join("bin/python")).arg(&script).arg(dir.path()).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let mut lines = text.lines();
        let refs: Vec<serde_json::Value> = serde_json::from_str(lines.next().unwrap()).unwrap();
        let weights = std::path::PathBuf::from(lines.next().unwrap());
        let m = Mtcnn::load(&weights).unwrap();
        let mut compared = 0;
        for r in refs {
            let (w, h) = (r["w"].as_u64().unwrap() as usize, r["h"].as_u64().unwrap() as usize);
            let rgb = std::fs::read(dir.path().join(format!("{}.rgb", r["name"].as_str().unwrap()))).unwrap();
            let faces = m.detect(&rgb, w, h).unwrap();
            let boxes = r["boxes"].as_array().unwrap();
            assert_eq!(faces.len(), boxes.len(), "{}: ours {faces:?} vs {boxes:?}", r["name"]);
            for (b, p) in boxes.iter().zip(r["probs"].as_array().unwrap()) {
                let b: Vec<f32> = b.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                let p = p.as_f64().unwrap() as f32;
                let best = faces
                    .iter()
                    .min_by(|x, y| {
                        let d = |f: &Face| (0..4).map(|k| (f.bbox[k] - b[k]).abs()).fold(0.0, f32::max);
                        d(x).total_cmp(&d(y))
                    })
                    .unwrap();
                for k in 0..4 {
                    assert!((best.bbox[k] - b[k]).abs() <= 2.0, "{}: {best:?} vs {b:?}", r["name"]);
                }
                assert!((best.score - p).abs() <= 0.01, "{}: {} vs {p}", r["name"], best.score);
                compared += 1;
            }
        }
        assert!(compared >= 2, "the astronaut has a face at both sizes");
    }
}
