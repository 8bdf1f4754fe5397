//! `bit`: LuaBitOp as Redis ships it. Every operation works on 32-bit integers made from Lua
//! numbers (taken modulo 2^32, fractions rounded half to even, as LuaBitOp's `2^52 + 2^51`
//! bias trick does) and answers a signed 32-bit result as a number.

use crate::error::{check_num, LuaError};
use crate::value::{FuncRef, Ret, Table, TableRef, Value};
use crate::State;

/// A number as LuaBitOp's `tobit` sees it: adding 2^52 + 2^51 leaves the integer part
/// (rounded half to even) modulo 2^32 in the low 32 bits of the double.
pub fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

/// `bit.tohex(x, n)`: `n` hex digits (8 when absent, at most 8); negative `n` for upper case.
pub fn tohex(x: i32, n: i32) -> String {
    let upper = n < 0;
    let mut width = if upper {
        n.wrapping_neg() as u32
    } else {
        n as u32
    };
    if width > 8 {
        width = 8;
    }
    let s = if upper {
        format!("{:08X}", x as u32)
    } else {
        format!("{:08x}", x as u32)
    };
    s[8 - width as usize..].to_string()
}

fn barg(st: &State<'_>, args: &[Value], i: usize, name: &str) -> Result<i32, LuaError> {
    check_num(st, args, i, name).map(tobit)
}

fn num(x: i32) -> Ret {
    Ok(vec![Value::Num(x as f64)])
}

fn bit_tobit(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    num(barg(st, &args, 0, "tobit")?)
}

fn bit_bnot(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    num(!barg(st, &args, 0, "bnot")?)
}

fn fold(st: &State<'_>, args: &[Value], name: &str, f: fn(i32, i32) -> i32) -> Ret {
    let mut acc = barg(st, args, 0, name)?;
    for i in 1..args.len() {
        acc = f(acc, barg(st, args, i, name)?);
    }
    num(acc)
}

fn bit_band(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    fold(st, &args, "band", |a, b| a & b)
}

fn bit_bor(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    fold(st, &args, "bor", |a, b| a | b)
}

fn bit_bxor(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    fold(st, &args, "bxor", |a, b| a ^ b)
}

fn shift(st: &State<'_>, args: &[Value], name: &str, f: fn(u32, u32) -> u32) -> Ret {
    let x = barg(st, args, 0, name)? as u32;
    let n = (barg(st, args, 1, name)? as u32) & 31;
    num(f(x, n) as i32)
}

fn bit_lshift(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    shift(st, &args, "lshift", |x, n| x << n)
}

fn bit_rshift(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    shift(st, &args, "rshift", |x, n| x >> n)
}

fn bit_arshift(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    shift(st, &args, "arshift", |x, n| ((x as i32) >> n) as u32)
}

fn bit_rol(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    shift(st, &args, "rol", |x, n| x.rotate_left(n))
}

fn bit_ror(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    shift(st, &args, "ror", |x, n| x.rotate_right(n))
}

fn bit_bswap(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    num(barg(st, &args, 0, "bswap")?.swap_bytes())
}

fn bit_tohex(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let x = barg(st, &args, 0, "tohex")?;
    let n = if args.len() < 2 {
        8
    } else {
        barg(st, &args, 1, "tohex")?
    };
    Ok(vec![Value::str(tohex(x, n).as_bytes())])
}

/// Creates the global `bit`.
pub fn open(lua: &mut crate::Lua) {
    let mut t = Table::new();
    let fns: [(&'static str, crate::value::NativeFn); 12] = [
        ("tobit", bit_tobit),
        ("bnot", bit_bnot),
        ("band", bit_band),
        ("bor", bit_bor),
        ("bxor", bit_bxor),
        ("lshift", bit_lshift),
        ("rshift", bit_rshift),
        ("arshift", bit_arshift),
        ("rol", bit_rol),
        ("ror", bit_ror),
        ("bswap", bit_bswap),
        ("tohex", bit_tohex),
    ];
    for (name, f) in fns {
        t.set_str(name, Value::Func(FuncRef::native(name, f)));
    }
    lua.globals
        .0
        .borrow_mut()
        .set_str("bit", Value::Table(TableRef::new(t)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_matches_luabitop() {
        let p2 = |e: i32| 2f64.powi(e);
        let cases: [(f64, i32); 17] = [
            (p2(32) + 5.0, 5),
            (p2(31), i32::MIN),
            (-1.0, -1),
            (1.5, 2),
            (2.5, 2),
            (-2.5, -2),
            (0.5, 0),
            (1.4999, 1),
            (3.5, 4),
            (-3.5, -4),
            (p2(53), 0),
            (p2(60) + p2(31), 8_388_608),
            (f64::INFINITY, 0),
            (f64::NAN, 0),
            (-0.0, 0),
            (p2(31) + 0.5, i32::MIN),
            (4_294_967_295.5, 0),
        ];
        for (n, want) in cases {
            assert_eq!(tobit(n), want, "tobit({n})");
        }
    }

    #[test]
    fn tohex_widths_and_case() {
        assert_eq!(tohex(-1, 8), "ffffffff");
        assert_eq!(tohex(255, 2), "ff");
        assert_eq!(tohex(255, -2), "FF");
        assert_eq!(tohex(255, -10), "000000FF");
        assert_eq!(tohex(255, 0), "");
        assert_eq!(tohex(255, 9), "000000ff");
        assert_eq!(tohex(255, 3), "0ff");
        assert_eq!(tohex(255, i32::MIN), "000000FF");
        assert_eq!(tohex(65535, 8), "0000ffff");
    }

    #[test]
    fn shifts_and_rotates() {
        let x = 0x1234_5678u32;
        assert_eq!(x.rotate_left(12) as i32, 1_164_411_171);
        assert_eq!(x.rotate_right(12) as i32, 1_736_516_421);
        assert_eq!((x as i32).swap_bytes(), 2_018_915_346);
        assert_eq!((-256i32) >> 4, -16);
    }
}
