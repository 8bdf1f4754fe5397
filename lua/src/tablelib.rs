//! The `table` library of Lua 5.1 (`insert remove concat sort getn maxn setn foreach
//! foreachi`), with its messages.

use crate::error::{arg, check_int, check_str, check_table, opt_int, type_error};
use crate::interp::State;
use crate::value::{FuncRef, NativeFn, Ret, TableRef, Value};
use crate::{Lua, LuaError};

pub fn open(lua: &mut Lua) {
    let fns: &[(&'static str, NativeFn)] = &[
        ("insert", insert),
        ("remove", remove),
        ("concat", concat),
        ("sort", sort),
        ("getn", getn),
        ("maxn", maxn),
        ("setn", setn),
        ("foreach", foreach),
        ("foreachi", foreachi),
    ];
    let mut t = crate::value::Table::new();
    for (name, f) in fns {
        t.set_str(name, Value::Func(FuncRef::native(name, *f)));
    }
    lua.globals
        .0
        .borrow_mut()
        .set_str("table", Value::Table(TableRef::new(t)));
}

fn num(i: i64) -> Value {
    Value::Num(i as f64)
}

fn raw_set(t: &TableRef, k: Value, v: Value) -> Result<(), LuaError> {
    let mut tb = t.0.borrow_mut();
    if tb.readonly {
        return Err(LuaError::msg("Attempt to modify a readonly table"));
    }
    tb.set(k, v).map_err(LuaError::msg)
}

fn len(t: &TableRef) -> i64 {
    t.0.borrow().len() as i64
}

fn insert(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "insert")?;
    let mut e = len(&t) + 1;
    let (pos, v) = match args.len() {
        2 => (e, args[1].clone()),
        3 => {
            let pos = check_int(st, &args, 1, "insert")?;
            if pos > e {
                e = pos;
            }
            let mut i = e;
            while i > pos {
                let prev = t.0.borrow().get_int(i - 1);
                raw_set(&t, num(i), prev)?;
                i -= 1;
            }
            (pos, args[2].clone())
        }
        _ => return Err(st.error("wrong number of arguments to 'insert'")),
    };
    raw_set(&t, num(pos), v)?;
    Ok(Vec::new())
}

fn remove(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "remove")?;
    let e = len(&t);
    let mut pos = opt_int(st, &args, 1, "remove", e)?;
    if !(1 <= pos && pos <= e) {
        return Ok(Vec::new());
    }
    let v = t.0.borrow().get_int(pos);
    while pos < e {
        let next = t.0.borrow().get_int(pos + 1);
        raw_set(&t, num(pos), next)?;
        pos += 1;
    }
    raw_set(&t, num(e), Value::Nil)?;
    Ok(vec![v])
}

fn concat(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "concat")?;
    let sep = match arg(&args, 1) {
        Value::Nil => None,
        _ => Some(check_str(st, &args, 1, "concat")?),
    };
    let i = opt_int(st, &args, 2, "concat", 1)?;
    let j = match arg(&args, 3) {
        Value::Nil => len(&t),
        _ => check_int(st, &args, 3, "concat")?,
    };
    let mut out = Vec::new();
    let tb = t.0.borrow();
    let mut k = i;
    while k <= j {
        match tb.get_int(k) {
            v @ (Value::Str(_) | Value::Num(_)) => {
                out.extend_from_slice(&v.to_lstr().expect("string or number"));
                if out.len() > crate::stringlib::MAX_STRING {
                    return Err(crate::stringlib::no_memory());
                }
            }
            v => {
                return Err(st.error(format!(
                    "invalid value ({}) at index {k} in table for 'concat'",
                    v.type_name()
                )))
            }
        }
        if k != j {
            if let Some(s) = &sep {
                out.extend_from_slice(s);
            }
        }
        k += 1;
    }
    Ok(vec![Value::str(&out)])
}

fn getn(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "getn")?;
    Ok(vec![num(len(&t))])
}

fn maxn(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "maxn")?;
    let mut max = 0.0f64;
    for (k, _) in t.0.borrow().entries() {
        if let Value::Num(n) = k {
            if n > max {
                max = n;
            }
        }
    }
    Ok(vec![Value::Num(max)])
}

fn setn(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_table(st, &args, 0, "setn")?;
    Err(st.error("'setn' is obsolete"))
}

fn check_func(st: &State<'_>, args: &[Value], i: usize, f: &str) -> Result<Value, LuaError> {
    match arg(args, i) {
        v @ Value::Func(_) => Ok(v.clone()),
        _ => Err(type_error(st, args, i, f, "function")),
    }
}

fn foreach(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "foreach")?;
    let f = check_func(st, &args, 1, "foreach")?;
    let mut k = Value::Nil;
    loop {
        let r = t.0.borrow().next(&k);
        let Ok(Some((key, v))) = r else {
            return Ok(Vec::new());
        };
        let r = st.call(&f, vec![key.clone(), v])?;
        if let Some(x) = r.into_iter().next().filter(|x| !x.is_nil()) {
            return Ok(vec![x]);
        }
        k = key;
    }
}

fn foreachi(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "foreachi")?;
    let f = check_func(st, &args, 1, "foreachi")?;
    let n = len(&t);
    for i in 1..=n {
        let v = t.0.borrow().get_int(i);
        let r = st.call(&f, vec![num(i), v])?;
        if let Some(x) = r.into_iter().next().filter(|x| !x.is_nil()) {
            return Ok(vec![x]);
        }
    }
    Ok(Vec::new())
}

fn sort(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "sort")?;
    let n = len(&t);
    let comp = match arg(&args, 1) {
        Value::Nil => None,
        f @ Value::Func(_) => Some(f.clone()),
        _ => return Err(type_error(st, &args, 1, "sort", "function")),
    };
    let mut v: Vec<Value> = {
        let tb = t.0.borrow();
        (1..=n).map(|i| tb.get_int(i)).collect()
    };
    let mut lt = |st: &mut State<'_>, a: &Value, b: &Value| -> Result<bool, LuaError> {
        match &comp {
            Some(f) => Ok(st
                .call(f, vec![a.clone(), b.clone()])?
                .into_iter()
                .next()
                .is_some_and(|r| r.truthy())),
            None => st.less_than(a, b),
        }
    };
    quicksort(st, &mut v, &mut lt)?;
    for (i, x) in v.into_iter().enumerate() {
        raw_set(&t, num(i as i64 + 1), x)?;
    }
    Ok(Vec::new())
}

type Less<'f> = dyn FnMut(&mut State<'_>, &Value, &Value) -> Result<bool, LuaError> + 'f;

/// Quicksort that tolerates inconsistent orders: a scan leaving its range is Lua's
/// "invalid order function for sorting", never a panic.
fn quicksort(st: &mut State<'_>, v: &mut [Value], lt: &mut Less<'_>) -> Result<(), LuaError> {
    let mut stack: Vec<(usize, usize)> = Vec::new();
    if v.len() > 1 {
        stack.push((0, v.len() - 1));
    }
    while let Some((mut lo, mut hi)) = stack.pop() {
        while lo < hi {
            if hi - lo < 8 {
                for i in lo + 1..=hi {
                    let mut j = i;
                    while j > lo && lt(st, &v[j], &v[j - 1])? {
                        v.swap(j, j - 1);
                        j -= 1;
                    }
                }
                break;
            }
            let mid = lo + (hi - lo) / 2;
            if lt(st, &v[mid], &v[lo])? {
                v.swap(mid, lo);
            }
            if lt(st, &v[hi], &v[mid])? {
                v.swap(hi, mid);
                if lt(st, &v[mid], &v[lo])? {
                    v.swap(mid, lo);
                }
            }
            v.swap(mid, hi - 1);
            let pivot = v[hi - 1].clone();
            let mut i = lo;
            let mut j = hi - 1;
            loop {
                i += 1;
                while lt(st, &v[i], &pivot)? {
                    if i >= hi {
                        return Err(st.error("invalid order function for sorting"));
                    }
                    i += 1;
                }
                j -= 1;
                while lt(st, &pivot, &v[j])? {
                    if j <= lo {
                        return Err(st.error("invalid order function for sorting"));
                    }
                    j -= 1;
                }
                if j < i {
                    break;
                }
                v.swap(i, j);
            }
            v.swap(i, hi - 1);
            // [lo, i) before the pivot, (i, hi] after it: loop on the larger part.
            if i - lo < hi - i {
                if i > lo + 1 {
                    stack.push((lo, i - 1));
                }
                lo = i + 1;
            } else {
                if i < hi {
                    stack.push((i + 1, hi));
                }
                if i == 0 {
                    break;
                }
                hi = i - 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_util::QuietHost;
    use crate::value::Value;
    use crate::{Lua, LuaError};

    fn run(src: &str) -> Result<Vec<Value>, LuaError> {
        let chunk = Lua::compile(src.as_bytes(), "user_script").expect("compiles");
        Lua::new().run(&chunk, &mut QuietHost)
    }

    #[test]
    fn sort_sorts_and_reports_bad_orders() {
        let r = run(
            "local t = {} for i = 1, 200 do t[i] = (i * 7919) % 211 end table.sort(t) \
             for i = 2, 200 do if t[i - 1] > t[i] then return false end end return true",
        )
        .expect("runs");
        assert!(r[0].truthy());
        let Err(LuaError::Raise(Value::Str(e))) = run(
            "local t = {} for i = 1, 100 do t[i] = i % 7 end table.sort(t, function() return true end)",
        ) else {
            panic!("no error")
        };
        assert_eq!(&*e, b"user_script:1: invalid order function for sorting");
    }

    proptest::proptest! {
        /// Comparators that lie (random answers, errors) never make sort panic.
        #[test]
        fn sort_survives_inconsistent_comparators(items in proptest::collection::vec(0u32..50, 0..80), seed in 0u32..1000) {
            let list: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            let src = format!(
                "local t = {{{}}} local s = {seed} \
                 table.sort(t, function(a, b) s = (s * 1103 + 12345) % 65536 return s % 3 == 0 end) \
                 return #t",
                list.join(",")
            );
            match run(&src) {
                Ok(v) => proptest::prop_assert!(matches!(v[0], Value::Num(n) if n as usize == items.len())),
                Err(LuaError::Raise(_)) => {}
                Err(LuaError::Kill(k)) => proptest::prop_assert!(false, "killed: {}", k),
            }
        }
    }
}
