"""The route registry on its own: validation, error shape and the generated document of a new route."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Flask
from pydantic import BaseModel, Field

from chatapp.api.responses import json_response
from chatapp.api.schemas import QueryModel, RequestModel
from chatapp.api.spec import ApiRegistry
from chatapp.errors import register_error_handlers


class EchoQuery(QueryModel):
    times: int = Field(1, ge=1, le=3)


class EchoBody(RequestModel):
    word: str = Field(min_length=1)
    tone: Literal["loud", "soft"] | None = None


class Echo(BaseModel):
    words: list[str]


def demo_app() -> tuple[Flask, ApiRegistry]:
    app = Flask(__name__)
    register_error_handlers(app)
    bp = Blueprint("demo", __name__, url_prefix="/api/demo")
    api = ApiRegistry(bp, title="demo", version="0")

    @api.route("/echo/<thing_id>", "POST", query=EchoQuery, body=EchoBody, response=Echo, auth=False, tag="demo")
    def echo(thing_id: str, query: EchoQuery, body: EchoBody):
        """Echo a word.

        Repeats it `times` times.
        """
        return json_response({"words": [f"{thing_id}:{body.word}"] * query.times})

    app.register_blueprint(bp)
    return app, api


def test_a_registered_route_validates_and_calls_the_view():
    app, _ = demo_app()
    client = app.test_client()
    ok = client.post("/api/demo/echo/t1?times=2", json={"word": "hi"})
    assert ok.status_code == 200 and ok.get_json() == {"words": ["t1:hi", "t1:hi"]}
    bad = client.post("/api/demo/echo/t1?times=9", json={"word": "hi"})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "times"
    bad = client.post("/api/demo/echo/t1", json={"word": "hi", "tone": "angry"})
    assert bad.get_json()["error"]["details"]["field"] == "tone"
    bad = client.post("/api/demo/echo/t1", data=b"{oops", content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "body"
    bad = client.post("/api/demo/echo/t1?times=1&times=2", json={"word": "hi"})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "times"
    assert client.post("/api/demo/echo/bad%20id", json={"word": "hi"}).status_code == 404


def test_the_document_comes_from_the_route_and_its_models():
    _, api = demo_app()
    document = api.openapi()
    operation = document["paths"]["/api/demo/echo/{thing_id}"]["post"]
    assert operation["operationId"] == "echo"
    assert operation["summary"] == "Echo a word."
    assert operation["description"] == "Repeats it `times` times."
    assert operation["security"] == []
    assert [p["name"] for p in operation["parameters"]] == ["thing_id", "times"]
    assert operation["requestBody"]["required"] is True
    assert set(operation["responses"]) == {"200", "400", "404", "413", "415", "503"}
    schemas = document["components"]["schemas"]
    assert schemas["EchoBody"]["required"] == ["word"] and schemas["EchoBody"]["additionalProperties"] is False
    assert schemas["EchoBody"] == EchoBody.model_json_schema(ref_template="#/components/schemas/{model}")
    assert schemas["Echo"]["properties"]["words"]["type"] == "array"
