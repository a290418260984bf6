//! Prometheus' XOR chunks (Gorilla compression with millisecond timestamps,
//! `tsdb/chunkenc/xor.go`), decoded: what streamed remote read answers carry,
//! straight from the server's storage with nothing decoded or re-encoded on
//! its side.
//!
//! Layout: a big-endian `u16` sample count, then a bit stream (most
//! significant bit first). The first sample is a varint timestamp and the
//! value's 64 bits; the second a uvarint timestamp delta and an XOR-encoded
//! value; every later one a delta-of-delta timestamp and an XOR-encoded value.

/// Why a chunk could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed XOR chunk: {0}")]
pub struct ChunkError(&'static str);

struct Bits<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<bool, ChunkError> {
        let byte = *self
            .bytes
            .get(self.at / 8)
            .ok_or(ChunkError("ends early"))?;
        let bit = byte >> (7 - self.at % 8) & 1 == 1;
        self.at += 1;
        Ok(bit)
    }

    /// The next `n` (at most 64) bits, read a few bytes at a time.
    fn bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        if n == 0 {
            return Ok(0);
        }
        let end = self.at + n as usize;
        if end > self.bytes.len() * 8 {
            return Err(ChunkError("ends early"));
        }
        let (first, last) = (self.at / 8, (end - 1) / 8);
        let window = self.bytes[first..=last]
            .iter()
            .fold(0u128, |w, &b| w << 8 | u128::from(b));
        let dropped = (last + 1) * 8 - end;
        self.at = end;
        Ok((window >> dropped) as u64 & (u64::MAX >> (64 - n)))
    }

    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.bits(8)?;
            if shift == 63 && byte > 1 {
                return Err(ChunkError("varint overflows 64 bits"));
            }
            out |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ChunkError("varint overflows 64 bits"))
    }

    fn varint(&mut self) -> Result<i64, ChunkError> {
        let u = self.uvarint()?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }
}

/// Appends the samples of `chunk` stamped in `[start, end]` to `out`, in the
/// chunk's (ascending) order.
pub fn decode(
    chunk: &[u8],
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), ChunkError> {
    let [a, b, ..] = *chunk else {
        return Err(ChunkError("no sample count"));
    };
    let count = u16::from_be_bytes([a, b]);
    let mut r = Bits {
        bytes: &chunk[2..],
        at: 0,
    };
    let (mut t, mut delta, mut value) = (0i64, 0i64, 0u64);
    let (mut leading, mut trailing) = (0u32, 0u32);
    for i in 0..count {
        match i {
            0 => {
                t = r.varint()?;
                value = r.bits(64)?;
            }
            _ => {
                if i == 1 {
                    delta = r.uvarint()? as i64;
                } else {
                    delta = delta.wrapping_add(delta_of_delta(&mut r)?);
                }
                t = t.wrapping_add(delta);
                if r.bit()? {
                    if r.bit()? {
                        leading = r.bits(5)? as u32;
                        let significant = match r.bits(6)? as u32 {
                            0 => 64,
                            n => n,
                        };
                        trailing = 64u32
                            .checked_sub(leading + significant)
                            .ok_or(ChunkError("more than 64 significant bits"))?;
                    }
                    let significant = 64 - leading - trailing;
                    value ^= r.bits(significant)? << trailing;
                }
            }
        }
        if t > end {
            break;
        }
        if t >= start {
            out.push((t, f64::from_bits(value)));
        }
    }
    Ok(())
}

/// A timestamp's delta of delta: `0`, or `10`, `110`, `1110` followed by 14,
/// 17 or 20 bits (two's complement, biased up by one), or `1111` followed by
/// 64 bits.
fn delta_of_delta(r: &mut Bits) -> Result<i64, ChunkError> {
    let mut prefix = 0;
    while prefix < 4 && r.bit()? {
        prefix += 1;
    }
    let size = match prefix {
        0 => return Ok(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => return Ok(r.bits(64)? as i64),
    };
    let bits = r.bits(size)?;
    Ok(if bits > 1 << (size - 1) {
        bits as i64 - (1 << size)
    } else {
        bits as i64
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An XOR chunk of `samples`, written as Prometheus writes one.
    pub(crate) fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
        struct W {
            bytes: Vec<u8>,
            bits: usize,
        }
        impl W {
            fn bit(&mut self, b: bool) {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if b {
                    *self.bytes.last_mut().unwrap() |= 1 << (7 - self.bits % 8);
                }
                self.bits += 1;
            }
            fn bits(&mut self, v: u64, n: u32) {
                for k in (0..n).rev() {
                    self.bit(v >> k & 1 == 1);
                }
            }
            fn uvarint(&mut self, mut v: u64) {
                while v >= 0x80 {
                    self.bits(v & 0x7f | 0x80, 8);
                    v >>= 7;
                }
                self.bits(v, 8);
            }
        }
        let mut w = W {
            bytes: (samples.len() as u16).to_be_bytes().to_vec(),
            bits: 16,
        };
        let (mut t0, mut delta, mut prev) = (0i64, 0i64, 0u64);
        let (mut leading, mut trailing) = (0xffu32, 0u32);
        for (i, &(t, v)) in samples.iter().enumerate() {
            let v = v.to_bits();
            if i == 0 {
                w.uvarint(((t << 1) ^ (t >> 63)) as u64);
                w.bits(v, 64);
            } else {
                let d = t - t0;
                if i == 1 {
                    w.uvarint(d as u64);
                } else {
                    let dod = d - delta;
                    let fits = |n: u32| -((1 << (n - 1)) - 1) <= dod && dod <= 1 << (n - 1);
                    match dod {
                        0 => w.bit(false),
                        _ if fits(14) => w.bits(0b10 << 14 | (dod as u64 & 0x3fff), 16),
                        _ if fits(17) => w.bits(0b110 << 17 | (dod as u64 & 0x1ffff), 20),
                        _ if fits(20) => w.bits(0b1110 << 20 | (dod as u64 & 0xfffff), 24),
                        _ => {
                            w.bits(0b1111, 4);
                            w.bits(dod as u64, 64);
                        }
                    }
                }
                delta = d;
                let x = v ^ prev;
                if x == 0 {
                    w.bit(false);
                } else {
                    w.bit(true);
                    let (l, tr) = (x.leading_zeros().min(31), x.trailing_zeros());
                    if leading != 0xff && l >= leading && tr >= trailing {
                        w.bit(false);
                        w.bits(x >> trailing, 64 - leading - trailing);
                    } else {
                        (leading, trailing) = (l, tr);
                        let significant = 64 - l - tr;
                        w.bit(true);
                        w.bits(u64::from(l), 5);
                        w.bits(u64::from(significant & 63), 6);
                        w.bits(x >> tr, significant);
                    }
                }
            }
            (t0, prev) = (t, v);
        }
        w.bytes
    }

    #[test]
    fn every_timestamp_and_value_encoding_round_trips() {
        // Regular steps, then jitter and gaps that need each delta-of-delta
        // width (14, 17, 20 and 64 bits, both signs); values that repeat,
        // share bits, change sign, reset, and are not finite.
        let steps = [
            15_000,
            15_000,
            15_000,
            15_001,
            14_999,
            20_000,
            15_000,
            80_000,
            15_000,
            600_000,
            15_000,
            1_000_000_000,
            15_000,
            1,
        ];
        let values = [
            0.0,
            0.0,
            1.0,
            1.5,
            1.5,
            -2.25,
            1e300,
            3.0,
            0.0,
            f64::INFINITY,
            7.0,
            7.000_000_1,
            f64::from_bits(0x7ff0_0000_0000_0002),
            12.0,
            13.0,
        ];
        let mut t = -5_000i64;
        let mut samples = vec![(t, values[0])];
        for (k, step) in steps.iter().enumerate() {
            t += step;
            samples.push((t, values[k + 1]));
        }
        let chunk = encode(&samples);
        let mut out = Vec::new();
        decode(&chunk, i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(out.len(), samples.len());
        for (got, want) in out.iter().zip(&samples) {
            assert_eq!((got.0, got.1.to_bits()), (want.0, want.1.to_bits()));
        }
        // A span keeps its samples, both ends included.
        let (from, to) = (samples[3].0, samples[7].0);
        let mut part = Vec::new();
        decode(&chunk, from, to, &mut part).unwrap();
        assert_eq!(
            part.iter().map(|s| s.0).collect::<Vec<_>>(),
            samples[3..=7].iter().map(|s| s.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn truncated_chunks_are_errors_not_panics() {
        let chunk = encode(&[(0, 1.0), (15_000, 2.0), (30_000, 4.0)]);
        for len in 0..chunk.len() {
            let mut out = Vec::new();
            assert!(
                decode(&chunk[..len], i64::MIN, i64::MAX, &mut out).is_err(),
                "{len} bytes"
            );
        }
    }
}
