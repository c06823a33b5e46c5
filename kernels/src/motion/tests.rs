//! Tests of the motion kernels (fast vs reference, and behaviour).
use super::*;

const P: MotionParams = MotionParams { threshold: 20, alpha: 0.05, min_area: 4 };

/// Deterministic pseudo-random frames (xorshift) with moving squares.
fn frames(w: usize, h: usize, n: usize) -> Vec<Vec<u8>> {
    let mut s = 0x2545_f491u32;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    (0..n)
        .map(|i| {
            let mut f: Vec<u8> = (0..w * h).map(|_| 100 + (rnd() % 8) as u8).collect();
            for k in 0..(rnd() % 4) as usize {
                let (bx, by) = ((rnd() as usize) % w, (rnd() as usize) % h);
                let size = 1 + (rnd() as usize) % 9;
                let v = if (i + k) % 2 == 0 { 250 } else { 10 };
                for y in by..(by + size).min(h) {
                    for x in bx..(bx + size).min(w) {
                        f[y * w + x] = v;
                    }
                }
            }
            f
        })
        .collect()
}

#[test]
fn fast_and_reference_agree_on_random_scenes() {
    for (w, h) in [(1, 1), (7, 3), (64, 48), (133, 100)] {
        let mut fast = MotionDetector::new(w, h, P, None).unwrap();
        let mut slow = MotionDetector::new(w, h, P, None).unwrap();
        let mut seen_motion = 0;
        for f in frames(w, h, 40) {
            let a = fast.detect(&f).unwrap();
            let b = slow.detect_ref(&f).unwrap();
            assert_eq!(a, b, "{w}x{h}");
            seen_motion += usize::from(!a.is_empty());
            assert_eq!(fast.background, slow.background);
        }
        if w * h > 100 {
            assert!(seen_motion > 10, "{w}x{h}: {seen_motion}");
        }
    }
}

#[test]
fn a_square_is_one_dilated_box_and_static_scenes_have_none() {
    let (w, h) = (32, 24);
    let mut d = MotionDetector::new(w, h, P, None).unwrap();
    let bg = vec![50u8; w * h];
    assert!(d.detect(&bg).unwrap().is_empty());
    assert!(d.detect(&bg).unwrap().is_empty());
    let mut f = bg.clone();
    for y in 10..14 {
        for x in 5..9 {
            f[y * w + x] = 200;
        }
    }
    let b = d.detect(&f).unwrap();
    assert_eq!(b, vec![MotionBox { y0: 9, x0: 4, y1: 14, x1: 9, area: 36 }]);
    // Two regions far apart stay separate; diagonal neighbours join.
    let mut g = bg.clone();
    g[0] = 255;
    g[w * h - 1] = 255;
    let b = d.detect_ref(&g).unwrap();
    assert_eq!(b.len(), 2, "{b:?}");
}

#[test]
fn masked_pixels_never_move_and_threshold_sets_sensitivity() {
    let (w, h) = (20, 20);
    let left_half = vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)];
    let mask = rasterize_polygons(&[left_half], w, h);
    assert_eq!(mask.iter().filter(|m| **m).count(), 200);
    assert!(mask[0] && !mask[10]);
    let mut d = MotionDetector::new(w, h, P, Some(mask)).unwrap();
    let bg = vec![80u8; w * h];
    d.detect(&bg).unwrap();
    let mut f = bg.clone();
    for y in 5..10 {
        for x in 2..6 {
            f[y * w + x] = 250;
        }
    }
    assert!(d.detect(&f).unwrap().is_empty());
    // Below threshold (20): a change of 15 is not motion.
    let mut quiet = MotionDetector::new(w, h, P, None).unwrap();
    quiet.detect(&bg).unwrap();
    assert!(quiet.detect(&vec![95u8; w * h]).unwrap().is_empty());
    assert_eq!(quiet.detect(&vec![130u8; w * h]).unwrap().len(), 1);
}

#[test]
fn the_background_follows_a_lasting_change() {
    let mut d = MotionDetector::new(4, 4, MotionParams { alpha: 0.5, ..P }, None).unwrap();
    d.detect(&[0; 16]).unwrap();
    let mut moving = 0;
    for _ in 0..20 {
        moving += usize::from(!d.detect(&[200; 16]).unwrap().is_empty());
    }
    assert!((1..6).contains(&moving), "{moving}");
}

#[test]
fn downscale_averages_and_converts_rgb() {
    let src = [10u8, 20, 30, 40, 50, 60, 70, 80];
    assert_eq!(downscale_grey(&src, 4, 2, 1, 2, 1).unwrap(), vec![35, 55]);
    let rgb = [255u8, 255, 255, 0, 0, 0];
    assert_eq!(downscale_grey(&rgb, 2, 1, 3, 1, 1).unwrap(), vec![128]);
    assert_eq!(downscale_grey(&rgb, 2, 1, 3, 2, 1).unwrap(), vec![255, 0]);
    assert!(matches!(downscale_grey(&src, 4, 3, 1, 2, 1), Err(MotionError::BadFrame { .. })));
    assert!(matches!(downscale_grey(&src, 4, 2, 1, 8, 1), Err(MotionError::BadSize { .. })));
}

#[test]
fn wrong_frame_size_is_an_error() {
    let mut d = MotionDetector::new(4, 4, P, None).unwrap();
    assert!(matches!(d.detect(&[0; 15]), Err(MotionError::BadFrame { .. })));
    assert!(MotionDetector::new(4, 4, P, Some(vec![false; 3])).is_err());
}

#[test]
fn downscale_fast_and_reference_agree() {
    let mut s = 0x1234_5678u32;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    for (sw, sh, dw, dh) in [
        (1, 1, 1, 1),
        (17, 5, 3, 2),
        (64, 48, 32, 24),
        (64, 48, 8, 6),
        (640, 480, 133, 100),
        (99, 70, 98, 70),
        (643, 101, 160, 25),
        (1920, 1080, 178, 100),
    ] {
        for channels in [1, 3] {
            let src: Vec<u8> = (0..sw * sh * channels).map(|_| rnd() as u8).collect();
            let fast = downscale_grey(&src, sw, sh, channels, dw, dh).unwrap();
            let slow = downscale_grey_ref(&src, sw, sh, channels, dw, dh).unwrap();
            assert_eq!(fast, slow, "{sw}x{sh}x{channels} -> {dw}x{dh}");
        }
    }
}

#[test]
fn grey_and_means_round_as_opencv() {
    // cv2.cvtColor(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], np.uint8), cv2.COLOR_RGB2GRAY)
    // = [[76, 150, 29, 124]] (0.299 R + 0.587 G + 0.114 B, rounded).
    let px = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30];
    assert_eq!(downscale_grey(&px, 4, 1, 3, 4, 1).unwrap(), vec![76, 150, 29, 124]);
    // 2x2 blocks round half up, other blocks half to even (INTER_AREA).
    assert_eq!(area_mean(2, 4), 1);
    assert_eq!(area_mean(6, 4), 2);
    assert_eq!(area_mean(1, 2), 0);
    assert_eq!(area_mean(3, 2), 2);
}
