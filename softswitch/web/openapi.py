"""/api/v1/openapi.json: OpenAPI 3.1 built from the endpoint table and the pydantic models
that validate the requests (softswitch.web.api.Endpoint, softswitch.web.models)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from softswitch.web.api import ENDPOINTS, PREFIX, Endpoint
from softswitch.web.models import ErrorReply

REF = "#/components/schemas/{model}"


def document(endpoints: list[Endpoint]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}

    error = {"description": "error", "content": {"application/json": {
        "schema": ref(ErrorReply)}}}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary, "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower())}"
                           .rstrip("_"),
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"type": "object"}}}}, "4XX": error},
        }
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{(\w+)}", ep.path)]
        params += [{"name": name, "in": "query", "required": False, "description": text,
                    "schema": {"type": "string"}} for name, text in ep.query]
        if ep.query_model is not None:
            schema = ep.query_model.model_json_schema()
            params += [{"name": name, "in": "query", "required": False,
                        "description": (ep.query_model.__doc__ or "").strip(),
                        "schema": prop} for name, prop in schema["properties"].items()]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            extra = ep.body.model_config.get("json_schema_extra")
            examples = extra.get("examples", []) if isinstance(extra, dict) else []
            content: dict[str, Any] = {"schema": ref(ep.body)}
            if isinstance(examples, list) and examples:
                content["examples"] = {f"example{i}": {"value": v}
                                       for i, v in enumerate(examples, 1)}
            op["requestBody"] = {"required": True, "content": {"application/json": content}}
        if ep.public:
            op["security"] = []
        paths.setdefault(PREFIX + ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "softswitch live API", "version": "1",
                 "description": "Queue panels, wallboards and agent operations; the "
                                "websocket /api/v1/ws is described in PROTOCOL.md."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[ENDPOINTS]))
