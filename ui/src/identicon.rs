//! Owns the avatar drawn from a key: a 5×5 left-right mirrored pattern and a hue, both taken
//! from a hash of the public key, so the same person always has the same picture on every
//! computer and another key (an impostor's) has another one. Images are made once per key.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use iced::widget::image::Handle;
use natter::PeerId;

/// Cells per side.
const CELLS: usize = 5;
/// Pixels per cell.
const CELL_PX: usize = 6;
/// The image's side in pixels (a cell of margin around the pattern).
pub const SIDE: u32 = ((CELLS + 2) * CELL_PX) as u32;

/// The pattern (row-major, `true`: filled) and colour of a key.
pub fn pattern(peer: &PeerId) -> ([bool; CELLS * CELLS], [u8; 3]) {
    let h = mix(peer.to_string().as_bytes());
    let mut cells = [false; CELLS * CELLS];
    for row in 0..CELLS {
        for col in 0..CELLS.div_ceil(2) {
            let bit = row * 3 + col;
            let on = h[bit / 8] >> (bit % 8) & 1 == 1;
            cells[row * CELLS + col] = on;
            cells[row * CELLS + (CELLS - 1 - col)] = on;
        }
    }
    let hue = u16::from_le_bytes([h[4], h[5]]) % 360;
    (cells, hsl(f32::from(hue), 0.55, 0.50))
}

/// The key's avatar as an image the renderer keeps (one upload per key per run).
pub fn handle(peer: &PeerId) -> Handle {
    static MADE: LazyLock<Mutex<HashMap<PeerId, Handle>>> = LazyLock::new(Default::default);
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    made.entry(*peer)
        .or_insert_with(|| Handle::from_rgba(SIDE, SIDE, rgba(peer)))
        .clone()
}

/// The avatar's pixels: the pattern in the key's colour on a light ground.
fn rgba(peer: &PeerId) -> Vec<u8> {
    let (cells, [r, g, b]) = pattern(peer);
    let side = SIDE as usize;
    let mut px = Vec::with_capacity(side * side * 4);
    for y in 0..side {
        for x in 0..side {
            let (cx, cy) = ((x / CELL_PX).wrapping_sub(1), (y / CELL_PX).wrapping_sub(1));
            let on = cx < CELLS && cy < CELLS && cells[cy * CELLS + cx];
            px.extend_from_slice(&if on {
                [r, g, b, 255]
            } else {
                [240, 240, 240, 255]
            });
        }
    }
    px
}

/// A small, fixed mixing of the key's text into 8 bytes (FNV-1a, then spread): the picture
/// only has to differ between keys a person would mix up, it protects nothing.
fn mix(bytes: &[u8]) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h.to_le_bytes()
}

/// HSL (hue in degrees) to RGB.
fn hsl(h: f32, s: f32, l: f32) -> [u8; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match h as u32 / 60 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r, g, b].map(|v| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_one_mirrored_picture_and_other_keys_others() {
        let keys: Vec<PeerId> = (0..50)
            .map(|_| natter::Identity::generate().peer_id())
            .collect();
        let (cells, colour) = pattern(&keys[0]);
        assert_eq!(pattern(&keys[0]), (cells, colour), "the same every time");
        for row in 0..CELLS {
            for col in 0..CELLS {
                assert_eq!(
                    cells[row * CELLS + col],
                    cells[row * CELLS + CELLS - 1 - col]
                );
            }
        }
        let distinct: std::collections::HashSet<_> = keys.iter().map(pattern).collect();
        assert!(distinct.len() >= 49, "{} of 50", distinct.len());
        assert_eq!(rgba(&keys[1]).len(), (SIDE * SIDE * 4) as usize);
    }
}
