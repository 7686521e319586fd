"""Thin glue between Flask views, pydantic models and an OpenAPI 3.1 document.

``@operation(bp, "/customers", "GET", query=CustomerQuery, response=CustomerPage)``
registers a view that parses the query string / JSON body into the given models (422 with
the failing field on error), calls the view with them, serialises the returned model, and
records everything the OpenAPI document needs. One decorator, so the document can never
drift from what the code accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, get_args, get_origin

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from hub.errors import problem, pydantic_problem

PUBLIC = "public"


@dataclass
class Operation:
    path: str
    method: str
    endpoint: str
    summary: str
    tags: list[str]
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: str
    roles: tuple[str, ...]
    description: str | None
    errors: tuple[int, ...]
    upload: bool = False
    path_params: list[str] = field(default_factory=list)


REGISTRY: list[Operation] = []


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is list:
        return True
    return any(get_origin(a) is list for a in get_args(annotation))


def _query_dict(model: type[BaseModel]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in request.args:
            continue
        if _is_list(info.annotation):
            values: list[str] = []
            for v in request.args.getlist(key):
                values.extend(p for p in v.split(",") if p)
            data[key] = values
        else:
            data[key] = request.args.get(key)
    return data


MAX_ID = 2**31 - 1


def unstorable_path(value: Any) -> str | None:
    """Where ``value`` (parsed JSON or a query) holds something no database can store.

    Text with NUL characters (PostgreSQL refuses them) or lone surrogates (not UTF-8), and
    non-finite numbers (Python's JSON parser accepts ``NaN``; JSON columns do not). Returns
    the dotted path of the first such value (``custom_fields.note``, ``tags.2``), or None.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isprintable() and _not_utf8(item)):
                return path
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path
        elif isinstance(item, dict):
            for key, sub in item.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and ("\x00" in key or _not_utf8(key)):
                    return where
                stack.append((where, sub))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), sub) for i, sub in enumerate(item))
    return None


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_problem(field: str, where: str) -> Response:
    message = "text may not contain NUL characters or lone surrogates, nor numbers be NaN/Infinity"
    return problem(
        422,
        "validation_failed",
        f"invalid {where}: {field or where}",
        field=field or None,
        detail=[{"field": field, "message": message, "in": where}],
    )


def operation(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    tags: list[str],
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: str = "user",
    roles: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    upload: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view`` on ``bp`` for ``method path`` with validation and documentation.

    The view gets path parameters as keyword arguments, plus ``query=`` and ``body=`` model
    instances when those are declared. It returns a model (or None for 204).
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        endpoint = f"{view.__name__}"

        @wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            if auth != PUBLIC:
                if not current_user.is_authenticated:
                    resp = problem(401, "unauthorized", "log in or send a bearer token")
                    resp.headers["WWW-Authenticate"] = 'Bearer realm="switchboard"'
                    return resp
                if roles and current_user.role != "admin" and current_user.role not in roles:
                    return problem(403, "forbidden", "your role may not do this")
            for name, value in kwargs.items():
                # The document promises ids of 1..2**31-1; anything else names nothing.
                if isinstance(value, int) and not 1 <= value <= MAX_ID:
                    return problem(404, "not_found", f"no such {name.removesuffix('_id')}")
            if query is not None:
                raw_query = _query_dict(query)
                bad = unstorable_path(raw_query)
                if bad is not None:
                    return _unstorable_problem(bad, "query")
                try:
                    kwargs["query"] = query.model_validate(raw_query)
                except ValidationError as exc:
                    return pydantic_problem(exc, "query")
            if body is not None:
                if not request.is_json:
                    return problem(
                        415, "unsupported_media_type", "send the body as application/json"
                    )
                payload = request.get_json(silent=True)
                if payload is None:
                    return problem(400, "bad_json", "the body is not valid JSON")
                bad = unstorable_path(payload)
                if bad is not None:
                    return _unstorable_problem(bad, "body")
                try:
                    kwargs["body"] = body.model_validate(payload)
                except ValidationError as exc:
                    return pydantic_problem(exc, "body")
            result = view(**kwargs)
            if result is None:
                return Response(status=204)
            if isinstance(result, Response):
                return result
            out = jsonify(result.model_dump(mode="json"))
            out.status_code = status
            return out

        rule = path
        bp.add_url_rule(rule, endpoint=endpoint, view_func=wrapped, methods=[method])
        params = [seg[1:-1].split(":")[-1] for seg in path.split("/") if seg.startswith("<")]
        REGISTRY.append(
            Operation(
                path=(bp.url_prefix or "") + path,
                method=method.lower(),
                endpoint=f"{bp.name}.{endpoint}",
                summary=summary,
                tags=tags,
                query=query,
                body=body,
                response=response,
                status=status,
                auth=auth,
                roles=roles,
                description=(view.__doc__ or "").strip() or None,
                errors=errors,
                upload=upload,
                path_params=params,
            )
        )
        return wrapped

    return decorator


_PROBLEM = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": "string"},
        "detail": {},
    },
    "required": ["error", "message"],
}
_STATUS_TEXT = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    415: "Not JSON",
    422: "Invalid input",
}


def _openapi_path(path: str) -> str:
    out = []
    for seg in path.split("/"):
        if seg.startswith("<") and seg.endswith(">"):
            seg = "{" + seg[1:-1].split(":")[-1] + "}"
        out.append(seg)
    return "/".join(out)


def build_openapi(title: str, version: str, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document for every registered operation."""
    models: set[type[BaseModel]] = set()
    for op in REGISTRY:
        for m in (op.body, op.response):
            if m is not None:
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, defs = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}"
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = _PROBLEM
    paths: dict[str, dict[str, Any]] = {}
    for op in REGISTRY:
        item: dict[str, Any] = {
            "operationId": op.endpoint.replace(".", "_"),
            "summary": op.summary,
            "tags": op.tags,
            "parameters": [],
            "responses": {},
        }
        if op.description:
            item["description"] = op.description
        for name in op.path_params:
            item["parameters"].append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                }
            )
        if op.query is not None:
            qschema = op.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for pname, pschema in qschema.get("properties", {}).items():
                param: dict[str, Any] = {
                    "name": pname,
                    "in": "query",
                    "required": pname in required,
                    "schema": pschema,
                }
                if pschema.get("type") == "array" or (
                    "anyOf" in pschema and any(s.get("type") == "array" for s in pschema["anyOf"])
                ):
                    param["style"] = "form"
                    param["explode"] = True
                item["parameters"].append(param)
        if op.body is not None:
            ref = refs[(op.body, "validation")]
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        if op.upload:
            item["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "category": {"type": "string"},
                                "keywords": {"type": "string"},
                            },
                            "required": ["file"],
                        }
                    }
                },
            }
        if op.response is not None:
            ref = refs[(op.response, "validation")]
            item["responses"][str(op.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": ref}},
            }
        else:
            item["responses"][str(op.status)] = {"description": "Done"}
        codes = set(op.errors)
        if op.query is not None or op.body is not None:
            codes.add(422)
        if op.body is not None:
            codes.update((400, 415))
        if op.path_params:
            codes.add(404)
        if op.auth != PUBLIC:
            codes.add(401)
            item["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
        if op.roles:
            codes.add(403)
        for code in sorted(codes):
            item["responses"][str(code)] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        if op.auth == PUBLIC:
            item["security"] = []
        paths.setdefault(_openapi_path(op.path), {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Switchboard REST API. Authenticate with `Authorization: "
            "Bearer <token>` (create one with `switchboard token create`).",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
