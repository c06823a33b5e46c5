//! Colour conversions: kelvin <-> mired, sRGB <-> CIE xy, hex.
//!
//! Zigbee lights report colour as CIE 1931 xy (Zigbee2MQTT publishes
//! `"color":{"x":..,"y":..}` after an RGB command), so the bridge converts
//! xy back to RGB and compares colours in xy space (brightness-free).
//! The RGB -> XYZ matrix is the "wide gamut RGB D65" one from Philips' Hue
//! application note, which Zigbee2MQTT's converters also use.
use crate::Rgb;

/// Kelvin -> mired (micro reciprocal degrees), rounded.
pub fn kelvin_to_mired(kelvin: u32) -> u32 {
    if kelvin == 0 {
        return 0;
    }
    (1_000_000 + kelvin / 2) / kelvin
}

/// Mired -> kelvin, rounded.
pub fn mired_to_kelvin(mired: u32) -> u32 {
    if mired == 0 {
        return 0;
    }
    (1_000_000 + mired / 2) / mired
}

fn gamma_expand(c: f64) -> f64 {
    if c > 0.04045 { ((c + 0.055) / 1.055).powf(2.4) } else { c / 12.92 }
}

fn gamma_compress(c: f64) -> f64 {
    if c <= 0.003_130_8 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 }
}

/// sRGB -> CIE xy. `None` for black (no chromaticity).
pub fn rgb_to_xy(rgb: Rgb) -> Option<(f64, f64)> {
    let r = gamma_expand(f64::from(rgb.r) / 255.0);
    let g = gamma_expand(f64::from(rgb.g) / 255.0);
    let b = gamma_expand(f64::from(rgb.b) / 255.0);
    let x = r * 0.664_511 + g * 0.154_324 + b * 0.162_028;
    let y = r * 0.283_881 + g * 0.668_433 + b * 0.047_685;
    let z = r * 0.000_088 + g * 0.072_310 + b * 0.986_039;
    let sum = x + y + z;
    if sum <= 0.0 {
        return None;
    }
    Some((x / sum, y / sum))
}

/// CIE xy -> sRGB at full brightness (the brightest colour of that
/// chromaticity). `None` when (x, y) is not a valid chromaticity.
pub fn xy_to_rgb(x: f64, y: f64) -> Option<Rgb> {
    if !x.is_finite() || !y.is_finite() || y <= 0.0 || x < 0.0 || x + y > 1.0 {
        return None;
    }
    let big_y = 1.0;
    let big_x = big_y / y * x;
    let big_z = big_y / y * (1.0 - x - y);
    // Inverse of the wide-gamut matrix above.
    let r = big_x * 1.656_492 - big_y * 0.354_851 - big_z * 0.255_038;
    let g = -big_x * 0.707_196 + big_y * 1.655_397 + big_z * 0.036_152;
    let b = big_x * 0.051_713 - big_y * 0.121_364 + big_z * 1.011_530;
    let (r, g, b) = (r.max(0.0), g.max(0.0), b.max(0.0));
    let max = r.max(g).max(b);
    if max <= 0.0 {
        return None;
    }
    let to8 = |c: f64| (gamma_compress(c / max).clamp(0.0, 1.0) * 255.0).round() as u8;
    Some(Rgb { r: to8(r), g: to8(g), b: to8(b) })
}

/// Upper-case `RRGGBB` without `#` (Tasmota prints colours this way).
pub(crate) fn to_hex_upper(rgb: Rgb) -> String {
    format!("{:02X}{:02X}{:02X}", rgb.r, rgb.g, rgb.b)
}

/// Parse `#RRGGBB`, `RRGGBB`, or a longer Tasmota channel string
/// (`RRGGBBCCWW`, `RRGGBBWW`): the first three channels are RGB.
pub(crate) fn parse_hex(s: &str) -> Option<Rgb> {
    let h = s.strip_prefix('#').unwrap_or(s);
    if h.len() < 6 || !h.len().is_multiple_of(2) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ch = |i: usize| h.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok());
    Some(Rgb { r: ch(0)?, g: ch(2)?, b: ch(4)? })
}

/// Whether two colours have the same chromaticity (within what a bulb's
/// xy round trip loses). Black matches only black.
pub(crate) fn same_color(a: Rgb, b: Rgb) -> bool {
    match (rgb_to_xy(a), rgb_to_xy(b)) {
        (Some((ax, ay)), Some((bx, by))) => ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() < 0.02,
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mired_kelvin() {
        // Tasmota's CT range 153..500 mired is 6536..2000 K (tasmota/docs Lights.md).
        assert_eq!(kelvin_to_mired(2000), 500);
        assert_eq!(mired_to_kelvin(153), 6536);
        assert_eq!(kelvin_to_mired(2700), 370);
        assert_eq!(kelvin_to_mired(6500), 154);
        assert_eq!(kelvin_to_mired(0), 0);
    }

    #[test]
    fn xy_round_trip_primaries() {
        for rgb in [
            Rgb { r: 255, g: 0, b: 0 },
            Rgb { r: 0, g: 255, b: 0 },
            Rgb { r: 0, g: 0, b: 255 },
            Rgb { r: 255, g: 255, b: 255 },
            Rgb { r: 255, g: 165, b: 0 },
            Rgb { r: 128, g: 0, b: 128 },
        ] {
            let (x, y) = rgb_to_xy(rgb).unwrap();
            let back = xy_to_rgb(x, y).unwrap();
            assert!(same_color(rgb, back), "{rgb:?} -> ({x},{y}) -> {back:?}");
        }
        assert_eq!(rgb_to_xy(Rgb { r: 0, g: 0, b: 0 }), None);
        // Red on the Hue wide gamut: x≈0.7006, y≈0.2993 (Philips' RGB-to-xy note).
        let (x, y) = rgb_to_xy(Rgb { r: 255, g: 0, b: 0 }).unwrap();
        assert!((x - 0.7006).abs() < 1e-3 && (y - 0.2993).abs() < 1e-3, "{x} {y}");
        assert!(!same_color(Rgb { r: 255, g: 0, b: 0 }, Rgb { r: 0, g: 0, b: 255 }));
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("#FF8000"), Some(Rgb { r: 255, g: 128, b: 0 }));
        assert_eq!(parse_hex("ff8000"), Some(Rgb { r: 255, g: 128, b: 0 }));
        assert_eq!(parse_hex("FF00000000"), Some(Rgb { r: 255, g: 0, b: 0 }));
        assert_eq!(parse_hex("FF00"), None);
        assert_eq!(parse_hex("GG0000"), None);
        assert_eq!(parse_hex("ééé"), None);
        assert_eq!(to_hex_upper(Rgb { r: 255, g: 128, b: 0 }), "FF8000");
    }
}
