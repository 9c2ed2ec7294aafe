//! Damaging an input the ways files and requests get damaged.

use churnguard_eval::SplitMix64;

/// Bytes that mean something to the parsers: delimiters, quotes, signs, line breaks.
const INTERESTING: &[u8] = b",;\"'\n\r\t =[]{}:-+.0123456789eE\0\xff";
/// Numbers that break arithmetic: huge, tiny, signed, not numbers at all.
const NUMBERS: &[&str] = &[
    "99999999999999999999999",
    "-9223372036854775808",
    "9223372036854775807",
    "1e308",
    "-1e308",
    "1e-320",
    "NaN",
    "inf",
    "-0",
    "4294967296",
    "00000000",
    "99991231",
    "-1",
    "",
];

fn below(rng: &mut SplitMix64, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// A damaged copy of one of `seeds`: between 1 and 8 damages, sometimes spliced with another.
pub fn mutate(seeds: &[Vec<u8>], rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = seeds[below(rng, seeds.len())].clone();
    for _ in 0..1 + below(rng, 8) {
        damage(&mut out, seeds, rng);
    }
    out
}

fn damage(out: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut SplitMix64) {
    let len = out.len();
    let at = below(rng, len + 1);
    match below(rng, 9) {
        0 if len > 0 => out[at.min(len - 1)] ^= 1 << below(rng, 8),
        1 if len > 0 => out[at.min(len - 1)] = INTERESTING[below(rng, INTERESTING.len())],
        2 => {
            let b = INTERESTING[below(rng, INTERESTING.len())];
            out.splice(at..at, std::iter::repeat_n(b, 1 + below(rng, 4)));
        }
        3 if len > 0 => {
            let end = (at + 1 + below(rng, 64)).min(len);
            out.drain(at.min(end)..end);
        }
        4 if len > 0 => {
            let end = (at + 1 + below(rng, 256)).min(len);
            let copy = out[at.min(end)..end].to_vec();
            let to = below(rng, out.len() + 1);
            out.splice(to..to, copy);
        }
        5 => out.truncate(at),
        6 => {
            let other = &seeds[below(rng, seeds.len())];
            let from = below(rng, other.len() + 1);
            let end = (from + below(rng, 512)).min(other.len());
            out.splice(at..at, other[from..end].iter().copied());
        }
        _ => replace_number(out, rng),
    }
}

/// Replaces a run of digits by one of [`NUMBERS`].
fn replace_number(out: &mut Vec<u8>, rng: &mut SplitMix64) {
    let starts: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].is_ascii_digit() && (i == 0 || !out[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = starts[below(rng, starts.len())];
    let end = (start..out.len())
        .find(|&i| !out[i].is_ascii_digit())
        .unwrap_or(out.len());
    let number = NUMBERS[below(rng, NUMBERS.len())].as_bytes();
    out.splice(start..end, number.iter().copied());
}
