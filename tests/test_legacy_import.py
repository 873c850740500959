"""`flask chat import-legacy` over every seed schema at once, on SQLite and PostgreSQL: a dry run,
then the import; every field checked through the JSON API and the ChatKit adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("chatkit", reason="openai-chatkit is not installed (requirements-chatkit.txt)")
# The SDK warns on loading any stored Card/Text; the samples hold none, the SDK's imports do.
pytestmark = pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")

from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent  # noqa: E402

from chatapp.extensions import db  # noqa: E402
from chatapp.integrations.chatkit import ChatKitStore  # noqa: E402
from chatapp.store.accounts import AccountStore  # noqa: E402
from support.api_client import ApiClient  # noqa: E402
from support.databases import create_pg_database, drop_pg_database  # noqa: E402
from support.legacy_samples import FILLERS, Sample, Thread  # noqa: E402
from support.legacy_schemas import report_rows, table_digest  # noqa: E402

OWNER = "legacy-owner@example.com"


@dataclass
class Context:
    user_id: str


@dataclass
class Runs:
    url: str
    samples: dict[str, Sample]
    dry_run: Any
    first: Any
    second: Any
    counts_before: dict[str, int]
    counts_after_dry_run: dict[str, int]
    digest_before: dict
    digest_after: dict
    owner_id: str


def chatapp_counts(app) -> dict[str, int]:
    result = app.test_cli_runner().invoke(args=["chat", "stats"])
    assert result.exit_code == 0, result.output
    return {name: int(count) for name, count in (line.split(": ") for line in result.output.splitlines())}


@pytest.fixture(scope="module")
def runs(app, tmp_path_factory):
    """A legacy database with every shape; a dry run, the import, and the import once more."""
    with app.app_context():
        backend = db.engine.dialect.name
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('legacy') / 'legacy.db'}"
    else:
        url = create_pg_database("legacy")
    engine = sa.create_engine(url)
    samples = {seed: fill(engine) for seed, fill in FILLERS.items()}
    tables = [table for sample in samples.values() for table in sample.tables]
    digest_before = table_digest(engine, tables)
    with app.app_context():
        owner_id = AccountStore(db.session).create_user(OWNER, "correct horse battery").id
        db.session.remove()
    runner = app.test_cli_runner()
    command = ["chat", "import-legacy", "--from", url, "--owner", OWNER]
    counts_before = chatapp_counts(app)
    dry_run = runner.invoke(args=[*command, "--dry-run"])
    counts_after_dry_run = chatapp_counts(app)
    first = runner.invoke(args=command)
    second = runner.invoke(args=command)
    digest_after = table_digest(engine, tables)
    engine.dispose()
    yield Runs(url, samples, dry_run, first, second, counts_before, counts_after_dry_run, digest_before, digest_after, owner_id)
    if backend == "postgresql":
        drop_pg_database(url)


def expected_counts(samples: dict[str, Sample], *, first_run: bool) -> dict[str, list[int]]:
    counts = {}
    for sample in samples.values():
        threads_table, items_table, *rest = sample.tables
        bad = sample.bad
        items = sum(len(thread.items) for thread in sample.threads)
        attachments = sum(len(thread.attachments) for thread in sample.threads)
        rows = {
            threads_table: (len(sample.threads), len(bad.get(threads_table, ()))),
            items_table: (items, len(bad.get(items_table, ()))),
        }
        if rest:
            rows[rest[0]] = (attachments, len(bad.get(rest[0], ())))
        for table, (good, skipped) in rows.items():
            counts[table] = [good + skipped, good if first_run else 0, 0 if first_run else good, skipped, 0]
    return counts


def test_the_dry_run_writes_nothing_and_reports_what_the_import_does(runs):
    assert runs.dry_run.exit_code == 2, runs.dry_run.output  # 2: some rows were skipped
    assert "dry run: nothing was written" in runs.dry_run.output
    assert runs.counts_after_dry_run == runs.counts_before
    assert report_rows(runs.dry_run.output) == report_rows(runs.first.output)


def test_the_import_counts_every_table(runs):
    assert runs.first.exit_code == 2, runs.first.output
    for seed in ("000/001", "002", "003", "004"):
        assert f"(seed {seed})" in runs.first.output
    assert report_rows(runs.first.output) == expected_counts(runs.samples, first_run=True)
    assert "users (external ids): 4" in runs.first.output  # host-user-1/2/3 and anonymous


def test_running_again_imports_nothing(runs, app):
    assert report_rows(runs.second.output) == expected_counts(runs.samples, first_run=False)
    assert runs.second.exit_code == 2


def test_bad_rows_are_reported_with_their_ids_and_skipped(runs):
    for sample in runs.samples.values():
        for table, ids in sample.bad.items():
            for legacy_id in ids:
                assert f"  {table} {legacy_id}: " in runs.first.stderr, (table, legacy_id)
    assert "content is not valid UTF-8" in runs.first.stderr or runs.url.startswith("postgresql")
    assert "item_json is not valid JSON" in runs.first.stderr
    assert "strings must not contain the NUL character" in runs.first.stderr


def test_the_source_is_left_as_it_was(runs):
    assert runs.digest_after == runs.digest_before


def owner_client(app, runs: Runs, thread: Thread) -> ApiClient:
    """The API as the thread's owner: the --owner account, or the provisioned external user."""
    with app.app_context():
        user_id = runs.owner_id if thread.external_user is None else AccountStore(db.session).ensure_external_user(thread.external_user)
        db.session.remove()
    return ApiClient(app, user_id)


def iso(moment) -> str:
    return moment.isoformat()


@pytest.mark.parametrize("seed", ["000/001", "002", "003", "004"])
def test_every_field_arrives_through_the_json_api(runs, app, seed):
    for thread in runs.samples[seed].threads:
        client = owner_client(app, runs, thread)
        stored = client.get(f"/threads/{thread.thread_id}").get_json()
        assert stored == {
            "id": thread.thread_id,
            "title": thread.title,
            "metadata": thread.metadata,
            "created_at": iso(thread.created_at),
            "updated_at": iso(thread.updated_at),
            "last_seq": len(thread.items),
            "leaf_id": thread.items[-1].item_id if thread.items else None,
        }
        items = client.get(f"/threads/{thread.thread_id}/items", query_string={"limit": 100}).get_json()["data"]
        # One branch, in the legacy order: each item follows the one before it.
        assert [i["parent_id"] for i in items] == ([None, *[i["id"] for i in items[:-1]]] if items else [])
        assert [
            (i["id"], i["seq"], i["type"], i["role"], i["content"], i["metadata"], i["created_at"]) for i in items
        ] == [
            (e.item_id, seq, e.type, e.role, e.content, e.metadata, iso(e.created_at))
            for seq, e in enumerate(thread.items, start=1)
        ]
        for attachment in thread.attachments:
            record = client.get(f"/attachments/{attachment['id']}").get_json()
            assert (record["thread_id"], record["filename"], record["content_type"], record["size"]) == (
                thread.thread_id, attachment["filename"], attachment["content_type"], 0,
            )


@pytest.mark.parametrize("seed", ["000/001", "003"])
async def test_the_chatkit_adapter_sees_imported_threads_as_its_own(runs, app, seed):
    store = ChatKitStore(app)
    for thread in runs.samples[seed].threads:
        context = Context(thread.external_user)
        loaded = await store.load_thread(thread.thread_id, context)
        assert (loaded.id, loaded.title, loaded.created_at) == (thread.thread_id, thread.title, thread.created_at)
        listed = await store.load_threads(100, None, "asc", context)
        assert thread.thread_id in [t.id for t in listed.data]
        page = await store.load_thread_items(thread.thread_id, None, 100, "asc", context)
        assert page.data == [item.chatkit for item in thread.items]
        for item in thread.items:
            assert await store.load_item(thread.thread_id, item.item_id, context) == item.chatkit
        for attachment in thread.attachments:
            assert await store.load_attachment(attachment["id"], context) == attachment["chatkit"]


async def test_chatkit_goes_on_appending_to_an_imported_thread(runs, app):
    thread = runs.samples["003"].threads[0]
    context = Context(thread.external_user)
    store = ChatKitStore(app)
    follow_up = UserMessageItem(
        id="msg_after_import", thread_id=thread.thread_id, created_at=datetime.now(),
        content=[UserMessageTextContent(text="Aur ek sawaal")], inference_options=InferenceOptions(),
    )
    await store.add_thread_item(thread.thread_id, follow_up, context)
    page = await store.load_thread_items(thread.thread_id, None, 100, "asc", context)
    assert page.data == [item.chatkit for item in thread.items] + [follow_up]
    client = owner_client(app, runs, thread)
    items = client.get(f"/threads/{thread.thread_id}/items", query_string={"order": "desc", "limit": 1}).get_json()["data"]
    assert (items[0]["id"], items[0]["seq"]) == ("msg_after_import", len(thread.items) + 1)


def test_imported_history_is_searchable(runs, app):
    thread = runs.samples["004"].threads[0]
    client = owner_client(app, runs, thread)
    hits = client.get("/search", query_string={"q": "समझाइए"}).get_json()["data"]
    assert [(hit["thread_id"], hit["item_id"]) for hit in hits] == [(thread.thread_id, "msg_1")]


def test_another_user_sees_none_of_it(runs, app):
    stranger = ApiClient(app)
    assert stranger.get("/threads").get_json()["data"] == []
    for sample in runs.samples.values():
        for thread in sample.threads:
            assert stranger.get(f"/threads/{thread.thread_id}").status_code == 404
    assert stranger.get("/search", query_string={"q": "ROS"}).get_json()["data"] == []
