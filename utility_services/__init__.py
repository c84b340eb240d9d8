"""Services a utility runs beside its node, which hold the utility's secrets and records.

STS vending (``sts_vending``) holds the vending key and the store of issued token
identifiers: it is neither a meter protocol (``meter_adapters/`` keeps the protocols and
the token codec it builds on) nor a consumer's wallet. It needs that codec, so it sits
above ``meter_adapters/`` in the layers: the last layer before the command line.
"""
