"""What the compiler refuses, each with the line and column of the offending construct."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm import CompileError, compile_source, verify_code

# (source, expected line, expected column, a fragment of the message)
INVALID = [
    ("import os\n", 1, 1, "only 'from <module> import <names>' is allowed"),
    ("from math import floor\n", 1, 1, "a contract module expected, found no module 'math'"),
    ("from . import floor\n", 1, 1, "found a relative import"),
    ("@public\ndef f():\n    import os\n", 3, 5, "imports are allowed only at module level"),
    ("@public\ndef f():\n    return 1 / 2\n", 3, 12, "div_floor"),
    ("@public\ndef f(x):\n    x /= 2\n", 3, 5, "div_round_half_up"),
    ("@public\ndef f():\n    return 1.5\n", 3, 12, "float literals are not allowed"),
    ("X = 0.5\n", 1, 5, "float literals"),
    ("@public\ndef f():\n    return 1j\n", 3, 12, "found complex"),
    ("@public\ndef f():\n    return eval('1')\n", 3, 12, "eval() is not allowed"),
    ("@public\ndef f():\n    return exec('1')\n", 3, 12, "exec() is not allowed"),
    ("@public\ndef f():\n    return open('x')\n", 3, 12, "open() is not allowed"),
    ("@public\ndef f(x):\n    return getattr(x, 'y')\n", 3, 12, "getattr() is not allowed"),
    ("@public\ndef f():\n    return print(1)\n", 3, 12, "name 'print' is not defined"),
    ("@public\ndef f():\n    return undefined_name\n", 3, 12, "name 'undefined_name' is not defined"),
    ("@public\ndef f(x):\n    return x.__class__\n", 3, 12, "names starting with '__'"),
    ("@public\ndef f():\n    __x = 1\n", 3, 5, "names starting with '__'"),
    ("def __init__():\n    pass\n", 1, 1, "names starting with '__'"),
    ("@public\ndef f(x):\n    return x.real\n", 3, 12, "attribute access is not allowed"),
    ("@public\ndef f(x):\n    return x.copy()\n", 3, 12, "method .copy() is not allowed"),
    ("@public\ndef f(x):\n    x.y = 1\n", 3, 5, "assignment to an attribute"),
    ("class A:\n    pass\n", 1, 1, "classes are not allowed"),
    ("@public\ndef f():\n    g = lambda: 1\n", 3, 9, "lambdas are not allowed"),
    ("@public\ndef f():\n    return [x for x in range(3)]\n", 3, 12, "comprehensions are not allowed"),
    ("@public\ndef f():\n    return {k: 1 for k in 'ab'}\n", 3, 12, "comprehensions"),
    ("@public\ndef f():\n    return {1, 2}\n", 3, 12, "sets are not allowed"),
    ("@public\ndef f():\n    try:\n        pass\n    except Exception:\n        pass\n", 3, 5, "try/except"),
    ("@public\ndef f():\n    with x:\n        pass\n", 3, 5, "with is not allowed"),
    ("X = 1\n@public\ndef f():\n    global X\n", 4, 5, "global/nonlocal"),
    ("@public\ndef f():\n    yield 1\n", 3, 5, "generators"),
    ("async def f():\n    pass\n", 1, 1, "async functions"),
    ("@public\ndef f():\n    assert 1 == 1\n", 3, 5, "use require"),
    ("@public\ndef f():\n    raise ValueError()\n", 3, 5, "use revert"),
    ("@staticmethod\ndef f():\n    pass\n", 1, 2, "decorators other than @public and @view"),
    ("@public\n@view\ndef f():\n    pass\n", 2, 2, "at most one decorator"),
    ("@public\ndef f(*args):\n    pass\n", 2, 1, "only plain parameters"),
    ("@public\ndef f(**kw):\n    pass\n", 2, 1, "only plain parameters"),
    ("@public\ndef f(x=[]):\n    pass\n", 2, 9, "literal default value"),
    ("@public\ndef f(a, a):\n    pass\n", 2, 10, "duplicate parameter 'a'"),
    ("@public\ndef f(x):\n    return f(*x)\n", 3, 14, "star-args"),
    ("@public\ndef f(x):\n    a, *b = x\n", 3, 8, "starred assignment"),
    ("@public\ndef f(x):\n    return x[::2]\n", 3, 14, "slices with a step"),
    ("@public\ndef f(x):\n    x[1:2] = [1]\n", 3, 5, "assignment to a slice"),
    ("@public\ndef f(x):\n    del x\n", 3, 9, "only 'del x[k]'"),
    ("@public\ndef f(x):\n    return x is 1\n", 3, 12, "only with None"),
    ("@public\ndef f(x):\n    return x & 1\n", 3, 12, "operator BitAnd is not allowed"),
    ("@public\ndef f(x):\n    return ~x\n", 3, 12, "bitwise"),
    ("@public\ndef f(x):\n    return f'{x:>10}'\n", 3, 12, "format specs"),
    ("@public\ndef f(x):\n    return f'{x!r}'\n", 3, 12, "conversions"),
    ("@public\ndef f():\n    x = range(3)\n", 3, 9, "range() is allowed only"),
    ("@public\ndef f():\n    return len\n", 3, 12, "functions can only be called"),
    ("@public\ndef f():\n    while True:\n        pass\n    else:\n        pass\n", 3, 5, "while ... else"),
    ("@public\ndef f():\n    for i in range(3):\n        pass\n    else:\n        pass\n", 3, 5, "for ... else"),
    ("@public\ndef f():\n    break\n", 3, 5, "outside a loop"),
    ("@public\ndef f():\n    def g():\n        pass\n", 3, 5, "nested functions"),
    ("X = 1\n@public\ndef f():\n    X = 2\n", 4, 5, "read-only"),
    ("@public\ndef f(x):\n    len = 2\n    return len(x)\n", 4, 12, "'len' is not a function"),
    ("X = 1\n@public\ndef f(X):\n    pass\n", 3, 7, "shadows a module constant"),
    ("@public\ndef f():\n    return g(1, 2)\ndef g(a):\n    return a\n", 3, 12, "at most 1 arguments"),
    ("@public\ndef f():\n    return g()\ndef g(a):\n    return a\n", 3, 12, "argument 'a' missing"),
    ("@public\ndef f():\n    return g(b=1)\ndef g(a):\n    return a\n", 3, 16, "no parameter 'b'"),
    ("@public\ndef f():\n    return len(1, 2)\n", 3, 12, "at most 1 arguments"),
    ("@public\ndef f(x):\n    return x.get()\n", 3, 12, "1 to 2 arguments expected in .get()"),
    ("@public\ndef f():\n    return isinstance(1, float)\n", 3, 26, "a type among"),
    ("@public\ndef f():\n    return (x := 1)\n", 3, 13, "':=' is not allowed"),
    ("@public\ndef f():\n    return 2 ** 300 if False else 0\n", 0, 0, ""),  # fine: runtime check
    ("X = 2 ** 255\n", 1, 5, "int in [-2**255, 2**255)"),
    ("X = 1\nX = 2\n", 2, 1, "defined already"),
    ("def f():\n    pass\ndef f():\n    pass\n", 3, 1, "defined already"),
    ("print('hi')\n", 1, 1, "only constants, imports and functions"),
    ("X = 1\n", 1, 1, "at least one function"),
    ("@public\ndef f(:\n", 2, 7, "invalid syntax"),
    ("@public\ndef f():\n    x: int\n", 3, 5, "needs a value"),
]


@pytest.mark.parametrize(("source", "line", "col", "fragment"), INVALID)
def test_invalid_source_is_rejected_with_position(source: str, line: int, col: int, fragment: str) -> None:
    if not fragment:
        compile_source(source)  # a twin that compiles
        return
    with pytest.raises(CompileError) as info:
        compile_source(source)
    message = str(info.value)
    assert message.startswith(f"line {line}, column {col}: "), message
    assert fragment in message, message


def test_valid_module_forms_compile() -> None:
    source = '''"""Docstring."""
X: int = 5
Y = -X
Z = (X * 2, "a", b"b", None, True, [1, {"k": -1}])


@public
def a(x: int = 0, y: str = "s", z: bytes = b"", w: bool = False, v=None) -> int:
    """A function docstring."""
    return X + Y


@view
def b() -> tuple:
    return Z


def _private_helper() -> None:
    pass
'''
    compiled = compile_source(source)
    assert [(f.name, f.kind, f.params) for f in compiled.functions] == [
        ("a", "public", ("x", "y", "z", "w", "v")),
        ("b", "view", ()),
    ]


def test_compile_error_format() -> None:
    with pytest.raises(CompileError) as info:
        compile_source("@public\ndef f():\n    return 7 / 2\n")
    assert re.fullmatch(r"line 3, column 12: true division .* div_ceil\(a, b\)", str(info.value))


_TOKENS = [
    "@public\n", "@view\n", "def f(", "def g(x", ", y=1", "):\n", "    ", "return ", "x", "y", " + ", " / ",
    " ** ", "1", "1.5", "'s'", "b'b'", "[", "]", "{", "}", "(", ")", ":", ",", " if ", " else ",
    "for i in range(3):\n", "while x:\n", "pass\n", "\n", "import os\n", "lambda: 0", "x.append(1)",
    "x.__class__", "f'{x}'", " and ", " not ", " is None", "del x[0]\n", "storage_set('k', x)",
    "call('c', 'f', [])", "=", "+=", "class A:\n", "try:\n", "*x", "**x", "global x\n", "yield x",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=30))
def test_any_source_compiles_or_raises_compile_error(tokens: list[str]) -> None:
    """Whatever the text, the compiler answers with bytecode that verifies or a CompileError
    with a position; it never crashes with another exception."""
    source = "".join(tokens)
    try:
        compiled = compile_source(source)
    except CompileError as exc:
        assert re.match(r"line \d+, column \d+: ", str(exc)), str(exc)
        return
    verify_code(compiled.code)


# --- imports ----------------------------------------------------------------------------------

LIB = {
    "lib.a": "from lib.b import g\ndef f():\n    return g()\n",
    "lib.b": "from lib.a import f\ndef g():\n    return f()\n",
    "lib.units": "DAY = 86400\ndef pad(n):\n    return str(n)\n",
    "lib.other": "def pad(n):\n    return n\n",
    "lib.bad": "def f():\n    return 1 / 2\n",
    "lib.reexport": "from lib.units import pad\n",
}
INVALID_IMPORTS = [
    (
        "from lib.a import f\n@public\ndef h():\n    return f()\n",
        "module lib.b: line 1, column 1: modules that import each other are not allowed, "
        "found the cycle lib.a -> lib.b -> lib.a",
    ),
    ("from lib.units import missing\n", "line 1, column 1: a function or constant defined in module lib.units expected, found 'missing'"),
    ("from lib.reexport import pad\n", "line 1, column 1: a function or constant defined in module lib.reexport expected, found 'pad'"),
    ("from lib.units import pad as p\n", "an import without 'as' expected"),
    ("from lib.units import *\n", "named imports expected, found 'import *'"),
    ("from lib.units import DAY\nDAY = 1\n", "line 2, column 1: a new name expected, found 'DAY' defined already"),
    ("from lib.units import pad\ndef pad(n):\n    return n\n", "line 2, column 1: a new function name expected, found 'pad' defined already"),
    ("from lib.bad import f\n@public\ndef h():\n    return f()\n", "module lib.bad: line 2, column 12: true division"),
    ("from lib.units import pad\nfrom lib.other import pad\n", "line 2, column 1: a new name expected, found 'pad' defined already"),
    ("from lib.units import pad, DAY\n@public\ndef h():\n    return pad(DAY)\n", ""),  # the twin that compiles
]


@pytest.mark.parametrize(("source", "fragment"), INVALID_IMPORTS)
def test_invalid_imports_are_rejected_with_module_and_position(source: str, fragment: str) -> None:
    if not fragment:
        compile_source(source, "c", LIB.get)
        return
    with pytest.raises(CompileError) as info:
        compile_source(source, "c", LIB.get)
    assert fragment in str(info.value), str(info.value)


def test_invalid_two_modules_giving_the_contract_one_function_name() -> None:
    modules = {**LIB, "lib.user": "from lib.other import pad\ndef use():\n    return pad(1)\n"}
    source = "from lib.units import pad\nfrom lib.user import use\n@public\ndef h():\n    return [pad(1), use()]\n"
    with pytest.raises(CompileError) as info:
        compile_source(source, "c", modules.get)
    assert str(info.value) == (
        "module lib.other: line 1, column 1: function names unique in the contract expected, "
        "found 'pad' also in module lib.units"
    )
