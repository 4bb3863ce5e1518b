"""OpenAPI 3 document generated from the marshmallow schemas with apispec.

Views declare their operation with `@documented(...)`; the document is built
once, at start-up, from the routes the app actually has, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from chatd import __version__

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__chatd_openapi__"


class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field_errors = fields.Dict(keys=fields.String(), data_key="fields")


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


def documented(
    *,
    summary: str,
    tags: tuple[str, ...],
    responses: Mapping[int, tuple[str, type[Schema] | None]],
    body: type[Schema] | None = None,
    form: type[Schema] | None = None,
    query: type[Schema] | None = None,
    public: bool = False,
) -> Callable[[F], F]:
    """Attach an OpenAPI operation to a view; `public` = no bearer token needed.

    `body` is a JSON request body; `form` a multipart/form-data one (uploads).
    """

    def attach(view: F) -> F:
        operation: dict[str, Any] = {"summary": summary, "tags": list(tags), "responses": {}}
        if view.__doc__:
            operation["description"] = view.__doc__.strip()
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        if form is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": form}},
            }
        if query is not None:
            operation["parameters"] = [{"in": "query", "schema": query}]
        for status, (description, schema) in responses.items():
            response: dict[str, Any] = {"description": description}
            if schema is not None:
                response["content"] = {"application/json": {"schema": schema}}
            elif status >= 400:
                response["content"] = {"application/json": {"schema": ErrorSchema}}
            operation["responses"][str(status)] = response
        # Any endpoint can meet a backend outage (chatd.api.errors answers it).
        operation["responses"].setdefault(
            "503",
            {
                "description": "A backend the call needs is down; retry after Retry-After",
                "content": {"application/json": {"schema": ErrorSchema}},
            },
        )
        operation["security"] = [] if public else [{"bearer": []}]
        setattr(view, _ATTRIBUTE, operation)
        return view

    return attach


def build_spec(app: web.Application) -> dict[str, Any]:
    spec = APISpec(
        title="chatd",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "REST API of chatd. Real-time frames are in docs/protocol.md."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        operation = getattr(route.handler, _ATTRIBUTE, None)
        resource = route.resource
        if operation is None or resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        paths.setdefault(path, {})[route.method.lower()] = operation
    for path, operations in sorted(paths.items()):
        parameters = [
            {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
            for name in _path_params(path)
        ]
        spec.path(path=path, operations=operations, parameters=parameters or None)
    return spec.to_dict()


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
