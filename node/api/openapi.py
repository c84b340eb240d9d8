"""The OpenAPI 3.1 document, generated from the route table and its pydantic models.

Nothing here is written by hand per endpoint: each ``Route`` names its request and response
models and its parameters, and the schemas come from ``pydantic``'s JSON Schema generation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from node.api.models import ErrorResponse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: dict[str, Any]
    description: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    response: type[BaseModel] | None = None  # None: not JSON (metrics, WebSocket, this doc)
    request: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    operator: bool = False  # needs the node's API key
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"


def build_document(
    routes: Sequence[Route], title: str, version: str, extra_models: Sequence[type[BaseModel]] = ()
) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorResponse, *extra_models]
    for route in routes:
        for model in (route.request, route.response):
            if model is not None and model not in models:
                models.append(model)
    refs, definitions = models_json_schema(
        [(m, "validation" if any(r.request is m for r in routes) else "serialization") for m in models],
        ref_template=REF_TEMPLATE,
    )
    ref_of = {model: schema for (model, _), schema in refs.items()}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
        if route.params:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required, "description": p.description, "schema": p.schema}
                for p in route.params
            ]
        if route.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[route.request]}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref_of[route.response]}}
        elif route.content_type:
            ok["content"] = {route.content_type: {}}
        responses: dict[str, Any] = {"200": ok}
        statuses = set(route.errors) | ({401} if route.operator else set())
        if route.request is not None:
            statuses |= {400, 413, 415, 422}
        for status in sorted(statuses):
            responses[str(status)] = {
                "description": "what was expected and what was found",
                "content": {"application/json": {"schema": ref_of[ErrorResponse]}},
            }
        operation["responses"] = responses
        if route.operator:
            operation["security"] = [{"apiKey": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
