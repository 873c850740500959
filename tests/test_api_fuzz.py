"""Property-based fuzzing of the JSON API against its own generated OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests, valid ones and invalid ones, with a
real token, on random ids and on ids that exist; no answer may be a 5xx or disagree with the spec
(status code, content type, headers, body schema), and invalid requests must be refused.
Generation is derandomized so that CI runs are repeatable.
"""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance, response_schema_conformance

from support.api_client import ApiClient

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def owner(app) -> ApiClient:
    return ApiClient(app)


def existing_ids(owner: ApiClient) -> dict[str, str]:
    """A thread with an item and an attachment, so generated requests can reach real rows."""
    thread_id = owner.new_thread(title="fuzz")["id"]
    item_id = owner.new_item(thread_id, "fuzz me")["id"]
    data = {"file": (io.BytesIO(b"fuzz"), "f.txt", "text/plain"), "thread_id": thread_id}
    attachment_id = owner.post("/attachments", data=data, content_type="multipart/form-data").get_json()["id"]
    return {"thread_id": thread_id, "item_id": item_id, "attachment_id": attachment_id}


def fuzz(operation, mode: GenerationMode, headers: dict[str, str], path_parameters=None) -> None:
    """Run MAX_EXAMPLES generated requests through one operation; raises on the first failure."""

    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        # A schema-valid request may still be refused by design (an unknown `after` cursor, a
        # message over MAX_MESSAGE_CHARS), so "valid data is accepted" is not checked.
        excluded = [positive_data_acceptance]
        if case.operation.path.endswith(("/messages", "/replies")):
            # The text/event-stream answer is documented as a string with the event grammar in
            # its description (what generated clients need); schemathesis would read that schema
            # as each event's. tests/test_assistant_replies.py checks those events and bodies.
            excluded.append(response_schema_conformance)
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_answers_match_the_spec(app, owner, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        ids = existing_ids(owner)
        names = {parameter.name for parameter in operation.path_parameters}
        runs = [None, {name: ids[name] for name in names}] if names else [None]
        for path_parameters in runs:
            try:
                fuzz(operation, mode, owner.headers, path_parameters)
            except Exception as exc:  # collected so one report covers every operation
                failures.append(f"{operation.label} ({mode}, ids={path_parameters}):\n{exc}")
    assert operations >= 14
    assert not failures, "\n\n".join(failures)
