//! ggml block formats and their dequantisation to f32, written from ggml's
//! `dequantize_row_*` reference loops (`ggml-quants.c`) and checked bit for
//! bit against the `gguf` Python package on real files.
use half::{bf16, f16};

/// Elements in a K-quant super-block.
const QK_K: u64 = 256;

/// ggml tensor types this reader knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)] // ggml's own spelling
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4_K,
    Q5_K,
    Q6_K,
    BF16,
    /// Any other id: listed, but loading it is [`GgufError::UnsupportedType`].
    Other(u32),
}

impl GgmlType {
    pub(super) fn from_id(id: u32) -> Self {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4_K,
            13 => GgmlType::Q5_K,
            14 => GgmlType::Q6_K,
            30 => GgmlType::BF16,
            other => GgmlType::Other(other),
        }
    }
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::BF16 => 30,
            GgmlType::Other(id) => id,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
            GgmlType::BF16 => "BF16",
            GgmlType::Other(id) => match id {
                9 => "Q8_1",
                10 => "Q2_K",
                11 => "Q3_K",
                15 => "Q8_K",
                16..=23 | 29 => "IQ*",
                24 => "I8",
                25 => "I16",
                26 => "I32",
                27 => "I64",
                28 => "F64",
                _ => "unknown",
            },
        }
    }
    /// (elements per block, bytes per block) for supported types.
    pub(super) fn block(self) -> Option<(u64, u64)> {
        match self {
            GgmlType::F32 => Some((1, 4)),
            GgmlType::F16 | GgmlType::BF16 => Some((1, 2)),
            GgmlType::Q4_0 => Some((32, 18)),
            GgmlType::Q4_1 => Some((32, 20)),
            GgmlType::Q5_0 => Some((32, 22)),
            GgmlType::Q5_1 => Some((32, 24)),
            GgmlType::Q8_0 => Some((32, 34)),
            GgmlType::Q4_K => Some((QK_K, 144)),
            GgmlType::Q5_K => Some((QK_K, 176)),
            GgmlType::Q6_K => Some((QK_K, 210)),
            GgmlType::Other(_) => None,
        }
    }
}

/// Dequantise raw block bytes of a supported type (length already checked to
/// be whole blocks).
pub(super) fn dequantize_raw(ty: GgmlType, raw: &[u8]) -> Vec<f32> {
    let h = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    match ty {
        GgmlType::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        GgmlType::F16 => raw.chunks_exact(2).map(h).collect(),
        GgmlType::BF16 => raw.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        GgmlType::Q4_0 => {
            let mut out = Vec::with_capacity(raw.len() / 18 * 32);
            for blk in raw.chunks_exact(18) {
                let d = h(&blk[..2]);
                let qs = &blk[2..18];
                out.extend(qs.iter().map(|&q| d * ((q & 0x0F) as i32 - 8) as f32));
                out.extend(qs.iter().map(|&q| d * ((q >> 4) as i32 - 8) as f32));
            }
            out
        }
        GgmlType::Q4_1 => {
            let mut out = Vec::with_capacity(raw.len() / 20 * 32);
            for blk in raw.chunks_exact(20) {
                let d = h(&blk[..2]);
                let m = h(&blk[2..4]);
                let qs = &blk[4..20];
                out.extend(qs.iter().map(|&q| d * (q & 0x0F) as f32 + m));
                out.extend(qs.iter().map(|&q| d * (q >> 4) as f32 + m));
            }
            out
        }
        GgmlType::Q8_0 => {
            let mut out = Vec::with_capacity(raw.len() / 34 * 32);
            for blk in raw.chunks_exact(34) {
                let d = h(&blk[..2]);
                out.extend(blk[2..34].iter().map(|&q| d * (q as i8) as f32));
            }
            out
        }
        GgmlType::Q5_0 => {
            let mut out = Vec::with_capacity(raw.len() / 22 * 32);
            for blk in raw.chunks_exact(22) {
                let d = h(&blk[..2]);
                let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                let (lo, hi) = fives(qh, &blk[6..22]);
                out.extend(lo.iter().chain(&hi).map(|&q| (q as i32 - 16) as f32 * d));
            }
            out
        }
        GgmlType::Q5_1 => {
            let mut out = Vec::with_capacity(raw.len() / 24 * 32);
            for blk in raw.chunks_exact(24) {
                let (d, m) = (h(&blk[..2]), h(&blk[2..4]));
                let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
                let (lo, hi) = fives(qh, &blk[8..24]);
                out.extend(lo.iter().chain(&hi).map(|&q| q as f32 * d + m));
            }
            out
        }
        GgmlType::Q4_K => {
            let mut out = Vec::with_capacity(raw.len() / 144 * 256);
            for blk in raw.chunks_exact(144) {
                let (d, dmin) = (h(&blk[..2]), h(&blk[2..4]));
                let scales = &blk[4..16];
                for (j, q) in blk[16..144].chunks_exact(32).enumerate() {
                    let ((d1, m1), (d2, m2)) =
                        (sub_block(2 * j, d, dmin, scales), sub_block(2 * j + 1, d, dmin, scales));
                    out.extend(q.iter().map(|&b| d1 * (b & 0x0F) as f32 - m1));
                    out.extend(q.iter().map(|&b| d2 * (b >> 4) as f32 - m2));
                }
            }
            out
        }
        GgmlType::Q5_K => {
            let mut out = Vec::with_capacity(raw.len() / 176 * 256);
            for blk in raw.chunks_exact(176) {
                let (d, dmin) = (h(&blk[..2]), h(&blk[2..4]));
                let scales = &blk[4..16];
                let qh = &blk[16..48];
                for (j, ql) in blk[48..176].chunks_exact(32).enumerate() {
                    let ((d1, m1), (d2, m2)) =
                        (sub_block(2 * j, d, dmin, scales), sub_block(2 * j + 1, d, dmin, scales));
                    let (u1, u2) = (1u8 << (2 * j), 2u8 << (2 * j));
                    let high = |l: usize, u: u8| if qh[l] & u != 0 { 16 } else { 0 };
                    out.extend((0..32).map(|l| d1 * ((ql[l] & 0x0F) + high(l, u1)) as f32 - m1));
                    out.extend((0..32).map(|l| d2 * ((ql[l] >> 4) + high(l, u2)) as f32 - m2));
                }
            }
            out
        }
        GgmlType::Q6_K => {
            let mut out = vec![0f32; raw.len() / 210 * 256];
            for (blk, y) in raw.chunks_exact(210).zip(out.chunks_exact_mut(256)) {
                let d = h(&blk[208..210]);
                for half in 0..2 {
                    let ql = &blk[64 * half..64 * half + 64];
                    let qh = &blk[128 + 32 * half..128 + 32 * half + 32];
                    let sc = &blk[192 + 8 * half..192 + 8 * half + 8];
                    let y = &mut y[128 * half..128 * half + 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0x0F) | (qh[l] & 3) << 4) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) as i32 - 32;
                        let s = |k: usize| d * (sc[is + k] as i8) as f32;
                        y[l] = s(0) * q1 as f32;
                        y[l + 32] = s(2) * q2 as f32;
                        y[l + 64] = s(4) * q3 as f32;
                        y[l + 96] = s(6) * q4 as f32;
                    }
                }
            }
            out
        }
        GgmlType::Other(_) => Vec::new(),
    }
}

/// Q5_0/Q5_1: the 32 five-bit values of a block, low nibbles (elements
/// 0..16) and high nibbles (16..32), each with its fifth bit from `qh`.
fn fives(qh: u32, qs: &[u8]) -> ([u8; 16], [u8; 16]) {
    let (mut lo, mut hi) = ([0u8; 16], [0u8; 16]);
    for j in 0..16 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        lo[j] = (qs[j] & 0x0F) | h0;
        hi[j] = (qs[j] >> 4) | h1;
    }
    (lo, hi)
}

/// Q4_K/Q5_K: the scale and min of sub-block `j` (`d * sc`, `dmin * m`).
fn sub_block(j: usize, d: f32, dmin: f32, scales: &[u8]) -> (f32, f32) {
    let (sc, m) = scale_min_k4(j, scales);
    (d * sc as f32, dmin * m as f32)
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j`
/// packed into a K-quant's 12 scale bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_0_q4_1_q8_0_blocks() {
        // Q4_0: d = 0.5, nibbles 0..15 low, 15..0 high.
        let mut b = f16b(0.5).to_vec();
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let v = dequantize_raw(GgmlType::Q4_0, &b);
        assert_eq!(v.len(), 32);
        assert_eq!(v[0], -4.0);
        assert_eq!(v[15], 3.5);
        assert_eq!(v[16], 3.5);
        assert_eq!(v[31], -4.0);
        // Q4_1: d = 0.25, m = -1.
        let mut b = f16b(0.25).to_vec();
        b.extend(f16b(-1.0));
        for j in 0..16u8 {
            b.push(j | (j << 4));
        }
        let v = dequantize_raw(GgmlType::Q4_1, &b);
        assert_eq!(v[0], -1.0);
        assert_eq!(v[15], 2.75);
        assert_eq!(v[31], 2.75);
        // Q8_0: d = 2, q = -16..16.
        let mut b = f16b(2.0).to_vec();
        for j in 0..32i8 {
            b.push((j - 16) as u8);
        }
        let v = dequantize_raw(GgmlType::Q8_0, &b);
        assert_eq!(v[0], -32.0);
        assert_eq!(v[31], 30.0);
    }
}
