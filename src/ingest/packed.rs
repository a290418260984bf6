//! The byte format of an hour's minute counts: one `event_buckets` row, and
//! the minute detail `history` keeps for a window edge.
//!
//! Stored as two `float8[60]` arrays a row took about 1.2 kB, and PostgreSQL
//! only compresses values in rows over 2 kB. Counts are nearly always whole
//! numbers, with few bad events, so they pack into a few bytes a minute:
//!
//! ```text
//! byte 0       format: 1 = whole numbers, 2 = float64
//! bytes 1..9   u64 little endian: bit i set when minute i was fetched
//! then, for each fetched minute in order:
//!   format 1   LEB128 total, then LEB128 bad (total - good)
//!   format 2   float64 LE good, then float64 LE total
//! ```
//!
//! Format 1 is used when every fetched minute has `0 <= good <= total <=
//! 2^53` in whole numbers, so it round-trips exactly; anything else (the
//! fractional counts of an `events` query) takes format 2, also exact.

use crate::engine::EventCounts;

/// One hour's counts per minute; `None`: not fetched.
pub type HourMinutes = [Option<EventCounts>; 60];

const WHOLE: u8 = 1;
const FLOAT: u8 = 2;
/// Integers above this are not all representable as f64.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    #[error("empty")]
    Empty,
    #[error("unknown format {0}")]
    Format(u8),
    #[error("truncated")]
    Truncated,
    #[error("{0} bytes left over")]
    Trailing(usize),
    #[error("bad events exceed total")]
    BadAboveTotal,
}

/// Whole, in range, and not -0.0 (which would come back as 0.0).
fn whole(v: f64) -> bool {
    v.is_sign_positive() && v <= MAX_EXACT && v.fract() == 0.0
}

pub fn pack(minutes: &HourMinutes) -> Vec<u8> {
    let present: u64 = minutes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.is_some())
        .fold(0, |bits, (i, _)| bits | 1 << i);
    let fetched = || minutes.iter().flatten();
    let all_whole = fetched().all(|c| whole(c.good) && whole(c.total) && c.good <= c.total);
    let mut out = Vec::with_capacity(9 + 3 * 60);
    out.push(if all_whole { WHOLE } else { FLOAT });
    out.extend_from_slice(&present.to_le_bytes());
    for c in fetched() {
        if all_whole {
            put_varint(&mut out, c.total as u64);
            put_varint(&mut out, (c.total - c.good) as u64);
        } else {
            out.extend_from_slice(&c.good.to_le_bytes());
            out.extend_from_slice(&c.total.to_le_bytes());
        }
    }
    out
}

pub fn unpack(bytes: &[u8]) -> Result<HourMinutes, UnpackError> {
    let (&format, rest) = bytes.split_first().ok_or(UnpackError::Empty)?;
    if format != WHOLE && format != FLOAT {
        return Err(UnpackError::Format(format));
    }
    let (bits, mut rest) = rest
        .split_first_chunk::<8>()
        .ok_or(UnpackError::Truncated)?;
    let present = u64::from_le_bytes(*bits);
    let mut minutes: HourMinutes = [None; 60];
    for (i, slot) in minutes.iter_mut().enumerate() {
        if present & (1 << i) == 0 {
            continue;
        }
        *slot = Some(if format == WHOLE {
            let total = take_varint(&mut rest)?;
            let bad = take_varint(&mut rest)?;
            let good = total.checked_sub(bad).ok_or(UnpackError::BadAboveTotal)?;
            EventCounts {
                good: good as f64,
                total: total as f64,
            }
        } else {
            EventCounts {
                good: take_f64(&mut rest)?,
                total: take_f64(&mut rest)?,
            }
        });
    }
    if !rest.is_empty() {
        return Err(UnpackError::Trailing(rest.len()));
    }
    Ok(minutes)
}

/// `new` where it was fetched, `old` elsewhere.
pub fn merge(new: &HourMinutes, old: &HourMinutes) -> HourMinutes {
    std::array::from_fn(|i| new[i].or(old[i]))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, UnpackError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or(UnpackError::Truncated)?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(UnpackError::Truncated)
}

fn take_f64(bytes: &mut &[u8]) -> Result<f64, UnpackError> {
    let (v, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(UnpackError::Truncated)?;
    *bytes = rest;
    Ok(f64::from_le_bytes(*v))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn counts(good: f64, total: f64) -> Option<EventCounts> {
        Some(EventCounts { good, total })
    }

    fn hour(fill: impl Fn(usize) -> Option<EventCounts>) -> HourMinutes {
        std::array::from_fn(fill)
    }

    #[test]
    fn formats_and_sizes() {
        #[rustfmt::skip]
        let cases: Vec<(&str, HourMinutes, u8, usize)> = vec![
            ("nothing fetched", hour(|_| None), WHOLE, 9),
            ("idle hour", hour(|_| counts(0.0, 0.0)), WHOLE, 9 + 120),
            ("busy, few errors", hour(|i| counts(1200.0 - (i % 3) as f64, 1200.0)), WHOLE, 9 + 60 * 3),
            ("half an hour fetched", hour(|i| if i >= 30 { counts(5.0, 5.0) } else { None }), WHOLE, 9 + 60),
            ("fractional events", hour(|i| counts(0.5 * i as f64, i as f64)), FLOAT, 9 + 60 * 16),
            ("good above total", hour(|i| if i == 7 { counts(3.0, 2.0) } else { None }), FLOAT, 9 + 16),
            ("negative", hour(|i| if i == 0 { counts(-1.0, 0.0) } else { None }), FLOAT, 9 + 16),
        ];
        for (name, minutes, format, len) in cases {
            let bytes = pack(&minutes);
            assert_eq!((bytes[0], bytes.len()), (format, len), "{name}");
            assert_eq!(unpack(&bytes), Ok(minutes), "{name}");
        }
    }

    #[test]
    fn damaged_rows_are_refused() {
        let good = pack(&hour(|i| counts(i as f64, 2.0 * i as f64)));
        assert_eq!(unpack(&[]), Err(UnpackError::Empty));
        assert_eq!(unpack(&[9, 0]), Err(UnpackError::Format(9)));
        assert_eq!(unpack(&good[..5]), Err(UnpackError::Truncated));
        assert_eq!(unpack(&good[..good.len() - 1]), Err(UnpackError::Truncated));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(unpack(&long), Err(UnpackError::Trailing(1)));
        // Minute 0 fetched: total 1, bad 2.
        let mut bad = vec![WHOLE];
        bad.extend_from_slice(&1u64.to_le_bytes());
        bad.extend_from_slice(&[1, 2]);
        assert_eq!(unpack(&bad), Err(UnpackError::BadAboveTotal));
    }

    #[test]
    fn merging_keeps_what_the_new_write_did_not_fetch() {
        let old = hour(|i| counts(1.0, i as f64 + 1.0));
        let new = hour(|i| if i >= 50 { counts(0.0, 0.0) } else { None });
        let merged = merge(&new, &old);
        assert_eq!(merged[49], old[49]);
        assert_eq!(merged[50], counts(0.0, 0.0));
        assert_eq!(merge(&hour(|_| None), &old), old);
    }

    fn minute() -> impl Strategy<Value = Option<EventCounts>> {
        prop_oneof![
            Just(None),
            (0u64..1 << 53, 0u64..1 << 53)
                .prop_map(|(a, b)| counts(a.min(b) as f64, a.max(b) as f64)),
            (any::<f64>(), any::<f64>()).prop_map(|(g, t)| counts(g, t)),
        ]
    }

    proptest! {
        #[test]
        fn every_hour_round_trips_bit_for_bit(minutes in proptest::collection::vec(minute(), 60)) {
            let minutes: HourMinutes = minutes.try_into().expect("60 minutes");
            let back = unpack(&pack(&minutes)).expect("unpacks");
            let bits = |m: &HourMinutes| m.map(|c| c.map(|c| (c.good.to_bits(), c.total.to_bits())));
            prop_assert_eq!(bits(&back), bits(&minutes));
        }
    }
}
