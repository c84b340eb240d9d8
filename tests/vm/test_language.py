"""Every feature of docs/contract-language.md, run through compile + execute.

Cases come in pairs: ``test_*`` shows what the language does, ``test_invalid_*`` what it
refuses at run time (the compile-time refusals are in test_compile_errors.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from chain import codec, keys
from chain.hashing import Domain, hash_domain
from vm import CompiledContract, compile_source, execute

from .conftest import ALICE, CTX, MemoryState

LANG = '''
"""A contract exercising the language."""
UNIT = 1_000
NEG = -5
NAMES = ("a", "b")
TABLE = {"x": 1, "y": [1, 2]}
BIG = 2 ** 200
DAY = 24 * 60 * 60


@public
def arith(a: int, b: int) -> list:
    return [a + b, a - b, a * b, a // b, a % b, a ** 2, -a, +a, abs(NEG)]


@public
def compare(a: int, b: int) -> list:
    return [a == b, a != b, a < b, a <= b, a > b, a >= b, 0 < a < b, a < b < 0]


@public
def logic(a, b):
    return [a and b, a or b, not a, a if b else "no"]


@public
def strings(s: str) -> list:
    return [s + "!", s[0], s[-1], s[1:3], s[:2], s[2:], len(s), s.upper(), s.lower(),
            s.startswith("He"), s.endswith("x"), "-".join(["a", "b", "c"]), "a,b,,c".split(","),
            "el" in s, "zz" not in s]


@public
def byte_ops(b: bytes) -> list:
    return [b + b"\\x00", b[0], b[1:], len(b), bytes_hex(b), hex_bytes("0aff"), b"\\x01" in b]


@public
def lists() -> list:
    xs = [3, 1, 2]
    xs.append(5)
    xs.insert(0, 9)
    last = xs.pop()
    first = xs.pop(0)
    xs[0] = 7
    del xs[1]
    ys = xs + [4]
    return [xs, ys, last, first, ys.index(4), sorted(ys), len(ys), 4 in ys, list((1, 2))]


@public
def dicts() -> list:
    d = {"b": 2, "a": 1}
    d["c"] = 3
    d["a"] += 10
    got = [d.get("a"), d.get("zz"), d.get("zz", 0), d.setdefault("e", 5), d.setdefault("a", 0)]
    popped = [d.pop("b"), d.pop("nope", -1)]
    del d["c"]
    return [d, list(d.keys()), d.values(), d.items(), got, popped, "a" in d, len(d), list(d)]


@public
def int_keys() -> dict:
    d = {}
    d[2] = "two"
    d[1] = "one"
    d[b"k"] = "bytes"
    return d


@public
def tuples():
    t = (1, "a", b"z")
    a, b, c = t
    (x, y), z = (1, 2), 3
    return [t, a, b, c, x + y + z, t[1:], len(t), t + (4,)]


@public
def loops(n: int) -> list:
    out = []
    for i in range(n):
        if i == 1:
            continue
        if i == 5:
            break
        out.append(i)
    for i in range(10, 0, -3):
        out.append(i)
    for i in range(2, 4):
        out.append(i)
    k = 0
    while True:
        k += 1
        if k >= 3:
            break
    out.append(k)
    total = 0
    for key, value in {"a": 1, "b": 2}.items():
        total += value
    for value in {"a": 1, "b": 2}.values():
        total += value
    for key in {"a": 1, "b": 2}:
        total += len(key)
    for item in (1, 2):
        total += item
    out.append(total)
    return out


@public
def nested_loops() -> int:
    s = 0
    for i in range(5):
        for j in range(5):
            if j > i:
                break
            s += j
    return s


@public
def fstrings(m: str, x: int) -> str:
    return f"meter {m} at {x} ok={True} none={None}"


@public
def constants() -> list:
    t = TABLE
    t["x"] = 99
    return [UNIT, NEG, NAMES, TABLE, BIG // 2 ** 190, DAY]


@public
def builtins_int() -> list:
    return [min(3, 1, 2), max(3, 1, 2), min([4, 5]), max((4, 5)), str(42), str("s"),
            int("-17"), int("0"), div_floor(-7, 2), div_ceil(7, 2), div_ceil(-7, 2),
            div_round_half_up(5, 2), div_round_half_up(-5, 2), div_round_half_up(7, 3),
            mul_div(2 ** 200, 3, 2 ** 199), mul_div(10, 5, 4)]


@public
def types(x) -> list:
    return [isinstance(x, int), isinstance(x, bool), isinstance(x, str), isinstance(x, bytes),
            isinstance(x, list), isinstance(x, dict), isinstance(x, tuple),
            isinstance(x, (int, str)), x is None, x is not None]


@public
def recursion(n: int) -> int:
    return fact(n)


def fact(n: int) -> int:
    if n <= 1:
        return 1
    return n * fact(n - 1)


@public
def defaults(a: int, b: int = 10, c: str = "c") -> list:
    return [a, b, c, helper(1), helper(1, y=5), helper(x=2, y=3)]


def helper(x: int, y: int = 100) -> int:
    return x + y


@public
def multi_assign() -> list:
    a = b = 3
    xs = [0, 0]
    xs[0], xs[1] = 1, 2
    c: int = 4
    a -= 1
    b *= 2
    c //= 3
    xs[1] **= 3
    return [a, b, c, xs]


@public
def equality() -> list:
    return [[1, [2]] == [1, [2]], {"a": 1} == {"a": 1}, (1, 2) == (1, 2), "1" == 1,
            None == 0, b"a" == "a", [1] != [2], (1, 2) == [1, 2]]


@public
def list_ordering() -> list:
    return [[1, 2] < [1, 3], (1, "b") > (1, "a"), "abc" < "abd", b"a" < b"b", [1] < [1, 0]]


@public
def truthiness() -> list:
    out = []
    for v in [0, 1, "", "x", [], [0], {}, None, b""]:
        if v:
            out.append(1)
        else:
            out.append(0)
    return out


@public
def echo(v):
    return v


@public
def noop():
    pass
'''


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        ("arith", [7, 2], [9, 5, 14, 3, 1, 49, -7, 7, 5]),
        ("arith", [-7, 2], [-5, -9, -14, -4, 1, 49, 7, -7, 5]),
        ("compare", [1, 2], [False, True, True, True, False, False, True, False]),
        ("compare", [2, 2], [True, False, False, True, False, True, False, False]),
        ("logic", [0, 5], [0, 5, True, 0]),
        ("logic", [3, 0], [0, 3, False, "no"]),
        ("strings", ["Hello"], ["Hello!", "H", "o", "el", "He", "llo", 5, "HELLO", "hello",
                                True, False, "a-b-c", ["a", "b", "", "c"], True, True]),
        ("byte_ops", [b"\x01\x02"], [b"\x01\x02\x00", 1, b"\x02", 2, "0102", b"\x0a\xff", True]),
        ("lists", [], [[7, 2], [7, 2, 4], 5, 9, 2, [2, 4, 7], 3, True, [1, 2]]),
        ("dicts", [], [{"a": 11, "e": 5}, ["a", "e"], [11, 5], [("a", 11), ("e", 5)],
                       [11, None, 0, 5, 11], [2, -1], True, 2, ["a", "e"]]),
        ("int_keys", [], {2: "two", 1: "one", b"k": "bytes"}),
        ("tuples", [], [(1, "a", b"z"), 1, "a", b"z", 6, ("a", b"z"), 3, (1, "a", b"z", 4)]),
        ("loops", [10], [0, 2, 3, 4, 10, 7, 4, 1, 2, 3, 3, 11]),
        ("nested_loops", [], 20),
        ("fstrings", ["M1", 42], "meter M1 at 42 ok=True none=None"),
        ("constants", [], [1000, -5, ("a", "b"), {"x": 1, "y": [1, 2]}, 1024, 86400]),
        ("builtins_int", [], [1, 3, 4, 5, "42", "s", -17, 0, -4, 4, -3, 3, -3, 2, 6, 13]),
        ("types", [5], [True, False, False, False, False, False, False, True, False, True]),
        ("types", [True], [False, True, False, False, False, False, False, False, False, True]),
        ("types", [None], [False] * 8 + [True, False]),
        ("types", [[1]], [False, False, False, False, True, False, False, False, False, True]),
        ("recursion", [20], 2432902008176640000),
        ("defaults", [1], [1, 10, "c", 101, 6, 5]),
        ("defaults", [1, 2, "z"], [1, 2, "z", 101, 6, 5]),
        ("multi_assign", [], [2, 6, 1, [1, 8]]),
        ("equality", [], [True, True, True, False, False, False, True, False]),
        ("list_ordering", [], [True, True, True, True, True]),
        ("truthiness", [], [0, 1, 0, 1, 0, 1, 0, 0, 0]),
        ("echo", [{"k": [1, b"x", None, True]}], {"k": [1, b"x", None, True]}),
        ("noop", [], None),
    ],
)
def test_feature(call: Any, function: str, args: list[Any], expected: Any) -> None:
    assert call(LANG, function, *args) == expected


def test_dict_iteration_is_insertion_order(call: Any) -> None:
    src = '''
@public
def f() -> list:
    d = {}
    for k in ["zeta", "alpha", "mid"]:
        d[k] = 1
    return list(d)
'''
    assert call(src, "f") == ["zeta", "alpha", "mid"]


def test_stored_dict_iterates_in_canonical_key_order(call: Any) -> None:
    src = '''
@public
def put() -> None:
    storage_set("d", {"alpha": 2, "zeta": 1})

@public
def keys() -> list:
    return list(storage_get("d"))
'''
    call(src, "put")
    # Canonical order is the order of the encoded keys: msgpack prefixes a str with its
    # length, so the shorter "zeta" comes before "alpha".
    assert call(src, "keys") == ["zeta", "alpha"]


def test_stored_tuple_comes_back_as_list(call: Any) -> None:
    src = '''
@public
def put() -> None:
    storage_set("t", (1, 2))

@public
def get():
    a, b = storage_get("t")
    return [storage_get("t"), a + b]
'''
    call(src, "put")
    assert call(src, "get") == [[1, 2], 3]


def test_values_do_not_alias_storage(call: Any) -> None:
    src = '''
@public
def f() -> list:
    xs = [1]
    storage_set("xs", xs)
    xs.append(2)
    ys = storage_get("xs")
    ys.append(3)
    return [xs, ys, storage_get("xs")]
'''
    assert call(src, "f") == [[1, 2], [1, 3], [1]]


def test_module_constant_is_fresh_each_time(call: Any) -> None:
    src = '''
LIMITS = [1, 2]

@public
def f() -> list:
    a = LIMITS
    a.append(3)
    return [a, LIMITS]
'''
    assert call(src, "f") == [[1, 2, 3], [1, 2]]


# --- runtime refusals ----------------------------------------------------------------------

ERRS = '''
@public
def add(a, b):
    return a + b

@public
def sub(a, b):
    return a - b

@public
def mul(a, b):
    return a * b

@public
def div(a, b):
    return a // b

@public
def mod(a, b):
    return a % b

@public
def power(a, b):
    return a ** b

@public
def lt(a, b):
    return a < b

@public
def eq(a, b):
    return a == b

@public
def neg(a):
    return -a

@public
def index(xs, i):
    return xs[i]

@public
def setitem(xs, i, v):
    xs[i] = v
    return xs

@public
def delitem(xs, i):
    del xs[i]
    return xs

@public
def unpack(v):
    a, b = v
    return a

@public
def loop(v):
    n = 0
    for x in v:
        n += 1
    return n

@public
def range_step(s):
    n = 0
    for i in range(0, 10, s):
        n += 1
    return n

@public
def fmt(v):
    return f"{v}"

@public
def to_int(s):
    return int(s)

@public
def to_str(v):
    return str(v)

@public
def hexb(s):
    return hex_bytes(s)

@public
def mutate_while_iterating():
    d = {"a": 1}
    for k in d:
        d["b"] = 2
    return d

@public
def unbound(flag):
    if flag:
        x = 1
    return x

@public
def deep(n):
    return deep(n + 1)

@public
def require_false():
    require(False, "meter not registered")

@public
def require_truthiness(v):
    require(v, "falsy")
    return 1

@public
def revert_now():
    revert("stop here")

@public
def too_long():
    s = "x"
    while True:
        s = s + s

@public
def too_many_items():
    xs = []
    while True:
        xs.append(1)

@public
def method_on_wrong_type(x):
    return x.append(1)

@public
def bool_key():
    d = {}
    d[True] = 1
    return d

@public
def list_key():
    return {[1]: 2}

@public
def min_empty():
    return min([])

@public
def sort_mixed():
    return sorted([1, "a"])

@public
def pop_empty():
    return [].pop()

@public
def big_return():
    return 2 ** 70

@public
def insert_into_tuple(t):
    t[0] = 1
'''


@pytest.mark.parametrize(
    ("function", "args", "fragment"),
    [
        ("add", [True, 1], "operands of one type"),
        ("add", [1, "a"], "found int and str"),
        ("add", [2**254, 2**254], "IntegerOverflow"),
        ("sub", [-(2**255), 1], "IntegerOverflow"),
        ("sub", ["a", "b"], "int operands expected for '-'"),
        ("mul", ["ab", 3], "int operands expected for '*'"),
        ("mul", [2**200, 2**60], "IntegerOverflow"),
        ("div", [1, 0], "non-zero divisor"),
        ("mod", [1, 0], "non-zero divisor"),
        ("mod", ["%s", 1], "int operands expected for '%'"),
        ("power", [2, 256], "exponent in [0, 255]"),
        ("power", [2, -1], "exponent in [0, 255]"),
        ("power", [2, 255], "IntegerOverflow"),
        ("power", [3, 200], "IntegerOverflow"),
        ("lt", [1, "a"], "ordering of values of one type"),
        ("lt", [None, None], "orderable values"),
        ("lt", [1, True], "ordering of values of one type"),
        ("eq", [1, True], "bool is not int"),
        ("eq", [[1], [True]], "bool is not int"),
        ("neg", [-(2**255)], "IntegerOverflow"),
        ("neg", ["a"], "unary '-'"),
        ("index", [[1, 2], 2], "index in [-2, 2) expected, found 2"),
        ("index", [[1, 2], True], "int index expected"),
        ("index", [{"a": 1}, "b"], "a present key expected"),
        ("index", [5, 0], "list, tuple, dict, str or bytes expected"),
        ("setitem", [[1], 1, 0], "index in [-1, 1)"),
        ("setitem", ["ab", 0, "c"], "list or dict expected"),
        ("delitem", [{"a": 1}, "b"], "a present key expected in del"),
        ("unpack", [[1, 2, 3]], "list or tuple of 2 items expected to unpack, found 3"),
        ("unpack", [5], "found int"),
        ("loop", ["abc"], "list, tuple or dict expected in for"),
        ("range_step", [0], "non-zero step"),
        ("range_step", ["1"], "int arguments expected in range()"),
        ("fmt", [[1]], "int, str, bool or None expected"),
        ("fmt", [b"x"], "int, str, bool or None expected"),
        ("to_int", ["12a"], "decimal str"),
        ("to_int", [""], "decimal str"),
        ("to_int", ["1_000"], "decimal str"),
        ("to_int", [" 1"], "decimal str"),
        ("to_int", [True], "decimal str"),
        ("to_str", [[1]], "int, str, bool or None expected"),
        ("hexb", ["abc"], "even number of hex digits"),
        ("hexb", ["zz"], "even number of hex digits"),
        ("mutate_while_iterating", [], "dict changed size"),
        ("unbound", [False], "local variable 'x' used before assignment"),
        ("deep", [0], "call depth of at most 64"),
        ("require_false", [], "reverted: meter not registered at c.require_false line"),
        ("require_truthiness", [None], "reverted: falsy"),
        ("require_truthiness", [{}], "reverted: falsy"),
        ("require_truthiness", [0], "reverted: falsy"),
        ("revert_now", [], "reverted: stop here"),
        ("too_long", [], "str of at most 65536"),
        ("too_many_items", [], "list of at most 65536"),
        ("method_on_wrong_type", [5], "method append() does not exist on int"),
        ("method_on_wrong_type", [{"a": 1}], "method append() does not exist on dict"),
        ("bool_key", [], "dict key of type int, str or bytes expected, found bool"),
        ("list_key", [], "dict key of type int, str or bytes expected, found list"),
        ("min_empty", [], "at least one int"),
        ("sort_mixed", [], "elements of one type"),
        ("pop_empty", [], "non-empty list"),
        ("big_return", [], "a returnable value"),
        ("insert_into_tuple", [(1, 2)], "list or dict expected"),
    ],
)
def test_invalid_runtime(fails: Any, function: str, args: list[Any], fragment: str) -> None:
    error = fails(ERRS, function, *args, gas=5_000_000)
    assert fragment in error, error


def test_invalid_error_names_the_line(fails: Any) -> None:
    error = fails(ERRS, "div", 1, 0)
    assert error == "non-zero divisor expected, found 0 at c.div line 16"


def test_big_ints_inside_the_vm(call: Any) -> None:
    src = '''
@public
def f() -> int:
    x = 2 ** 254 + (2 ** 254 - 1)
    return x // 2 ** 200
'''
    assert call(src, "f") == 2**55 - 1


def test_names_inside_a_subscript_target_are_not_locals(call: Any) -> None:
    src = '''
def slot(m: str) -> str:
    return "m/" + m

@public
def f() -> dict:
    d = {}
    d[slot("a")] = 1
    return d
'''
    assert call(src, "f") == {"m/a": 1}


def test_require_passes_on_truthy_values(call: Any) -> None:
    for v in [1, "x", [0], {"a": 1}, True, b"\x00"]:
        assert call(ERRS, "require_truthiness", v) == 1


def test_bool_arithmetic_is_a_type_error(fails: Any) -> None:
    src = '''
@public
def f():
    return True + 1
'''
    assert "operands of one type" in fails(src, "f")


def test_upper_lower_are_ascii_only(call: Any) -> None:
    src = '''
@public
def f(s: str) -> list:
    return [s.upper(), s.lower()]
'''
    assert call(src, "f", "ışIk straße") == ["ışIK STRAßE", "ışik straße"]


# --- imports: modules compiled in (docs/contract-language.md, "Modules") -------------------

MODULES = {
    "lib.units": '''
"""Units shared by contracts."""
DAY = 86400


def days(seconds: int) -> int:
    return seconds // DAY
''',
    "lib.meters": '''
from lib.units import DAY, days


@public
def describe(meter: str, seconds: int) -> str:
    return f"{meter}: {days(seconds)} days of {DAY} s, {label(meter)}"


@public
def not_named_by_the_contract() -> int:
    return 1


def label(meter: str) -> str:
    return meter.upper()


def never_called() -> int:
    return 2
''',
}
CONTRACT = '''
from lib.meters import describe
from lib.units import DAY


@view
def week() -> int:
    return 7 * DAY
'''


def deploy_with_modules(state: MemoryState, source: str, modules: dict[str, str]) -> CompiledContract:
    compiled = compile_source(source, "c", modules.get)
    state.put(keys.code_key("c"), codec.encode([compiled.code, compiled.source_hash, 1, ALICE]))
    return compiled


def test_imported_functions_and_constants_run_as_the_contract_s_own(state: MemoryState) -> None:
    deploy_with_modules(state, CONTRACT, MODULES)
    described = execute(state, CTX, "c", "describe", ["m1", 3 * 86400], 100_000)
    assert described.return_value == "m1: 3 days of 86400 s, M1"
    assert execute(state, CTX, "c", "week", [], 100_000).return_value == 7 * 86400


def test_entry_points_are_what_the_contract_s_file_names(state: MemoryState) -> None:
    compiled = deploy_with_modules(state, CONTRACT, MODULES)
    assert [(f.name, f.kind) for f in compiled.functions] == [("week", "view"), ("describe", "public")]
    # What the contract reaches is compiled in; a module's other functions are not.
    assert [(m.name, m.functions) for m in compiled.modules] == [
        ("lib.meters", ("describe", "label")),
        ("lib.units", ("days",)),
    ]


def test_invalid_module_entry_point_not_named_by_the_contract_is_not_callable(state: MemoryState) -> None:
    deploy_with_modules(state, CONTRACT, MODULES)
    result = execute(state, CTX, "c", "not_named_by_the_contract", [], 100_000)
    assert not result.success and "not_named_by_the_contract" in result.error


def test_source_hash_covers_every_module_compiled_in() -> None:
    base = compile_source(CONTRACT, "c", MODULES.get)
    assert base.source_hash != hash_domain(Domain.SOURCE, CONTRACT.encode())
    assert [m.source_hash for m in base.modules] == [
        hash_domain(Domain.SOURCE, MODULES[name].encode()) for name in ("lib.meters", "lib.units")
    ]
    # A change in a module alone (here a comment: same code) changes the contract's source hash.
    edited = {**MODULES, "lib.units": MODULES["lib.units"] + "# reviewed\n"}
    again = compile_source(CONTRACT, "c", edited.get)
    assert again.code == base.code and again.source_hash != base.source_hash
    # Same sources, same bytes and hashes: a regulator rebuilds and compares.
    assert compile_source(CONTRACT, "other-name", dict(MODULES).get) == base


def test_a_contract_without_imports_keeps_the_hash_of_its_text() -> None:
    source = "@public\ndef f() -> int:\n    return 1\n"
    compiled = compile_source(source, "c", MODULES.get)
    assert compiled.source_hash == hash_domain(Domain.SOURCE, source.encode()) and compiled.modules == ()
