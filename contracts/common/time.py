"""Units of time the contracts count in (block time is Unix seconds, UTC).

A contract module (docs/contract-language.md, "Modules").
"""

SECONDS_PER_DAY = 86400
