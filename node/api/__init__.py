"""The node's HTTP API: ``make_app`` over an ``ApiContext`` (see ``node.api.app``)."""

from node.api.app import ApiContext, StandaloneNode, make_app, publish_block

__all__ = ["ApiContext", "StandaloneNode", "make_app", "publish_block"]
