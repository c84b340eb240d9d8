"""Meter adapters: real meter protocols -> normalized ``Reading`` -> signed transactions.

See docs/meter-adapters.md. The protocol modules are imported where they are used; this
package re-exports only the record every adapter yields.
"""

from meter_adapters.reading import Reading, to_base_unit

__all__ = ["Reading", "to_base_unit"]
