"""Search on SQLite (FTS5) and PostgreSQL (tsvector + GIN): languages, syntax, ranking, paging,
isolation, escaped snippets, and the API's answers and errors."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from pydantic import TypeAdapter

from chatapp.api.spec import page_model
from chatapp.errors import InvalidRequest
from chatapp.services import chat_store
from chatapp.store import ChatStore, SearchHitRecord
from support.api_client import ApiClient, assert_error

HitPage = TypeAdapter(page_model(SearchHitRecord))


@pytest.fixture
def store(app_context) -> ChatStore:
    return chat_store()


def hits(store: ChatStore, user_id: str, q: str, **kwargs) -> list[SearchHitRecord]:
    return store.search(user_id, q, limit=100, **kwargs).data


def found(store: ChatStore, user_id: str, q: str) -> set[str]:
    return {hit.item_id for hit in hits(store, user_id, q)}


class Tags(HTMLParser):
    """The tags and the text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        assert attrs == [], attrs

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_data(self, data):
        self.text.append(data)


def parse(snippet: str) -> Tags:
    parser = Tags()
    parser.feed(snippet)
    parser.close()
    return parser


def test_words_in_any_script_are_found_and_marked(store, user_id):
    thread = store.create_thread(user_id, title="Yatra")
    hindi, _ = store.add_item(user_id, thread.id, role="user", content="नमस्ते दुनिया, आज मौसम कैसा है?")
    hinglish, _ = store.add_item(user_id, thread.id, role="assistant", content="Aaj mausam bahut accha hai, baarish nahi hogi.")
    accents, _ = store.add_item(user_id, thread.id, role="user", content="Un café au lait à Paris, s'il vous plaît")
    tamil, _ = store.add_item(user_id, thread.id, role="user", content="தமிழ் மொழி அழகானது")
    assert found(store, user_id, "दुनिया") == {hindi.id}
    assert found(store, user_id, "मौसम") == {hindi.id}  # vowel signs do not split a word
    assert found(store, user_id, "mausam") == {hinglish.id}
    assert found(store, user_id, "MAUSAM Baarish") == {hinglish.id}  # case-insensitive, all words
    assert found(store, user_id, "cafe") == {accents.id}  # accents fold
    assert found(store, user_id, "café plait") == {accents.id}
    assert found(store, user_id, "மொழி") == {tamil.id}
    [hit] = hits(store, user_id, "दुनिया")
    assert "<mark>दुनिया</mark>" in hit.snippet
    assert (hit.thread_id, hit.seq, hit.thread_title, hit.role, hit.type) == (thread.id, 1, "Yatra", "user", "message")
    assert hit.created_at == hindi.created_at


def test_phrases_alternatives_and_exclusions(store, user_id):
    thread = store.create_thread(user_id)
    fox, _ = store.add_item(user_id, thread.id, role="user", content="the quick brown fox")
    dog, _ = store.add_item(user_id, thread.id, role="user", content="a brown quick dog")
    cat, _ = store.add_item(user_id, thread.id, role="user", content="a lazy cat")
    assert found(store, user_id, "quick brown") == {fox.id, dog.id}
    assert found(store, user_id, '"quick brown"') == {fox.id}  # as written, in that order
    assert found(store, user_id, "fox OR cat") == {fox.id, cat.id}
    assert found(store, user_id, "brown -dog") == {fox.id}
    assert found(store, user_id, 'quick -"brown fox"') == {dog.id}
    assert found(store, user_id, "giraffe") == set()
    [hit] = hits(store, user_id, '"quick brown"')
    assert "<mark>quick" in hit.snippet and "brown</mark>" in hit.snippet


def test_another_users_text_never_matches(store, user_id, other_user_id):
    mine = store.create_thread(user_id)
    theirs = store.create_thread(other_user_id)
    item, _ = store.add_item(user_id, mine.id, role="user", content="zanzibar holiday plans")
    store.add_item(other_user_id, theirs.id, role="user", content="zanzibar secret of the other user")
    assert [hit.item_id for hit in hits(store, user_id, "zanzibar")] == [item.id]
    assert hits(store, user_id, "secret") == []
    assert [hit.thread_id for hit in hits(store, other_user_id, "zanzibar")] == [theirs.id]
    assert all("holiday" not in hit.snippet for hit in hits(store, other_user_id, "zanzibar"))


def test_chatkit_items_are_found_by_their_text_not_their_keys_or_metadata(store, user_id):
    thread = store.create_thread(user_id)
    widget, _ = store.add_item(
        user_id, thread.id, type="user_message",
        content={"id": "msg_x", "thread_id": thread.id, "type": "user_message",
                 "content": [{"type": "input_text", "text": "wombat sightings"}, {"type": "input_tag", "text": "@koala"}]},
    )
    hidden, _ = store.add_item(user_id, thread.id, type="sdk_hidden_context", content={"type": "sdk_hidden_context", "content": "platypus note"})
    tool, _ = store.add_item(user_id, thread.id, type="tool_call", content={"name": "echidna", "arguments": {"q": "echidna"}})
    message, _ = store.add_item(user_id, thread.id, role="user", content="plain words", metadata={"tag": "narwhal"})
    assert found(store, user_id, "wombat") == {widget.id}
    assert found(store, user_id, "koala") == {widget.id}
    assert found(store, user_id, "platypus") == {hidden.id}
    for key_or_value in ("input_text", "thread_id", "user_message", "msg_x", "echidna", "arguments", "narwhal", "tag"):
        assert found(store, user_id, key_or_value) == set(), key_or_value
    assert found(store, user_id, "plain") == {message.id}


HOSTILE = [
    "<script>alert(1)</script> payload one",
    '"><img src=x onerror=alert(2)> payload two',
    "already <mark>marked</mark> &amp; payload three",
    "control \x01 markers \x02 payload four",
    "<div class='x'>payload</div> five & 'quotes'",
]


def test_snippets_are_escaped_html_with_mark_tags_only(store, user_id):
    thread = store.create_thread(user_id)
    for text in HOSTILE:
        store.add_item(user_id, thread.id, role="user", content=text)
    results = hits(store, user_id, "payload")
    assert len(results) == len(HOSTILE)
    for hit in results:
        parsed = parse(hit.snippet)
        assert set(parsed.tags) == {"mark", "/mark"}, hit.snippet
        assert "\x01" not in hit.snippet and "\x02" not in hit.snippet
        assert "<mark>payload</mark>" in hit.snippet
        # What the markup shows is the message's own text (minus the control characters).
        shown = html.unescape(hit.snippet.replace("<mark>", "").replace("</mark>", ""))
        original = next(text for text in HOSTILE if shown.split()[0] in text).replace("\x01", "").replace("\x02", "")
        assert " ".join(shown.split()) in " ".join(original.split())
    script = next(hit for hit in results if "alert(1)" in hit.snippet)
    assert "&lt;script&gt;" in script.snippet and "<script" not in script.snippet
    image = next(hit for hit in results if "onerror" in hit.snippet)
    assert "&quot;&gt;&lt;img" in image.snippet
    assert found(store, user_id, "script") and found(store, user_id, "onerror")  # code stays findable


def test_better_matches_first_then_newest(store, user_id):
    thread = store.create_thread(user_id)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    weak, _ = store.add_item(user_id, thread.id, role="user", content="neon is one of many databases people run in the cloud today", created_at=when)
    strong, _ = store.add_item(user_id, thread.id, role="user", content="neon neon neon", created_at=when)
    older, _ = store.add_item(user_id, thread.id, role="user", content="tie break", created_at=when)
    newer, _ = store.add_item(user_id, thread.id, role="user", content="tie break", created_at=when + timedelta(seconds=1))
    assert [hit.item_id for hit in hits(store, user_id, "neon")] == [strong.id, weak.id]
    assert [hit.item_id for hit in hits(store, user_id, "tie")] == [newer.id, older.id]


def test_keyset_pages_walk_every_hit_once(store, user_id):
    when = datetime(2025, 2, 2, tzinfo=UTC)
    expected = []
    for number in range(3):
        thread = store.create_thread(user_id, title=f"t{number}")
        for _ in range(8):  # equal texts and equal times: only the ids order them
            item, _ = store.add_item(user_id, thread.id, role="user", content="paging test words", created_at=when)
            expected.append(item.id)
    everything = [hit.item_id for hit in hits(store, user_id, "paging")]
    assert sorted(everything) == sorted(expected)
    for size in (1, 5, 24):
        walked, after, pages = [], None, 0
        while True:
            page = store.search(user_id, "paging", limit=size, after=after)
            pages += 1
            walked += [hit.item_id for hit in page.data]
            if not page.has_more:
                assert page.after is None
                break
            assert len(page.data) == size
            after = page.after
        assert walked == everything and pages == -(-24 // size)


def test_edits_and_deletes_are_searchable_at_once(store, user_id):
    thread = store.create_thread(user_id)
    item, _ = store.add_item(user_id, thread.id, role="user", content="original walrus")
    store.update_item(user_id, thread.id, item.id, content="edited narwhal")
    assert found(store, user_id, "walrus") == set() and found(store, user_id, "narwhal") == {item.id}
    store.delete_item(user_id, thread.id, item.id)
    assert found(store, user_id, "narwhal") == set()
    other = store.create_thread(user_id)
    store.add_item(user_id, other.id, role="user", content="cascade beluga")
    store.delete_thread(user_id, other.id)
    assert found(store, user_id, "beluga") == set()


def test_store_refuses_what_it_cannot_search(store, user_id, other_user_id):
    thread = store.create_thread(user_id)
    for n in range(3):
        store.add_item(user_id, thread.id, role="user", content=f"cursor test {n}")
    first = store.search(user_id, "cursor", limit=1)
    assert first.has_more and first.after
    assert len(store.search(user_id, "cursor", limit=1, after=first.after).data) == 1
    payload, signature = first.after.split(".")
    tampered = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature
    for q, after in (
        ("-cursor", None), ("!!! ???", None), ("", None), ("x" * 201, None), ("cursor OR -test", None),
        ("cursor", tampered), ("cursor", "abc.def"), ("test", first.after),  # another query's cursor
    ):
        with pytest.raises(InvalidRequest) as info:
            store.search(user_id, q, limit=1, after=after)
        assert info.value.details["field"] == ("after" if after else "q")
    with pytest.raises(InvalidRequest):
        store.search(other_user_id, "cursor", limit=1, after=first.after)  # another user's cursor


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice(app) -> ApiClient:
    return ApiClient(app)


def test_api_search_answers_a_documented_page(alice):
    thread = alice.new_thread(title="Trip to <Goa>")
    for n in range(3):
        alice.new_item(thread["id"], f"goa beach day {n}")
    first = alice.get("/search", query_string={"q": "goa beach", "limit": 2})
    assert first.status_code == 200
    body = HitPage.validate_python(first.get_json()).model_dump()
    assert body["has_more"] is True and len(body["data"]) == 2
    hit = first.get_json()["data"][0]
    assert set(hit) == {"thread_id", "item_id", "seq", "thread_title", "created_at", "role", "type", "snippet"}
    assert hit["thread_title"] == "Trip to <Goa>" and hit["created_at"].endswith("+00:00")
    assert "<mark>goa</mark>" in hit["snippet"].lower()
    rest = alice.get("/search", query_string={"q": "goa beach", "limit": 2, "after": body["after"]}).get_json()
    assert len(rest["data"]) == 1 and rest["has_more"] is False and rest["after"] is None
    seen = [h["item_id"] for h in first.get_json()["data"] + rest["data"]]
    assert len(set(seen)) == 3


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "-only -excluded"}, "q"),
        ({"q": "?!"}, "q"),
        ({"q": "a", "limit": 0}, "limit"),
        ({"q": "a", "limit": 101}, "limit"),
        ({"q": "a", "after": "not a cursor"}, "after"),
        ({"q": "a", "after": "eyJ4IjoxfQ.c2lnbmF0dXJl"}, "after"),
        ({"q": "a", "page": 2}, "page"),
    ],
)
def test_api_bad_searches_are_400(alice, query, field):
    assert_error(alice.get("/search", query_string=query), 400, "invalid_request", field)


def test_api_search_is_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/search"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SearchHitPage"}
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"q", "limit", "after"}
    hit = spec["components"]["schemas"]["SearchHit"]
    assert set(hit["required"]) == {"thread_id", "item_id", "seq", "thread_title", "created_at", "role", "type", "snippet"}
    assert "<mark>" in hit["properties"]["snippet"]["description"]
