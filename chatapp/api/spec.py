"""The API's route registry: one declaration validates requests and generates the OpenAPI document.

Usage (any module of chatapp/api, e.g. a new `messages.py`; import it in `chatapp/api/__init__.py`):

    from .registry import api
    from .responses import record_response
    from ..store import ItemRecord
    from .schemas import ItemCreate

    @api.route("/threads/<thread_id>/messages", "POST", body=ItemCreate, response=ItemRecord,
               status=201, errors=(409,), tag="items")
    def post_message(user_id: str, thread_id: str, body: ItemCreate):
        \"\"\"Post a message and get the assistant's reply.\"\"\"   # first line: the summary
        record, _ = chat_store().add_item(user_id, thread_id, ...)
        return record_response(record, 201)

What `route` does for each request, before the view runs:
- authenticates the Bearer token (unless `auth=False`) and passes the user id first: 401 JSON
  when it is missing, malformed or revoked;
- answers 404 for a path id that cannot exist (path parameters follow the id pattern);
- validates `query` (query string), `body` (JSON; an empty body counts as `{}`) or `form`
  (multipart) with the given pydantic model and passes the instance as `query=`, `body=` or
  `form=`; a pydantic error becomes 400 `invalid_request` naming the field in `details`.
The view returns a Flask response (see responses.py). The registry documents the operation from
the same models: parameters, request body, the success answer (`response`: a store record
class, `paged=True` for a keyset page of them, or a pydantic model; `response_content` for raw
bytes; nothing for 204; `other_statuses` for further success codes with the same answer; `extra_responses={200: {"description": ..., "content": {...}}}` for
other answers, such as a text/event-stream) and the error answers it can give (401, 400,
404, 413 and 503 as they apply, plus `errors=`). `body_limit="CONFIG_KEY"` caps this route's
body at that setting instead of MAX_CONTENT_LENGTH. `api.openapi()` builds the OpenAPI 3.1 document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, request
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from ..errors import InvalidRequest, NotFound, UnsupportedMediaType
from ..rules import ID_PATTERN, ID_REGEX
from ..store.accounts import TOKEN_PREFIX
from .auth import authenticate
from .schemas import ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
ERROR_DESCRIPTIONS = {
    400: "Invalid request: the `details.field` names the offending field (also any text no database keeps: NUL, lone surrogates, bytes that are not UTF-8).",
    401: "Missing, malformed or revoked API token.",
    404: "No such resource for this user.",
    409: "Conflict with the stored state.",
    413: "Request body or file too large.",
    415: "The body must be JSON (Content-Type: application/json).",
    502: "The assistant backend failed; `details` carries the stored user and assistant items.",
    503: "The database is unavailable; retry after the Retry-After delay.",
    504: "The assistant backend timed out; `details` carries the stored user and assistant items.",
}


@dataclass
class Operation:
    """One documented route: its method, rule, models and answers."""

    method: str
    rule: str
    endpoint: str
    summary: str
    description: str
    tag: str
    status: int
    other_statuses: tuple[int, ...]
    extra_responses: dict[int, dict[str, Any]]
    response: type | None
    response_content: dict[str, Any] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    form: type[BaseModel] | None
    auth: bool
    path_params: list[str] = field(default_factory=list)
    errors: tuple[int, ...] = ()

    @property
    def error_statuses(self) -> list[int]:
        statuses = set(self.errors) | {400, 503}  # 400: any URL may carry text no database keeps
        if self.auth:
            statuses.add(401)
        if self.body or self.form:
            statuses.add(413)
        if self.body:
            statuses.add(415)
        if self.path_params:
            statuses.add(404)
        return sorted(statuses)


def validation_error(exc: ValidationError, default_field: str) -> InvalidRequest:
    """400 invalid_request naming the first offending field, with every error in details."""
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or default_field,
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    first = errors[0]
    return InvalidRequest(f"{first['field']}: {first['message']}", {"field": first["field"], "errors": errors})


# Query parameters that carry credentials: URLs end up in access logs, proxies and browser history.
CREDENTIAL_PARAMETERS = ("access_token", "token", "api_key", "apikey", "key", "auth", "authorization", "bearer")


def refuse_credentials_in_url() -> None:
    """A token in the query string is refused (400), not used: it must not be logged anywhere."""
    for name, value in request.args.items(multi=True):
        if name.lower() in CREDENTIAL_PARAMETERS or value.startswith(TOKEN_PREFIX):
            raise InvalidRequest(
                "Send the API token in the Authorization header (`Authorization: Bearer <token>`), "
                "never in the URL: URLs end up in logs.",
                {"field": name},
            )


def parse_query(model: type[BaseModel]) -> BaseModel:
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise InvalidRequest(f"{repeated[0]}: give this parameter once", {"field": repeated[0]})
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise validation_error(exc, "query") from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=False)
    if raw and not request.is_json:
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: application/json (got {request.mimetype or 'none'})."
        )
    raw = raw or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc, "body") from None


def parse_form(model: type[BaseModel]) -> BaseModel:
    fields: dict[str, Any] = request.form.to_dict()
    fields.update(request.files.to_dict())
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc, "form") from None


class ApiRegistry:
    """Routes of one blueprint, with the models that validate them and document them."""

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        title: str,
        version: str,
        description: str = "",
        header_parameters: tuple[dict[str, Any], ...] = (),
    ):
        self.blueprint = blueprint
        self.title = title
        self.version = version
        self.description = description
        # Request headers every authenticated operation accepts, as OpenAPI parameter objects.
        self.header_parameters = header_parameters
        self.operations: list[Operation] = []
        self._document: dict[str, Any] | None = None

    def route(
        self,
        rule: str,
        method: str = "GET",
        *,
        status: int = 200,
        other_statuses: tuple[int, ...] = (),
        extra_responses: dict[int, dict[str, Any]] | None = None,
        response: type | None = None,
        paged: bool = False,
        response_content: dict[str, Any] | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        form: type[BaseModel] | None = None,
        errors: tuple[int, ...] = (),
        tag: str = "default",
        auth: bool = True,
        body_limit: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register `rule` for `method` on the blueprint, validated and documented (see module doc)."""

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            doc = (fn.__doc__ or "").strip()
            summary, _, description = doc.partition("\n")
            operation = Operation(
                method=method.upper(),
                rule=rule,
                endpoint=fn.__name__,
                summary=summary.strip(),
                description=" ".join(description.split()),
                tag=tag,
                status=status,
                other_statuses=tuple(other_statuses),
                extra_responses=dict(extra_responses or {}),
                response=page_model(response) if paged else response,
                response_content=response_content,
                body=body,
                query=query,
                form=form,
                auth=auth,
                path_params=PATH_PARAM.findall(rule),
                errors=tuple(errors),
            )

            @functools.wraps(fn)
            def view(**path: str) -> Any:
                if request.args:
                    refuse_credentials_in_url()
                args: list[Any] = [authenticate()] if auth else []
                for name, value in path.items():
                    if not ID_PATTERN.match(value):
                        raise NotFound(f"No such {name.removesuffix('_id')}.")
                kwargs: dict[str, Any] = dict(path)
                if body_limit is not None:  # this route's own cap, from that config key
                    request.max_content_length = current_app.config[body_limit]
                if query is not None:
                    kwargs["query"] = parse_query(query)
                if body is not None:
                    kwargs["body"] = parse_body(body)
                if form is not None:
                    kwargs["form"] = parse_form(form)
                return fn(*args, **kwargs)

            self.blueprint.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[operation.method])
            self.operations.append(operation)
            self._document = None
            return fn

        return decorator

    # -- the OpenAPI document ---------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document, built once from the registered operations' models."""
        if self._document is None:
            self._document = self._build()
        return self._document

    def _build(self) -> dict[str, Any]:
        prefix = self.blueprint.url_prefix or ""
        inputs: list[type] = []
        outputs: list[type] = [ErrorResponse]
        for operation in self.operations:
            inputs += [model for model in (operation.body, operation.form) if model is not None]
            if operation.response is not None:
                outputs.append(operation.response)
        keys, top = TypeAdapter.json_schemas(
            [(model, "validation", TypeAdapter(model)) for model in dict.fromkeys(inputs)]
            + [(model, "serialization", TypeAdapter(model)) for model in dict.fromkeys(outputs)],
            ref_template=REF_TEMPLATE,
        )
        keys, schemas = _without_record_suffix(keys, top.get("$defs", {}))

        def ref(model: type, mode: str) -> dict[str, Any]:
            return keys[(model, mode)]

        paths: dict[str, dict[str, Any]] = {}
        for operation in self.operations:
            path = prefix + PATH_PARAM.sub(r"{\1}", operation.rule)
            paths.setdefault(path, {})[operation.method.lower()] = self._operation(operation, ref)
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            # Relative to where the document is served: the same host serves the API.
            "servers": [{"url": "/", "description": "this chatapp server"}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
        }

    def _operation(self, operation: Operation, ref: Callable[[type, str], dict[str, Any]]) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": ID_REGEX},
            }
            for name in operation.path_params
        ]
        if operation.auth:
            parameters += self.header_parameters
        if operation.query is not None:
            schema = operation.query.model_json_schema()
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
                if "description" in prop:
                    parameter["description"] = prop["description"]
                parameters.append(parameter)

        success: dict[str, Any] = {"description": "OK" if operation.status < 300 else "Done"}
        if operation.status == 201:
            success["description"] = "Created"
        if operation.status == 204:
            success["description"] = "No content"
        if operation.response is not None:
            success["content"] = {"application/json": {"schema": ref(operation.response, "serialization")}}
        elif operation.response_content is not None:
            success["content"] = operation.response_content
        responses: dict[str, Any] = {str(status): success for status in (operation.status, *operation.other_statuses)}
        for status, answer in operation.extra_responses.items():
            responses[str(status)] = answer
        error_statuses = operation.error_statuses
        if operation.auth and self.header_parameters:  # a malformed header is a 400
            error_statuses = sorted({*error_statuses, 400})
        for status in error_statuses:
            responses[str(status)] = {
                "description": ERROR_DESCRIPTIONS.get(status, "Error"),
                "content": {"application/json": {"schema": ref(ErrorResponse, "serialization")}},
            }

        document: dict[str, Any] = {
            "operationId": operation.endpoint,
            "summary": operation.summary,
            "tags": [operation.tag],
            "responses": responses,
        }
        if operation.description:
            document["description"] = operation.description
        if parameters:
            document["parameters"] = parameters
        if operation.body is not None:
            body_schema = operation.body.model_json_schema()
            document["requestBody"] = {
                "required": bool(body_schema.get("required")),
                "content": {"application/json": {"schema": ref(operation.body, "validation")}},
            }
        if operation.form is not None:
            document["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": ref(operation.form, "validation")}},
            }
        if not operation.auth:
            document["security"] = []
        return document


_pages: dict[type, type[BaseModel]] = {}


def page_model(record: type) -> type[BaseModel]:
    """The answer model of a keyset page of `record`s, named after it (ItemRecord -> ItemPage)."""
    if record not in _pages:
        name = record.__name__.removesuffix("Record") + "Page"
        _pages[record] = create_model(
            name,
            data=(list[record], ...),  # type: ignore[valid-type]
            has_more=(bool, ...),
            after=(str | None, Field(description="Pass as `after` for the next page; null on the last page.")),
        )
    return _pages[record]


def _without_record_suffix(keys: dict, schemas: dict[str, Any]) -> tuple[dict, dict[str, Any]]:
    """The document names records as the API always has: ItemRecord's schema is "Item"."""
    renames = {name: name.removesuffix("Record") for name in schemas if name.endswith("Record")}
    if not renames:
        return keys, schemas

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rename(item) for item in value]
        if isinstance(value, str) and value.startswith(REF_TEMPLATE.format(model="")):
            name = value.rsplit("/", 1)[1]
            return REF_TEMPLATE.format(model=renames.get(name, name))
        return value

    renamed = {renames.get(name, name): rename(schema) for name, schema in schemas.items()}
    for schema in renamed.values():
        schema.pop("title", None) if schema.get("title", "").endswith("Record") else None
    return rename(keys), renamed
