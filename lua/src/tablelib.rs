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
    Sorter { t: &t, comp }.sort(st, 1, n)?;
    Ok(Vec::new())
}

/// Lua 5.1's `table.sort`, step for step: a quicksort working in the table itself (a
/// comparator sees it as it is), median of three, the pivot parked at `u - 1`, the smaller
/// part sorted first. Being the same algorithm, it leaves equal elements in the order
/// Redis's Lua does, calls the comparator as often, and fails the same way on an
/// inconsistent order.
struct Sorter<'t> {
    t: &'t TableRef,
    comp: Option<Value>,
}

impl Sorter<'_> {
    fn get(&self, i: i64) -> Value {
        self.t.0.borrow().get_int(i)
    }

    /// `t[i], t[j] = a, b`.
    fn set2(&self, i: i64, a: Value, j: i64, b: Value) -> Result<(), LuaError> {
        raw_set(self.t, num(i), a)?;
        raw_set(self.t, num(j), b)
    }

    fn less(&self, st: &mut State<'_>, a: &Value, b: &Value) -> Result<bool, LuaError> {
        match &self.comp {
            Some(f) => Ok(st
                .call(f, vec![a.clone(), b.clone()])?
                .into_iter()
                .next()
                .is_some_and(|r| r.truthy())),
            None => st.less_than(a, b),
        }
    }

    fn sort(&self, st: &mut State<'_>, mut l: i64, mut u: i64) -> Result<(), LuaError> {
        while l < u {
            // Order t[l], t[(l+u)/2] and t[u].
            let (al, au) = (self.get(l), self.get(u));
            if self.less(st, &au, &al)? {
                self.set2(l, au, u, al)?;
            }
            if u - l == 1 {
                break;
            }
            let m = (l + u) / 2;
            let (am, al) = (self.get(m), self.get(l));
            if self.less(st, &am, &al)? {
                self.set2(m, al, l, am)?;
            } else {
                let au = self.get(u);
                if self.less(st, &au, &am)? {
                    self.set2(m, au, u, am)?;
                }
            }
            if u - l == 2 {
                break;
            }
            // The pivot goes to u - 1: t[l] <= pivot <= t[u] already.
            let pivot = self.get(m);
            let before_last = self.get(u - 1);
            self.set2(m, before_last, u - 1, pivot.clone())?;
            let (mut i, mut j) = (l, u - 1);
            loop {
                let ai = loop {
                    i += 1;
                    let v = self.get(i);
                    if !self.less(st, &v, &pivot)? {
                        break v;
                    }
                    if i > u {
                        return Err(st.error("invalid order function for sorting"));
                    }
                };
                let aj = loop {
                    j -= 1;
                    let v = self.get(j);
                    if !self.less(st, &pivot, &v)? {
                        break v;
                    }
                    if j < l {
                        return Err(st.error("invalid order function for sorting"));
                    }
                };
                if j < i {
                    break;
                }
                self.set2(i, aj, j, ai)?;
            }
            let (ap, ai) = (self.get(u - 1), self.get(i));
            self.set2(u - 1, ai, i, ap)?;
            // Sort the smaller side now, go on with the larger one.
            if i - l < u - i {
                self.sort(st, l, i - 1)?;
                l = i + 1;
            } else {
                self.sort(st, i + 1, u)?;
                u = i - 1;
            }
        }
        Ok(())
    }
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

    /// Lua 5.1's order of equal elements, comparator calls and what a lying comparator
    /// leaves, as stock Redis 7.0.15 returned them.
    #[test]
    fn sort_is_lua_5_1_step_for_step() {
        let cases = [
            (
                "local t = {} for i=1,20 do t[i] = {k = i % 3, id = i} end \
                 table.sort(t, function(a,b) return a.k < b.k end) \
                 local r = {} for i,v in ipairs(t) do r[i] = v.id end return table.concat(r, ' ')",
                "15 9 6 12 18 3 13 1 16 19 10 4 7 17 2 11 8 14 5 20",
            ),
            (
                "local n = 0 local t = {} for i=1,30 do t[i] = (i * 7) % 11 end \
                 table.sort(t, function(a,b) n = n + 1 return a < b end) return tostring(n)",
                "128",
            ),
            (
                "local t = {3,1,2} local ok, e = pcall(table.sort, t, function(a,b) return true end) \
                 return tostring(ok) .. ' ' .. tostring(e) .. ' ' .. table.concat(t, ',')",
                "true nil 1,2,3",
            ),
            (
                "local t = {5,4,3,2,1,6,7,8,9,10,11,12} \
                 local ok, e = pcall(table.sort, t, function(a,b) return true end) \
                 return tostring(ok) .. ' ' .. tostring(e) .. ' ' .. table.concat(t, ',')",
                "false invalid order function for sorting 6,4,3,2,1,11,7,8,9,10,12,5",
            ),
            (
                "local t = {0,0,0,0,0,0,0,0,0,0,0,0} local s = 583 \
                 local ok, e = pcall(table.sort, t, function(a, b) \
                 s = (s * 1103 + 12345) % 65536 return s % 3 == 0 end) \
                 local r = {} for i = 0, 14 do r[#r+1] = tostring(t[i]) end \
                 return tostring(ok) .. ' ' .. tostring(e) .. ' #' .. #t .. ' ' .. table.concat(r, ',')",
                "true nil #7 nil,0,0,0,0,0,0,0,nil,0,0,0,0,0,nil",
            ),
        ];
        for (src, want) in cases {
            let r = run(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
            let Value::Str(got) = &r[0] else {
                panic!("{src}: {:?}", r[0])
            };
            assert_eq!(String::from_utf8_lossy(got), want, "{src}");
        }
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
        /// Comparators that lie (random answers, errors) never make sort panic. (They may
        /// leave the table with holes, as in Lua 5.1: the algorithm then reads past the
        /// range it sorts; lua.redis checks such cases against Redis.)
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
                Ok(v) => proptest::prop_assert!(matches!(v[0], Value::Num(n) if n as usize <= items.len() + 1)),
                Err(LuaError::Raise(_)) => {}
                Err(LuaError::Kill(k)) => proptest::prop_assert!(false, "killed: {}", k),
            }
        }
    }
}
