//! The `math` library of Lua 5.1, with Redis's `math.random`: the 48-bit linear
//! congruential generator of drand48 (Redis's `redisLrand48`), seeded with 0 when the
//! interpreter is made. Stock Redis 7.0 does not reseed it before each script: the sequence
//! goes on from script to script until `math.randomseed`.

use crate::error::{arg_error, check_int, check_num};
use crate::interp::State;
use crate::value::{FuncRef, NativeFn, Ret, Table, TableRef, Value};
use crate::Lua;

const LCG_A: u64 = 0x5_DEEC_E66D;
const LCG_C: u64 = 0xB;
const MASK48: u64 = (1 << 48) - 1;
/// The largest value `redisLrand48` is reduced modulo (INT32_MAX).
const RAND_MAX: u64 = 0x7fff_ffff;

/// The generator's state after seeding with `seed` (`redisSrand48`).
/// The generator's state before any seeding (drand48's default, which Redis starts with:
/// the first `math.random()` of a fresh server is 0.39646477363839).
pub const INITIAL_STATE: u64 = 0x1234_ABCD_330E;

pub fn seed_state(seed: i32) -> u64 {
    (u64::from(seed as u32) << 16) | 0x330E
}

/// The next 31-bit output (`redisLrand48`).
pub fn next_rand(state: &mut u64) -> u64 {
    *state = (LCG_A.wrapping_mul(*state).wrapping_add(LCG_C)) & MASK48;
    *state >> 17
}

pub fn open(lua: &mut Lua) {
    let fns: &[(&'static str, NativeFn)] = &[
        ("abs", |st, a| f1(st, a, "abs", f64::abs)),
        ("ceil", |st, a| f1(st, a, "ceil", f64::ceil)),
        ("floor", |st, a| f1(st, a, "floor", f64::floor)),
        ("sqrt", |st, a| f1(st, a, "sqrt", f64::sqrt)),
        ("exp", |st, a| f1(st, a, "exp", f64::exp)),
        ("log", |st, a| f1(st, a, "log", f64::ln)),
        ("log10", |st, a| f1(st, a, "log10", f64::log10)),
        ("sin", |st, a| f1(st, a, "sin", f64::sin)),
        ("cos", |st, a| f1(st, a, "cos", f64::cos)),
        ("tan", |st, a| f1(st, a, "tan", f64::tan)),
        ("asin", |st, a| f1(st, a, "asin", f64::asin)),
        ("acos", |st, a| f1(st, a, "acos", f64::acos)),
        ("atan", |st, a| f1(st, a, "atan", f64::atan)),
        ("sinh", |st, a| f1(st, a, "sinh", f64::sinh)),
        ("cosh", |st, a| f1(st, a, "cosh", f64::cosh)),
        ("tanh", |st, a| f1(st, a, "tanh", f64::tanh)),
        ("deg", |st, a| {
            f1(st, a, "deg", |x| x * (180.0 / std::f64::consts::PI))
        }),
        ("rad", |st, a| {
            f1(st, a, "rad", |x| x * (std::f64::consts::PI / 180.0))
        }),
        ("pow", |st, a| f2(st, a, "pow", f64::powf)),
        ("atan2", |st, a| f2(st, a, "atan2", f64::atan2)),
        ("fmod", |st, a| f2(st, a, "fmod", |x, y| x % y)),
        ("mod", |st, a| f2(st, a, "mod", |x, y| x % y)),
        ("modf", modf),
        ("frexp", frexp),
        ("ldexp", ldexp),
        ("min", |st, a| minmax(st, a, "min", |x, m| x < m)),
        ("max", |st, a| minmax(st, a, "max", |x, m| x > m)),
        ("random", random),
        ("randomseed", randomseed),
    ];
    let mut t = Table::new();
    for (name, f) in fns {
        t.set_str(name, Value::Func(FuncRef::native(name, *f)));
    }
    t.set_str("pi", Value::Num(std::f64::consts::PI));
    t.set_str("huge", Value::Num(f64::INFINITY));
    lua.globals
        .0
        .borrow_mut()
        .set_str("math", Value::Table(TableRef::new(t)));
}

fn f1(st: &mut State<'_>, args: Vec<Value>, name: &str, f: fn(f64) -> f64) -> Ret {
    let x = check_num(st, &args, 0, name)?;
    Ok(vec![Value::Num(f(x))])
}

fn f2(st: &mut State<'_>, args: Vec<Value>, name: &str, f: fn(f64, f64) -> f64) -> Ret {
    let x = check_num(st, &args, 0, name)?;
    let y = check_num(st, &args, 1, name)?;
    Ok(vec![Value::Num(f(x, y))])
}

fn minmax(st: &mut State<'_>, args: Vec<Value>, name: &str, better: fn(f64, f64) -> bool) -> Ret {
    let mut m = check_num(st, &args, 0, name)?;
    for i in 1..args.len() {
        let x = check_num(st, &args, i, name)?;
        if better(x, m) {
            m = x;
        }
    }
    Ok(vec![Value::Num(m)])
}

fn modf(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let x = check_num(st, &args, 0, "modf")?;
    let ip = x.trunc();
    let frac = if x.is_infinite() { 0.0 } else { x - ip };
    Ok(vec![Value::Num(ip), Value::Num(frac)])
}

fn frexp(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let x = check_num(st, &args, 0, "frexp")?;
    if x == 0.0 || !x.is_finite() {
        return Ok(vec![Value::Num(x), Value::Num(0.0)]);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let (m, e) = if exp == 0 {
        // Subnormal: scale up first.
        let y = x * 2f64.powi(64);
        let b = y.to_bits();
        let e = ((b >> 52) & 0x7ff) as i64 - 1022 - 64;
        (f64::from_bits((b & !(0x7ff << 52)) | (1022 << 52)), e)
    } else {
        (
            f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52)),
            exp - 1022,
        )
    };
    Ok(vec![Value::Num(m), Value::Num(e as f64)])
}

fn ldexp(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let m = check_num(st, &args, 0, "ldexp")?;
    let e = check_int(st, &args, 1, "ldexp")?.clamp(-2200, 2200) as i32;
    // Two steps so that 2^e itself does not overflow or underflow too early.
    let half = e / 2;
    Ok(vec![Value::Num(m * 2f64.powi(half) * 2f64.powi(e - half))])
}

fn random(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let r = (next_rand(&mut st.lua.rand_state) % RAND_MAX) as f64 / RAND_MAX as f64;
    let v = match args.len() {
        0 => r,
        1 => {
            let u = check_int(st, &args, 0, "random")?;
            if u < 1 {
                return Err(arg_error(st, 0, "random", "interval is empty"));
            }
            (r * u as f64).floor() + 1.0
        }
        2 => {
            let l = check_int(st, &args, 0, "random")?;
            let u = check_int(st, &args, 1, "random")?;
            if l > u {
                return Err(arg_error(st, 1, "random", "interval is empty"));
            }
            (r * (u - l + 1) as f64).floor() + l as f64
        }
        _ => return Err(st.error("wrong number of arguments")),
    };
    Ok(vec![Value::Num(v)])
}

fn randomseed(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_int(st, &args, 0, "randomseed")?;
    st.lua.rand_state = seed_state(s as i32);
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_matches_redis_sequence() {
        // Stock Redis 7.0 after `math.randomseed(0)`: 0.17082803611217, 0.74990198051087,
        // 0.09637165539729.
        let mut s = seed_state(0);
        let mut r = || (next_rand(&mut s) % RAND_MAX) as f64 / RAND_MAX as f64;
        for want in [0.17082803611217, 0.74990198051087, 0.09637165539729] {
            assert!((r() - want).abs() < 1e-13);
        }
        // And from a fresh server (no seeding): 0.39646477363839, 0.84048536971234.
        let mut s = INITIAL_STATE;
        let mut r = || (next_rand(&mut s) % RAND_MAX) as f64 / RAND_MAX as f64;
        for want in [0.39646477363839, 0.84048536971234, 0.35333609737146] {
            assert!((r() - want).abs() < 1e-13);
        }
    }
}
