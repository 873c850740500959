"""The OpenAPI document drives a generated client: openapi-python-client builds one from the served
document, and one call per operation goes through it against chatapp under gunicorn."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from support.servers import BIN, served_on_postgres

PACKAGE = "chatapp_client"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_on_postgres(str(tmp_path_factory.mktemp("openapi-client"))) as running:
        yield running["base"], running["token"]


@pytest.fixture(scope="module")
def client_package(served, tmp_path_factory):
    """The client openapi-python-client generates from the served document, imported."""
    base, _ = served
    root = tmp_path_factory.mktemp("generated")
    spec = root / "openapi.json"
    with urllib.request.urlopen(base + "/api/v1/openapi.json") as response:
        spec.write_bytes(response.read())
    config = root / "config.yaml"
    config.write_text(f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n")
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(root / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr  # nothing skipped
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def operation(package, tag: str, name: str):
    return importlib.import_module(f"{package.__name__}.api.{tag}.{name}")


def models(package):
    return importlib.import_module(f"{package.__name__}.models")


def test_one_call_per_operation_through_the_generated_client(served, client_package):
    base, token = served
    pkg, m = client_package, models(client_package)
    with pkg.AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True) as client:
        call = lambda tag, name, **kwargs: operation(pkg, tag, name).sync_detailed(client=client, **kwargs)  # noqa: E731

        created = call("threads", "create_thread", body=m.ThreadCreate(title="generated"))
        assert created.status_code == 201
        thread_id = created.parsed.id
        assert call("threads", "get_thread", thread_id=thread_id).parsed.title == "generated"
        listed = call("threads", "list_threads")
        assert thread_id in [thread.id for thread in listed.parsed.data]
        updated = call("threads", "update_thread", thread_id=thread_id, body=m.ThreadUpdate(title="renamed"))
        assert updated.parsed.title == "renamed"

        item = call("items", "create_item", thread_id=thread_id, body=m.ItemCreate(role=m.ItemCreateRoleType0.USER, content="hello"))
        assert item.status_code == 201 and item.parsed.seq == 1
        item_id = item.parsed.id
        assert call("items", "get_item", thread_id=thread_id, item_id=item_id).parsed.content == "hello"
        page = call("items", "list_items", thread_id=thread_id)
        assert [i.id for i in page.parsed.data] == [item_id] and page.parsed.has_more is False
        changed = call("items", "update_item", thread_id=thread_id, item_id=item_id, body=m.ItemUpdate(content="hi again"))
        assert changed.parsed.content == "hi again"

        reply = call("messages", "post_message", thread_id=thread_id, body=m.MessageCreate(content="Tell me something"))
        assert reply.status_code == 201
        assert reply.parsed.user.content == "Tell me something" and reply.parsed.assistant.role == "assistant"
        streamed = call("messages", "post_message", thread_id=thread_id, body=m.MessageCreate(content="Stream it", stream=True))
        assert streamed.status_code == 200 and isinstance(streamed.parsed, str)
        events = [block.split("\n", 1) for block in streamed.parsed.strip().split("\n\n")]
        assert [name for name, _ in events][0] == "event: user" and events[-1][0] == "event: assistant"
        assert json.loads(events[-1][1].removeprefix("data: "))["role"] == "assistant"

        upload = call(
            "attachments", "upload_attachment",
            body=m.AttachmentUpload(file=pkg.types.File(payload=io.BytesIO(b"%PDF-1.4"), file_name="a.pdf", mime_type="application/pdf"), thread_id=thread_id),
        )
        assert upload.status_code == 201
        attachment_id = upload.parsed.id
        assert call("attachments", "get_attachment", attachment_id=attachment_id).parsed.filename == "a.pdf"
        content = call("attachments", "get_attachment_content", attachment_id=attachment_id)
        assert content.status_code == 200 and content.parsed.payload.read() == b"%PDF-1.4"
        assert call("attachments", "delete_attachment", attachment_id=attachment_id).status_code == 204

        hits = call("search", "search", q="again")
        assert [hit.item_id for hit in hits.parsed.data] == [item_id] and "<mark>again</mark>" in hits.parsed.data[0].snippet
        exported = call("transfer", "export_thread", thread_id=thread_id)
        assert exported.status_code == 200 and item_id in [i.id for i in exported.parsed.items]
        imported = call("transfer", "import_thread", body=exported.parsed)  # the document goes back as it came
        assert imported.status_code == 201 and imported.parsed.items == len(exported.parsed.items)
        everything = call("transfer", "export_everything")
        names = zipfile.ZipFile(everything.parsed.payload).namelist()
        assert f"{thread_id}.json" in names and f"{imported.parsed.thread.id}.json" in names

        assert call("items", "delete_item", thread_id=thread_id, item_id=item_id).status_code == 204
        assert call("threads", "delete_thread", thread_id=thread_id).status_code == 204
        missing = call("threads", "get_thread", thread_id=thread_id)
        assert missing.status_code == 404 and missing.parsed.error.code == "not_found"


def test_every_operation_of_the_document_was_generated(served, client_package):
    base, _ = served
    with urllib.request.urlopen(base + "/api/v1/openapi.json") as response:
        document = json.load(response)
    generated = {
        path.stem for path in Path(client_package.__file__).parent.joinpath("api").rglob("*.py") if path.stem != "__init__"
    }
    documented = {op["operationId"] for methods in document["paths"].values() for op in methods.values()}
    assert documented <= generated, documented - generated
