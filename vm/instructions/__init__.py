"""The definition of every instruction: one small function per opcode, saying what it pops
and pushes (``# STACK``), what it costs (``# GAS``) and what it does (``# OPERATION``).

These are the VM's semantics. ``vm.reference`` runs them in a plain loop; ``vm.translator``
turns each function of a program into Python that must behave exactly as these do (same
results, gas, writes, events and errors), which tests/vm/test_reference.py checks.

Every instruction costs ``gas.INSTRUCTION`` plus its ``OpInfo.static_gas`` (and PER_ITEM per
item for BUILD_* and UNPACK); the loader adds these up per basic block and the block's GAS
instruction charges them once. ``# GAS: static only`` means nothing more is charged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from vm import opcodes as o
from vm.frame import Frame
from vm.instructions import arithmetic, calls, comparison, containers, control_flow, stack

Instruction = Callable[[Frame, int], None]

INSTRUCTIONS: Final[dict[int, Instruction]] = {
    o.GAS: control_flow.charge_block,
    o.LOAD_CONST: stack.load_const,
    o.LOAD_LOCAL: stack.load_local,
    o.STORE_LOCAL: stack.store_local,
    o.POP: stack.pop_top,
    o.DUP: stack.dup,
    o.DUP2: stack.dup2,
    o.ROT2: stack.rot2,
    o.ROT3: stack.rot3,
    o.ADD: arithmetic.add,
    o.SUB: arithmetic.subtract,
    o.MUL: arithmetic.multiply,
    o.FLOORDIV: arithmetic.floor_divide,
    o.MOD: arithmetic.modulo,
    o.POW: arithmetic.power_of,
    o.NEG: arithmetic.negate,
    o.POS: arithmetic.plus,
    o.EQ: comparison.equal,
    o.NE: comparison.not_equal,
    o.LT: comparison.less,
    o.LE: comparison.less_equal,
    o.GT: comparison.greater,
    o.GE: comparison.greater_equal,
    o.IN: comparison.is_in,
    o.NOT_IN: comparison.not_in,
    o.IS_NONE: comparison.is_none,
    o.IS_NOT_NONE: comparison.is_not_none,
    o.NOT: comparison.logical_not,
    o.ISINSTANCE: comparison.is_instance,
    o.JUMP: control_flow.jump,
    o.JUMP_IF_FALSE: control_flow.jump_if_false,
    o.JUMP_IF_TRUE: control_flow.jump_if_true,
    o.JUMP_IF_FALSE_OR_POP: control_flow.jump_if_false_or_pop,
    o.JUMP_IF_TRUE_OR_POP: control_flow.jump_if_true_or_pop,
    o.GET_ITER: control_flow.get_iter,
    o.RANGE_ITER: control_flow.range_of,
    o.FOR_ITER: control_flow.for_iter,
    o.RETURN: control_flow.return_value,
    o.BUILD_LIST: containers.build_list,
    o.BUILD_TUPLE: containers.build_tuple,
    o.BUILD_DICT: containers.build_dict_of,
    o.BUILD_STRING: containers.build_string,
    o.FORMAT_VALUE: containers.format_value,
    o.SUBSCR: containers.subscript,
    o.STORE_SUBSCR: containers.store_subscript,
    o.DELETE_SUBSCR: containers.delete_subscript,
    o.SLICE: containers.slice_,
    o.UNPACK: containers.unpack,
    o.CALL: calls.call_function,
    o.CALL_BUILTIN: calls.call_builtin,
    o.CALL_METHOD: calls.call_method_of,
}
