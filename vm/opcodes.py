"""The instruction set: opcode numbers, their argument kinds and their stack effects.

An instruction is three bytes: the opcode and a 16-bit little-endian argument. The numbers
are part of the bytecode format (version 1) and never change meaning once deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final


class Arg(Enum):
    """What an instruction's argument means (the verifier checks each kind's range)."""

    NONE = "none"
    CONST = "const"  # index into the program's constant table
    LOCAL = "local"  # index of a local slot of the function
    JUMP = "jump"  # instruction index inside the function
    COUNT = "count"  # number of items
    FUNC = "func"  # index into the program's function table
    BUILTIN = "builtin"  # builtin id << 8 | argument count
    METHOD = "method"  # method id << 8 | argument count (receiver not counted)
    FLAGS = "flags"  # SLICE: bit 0 lower bound present, bit 1 upper bound present
    TYPES = "types"  # ISINSTANCE: bit mask of type codes


@dataclass(frozen=True, slots=True)
class OpInfo:
    code: int
    name: str
    arg: Arg
    pops: int  # fixed pops; ops whose effect depends on the argument compute it (stack_effect)
    pushes: int
    static_gas: int = 0  # gas beyond the 1 every instruction costs, known from the code alone


GAS: Final = 0  # internal only: inserted by the loader at each basic block, never in bytecode
LOAD_CONST: Final = 1
LOAD_LOCAL: Final = 2
STORE_LOCAL: Final = 3
POP: Final = 4
DUP: Final = 5
DUP2: Final = 6
ROT2: Final = 7
ROT3: Final = 8
ADD: Final = 10
SUB: Final = 11
MUL: Final = 12
FLOORDIV: Final = 13
MOD: Final = 14
POW: Final = 15
EQ: Final = 20
NE: Final = 21
LT: Final = 22
LE: Final = 23
GT: Final = 24
GE: Final = 25
IN: Final = 26
NOT_IN: Final = 27
IS_NONE: Final = 28
IS_NOT_NONE: Final = 29
NEG: Final = 30
POS: Final = 31
NOT: Final = 32
JUMP: Final = 40
JUMP_IF_FALSE: Final = 41
JUMP_IF_TRUE: Final = 42
JUMP_IF_FALSE_OR_POP: Final = 43
JUMP_IF_TRUE_OR_POP: Final = 44
GET_ITER: Final = 45
RANGE_ITER: Final = 46
FOR_ITER: Final = 47
BUILD_LIST: Final = 50
BUILD_TUPLE: Final = 51
BUILD_DICT: Final = 52
BUILD_STRING: Final = 53
FORMAT_VALUE: Final = 54
SUBSCR: Final = 55
STORE_SUBSCR: Final = 56
DELETE_SUBSCR: Final = 57
SLICE: Final = 58
UNPACK: Final = 59
CALL: Final = 60
CALL_BUILTIN: Final = 61
CALL_METHOD: Final = 62
RETURN: Final = 63
ISINSTANCE: Final = 64

_A = Arg
OPS: Final[dict[int, OpInfo]] = {
    info.code: info
    for info in [
        OpInfo(LOAD_CONST, "LOAD_CONST", _A.CONST, 0, 1),
        OpInfo(LOAD_LOCAL, "LOAD_LOCAL", _A.LOCAL, 0, 1),
        OpInfo(STORE_LOCAL, "STORE_LOCAL", _A.LOCAL, 1, 0),
        OpInfo(POP, "POP", _A.NONE, 1, 0),
        OpInfo(DUP, "DUP", _A.NONE, 1, 2),
        OpInfo(DUP2, "DUP2", _A.NONE, 2, 4),
        OpInfo(ROT2, "ROT2", _A.NONE, 2, 2),
        OpInfo(ROT3, "ROT3", _A.NONE, 3, 3),
        OpInfo(ADD, "ADD", _A.NONE, 2, 1),
        OpInfo(SUB, "SUB", _A.NONE, 2, 1),
        OpInfo(MUL, "MUL", _A.NONE, 2, 1),
        OpInfo(FLOORDIV, "FLOORDIV", _A.NONE, 2, 1),
        OpInfo(MOD, "MOD", _A.NONE, 2, 1),
        OpInfo(POW, "POW", _A.NONE, 2, 1, 4),
        OpInfo(EQ, "EQ", _A.NONE, 2, 1),
        OpInfo(NE, "NE", _A.NONE, 2, 1),
        OpInfo(LT, "LT", _A.NONE, 2, 1),
        OpInfo(LE, "LE", _A.NONE, 2, 1),
        OpInfo(GT, "GT", _A.NONE, 2, 1),
        OpInfo(GE, "GE", _A.NONE, 2, 1),
        OpInfo(IN, "IN", _A.NONE, 2, 1),
        OpInfo(NOT_IN, "NOT_IN", _A.NONE, 2, 1),
        OpInfo(IS_NONE, "IS_NONE", _A.NONE, 1, 1),
        OpInfo(IS_NOT_NONE, "IS_NOT_NONE", _A.NONE, 1, 1),
        OpInfo(NEG, "NEG", _A.NONE, 1, 1),
        OpInfo(POS, "POS", _A.NONE, 1, 1),
        OpInfo(NOT, "NOT", _A.NONE, 1, 1),
        OpInfo(JUMP, "JUMP", _A.JUMP, 0, 0),
        OpInfo(JUMP_IF_FALSE, "JUMP_IF_FALSE", _A.JUMP, 1, 0),
        OpInfo(JUMP_IF_TRUE, "JUMP_IF_TRUE", _A.JUMP, 1, 0),
        # *_OR_POP keep the value when they jump and pop it when they fall through.
        OpInfo(JUMP_IF_FALSE_OR_POP, "JUMP_IF_FALSE_OR_POP", _A.JUMP, 1, 0),
        OpInfo(JUMP_IF_TRUE_OR_POP, "JUMP_IF_TRUE_OR_POP", _A.JUMP, 1, 0),
        OpInfo(GET_ITER, "GET_ITER", _A.NONE, 1, 1),
        OpInfo(RANGE_ITER, "RANGE_ITER", _A.COUNT, 0, 1),
        # FOR_ITER pushes the next item, or pops the iterator and jumps when exhausted.
        OpInfo(FOR_ITER, "FOR_ITER", _A.JUMP, 1, 2),
        OpInfo(BUILD_LIST, "BUILD_LIST", _A.COUNT, 0, 1),
        OpInfo(BUILD_TUPLE, "BUILD_TUPLE", _A.COUNT, 0, 1),
        OpInfo(BUILD_DICT, "BUILD_DICT", _A.COUNT, 0, 1),
        OpInfo(BUILD_STRING, "BUILD_STRING", _A.COUNT, 0, 1),
        OpInfo(FORMAT_VALUE, "FORMAT_VALUE", _A.NONE, 1, 1),
        OpInfo(SUBSCR, "SUBSCR", _A.NONE, 2, 1),
        OpInfo(STORE_SUBSCR, "STORE_SUBSCR", _A.NONE, 3, 0),
        OpInfo(DELETE_SUBSCR, "DELETE_SUBSCR", _A.NONE, 2, 0),
        OpInfo(SLICE, "SLICE", _A.FLAGS, 1, 1),
        OpInfo(UNPACK, "UNPACK", _A.COUNT, 1, 0),
        OpInfo(CALL, "CALL", _A.FUNC, 0, 1, 10),
        OpInfo(CALL_BUILTIN, "CALL_BUILTIN", _A.BUILTIN, 0, 1, 2),
        OpInfo(CALL_METHOD, "CALL_METHOD", _A.METHOD, 1, 1, 2),
        OpInfo(RETURN, "RETURN", _A.NONE, 1, 0),
        OpInfo(ISINSTANCE, "ISINSTANCE", _A.TYPES, 1, 1),
    ]
}

# Instructions after which control does not simply fall through to the next one.
JUMPS: Final = frozenset(
    {JUMP, JUMP_IF_FALSE, JUMP_IF_TRUE, JUMP_IF_FALSE_OR_POP, JUMP_IF_TRUE_OR_POP, FOR_ITER}
)

# ISINSTANCE type codes (bit positions of the mask).
TYPE_CODES: Final = ("int", "bool", "str", "bytes", "list", "dict", "tuple", "None")


def count_arg(op: int, arg: int) -> int:
    """How many stack items an argument-dependent instruction pops."""
    if op == BUILD_DICT:
        return 2 * arg
    if op == SLICE:
        return 1 + (arg & 1) + ((arg >> 1) & 1)
    return arg
