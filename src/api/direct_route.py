"""A route whose well-formed requests are answered without FastAPI solving them.

For each request FastAPI reads the content type through ``email.message``, solves the route's
parameters (the query string and cookies included, whether the route reads them or not), its
dependencies and its body, then validates and serializes the answer: beyond the body's
validation and the dependency themselves, about 4 % of a turn's instructions
(docs/benchmarks.md, round eight). ``DirectRoute`` does what FastAPI does for the request a
turn route nearly always gets, a body sent as ``application/json`` that validates, with the
``ModelField`` objects and the dependencies FastAPI built for the route: the body's
validation, the dependencies, the endpoint, the answer's validation and serialization.

Every other request, and every refusal, is FastAPI's: a body that is missing, sent as another
content type, not JSON, or refused by the model goes to FastAPI's handler, which reads the
same request (its body is kept) and words the error as it always has. The dependencies run
after the body is known to be valid, where FastAPI runs them first; that changes nothing a
caller sees, as a dependency that refuses (401) refuses either way, and a request whose body
is invalid is FastAPI's before any dependency has run.

A route declared with it must be within what the direct path does: one body, no path, query,
header or cookie parameters, dependencies of the request alone (those of the routers it is
included in counted), no ``Response`` or ``BackgroundTasks`` parameter, and a
``response_model`` serialized as FastAPI's defaults do. Anything else is refused
(``TypeError``) when FastAPI builds the route's handler: as the route is declared, and again
for each router it is included in, at that inclusion's first request. FastAPI's own
telemetry must stay off, as ``create_app`` sets it: the direct path records none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import HTTPException, ResponseValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute

from src.api.json_body import JsonRequest, JsonRoute, loads

# How FastAPI hands a route the settings of the router it is included in (its dependencies,
# the app as the provider of overrides) while building its handler: APIRoute reads it there.
# It is FastAPI's own, not its API: a release without it gets FastAPI's handler throughout,
# as a route whose including routers are unknown could skip their dependencies.
_including: Any = getattr(routing, "_effective_route_context_var", None)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_JSON = "application/json"


class DirectRoute(JsonRoute):
    """A ``JsonRoute`` whose valid JSON requests skip FastAPI's solving of them."""

    def get_route_handler(self) -> Handler:
        if _including is None:
            return super().get_route_handler()
        context = _including.get()
        route: Any = context if context is not None and context.original_route is self else self
        if refusal := _outside_direct_path(route):
            raise TypeError(f"{route.path}: {refusal}; declare it a JsonRoute")
        fastapi_handler = APIRoute.get_route_handler(self)
        dependant: Dependant = route.dependant
        body_field, response_field = route.body_field, route.response_field
        body_name = dependant.body_params[0].name
        request_name = dependant.request_param_name
        dependencies = [_request_call(d) for d in dependant.dependencies]
        endpoint = dependant.call
        assert endpoint is not None
        overrides = route.dependency_overrides_provider

        async def handler(request: Request) -> Response:
            request = JsonRequest(request.scope, request.receive)
            if request.headers.get("content-type") != _JSON or _overrides_any(overrides):
                return await fastapi_handler(request)
            try:
                body, errors = body_field.validate(loads(await request.body()), loc=("body",))
            except HTTPException:  # a body past the limit, let through as FastAPI does
                raise
            except Exception:  # noqa: BLE001 - not JSON or not readable: FastAPI words it
                return await fastapi_handler(request)
            if errors:
                return await fastapi_handler(request)
            values: dict[str, Any] = {body_name: body}
            if request_name is not None:
                values[request_name] = request
            for name, call, takes in dependencies:
                values[name] = await call(**{takes: request})
            answer = await endpoint(**values)
            if isinstance(answer, Response):
                return answer
            checked, errors = response_field.validate(answer, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer)
            return Response(response_field.serialize_json(checked), media_type=_JSON)

        return handler


def _outside_direct_path(route: Any) -> str | None:
    """What of ``route`` (an ``APIRoute`` or FastAPI's view of it where it is included) the
    direct path does not do, if anything."""
    dependant: Dependant = route.dependant
    body = route.body_field
    if len(dependant.body_params) != 1 or body is None or isinstance(body.field_info, Form):
        return "the direct path takes one JSON body"
    if _parameters(dependant) or not inspect.iscoroutinefunction(dependant.call):
        return "the direct path calls an async endpoint of the body, dependencies and request"
    if not all(_of_request_alone(d) for d in dependant.dependencies):
        return "the direct path's dependencies are async functions of the request alone"
    if (
        route.response_field is None
        or not isinstance(route.response_class, DefaultPlaceholder)
        or route.status_code is not None
        or route.response_model_include is not None
        or route.response_model_exclude is not None
        or not route.response_model_by_alias
        or route.response_model_exclude_unset
        or route.response_model_exclude_defaults
        or route.response_model_exclude_none
    ):
        return "the direct path answers 200 with the whole response model, as FastAPI's defaults"
    return None


def _parameters(dependant: Dependant) -> bool:
    """Whether ``dependant`` takes anything FastAPI solves but a body, the request and
    dependencies."""
    return bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _of_request_alone(dependency: Dependant) -> bool:
    return (
        inspect.iscoroutinefunction(dependency.call)
        and dependency.name is not None
        and dependency.request_param_name is not None
        and dependency.scope is None
        and not dependency.body_params
        and not dependency.dependencies
        and not _parameters(dependency)
    )


def _request_call(dependant: Dependant) -> tuple[str, Callable[..., Any], str]:
    """A checked dependency's parameter name, its function, and its name for the request."""
    assert dependant.call is not None
    return dependant.name or "", dependant.call, dependant.request_param_name or ""


def _overrides_any(provider: Any) -> bool:
    """Whether the app overrides a dependency (FastAPI applies overrides; this path does
    not)."""
    return bool(getattr(provider, "dependency_overrides", None))
