//! Geo math over sorted sets (Redis `geohash.c`, `geohash_helper.c`, the search of `geo.c`).
//!
//! A point is stored as a sorted-set score: the 52-bit interleaving of its latitude (even
//! bits) and longitude (odd bits), each a 26-bit fixed-point offset in the Web Mercator
//! ranges. A search computes a geohash step from the radius, the cell around the centre and
//! its 8 neighbours, drops neighbours that cannot intersect the shape, then reads each cell's
//! score range and keeps the points inside the shape, as Redis does, so results, distances and
//! their order match it exactly.

use std::cmp::Ordering;

use super::zset::ZSetValue;

/// Steps (bits per coordinate) of stored points.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// The earth radius Redis's haversine uses.
const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash of `step` bits per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// The "no cell" value of a neighbour dropped from a search.
    const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit sorted-set score.
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// The cell a hash stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub hash: HashBits,
    pub longitude: Range,
    pub latitude: Range,
}

/// The 8 cells around a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

/// Spreads the 32 bits of `v` to the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into a u32.
fn gather(v: u64) -> u64 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
}

/// `x` in the even bits, `y` in the odd bits.
fn interleave(x: u32, y: u32) -> u64 {
    spread(x) | (spread(y) << 1)
}

/// Even bits in the low half, odd bits in the high half.
fn deinterleave(v: u64) -> u64 {
    gather(v) | (gather(v >> 1) << 32)
}

/// Encodes a point at `step` bits in the given ranges; None outside the Web Mercator limits
/// or the ranges.
fn encode(long_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (lon - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(HashBits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// Encodes a point in the standard ranges at `step` bits.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, step)
}

/// The cell of a hash.
fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Area {
    let sep = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    Area {
        hash,
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) / cells) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) / cells) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) / cells) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) / cells) * long_scale,
        },
    }
}

/// The centre of a cell, clamped to the limits.
fn area_center(a: &Area) -> (f64, f64) {
    let lon = ((a.longitude.min + a.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.latitude.min + a.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's conversion of a double to a signed 64-bit integer on x86-64 (`cvttsd2si`): out of
/// range and NaN give `i64::MIN`.
pub fn c_double_to_i64(x: f64) -> i64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// C's conversion of a double to `uint64_t` as gcc compiles it on x86-64.
fn c_double_to_u64(x: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if x < TWO63 {
        c_double_to_i64(x) as u64
    } else {
        (c_double_to_i64(x - TWO63) as u64) ^ (1 << 63)
    }
}

/// The (longitude, latitude) of a stored score (Redis `decodeGeohash`).
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    area_center(&decode(LONG_RANGE, LAT_RANGE, hash))
}

/// The score of a point (valid coordinates).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(HashBits::align52)
}

/// True if the pair is inside the limits GEOADD and searches accept.
pub fn valid_lonlat(lon: f64, lat: f64) -> bool {
    (LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The standard 11-character geohash of a stored score (the last character is always `0`:
/// only 52 bits are known).
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let standard_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(LONG_RANGE, standard_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn move_x(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    h.bits = x | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    h.bits = x | y;
}

/// The 8 cells around `hash`, wrapping around the ranges.
pub fn neighbors(hash: HashBits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        south_west: at(-1, -1),
        north_east: at(1, 1),
        south_east: at(1, -1),
    }
}

/// Haversine distance in meters between two points (degrees).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lat1r = lat1 * D_R;
    let lon1r = lon1 * D_R;
    let lat2r = lat2 * D_R;
    let lon2r = lon2 * D_R;
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        // Same longitude: the arc along the meridian (Redis takes this shortcut, whose last
        // digits differ from the full formula's).
        return EARTH_RADIUS_IN_METERS * (lat2r - lat1r).abs();
    }
    let u = ((lat2r - lat1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The geohash step whose cells are about as large as the search radius.
pub fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers: a circle of `radius` or a `width` x `height` box, in units of
/// `conversion` meters, around (`lon`, `lat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    /// Meters per unit.
    pub conversion: f64,
    pub kind: ShapeKind,
}

impl Shape {
    /// [min_lon, min_lat, max_lon, max_lat] of the shape.
    fn bounding_box(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = (height / EARTH_RADIUS_IN_METERS) / D_R;
        let long_delta_top =
            (width / EARTH_RADIUS_IN_METERS / ((self.lat + lat_delta) * D_R).cos()) / D_R;
        let long_delta_bottom =
            (width / EARTH_RADIUS_IN_METERS / ((self.lat - lat_delta) * D_R).cos()) / D_R;
        let delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The distance in meters from the centre if the point is inside the shape.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                let lon_distance = distance(lon, lat, self.lon, lat);
                let lat_distance = distance(lon, lat, lon, self.lat);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The cells to read: the centre cell first, then north, south, east, west, north-east,
    /// north-west, south-east, south-west (dropped ones are [`HashBits::ZERO`]).
    pub fn cells(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let cell = |steps: u8| {
            let hash = encode_wgs84(self.lon, self.lat, steps).unwrap_or(HashBits {
                bits: 0,
                step: steps,
            });
            (hash, neighbors(hash), decode(LONG_RANGE, LAT_RANGE, hash))
        };
        let (mut hash, mut nb, mut area) = cell(steps);
        // Cells too small for the area near an edge: one step larger.
        let north = decode(LONG_RANGE, LAT_RANGE, nb.north);
        let south = decode(LONG_RANGE, LAT_RANGE, nb.south);
        let east = decode(LONG_RANGE, LAT_RANGE, nb.east);
        let west = decode(LONG_RANGE, LAT_RANGE, nb.west);
        let decrease = north.latitude.max < max_lat
            || south.latitude.min > min_lat
            || east.longitude.max < max_lon
            || west.longitude.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, nb, area) = cell(steps);
        }
        if steps >= 2 {
            if area.latitude.min < min_lat {
                nb.south = HashBits::ZERO;
                nb.south_west = HashBits::ZERO;
                nb.south_east = HashBits::ZERO;
            }
            if area.latitude.max > max_lat {
                nb.north = HashBits::ZERO;
                nb.north_east = HashBits::ZERO;
                nb.north_west = HashBits::ZERO;
            }
            if area.longitude.min < min_lon {
                nb.west = HashBits::ZERO;
                nb.south_west = HashBits::ZERO;
                nb.north_west = HashBits::ZERO;
            }
            if area.longitude.max > max_lon {
                nb.east = HashBits::ZERO;
                nb.south_east = HashBits::ZERO;
                nb.north_east = HashBits::ZERO;
            }
        }
        [
            hash,
            nb.north,
            nb.south,
            nb.east,
            nb.west,
            nb.north_east,
            nb.north_west,
            nb.south_east,
            nb.south_west,
        ]
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub member: Vec<u8>,
    pub score: f64,
    pub lon: f64,
    pub lat: f64,
    /// Meters from the centre.
    pub dist: f64,
}

/// The members of `z` inside `shape`, in the order Redis finds them (cell by cell, by score),
/// stopping at `limit` results if non-zero (COUNT ... ANY).
pub fn search(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = shape.cells();
    let mut found: Vec<Point> = Vec::new();
    let mut last_processed = 0usize;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii make neighbours repeat; skip a cell equal to the last one read (as Redis,
        // the centre cell is never compared against).
        if last_processed != 0 && cell == cells[last_processed] {
            continue;
        }
        if limit != 0 && found.len() >= limit {
            break;
        }
        let min = cell.align52() as f64;
        let max = HashBits {
            bits: cell.bits.wrapping_add(1),
            step: cell.step,
        }
        .align52() as f64;
        let mut done = false;
        z.range_by_score(min, max, |member, score| {
            if done || score >= max {
                return;
            }
            let (lon, lat) = decode_score(score);
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Point {
                    member: member.to_vec(),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            if limit != 0 && found.len() >= limit {
                done = true;
            }
        });
        last_processed = i;
    }
    found
}

/// Orders results by distance as Redis does: a stable full sort (glibc `qsort` is a merge
/// sort) when all are returned, Redis's partial quicksort (`pqsort`) when only the first
/// `count` are, so ties come out in the same order.
pub fn sort_points(points: &mut [Point], descending: bool, count: usize) {
    let cmp = |a: &Point, b: &Point| {
        let o = if a.dist > b.dist {
            Ordering::Greater
        } else if a.dist == b.dist {
            Ordering::Equal
        } else {
            Ordering::Less
        };
        if descending {
            o.reverse()
        } else {
            o
        }
    };
    if count >= points.len() {
        points.sort_by(cmp);
    } else if count > 0 {
        pqsort(points, 0, points.len(), &cmp, 0, count - 1);
    }
}

/// Redis `pqsort.c` (a Bentley-McIlroy quicksort that only recurses into partitions touching
/// the wanted index range `[lrange, rrange]`), on `v[base..base + n]`.
fn pqsort<T>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    loop {
        if n < 7 {
            for pm in base + 1..base + n {
                let mut pl = pm;
                while pl > base && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let med3 = |v: &[T], a: usize, b: usize, c: usize| {
            if cmp(&v[a], &v[b]) == Ordering::Less {
                if cmp(&v[b], &v[c]) == Ordering::Less {
                    b
                } else if cmp(&v[a], &v[c]) == Ordering::Less {
                    c
                } else {
                    a
                }
            } else if cmp(&v[b], &v[c]) == Ordering::Greater {
                b
            } else if cmp(&v[a], &v[c]) == Ordering::Less {
                a
            } else {
                c
            }
        };
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        // `pc`/`pd` may step below `base`; keep them signed.
        let (mut pc, mut pd) = ((base + n - 1) as isize, (base + n - 1) as isize);
        loop {
            while pb as isize <= pc {
                let r = cmp(&v[pb], &v[base]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let r = cmp(&v[pc as usize], &v[base]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        for i in 0..r {
            v.swap(base + i, pb - r + i);
        }
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        for i in 0..r {
            v.swap(pb + i, pn - r + i);
        }
        // Partitions as element ranges [s, s + len): skip those entirely outside the wanted
        // range.
        let outside = |s: usize, len: usize| {
            (lrange < s && rrange < s) || (lrange >= s + len && rrange >= s + len)
        };
        let r = pb - pa;
        if r > 1 && !outside(base, r) {
            pqsort(v, base, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            base = pn - r;
            n = r;
            if !outside(base, n) {
                continue;
            }
        }
        return;
    }
}

/// A distance as Redis prints it: four decimals of `d * 10000` rounded to an integer as C's
/// `llrint` does (half to even), which differs from a decimal `%.4f` where the product
/// lands on a half.
pub fn fmt_distance(d: f64) -> String {
    let scaled = (d * 10000.0).round_ties_even();
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        return format!("{d:.4}");
    }
    let v = scaled as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10000, a % 10000)
}

/// A coordinate as Redis prints it (`%.17Lf` of the double, trailing zeros and dot removed).
pub fn fmt_coord(v: f64) -> String {
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn interleave_round_trip() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let v = interleave(x, y);
            let d = deinterleave(v);
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn encode_decode_known_point() {
        // Palermo, as in the Redis documentation: score 3479099956230698.
        let score = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(score, 3_479_099_956_230_698);
        let (lon, lat) = decode_score(score as f64);
        assert_eq!(fmt_coord(lon), "13.36138933897018433");
        assert_eq!(fmt_coord(lat), "38.11555639549629859");
        assert_eq!(&geohash_string(score as f64), b"sqc8b49rny0");
    }

    #[test]
    fn limits() {
        assert!(score_of(180.0, LAT_MAX).is_some());
        assert!(score_of(180.1, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(valid_lonlat(-180.0, LAT_MIN));
        assert!(!valid_lonlat(f64::INFINITY, 0.0));
    }

    #[test]
    fn distance_palermo_catania() {
        // Between the stored (decoded) points, as GEODIST computes it.
        let (lon1, lat1) = decode_score(score_of(13.361389, 38.115556).unwrap() as f64);
        let (lon2, lat2) = decode_score(score_of(15.087269, 37.502669).unwrap() as f64);
        assert_eq!(
            fmt_distance(distance(lon1, lat1, lon2, lat2) / 1000.0),
            "166.2742"
        );
        assert_eq!(distance(1.0, 2.0, 1.0, 2.0), 0.0);
    }

    #[test]
    fn neighbors_move_one_cell() {
        let h = encode_wgs84(10.0, 10.0, 10).unwrap();
        let n = neighbors(h);
        let a = decode(LONG_RANGE, LAT_RANGE, h);
        let east = decode(LONG_RANGE, LAT_RANGE, n.east);
        let north = decode(LONG_RANGE, LAT_RANGE, n.north);
        assert_eq!(east.longitude.min, a.longitude.max);
        assert_eq!(east.latitude, a.latitude);
        assert_eq!(north.latitude.min, a.latitude.max);
        assert_eq!(north.longitude, a.longitude);
        let sw = decode(LONG_RANGE, LAT_RANGE, n.south_west);
        assert_eq!(sw.longitude.max, a.longitude.min);
        assert_eq!(sw.latitude.max, a.latitude.min);
    }

    #[test]
    fn steps_and_bounding_box() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0e7, 0.0), 1);
        assert!(estimate_steps(100.0, 0.0) > estimate_steps(100.0, 81.0));
        let s = Shape {
            lon: 0.0,
            lat: 0.0,
            conversion: 1000.0,
            kind: ShapeKind::Radius(100.0),
        };
        let [a, b, c, d] = s.bounding_box();
        assert!(a < 0.0 && b < 0.0 && c > 0.0 && d > 0.0);
        assert!((d - 0.8993).abs() < 0.001);
    }

    #[test]
    fn coordinate_and_distance_formats() {
        assert_eq!(fmt_coord(-0.0), "0");
        assert_eq!(fmt_coord(1.5), "1.5");
        assert_eq!(fmt_coord(2.0), "2");
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(1234.56789), "1234.5679");
        // Exact ties round to even, as glibc's printf.
        assert_eq!(fmt_distance(0.03125), "0.0312");
        assert_eq!(fmt_distance(0.09375), "0.0938");
    }

    fn points(dists: &[f64]) -> Vec<Point> {
        dists
            .iter()
            .enumerate()
            .map(|(i, &d)| Point {
                member: vec![i as u8],
                score: 0.0,
                lon: 0.0,
                lat: 0.0,
                dist: d,
            })
            .collect()
    }

    proptest! {
        /// The partial sort puts the smallest `count` distances first, in order.
        #[test]
        fn pqsort_prefix_is_sorted(d in proptest::collection::vec(0u8..20, 1..120), count in 1usize..120) {
            let dists: Vec<f64> = d.iter().map(|&x| f64::from(x)).collect();
            let mut p = points(&dists);
            sort_points(&mut p, false, count);
            let mut want = dists.clone();
            want.sort_by(f64::total_cmp);
            let k = count.min(p.len());
            let got: Vec<f64> = p[..k].iter().map(|x| x.dist).collect();
            prop_assert_eq!(got, want[..k].to_vec());
            let mut members: Vec<u8> = p.iter().map(|x| x.member[0]).collect();
            members.sort_unstable();
            prop_assert_eq!(members, (0..dists.len() as u8).collect::<Vec<_>>());
        }

        /// Every stored point decodes to a point that encodes to the same score.
        #[test]
        fn score_round_trip(lon in -180.0f64..180.0, lat in LAT_MIN..LAT_MAX) {
            let s = score_of(lon, lat).unwrap();
            let (l2, a2) = decode_score(s as f64);
            prop_assert!((l2 - lon).abs() < 1e-5 && (a2 - lat).abs() < 1e-5);
            prop_assert_eq!(score_of(l2, a2), Some(s));
        }
    }
}
