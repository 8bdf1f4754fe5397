//! Table layout as Redis's Lua 5.1 has it: `pairs` order, `#` borders, constructor
//! evaluation order, cjson/cmsgpack output. Each expected text is what stock Redis 7.0.15's
//! `EVAL` returned for the same chunk (redis-cli, 2026-11-25).

use ferrodis_lua::host::{Host, Reply};
use ferrodis_lua::{Lua, Value};

struct NoServer;

impl Host for NoServer {
    fn call(&mut self, _args: Vec<Vec<u8>>, _resp: u8) -> Reply {
        Reply::Error(b"ERR no server here".to_vec())
    }

    fn log(&mut self, _level: i64, _msg: &[u8]) {}
}

const CASES: &[(&str, &str)] = &[
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({x=1,y=2,z=3,w=4})", "y=2 x=1 w=4 z=3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} t.foo=1 t.bar=2 t.baz=3 t.qux=4 t.quux=5 return j(t)", "quux=5 baz=3 qux=4 bar=2 foo=1"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return cjson.encode({a=1, b=2, c=3})", "{\"a\":1,\"c\":3,\"b\":2}"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return cjson.encode({name='x', id=5, tags={'a','b'}, active=true})", "{\"id\":5,\"active\":true,\"name\":\"x\",\"tags\":[\"a\",\"b\"]}"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return #{1, nil, 3} .. ' ' .. #{nil, nil, 3} .. ' ' .. #{1, 2, nil} .. ' ' .. #{nil}", "3 3 2 0"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} t[1]=1 t[2]=2 t[4]=4 return #t", "4"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local log = {} local function f(x) log[#log+1]=x return x end local t = {f(1), a=f(2), f(3)} return table.concat(log, ' ')", "1 2 3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return ({'b', [1]='a'})[1] .. ({[1]='a', 'b'})[1]", "bb"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} t[3]=1 t[1]=1 t[10]=1 t.x=1 t[2]=1 return j(t) .. ' #' .. #t", "1=1 3=1 10=1 2=1 x=1 #3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({[1.5]=1,[2.5]=2,[-1]=3,[0]=4,[100]=5})", "0=4 2.5=2 100=5 1.5=1 -1=3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} for i = 1, 20 do t['k' .. i] = i end return j(t)", "k16=16 k19=19 k11=11 k17=17 k15=15 k20=20 k10=10 k8=8 k1=1 k12=12 k3=3 k2=2 k9=9 k13=13 k18=18 k14=14 k6=6 k7=7 k4=4 k5=5"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return cjson.encode(cjson.decode('{\"b\":1,\"a\":2,\"c\":3,\"dd\":4,\"e\":5}'))", "{\"a\":2,\"c\":3,\"b\":1,\"e\":5,\"dd\":4}"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({[true]=1,[false]=2, t=3})", "false=2 true=1 t=3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60, x=1, y=2, [70]=3})", "1=1 2=2 3=3 4=4 5=5 6=6 7=7 8=8 9=9 10=10 11=11 12=12 13=13 14=14 15=15 16=16 17=17 18=18 19=19 20=20 21=21 22=22 23=23 24=24 25=25 26=26 27=27 28=28 29=29 30=30 31=31 32=32 33=33 34=34 35=35 36=36 37=37 38=38 39=39 40=40 41=41 42=42 43=43 44=44 45=45 46=46 47=47 48=48 49=49 50=50 51=51 52=52 53=53 54=54 55=55 56=56 57=57 58=58 59=59 60=60 y=2 x=1 70=3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({k1=1,k2=2,k3=3,k4=4,k5=5,k6=6,k7=7,k8=8,k9=9,k10=10,k11=11,k12=12,k13=13,k14=14,k15=15,k16=16,k17=17,k18=18,k19=19,k20=20,k21=21,k22=22,k23=23,k24=24,k25=25,k26=26,k27=27,k28=28,k29=29})", "k12=12 k26=26 k19=19 k15=15 k14=14 k21=21 k29=29 k25=25 k11=11 k24=24 k23=23 k22=22 k17=17 k28=28 k20=20 k9=9 k8=8 k1=1 k16=16 k3=3 k2=2 k27=27 k13=13 k18=18 k10=10 k6=6 k7=7 k4=4 k5=5"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local function f(...) return #{...} end return f(1, nil, 3) .. ' ' .. f(nil, nil) .. ' ' .. f(1, 2, nil)", "3 0 2"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} for i = 1, 10 do t[i] = i end for i = 1, 10, 2 do t[i] = nil end return #t .. ' ' .. j(t)", "10 2=2 4=4 6=6 8=8 10=10"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} for i = 1, 10 do t[i] = i end t[5] = nil return #t", "10"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {a=1, b=2, c=3} t.a = nil t.d = 4 t.a = 5 return j(t)", "a=5 d=4 c=3 b=2"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} for i = 1, 8 do t['x' .. i] = i end for k in pairs(t) do t[k] = nil end t.new = 1 t.x3 = 3 return j(t)", "x3=3 new=1"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local h = cmsgpack.pack({a=1, b=2, c=3, d={1,2}}) return (h:gsub('.', function(c) return string.format('%02x', c:byte()) end))", "84a16101a164920102a16303a16202"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {10, 20, 30, x='a'} table.insert(t, 40) table.insert(t, 1, 5) t.y = 'b' return j(t) .. ' #' .. #t", "1=5 2=10 3=20 4=30 5=40 y=b x=a #5"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {1,2,3,4,5,6,7,8} for i = 1, 8 do t[i] = nil end t[20] = 1 t.a = 1 return j(t) .. ' #' .. #t", "20=1 a=1 #0"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} t[1] = nil t.z = nil t.a = 1 return j(t)", "a=1"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return cjson.encode({1, 2, 3, nil, 5})", "[1,2,3,null,5]"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return cjson.encode({[1]=1, [2]=2, [4]=4})", "[1,2,null,4]"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} t[2^31] = 1 t[-2^31] = 2 t[2^53] = 3 t[0.5] = 4 return j(t)", "-2147483648=2 2147483648=1 9.007199254741e+15=3 0.5=4"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({'a', 'b', 'c', [2]='B', x=1})", "1=a 2=b 3=c x=1"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({['']=1, ['a longer key than thirty-two bytes, hashed by steps']=2, ['\\0']=3})", "=1 \u{00}=3 a longer key than thirty-two bytes, hashed by steps=2"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = setmetatable({}, {}) for i = 1, 5 do t[i * 2] = i end return j(t) .. ' #' .. #t", "6=3 2=1 8=4 10=5 4=2 #0"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j(cmsgpack.unpack(cmsgpack.pack({a=1,b=2,c=3,dd=4,e=5})))", "a=1 c=3 b=2 e=5 dd=4"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = cjson.decode('[1,2,3]') t.x = 1 t.y = 2 t[5] = 5 return j(t)", "1=1 2=2 3=3 y=2 x=1 5=5"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = cmsgpack.unpack(cmsgpack.pack({1,2,3})) t.k = 1 t[7] = 7 return j(t)", "1=1 2=2 3=3 k=1 7=7"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = redis.status_reply('x') t.a = 1 return j(t)", "ok=x a=1"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = redis.error_reply('x') t.a = 1 t.b = 2 return j(t)", "a=1 err=ERR x b=2"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end return j({struct.unpack('BB', 'ab')})", "1=97 2=98 3=3"),
    ("local function j(t) local r = {} for k, v in pairs(t) do r[#r+1] = tostring(k) .. '=' .. tostring(v) end return table.concat(r, ' ') end local t = {} for w in string.gmatch('one two three four five six', '%a+') do t[w] = #w end return j(t)", "six=3 two=3 three=5 one=3 five=4 four=4"),
];

#[test]
fn tables_iterate_and_measure_as_in_redis() {
    let mut lua = Lua::new();
    let mut failed = Vec::new();
    for (src, want) in CASES {
        let chunk = Lua::compile(src.as_bytes(), "user_script").expect("compiles");
        let got = match lua.run(&chunk, &mut NoServer) {
            Ok(v) => match v.first() {
                Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                Some(Value::Num(n)) => format!("{n}"),
                other => format!("{other:?}"),
            },
            Err(e) => format!("error {e:?}"),
        };
        if got != *want {
            failed.push(format!("{src}\n  got:  {got}\n  want: {want}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
