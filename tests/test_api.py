"""The JSON API v1 on SQLite and PostgreSQL: auth, threads, items, errors, pagination, the spec."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter

from chatapp.api.auth import TokenCache
from chatapp.api.spec import page_model
from chatapp.extensions import db
from chatapp.store import ItemRecord, ThreadRecord
from chatapp.store.accounts import AccountStore
from support.api_client import ApiClient, assert_error
from support.databases import make_app

# The documented answers: the store's records, and keyset pages of them.
Item, Thread = TypeAdapter(ItemRecord), TypeAdapter(ThreadRecord)
ItemPage, ThreadPage = TypeAdapter(page_model(ItemRecord)), TypeAdapter(page_model(ThreadRecord))

APP_CONFIG = {"MAX_MESSAGE_CHARS": 1000, "MAX_CONTENT_LENGTH": 64 * 1024}


@pytest.fixture(scope="module")
def alice(app) -> ApiClient:
    return ApiClient(app)


@pytest.fixture(scope="module")
def bob(app) -> ApiClient:
    return ApiClient(app)


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token chat_abc", "Bearer chat_unknown", "Bearer not-a-token"],
)
def test_missing_malformed_or_unknown_token_is_401_json(app, header):
    headers = {} if header is None else {"Authorization": header}
    response = app.test_client().get("/api/v1/threads", headers=headers)
    assert_error(response, 401, "unauthorized")


def test_revoked_token_stops_working_within_the_cache_ttl(app, alice):
    with app.app_context():
        record, token = AccountStore(db.session).create_token(alice.user_id, "to revoke")
        db.session.remove()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/v1/threads", headers=headers).status_code == 200
    with app.app_context():
        AccountStore(db.session).revoke_token(alice.user_id, record.id)
        db.session.remove()
    # This process looked the token up a moment ago: it may keep trusting it for the TTL.
    assert client.get("/api/v1/threads", headers=headers).status_code == 200
    # A process without the cache (API_TOKEN_CACHE_SECONDS=0) refuses it at once.
    uncached = make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path, API_TOKEN_CACHE_SECONDS=0)
    try:
        assert_error(uncached.test_client().get("/api/v1/threads", headers=headers), 401, "unauthorized")
        live = {"Authorization": f"Bearer {alice.token}"}
        assert uncached.test_client().get("/api/v1/threads", headers=live).status_code == 200
    finally:
        with uncached.app_context():
            db.session.remove()
            db.engine.dispose()


def test_token_cache_expires_entries_after_the_ttl():
    now = [100.0]
    cache = TokenCache(10, max_entries=2, clock=lambda: now[0])
    cache.put("h1", "usr_1")
    assert cache.get("h1") == "usr_1"
    now[0] = 109.9
    assert cache.get("h1") == "usr_1"
    now[0] = 110.0
    assert cache.get("h1") is None
    cache.put("h2", "usr_2")
    cache.put("h3", "usr_3")
    cache.put("h4", "usr_4")  # full: the cache starts over rather than growing
    assert cache.get("h2") is None and cache.get("h4") == "usr_4"
    disabled = TokenCache(0)
    disabled.put("h1", "usr_1")
    assert disabled.get("h1") is None


def test_cookie_session_does_not_authenticate_the_api(app, alice):
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = alice.user_id
        session["_user_id"] = alice.user_id
    assert_error(client.get("/api/v1/threads"), 401, "unauthorized")


# -- threads ---------------------------------------------------------------------------------


def test_thread_lifecycle(alice):
    created = alice.new_thread(title="Plans", metadata={"k": [1, 2]})
    Thread.validate_python(created)
    assert created["title"] == "Plans" and created["metadata"] == {"k": [1, 2]}
    assert created["id"].startswith("thr_") and created["created_at"].endswith("+00:00")
    thread_id = created["id"]
    assert alice.get(f"/threads/{thread_id}").get_json() == created

    patched = alice.patch(f"/threads/{thread_id}", json={"title": "Renamed"})
    assert patched.status_code == 200
    assert patched.get_json()["title"] == "Renamed" and patched.get_json()["metadata"] == {"k": [1, 2]}
    patched = alice.patch(f"/threads/{thread_id}", json={"metadata": {"x": True}})
    assert patched.get_json()["title"] == "Renamed" and patched.get_json()["metadata"] == {"x": True}
    cleared = alice.patch(f"/threads/{thread_id}", json={"title": None})
    assert cleared.get_json()["title"] is None

    deleted = alice.delete(f"/threads/{thread_id}")
    assert deleted.status_code == 204 and deleted.data == b""
    assert_error(alice.get(f"/threads/{thread_id}"), 404, "not_found")
    assert_error(alice.delete(f"/threads/{thread_id}"), 404, "not_found")
    assert_error(alice.patch(f"/threads/{thread_id}", json={"title": "x"}), 404, "not_found")


def test_create_thread_with_an_empty_body(alice):
    response = alice.post("/threads")
    assert response.status_code == 201
    assert response.get_json()["title"] is None and response.get_json()["metadata"] == {}


def test_huge_numbers_round_trip_on_every_backend(alice):
    """PostgreSQL's JSONB hands 1e300 back as a 301-digit integer; it must still serialize."""
    thread = alice.new_thread(metadata={"big": 1e300, "small": -2.5e-300})
    stored = alice.get(f"/threads/{thread['id']}")
    assert stored.status_code == 200
    assert float(stored.get_json()["metadata"]["big"]) == 1e300
    assert float(stored.get_json()["metadata"]["small"]) == -2.5e-300


def test_deleting_a_thread_removes_its_items(alice):
    thread = alice.new_thread()
    item = alice.new_item(thread["id"])
    assert alice.delete(f"/threads/{thread['id']}").status_code == 204
    assert_error(alice.get(f"/threads/{thread['id']}/items/{item['id']}"), 404, "not_found")
    assert_error(alice.get(f"/threads/{thread['id']}/items"), 404, "not_found")


def test_thread_list_pages_most_recently_active_first(app):
    carol = ApiClient(app)
    ids = [carol.new_thread(title=f"t{n}")["id"] for n in range(5)]
    carol.new_item(ids[1])  # activity moves thread 1 to the front
    expected = [ids[1], ids[4], ids[3], ids[2], ids[0]]
    first = carol.get("/threads", query_string={"limit": 2}).get_json()
    ThreadPage.validate_python(first)
    assert [t["id"] for t in first["data"]] == expected[:2] and first["has_more"] is True
    assert first["after"] == expected[1]
    rest = carol.get("/threads", query_string={"limit": 10, "after": first["after"]}).get_json()
    assert [t["id"] for t in rest["data"]] == expected[2:]
    assert rest["has_more"] is False and rest["after"] is None
    ascending = carol.get("/threads", query_string={"order": "asc"}).get_json()
    assert [t["id"] for t in ascending["data"]] == expected[::-1]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "thr_doesnotexist"}, "after"),
        ({"after": "bad id!"}, "after"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_thread_list_queries_are_400(alice, query, field):
    assert_error(alice.get("/threads", query_string=query), 400, "invalid_request", field)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": 5}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"metadata": [1]}, "metadata"),
        ({"metadata": "x"}, "metadata"),
        ({"name": "unknown field"}, "name"),
    ],
)
def test_bad_thread_bodies_are_400_naming_the_field(alice, body, field):
    assert_error(alice.post("/threads", json=body), 400, "invalid_request", field)


# -- items -----------------------------------------------------------------------------------


def test_item_lifecycle(alice):
    thread_id = alice.new_thread()["id"]
    first = alice.new_item(thread_id, "Hi there", metadata={"lang": "en"})
    Item.validate_python(first)
    assert (first["seq"], first["type"], first["role"], first["content"]) == (1, "message", "user", "Hi there")
    assert first["thread_id"] == thread_id and first["id"].startswith("msg_")
    tool = alice.post(
        f"/threads/{thread_id}/items", json={"type": "tool_call", "role": "tool", "content": {"name": "f", "args": [1]}}
    )
    assert tool.status_code == 201 and tool.get_json()["seq"] == 2 and tool.get_json()["content"]["args"] == [1]
    item_path = f"/threads/{thread_id}/items/{first['id']}"
    assert alice.get(item_path).get_json() == first

    edited = alice.patch(item_path, json={"content": "Hello there"})
    assert edited.status_code == 200
    assert edited.get_json()["content"] == "Hello there" and edited.get_json()["seq"] == 1
    assert edited.get_json()["metadata"] == {"lang": "en"}
    edited = alice.patch(item_path, json={"metadata": {"lang": "fr"}})
    assert edited.get_json()["content"] == "Hello there" and edited.get_json()["metadata"] == {"lang": "fr"}
    assert_error(alice.patch(item_path, json={"content": ""}), 400, "invalid_request", "content")

    assert alice.delete(item_path).status_code == 204
    assert_error(alice.get(item_path), 404, "not_found")
    assert_error(alice.delete(item_path), 404, "not_found")
    listed = alice.get(f"/threads/{thread_id}/items").get_json()
    ItemPage.validate_python(listed)
    assert [i["seq"] for i in listed["data"]] == [2]


def test_idempotent_item_retry(alice):
    thread_id = alice.new_thread()["id"]
    body = {"id": "client-1", "role": "user", "content": "only once", "metadata": {"n": 1}}
    created = alice.post(f"/threads/{thread_id}/items", json=body)
    assert created.status_code == 201
    retried = alice.post(f"/threads/{thread_id}/items", json=body)
    assert retried.status_code == 200 and retried.get_json() == created.get_json()
    conflict = alice.post(f"/threads/{thread_id}/items", json={**body, "content": "something else"})
    assert_error(conflict, 409, "conflict", "id")
    listed = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [(i["id"], i["seq"], i["content"]) for i in listed] == [("client-1", 1, "only once")]
    assert alice.new_item(thread_id, "next")["seq"] == 2  # the retries used up no seq


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": "   "}, "content"),
        ({"role": "user", "content": 42}, "content"),
        ({"role": "user", "content": "x" * 1001}, "content"),
        ({"content": "no role"}, "role"),
        ({"role": "robot", "content": "x"}, "role"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": "x", "type": "Not A Type"}, "type"),
        ({"role": "user", "content": "x", "id": "has spaces"}, "id"),
        ({"role": "user", "content": "x", "metadata": []}, "metadata"),
        ({"role": "user", "content": "x", "colour": "red"}, "colour"),
        ({"role": "user", "content": "nul \u0000 inside"}, "content"),
        ({"type": "blob", "content": {"deep": ["\u0000"]}}, "content"),
        ({"type": "blob", "content": 2**64}, "content"),
        ({"role": "user", "content": "x", "metadata": {"k\u0000": 1}}, "metadata"),
    ],
)
def test_bad_item_bodies_are_400_naming_the_field(alice, body, field):
    thread_id = alice.new_thread()["id"]
    assert_error(alice.post(f"/threads/{thread_id}/items", json=body), 400, "invalid_request", field)
    assert alice.get(f"/threads/{thread_id}/items").get_json()["data"] == []


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{", b"[]", b'"a string"', b"null", b'{"role": "user", "content": NaN}', b'{"type": "x", "content": Infinity}'],
)
def test_non_json_or_non_object_bodies_are_400(alice, raw):
    thread_id = alice.new_thread()["id"]
    response = alice.post(f"/threads/{thread_id}/items", data=raw, content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_oversized_body_is_413_json(alice):
    thread_id = alice.new_thread()["id"]
    response = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x" * (70 * 1024)})
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "query, field",
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"order": "up"}, "order"), ({"after": "msg_nope"}, "after")],
)
def test_bad_item_list_queries_are_400(alice, query, field):
    thread_id = alice.new_thread()["id"]
    alice.new_item(thread_id)
    assert_error(alice.get(f"/threads/{thread_id}/items", query_string=query), 400, "invalid_request", field)


def test_unknown_routes_and_methods_answer_json(alice):
    assert_error(alice.get("/nothing-here"), 404, "not_found")
    assert_error(alice.get("/threads/thr_missing/items/msg_missing"), 404, "not_found")
    response = alice.request("PUT", "/threads/thr_missing")
    assert_error(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]


def test_pagination_walks_250_items_in_pages_of_7_both_ways(alice):
    thread_id = alice.new_thread()["id"]
    for n in range(250):
        alice.new_item(thread_id, f"message {n}")
    for order, expected in (("asc", list(range(1, 251))), ("desc", list(range(250, 0, -1)))):
        seqs: list[int] = []
        after = None
        pages = 0
        while True:
            query = {"limit": 7, "order": order, **({"after": after} if after else {})}
            page = alice.get(f"/threads/{thread_id}/items", query_string=query).get_json()
            pages += 1
            assert len(page["data"]) == (7 if page["has_more"] else 250 % 7)
            seqs += [item["seq"] for item in page["data"]]
            if not page["has_more"]:
                assert page["after"] is None
                break
            assert page["after"] == page["data"][-1]["id"]
            after = page["after"]
        assert seqs == expected and pages == 36


def test_hot_paths_run_one_statement_per_read_and_per_append(app, alice, backend):
    thread_id = alice.new_thread()["id"]
    alice.new_item(thread_id)  # warms the token cache
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert alice.get(f"/threads/{thread_id}/items").status_code == 200
        reads = list(statements)
        statements.clear()
        assert alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x"}).status_code == 201
        appends = list(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(reads) == 1, reads
    # PostgreSQL: the bump and the insert are one CTE; SQLite: UPDATE then INSERT.
    assert len(appends) == (1 if backend == "postgresql" else 2), appends


# -- the spec --------------------------------------------------------------------------------


def test_openapi_document_is_generated_from_the_models(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert {
        ("/api/v1/threads", "get"),
        ("/api/v1/threads", "post"),
        ("/api/v1/threads/{thread_id}", "get"),
        ("/api/v1/threads/{thread_id}", "patch"),
        ("/api/v1/threads/{thread_id}", "delete"),
        ("/api/v1/threads/{thread_id}/items", "get"),
        ("/api/v1/threads/{thread_id}/items", "post"),
        ("/api/v1/threads/{thread_id}/items/{item_id}", "get"),
        ("/api/v1/threads/{thread_id}/items/{item_id}", "patch"),
        ("/api/v1/threads/{thread_id}/items/{item_id}", "delete"),
        ("/api/v1/attachments", "post"),
        ("/api/v1/attachments/{attachment_id}", "get"),
        ("/api/v1/attachments/{attachment_id}", "delete"),
        ("/api/v1/attachments/{attachment_id}/content", "get"),
    } <= operations
    schemas = spec["components"]["schemas"]
    assert schemas["ItemCreate"]["additionalProperties"] is False
    assert set(schemas["ItemCreate"]["required"]) == {"content"}
    assert schemas["Thread"]["properties"]["created_at"]["format"] == "date-time"
    create_item = spec["paths"]["/api/v1/threads/{thread_id}/items"]["post"]
    assert {"200", "201", "400", "401", "404", "409", "413"} <= set(create_item["responses"])
    limit = next(p for p in spec["paths"]["/api/v1/threads/{thread_id}/items"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["in"], limit["schema"]["minimum"], limit["schema"]["maximum"]) == ("query", 1, 100)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_answers_match_the_spec_models(alice):
    thread = alice.new_thread(title="typed")
    alice.new_item(thread["id"], "a")
    ThreadPage.validate_python(alice.get("/threads").get_json())
    ItemPage.validate_python(alice.get(f"/threads/{thread['id']}/items").get_json())


# -- hardening (issue #12) ---------------------------------------------------------------------


def test_an_identical_retry_with_a_huge_number_is_200_not_409(alice):
    """JSONB stores 1e300 as a 301-digit integer; the re-sent body is compared as stored."""
    thread_id = alice.new_thread()["id"]
    body = {"id": "num-1", "type": "tool_call", "content": {"x": 1e300, "y": [1.5, -2**63]}, "metadata": {"n": 1e-300}}
    first = alice.post(f"/threads/{thread_id}/items", json=body)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = alice.post(f"/threads/{thread_id}/items", json=body)
    assert again.status_code == 200 and again.get_json()["seq"] == 1
    changed = alice.post(f"/threads/{thread_id}/items", json={**body, "content": {"x": 1e299, "y": [1.5, -2**63]}})
    assert_error(changed, 409, "conflict", "id")


def test_64_bit_integers_are_accepted_at_both_ends(alice):
    thread_id = alice.new_thread()["id"]
    ends = {"low": -(2**63), "high": 2**63 - 1}
    item = alice.new_item(thread_id, ends, role=None, type="tool_call")
    assert alice.get(f"/threads/{thread_id}/items/{item['id']}").get_json()["content"] == ends
    too_low = alice.post(f"/threads/{thread_id}/items", json={"type": "tool_call", "content": -(2**63) - 1})
    assert_error(too_low, 400, "invalid_request", "content")


def test_a_json_body_needs_a_json_content_type(alice):
    thread_id = alice.new_thread()["id"]
    response = alice.post(
        f"/threads/{thread_id}/items", data=b'{"role": "user", "content": "hi"}', content_type="text/plain"
    )
    assert_error(response, 415, "unsupported_media_type")
    form = alice.post(f"/threads/{thread_id}/items", data={"role": "user", "content": "hi"})
    assert_error(form, 415, "unsupported_media_type")
    assert alice.get(f"/threads/{thread_id}/items").get_json()["data"] == []
    # An empty body needs no content type: it counts as {}.
    assert alice.post("/threads", data=b"").status_code == 201


@pytest.mark.parametrize("query", ["access_token={token}", "token={token}", "api_key=x", "after={token}"])
def test_api_tokens_in_the_query_string_are_refused(app, alice, query):
    response = app.test_client().get("/api/v1/threads?" + query.format(token=alice.token), headers=alice.headers)
    error = assert_error(response, 400, "invalid_request")
    assert "Authorization header" in error["message"]


def test_401_answers_say_how_to_authenticate(app):
    response = app.test_client().get("/api/v1/threads")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="chatapp"'
    assert "WWW-Authenticate" not in app.test_client().get("/login").headers
