"""meterchain's deterministic contract VM: compiler, bytecode verifier, interpreter, gas.

The language is docs/contract-language.md; the architecture is docs/vm.md.
"""

from vm.bytecode import FunctionInfo, InvalidBytecode, Program, verify_code
from vm.compiler import CompiledContract, CompileError, compile_source
from vm.errors import VMError
from vm.interpreter import CallContext, ExecutionResult, execute

__all__ = [
    "CallContext",
    "CompileError",
    "CompiledContract",
    "ExecutionResult",
    "FunctionInfo",
    "InvalidBytecode",
    "Program",
    "VMError",
    "compile_source",
    "execute",
    "verify_code",
]
