//! Grouping of overlapping windows, as OpenCV's `HOGDescriptor::groupRectangles`
//! (`objdetect/src/hog.cpp`) with `SimilarRects` and `partition`
//! (`core/include/opencv2/core/operations.hpp`): windows whose four edges are
//! within `eps` of their mean size are one class (transitive closure); a class
//! needs more than `threshold` members; its box is the mean, its weight the
//! best member's; a class inside a stronger one is dropped.

/// An integer rectangle `x, y, width, height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

fn similar(a: &Rect, b: &Rect, eps: f64) -> bool {
    let delta = eps * f64::from(a.w.min(b.w) + a.h.min(b.h)) * 0.5;
    let close = |p: i32, q: i32| f64::from((p - q).abs()) <= delta;
    close(a.x, b.x) && close(a.y, b.y) && close(a.x + a.w, b.x + b.w) && close(a.y + a.h, b.y + b.h)
}

/// Class label of each rectangle (classes numbered by first member).
fn partition(rects: &[Rect], eps: f64) -> (Vec<usize>, usize) {
    let n = rects.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if similar(&rects[i], &rects[j], eps) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[b.max(a)] = a.min(b);
                }
            }
        }
    }
    let mut label_of_root = vec![usize::MAX; n];
    let mut labels = Vec::with_capacity(n);
    let mut classes = 0;
    for i in 0..n {
        let r = root(&mut parent, i);
        if label_of_root[r] == usize::MAX {
            label_of_root[r] = classes;
            classes += 1;
        }
        labels.push(label_of_root[r]);
    }
    (labels, classes)
}

/// OpenCV's `cvRound`/`saturate_cast<int>` of a double: round half to even.
fn round(v: f64) -> i32 {
    v.round_ties_even() as i32
}

/// Group `rects` (with their SVM `weights`); returns the kept boxes and weights.
pub fn group_rectangles(rects: &[Rect], weights: &[f64], threshold: usize, eps: f64) -> Vec<(Rect, f64)> {
    if threshold == 0 || rects.is_empty() {
        return rects.iter().copied().zip(weights.iter().copied()).collect();
    }
    let (labels, classes) = partition(rects, eps);
    let mut sums = vec![[0f64; 4]; classes];
    let mut counts = vec![0usize; classes];
    let mut best = vec![f64::MIN; classes];
    for ((r, &w), &c) in rects.iter().zip(weights).zip(&labels) {
        for (s, v) in sums[c].iter_mut().zip([r.x, r.y, r.w, r.h]) {
            *s += f64::from(v);
        }
        counts[c] += 1;
        best[c] = best[c].max(w);
    }
    let means: Vec<Rect> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| {
            let k = 1.0 / n as f64;
            Rect { x: round(s[0] * k), y: round(s[1] * k), w: round(s[2] * k), h: round(s[3] * k) }
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..classes {
        let (r1, n1) = (means[i], counts[i]);
        if n1 <= threshold {
            continue;
        }
        let inside = (0..classes).any(|j| {
            let (r2, n2) = (means[j], counts[j]);
            if j == i || n2 <= threshold {
                return false;
            }
            let dx = round(f64::from(r2.w) * eps);
            let dy = round(f64::from(r2.h) * eps);
            r1.x >= r2.x - dx
                && r1.y >= r2.y - dy
                && r1.x + r1.w <= r2.x + r2.w + dx
                && r1.y + r1.h <= r2.y + r2.h + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !inside {
            out.push((r1, best[i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: i32, y: i32, w: i32, h: i32) -> Rect {
        Rect { x, y, w, h }
    }

    #[test]
    fn close_windows_merge_and_lonely_ones_drop() {
        let rects = [r(100, 100, 64, 128), r(104, 100, 64, 128), r(100, 108, 64, 128), r(400, 20, 64, 128)];
        let out = group_rectangles(&rects, &[0.5, 1.5, 0.2, 3.0], 2, 0.2);
        assert_eq!(out.len(), 1, "{out:?}");
        // Mean (101.33, 102.67) rounds to (101, 103); weight of the best member.
        assert_eq!(out[0], (r(101, 103, 64, 128), 1.5));
        assert_eq!(group_rectangles(&rects, &[0.0; 4], 3, 0.2), vec![]);
    }

    #[test]
    fn a_small_class_inside_a_bigger_one_goes() {
        let mut rects = Vec::new();
        for d in 0..5 {
            rects.push(r(100 + d, 100, 128, 256));
        }
        for d in 0..3 {
            rects.push(r(140 + d, 150, 64, 128));
        }
        let w = vec![1.0; rects.len()];
        let out = group_rectangles(&rects, &w, 2, 0.2);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0.w, 128);
    }

    #[test]
    fn similarity_is_transitive() {
        // a~b and b~c but not a~c: one class.
        let rects = [r(0, 0, 64, 128), r(18, 0, 64, 128), r(36, 0, 64, 128)];
        let (labels, n) = partition(&rects, 0.2);
        assert_eq!((labels, n), (vec![0, 0, 0], 1));
    }
}
