"""Hostile request input: text no database keeps is refused with 400, and a body over the limit is
413 however it is sent.

Werkzeug reads undecodable bytes leniently (kept percent-encoded in query strings and forms,
replaced by U+FFFD in paths and multipart fields), so text could change silently. chatapp's
request class decodes them as lone surrogates instead (Python's "surrogateescape"), and one
check, run before every view, finds all of it: NUL, lone surrogates, bytes that are not UTF-8,
in the path, the query string and every form field and file name (rules.UNSTORABLE_TEXT).
JSON bodies are the API's: its parser refuses lone surrogates, its models refuse NUL.

A chunked body has no Content-Length; werkzeug stops reading it at MAX_CONTENT_LENGTH without
noticing that more follows, so a form or JSON body over the limit was read truncated (400, or
worse, stored cut short). `CappedBody` looks for one more byte and answers 413.
"""

from __future__ import annotations

import typing as t
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_content_length, get_input_stream

from .errors import UnstorableText
from .rules import UNSTORABLE_TEXT, UNSTORABLE_TEXT_RULE


def as_text(raw: bytes) -> str:
    """UTF-8, with every byte that is not UTF-8 kept as a lone surrogate (found by the check)."""
    return raw.decode("utf-8", "surrogateescape")


def decode_pairs(raw: bytes) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded string (query or body) as (name, value) pairs."""
    pairs = []
    for part in raw.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((as_text(unquote_to_bytes(name.replace(b"+", b" "))), as_text(unquote_to_bytes(value.replace(b"+", b" ")))))
    return pairs


class _BytesKeptMultiPartParser(MultiPartParser):
    def get_part_charset(self, headers: t.Any) -> str:
        return "latin-1"  # every byte kept as one character; re-read as UTF-8 below


class StrictFormDataParser(FormDataParser):
    """Form bodies decoded as UTF-8 with undecodable bytes marked (see as_text), never altered."""

    def _parse_urlencoded(self, stream: t.IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]) -> t.Any:
        return stream, self.cls(decode_pairs(stream.read())), self.cls()

    def _parse_multipart(self, stream: t.IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]) -> t.Any:
        parser = _BytesKeptMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        fields = [(name, as_text(value.encode("latin-1"))) for name, value in form.items(multi=True)]
        return stream, self.cls(fields), files


class CappedBody(LimitedStream):
    """A chunked body read up to MAX_CONTENT_LENGTH: 413 when it goes on past it."""

    def __init__(self, stream: t.IO[bytes], limit: int):
        super().__init__(stream, limit, is_max=True)
        self._source = stream

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._source.read(1):
            raise RequestEntityTooLarge()
        return data


class ChatRequest(Request):
    """Flask's request, with undecodable bytes marked instead of altered, and capped chunked bodies."""

    form_data_parser_class = StrictFormDataParser

    @cached_property
    def args(self) -> MultiDict[str, str]:  # type: ignore[override]
        return self.parameter_storage_class(decode_pairs(self.query_string))

    @cached_property
    def stream(self) -> t.IO[bytes]:  # type: ignore[override]
        environ, limit = self.environ, self.max_content_length
        if limit is not None and get_content_length(environ) is None and "wsgi.input_terminated" in environ:
            return CappedBody(environ["wsgi.input"], limit)
        if self.shallow:
            raise RuntimeError("This request was created with 'shallow=True', reading from the input stream is disabled.")
        return get_input_stream(environ, max_content_length=limit)


def _raw_path() -> str:
    """The path as the client sent it (WSGI passes its bytes as latin-1), re-read as UTF-8."""
    return as_text(request.environ.get("PATH_INFO", "").encode("latin-1", "replace"))


def unstorable_field() -> str | None:
    """The first part of the request holding text no database keeps: "path", a query parameter's
    or form field's name, or a file's field; None when all of it is storable."""
    if UNSTORABLE_TEXT.search(_raw_path()):
        return "path"
    for name, value in request.args.items(multi=True):
        if UNSTORABLE_TEXT.search(name) or UNSTORABLE_TEXT.search(value):
            return name
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True)  # parsed from this copy: a view may still read the body itself
        for name, value in request.form.items(multi=True):
            if UNSTORABLE_TEXT.search(name) or UNSTORABLE_TEXT.search(value):
                return name
        for name, upload in request.files.items(multi=True):
            if UNSTORABLE_TEXT.search(name) or UNSTORABLE_TEXT.search(upload.filename or ""):
                return name
    return None


def refuse_unstorable_text() -> None:
    """Before every view: 400 for text no database keeps, naming where it was."""
    field = unstorable_field()
    if field is not None:
        where = "The address" if field == "path" else f"The field “{_printable(field)}”"
        raise UnstorableText(f"{where} contains {UNSTORABLE_TEXT_RULE}, which cannot be stored.", {"field": _printable(field)})


def _printable(name: str) -> str:
    return UNSTORABLE_TEXT.sub("\ufffd", name)[:100]


def configure_input_checks(app: Flask) -> None:
    """chatapp's request class, and the check before any other hook but the request id's."""
    app.request_class = ChatRequest
    app.before_request_funcs.setdefault(None, []).insert(1, refuse_unstorable_text)
