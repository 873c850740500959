"""Item versions in the store, on SQLite and PostgreSQL: the tree of items (parent_id), the branch a
thread shows (leaf_id), versions, switching, deletes that keep the tree whole, and isolation."""

from __future__ import annotations

import pytest

from chatapp.errors import Conflict, InvalidRequest, NotFound
from chatapp.services import chat_store
from chatapp.store import ChatStore


@pytest.fixture
def store(app_context) -> ChatStore:
    return chat_store()


def contents(records) -> list:
    return [record.content for record in records]


def conversation(store: ChatStore, user_id: str):
    """q1 a1 q2 a2, then a2 regenerated (a2b) and q2 edited (q2e, answered by a2e)."""
    thread = store.create_thread(user_id)
    add = lambda content, role, **kw: store.add_item(user_id, thread.id, role=role, content=content, **kw)[0]  # noqa: E731
    q1 = add("q1", "user")
    a1 = add("a1", "assistant", parent_id=q1.id)
    q2 = add("q2", "user")
    a2 = add("a2", "assistant", parent_id=q2.id)
    a2b = add("a2b", "assistant", parent_id=q2.id)
    q2e = add("q2e", "user", parent_id=a1.id)
    a2e = add("a2e", "assistant", parent_id=q2e.id)
    return thread, dict(q1=q1, a1=a1, q2=q2, a2=a2, a2b=a2b, q2e=q2e, a2e=a2e)


def test_appends_without_a_parent_build_one_branch(store, user_id):
    thread = store.create_thread(user_id)
    assert thread.leaf_id is None
    first, _ = store.add_item(user_id, thread.id, role="user", content="one")
    second, _ = store.add_item(user_id, thread.id, role="assistant", content="two")
    tool, _ = store.add_item(user_id, thread.id, type="tool_call", role="tool", content={"name": "x"})
    assert (first.parent_id, second.parent_id, tool.parent_id) == (None, first.id, second.id)
    assert store.get_thread(user_id, thread.id).leaf_id == tool.id
    branch = store.list_branch(user_id, thread.id, order="asc").data
    assert [item.id for item in branch] == [item.id for item in store.list_items(user_id, thread.id).data]
    assert {(item.version, item.versions) for item in branch} == {(1, 1)}
    assert store.get_item(user_id, thread.id, second.id).parent_id == first.id


def test_a_sibling_is_a_version_and_the_branch_follows_the_newest_append(store, user_id):
    thread, items = conversation(store, user_id)
    branch = store.list_branch(user_id, thread.id, order="asc").data
    assert [(item.content, item.version, item.versions) for item in branch] == [
        ("q1", 1, 1), ("a1", 1, 1), ("q2e", 2, 2), ("a2e", 1, 1),
    ]
    # Every item of every branch is still listed by seq, which stays unique and append-only.
    everything = store.list_items(user_id, thread.id).data
    assert contents(everything) == ["q1", "a1", "q2", "a2", "a2b", "q2e", "a2e"]
    assert [item.seq for item in everything] == list(range(1, 8))
    assert contents(store.list_versions(user_id, thread.id, items["q2"].id).data) == ["q2", "q2e"]
    assert contents(store.list_versions(user_id, thread.id, items["a2b"].id).data) == ["a2", "a2b"]
    assert contents(store.list_children(user_id, thread.id, items["q2"].id).data) == ["a2", "a2b"]
    assert contents(store.list_versions(user_id, thread.id, items["q1"].id).data) == ["q1"]  # a first item


def test_selecting_a_version_shows_where_that_branch_was_last_continued(store, user_id):
    thread, items = conversation(store, user_id)
    selected = store.select_branch(user_id, thread.id, items["q2e"].id, version=1)
    assert (selected.id, selected.version, selected.versions) == (items["q2"].id, 1, 2)
    assert store.get_thread(user_id, thread.id).leaf_id == items["a2b"].id  # the newest under q2
    assert [(i.content, i.version, i.versions) for i in store.list_branch(user_id, thread.id, order="asc").data] == [
        ("q1", 1, 1), ("a1", 1, 1), ("q2", 1, 2), ("a2b", 2, 2),
    ]
    back = store.select_branch(user_id, thread.id, items["a2b"].id, version=1)
    assert back.content == "a2" and store.get_thread(user_id, thread.id).leaf_id == items["a2"].id
    # The next message continues the branch shown.
    follow_up, _ = store.add_item(user_id, thread.id, role="user", content="q3")
    assert follow_up.parent_id == items["a2"].id
    assert contents(store.list_branch(user_id, thread.id, order="asc").data) == ["q1", "a1", "q2", "a2", "q3"]
    # Selecting an item itself (no version) works too.
    store.select_branch(user_id, thread.id, items["q2e"].id)
    assert contents(store.list_branch(user_id, thread.id, order="asc").data) == ["q1", "a1", "q2e", "a2e"]
    with pytest.raises(InvalidRequest) as error:
        store.select_branch(user_id, thread.id, items["q2"].id, version=3)
    assert error.value.details == {"field": "version"}
    with pytest.raises(NotFound):
        store.select_branch(user_id, thread.id, "msg_missing", version=1)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_branch_pages_walk_the_whole_branch_once(store, user_id, order):
    thread = store.create_thread(user_id)
    previous = None
    for n in range(1, 121):
        previous, _ = store.add_item(user_id, thread.id, role="user", content=f"m{n}")
        if n % 10 == 0:  # a hidden version every tenth item, which the branch leaves out
            store.add_item(user_id, thread.id, role="user", content=f"hidden{n}", parent_id=previous.parent_id)
            store.select_branch(user_id, thread.id, previous.id)
    seen, after, pages = [], None, 0
    while True:
        page = store.list_branch(user_id, thread.id, limit=50, after=after, order=order)
        seen += contents(page.data)
        pages += 1
        if not page.has_more:
            break
        after = page.after
    expected = [f"m{n}" for n in range(1, 121)]
    assert seen == (expected if order == "asc" else expected[::-1]) and pages == 3
    versions = {item.content: (item.version, item.versions) for item in store.list_branch(user_id, thread.id, limit=100, order="asc").data}
    assert versions["m10"] == (1, 2) and versions["m11"] == (1, 1)
    with pytest.raises(InvalidRequest):
        store.list_branch(user_id, thread.id, after="msg_unknown", order=order)


def test_ancestors_are_the_conversation_that_led_to_an_item(store, user_id):
    thread, items = conversation(store, user_id)
    assert contents(store.iter_ancestors(user_id, thread.id, items["a2"].id, page_size=1)) == ["a2", "q2", "a1", "q1"]
    assert contents(store.iter_ancestors(user_id, thread.id, page_size=3)) == ["a2e", "q2e", "a1", "q1"]  # from the leaf
    with pytest.raises(NotFound):
        list(store.iter_ancestors(user_id, thread.id, "msg_missing"))


def test_a_parent_must_be_an_item_of_the_thread(store, user_id, other_user_id):
    thread = store.create_thread(user_id)
    first, _ = store.add_item(user_id, thread.id, role="user", content="first")
    others = store.create_thread(other_user_id)
    foreign, _ = store.add_item(other_user_id, others.id, role="user", content="theirs")
    mine_elsewhere = store.create_thread(user_id)
    elsewhere, _ = store.add_item(user_id, mine_elsewhere.id, role="user", content="other thread")
    for parent in ("msg_missing", foreign.id, elsewhere.id):
        with pytest.raises(InvalidRequest) as error:
            store.add_item(user_id, thread.id, role="user", content="x", parent_id=parent)
        assert error.value.details == {"field": "parent_id"}
    with pytest.raises(InvalidRequest):
        store.add_item(user_id, thread.id, role="user", content="x", parent_id="not an id!")
    # Nothing was stored or bumped by the refused appends.
    assert contents(store.list_items(user_id, thread.id).data) == ["first"]
    assert store.get_thread(user_id, thread.id).last_seq == 1
    second, _ = store.add_item(user_id, thread.id, role="user", content="second")
    assert second.seq == 2 and second.parent_id == first.id
    root, _ = store.add_item(user_id, thread.id, role="user", content="another first", parent_id=None)
    assert root.parent_id is None
    assert [(i.content, i.version, i.versions) for i in store.list_branch(user_id, thread.id, order="asc").data] == [("another first", 2, 2)]


def test_a_re_sent_id_compares_the_parent_it_names(store, user_id):
    thread = store.create_thread(user_id)
    first, _ = store.add_item(user_id, thread.id, role="user", content="first")
    reply, created = store.add_item(user_id, thread.id, role="assistant", content="r", parent_id=first.id, item_id="r-1")
    assert created
    again, created = store.add_item(user_id, thread.id, role="assistant", content="r", parent_id=first.id, item_id="r-1")
    assert not created and again.parent_id == first.id and again.seq == reply.seq
    # Without a parent the leaf (now r-1 itself) is not compared: a retry still finds its item.
    assert store.add_item(user_id, thread.id, role="assistant", content="r", item_id="r-1")[1] is False
    with pytest.raises(Conflict):
        store.add_item(user_id, thread.id, role="assistant", content="r", parent_id=None, item_id="r-1")


def test_deleting_an_item_keeps_what_followed_it(store, user_id):
    thread, items = conversation(store, user_id)
    store.delete_item(user_id, thread.id, items["q2e"].id)  # a middle item of the branch shown
    assert store.get_item(user_id, thread.id, items["a2e"].id).parent_id == items["a1"].id
    assert contents(store.list_branch(user_id, thread.id, order="asc").data) == ["q1", "a1", "a2e"]
    store.delete_item(user_id, thread.id, items["a2e"].id)  # the leaf: the newest under its parent takes over
    assert store.get_thread(user_id, thread.id).leaf_id == items["a2b"].id
    assert contents(store.list_branch(user_id, thread.id, order="asc").data) == ["q1", "a1", "q2", "a2b"]
    with pytest.raises(NotFound):
        store.delete_item(user_id, thread.id, items["a2e"].id)
    for name in ("a2b", "a2", "q2", "a1", "q1"):
        store.delete_item(user_id, thread.id, items[name].id)
    assert store.get_thread(user_id, thread.id).leaf_id is None
    assert store.list_branch(user_id, thread.id, order="asc").data == []
    assert store.add_item(user_id, thread.id, role="user", content="again")[0].parent_id is None


def test_another_users_branches_behave_as_missing(store, user_id, other_user_id):
    thread, items = conversation(store, user_id)
    item_id = items["q2"].id
    for call in (
        lambda: store.list_branch(other_user_id, thread.id, order="asc"),
        lambda: store.list_branch(other_user_id, thread.id, order="desc"),
        lambda: store.select_branch(other_user_id, thread.id, item_id, version=1),
        lambda: store.get_branch_item(other_user_id, thread.id, item_id),
        lambda: store.list_versions(other_user_id, thread.id, item_id),
        lambda: store.list_children(other_user_id, thread.id, item_id),
        lambda: list(store.iter_ancestors(other_user_id, thread.id, item_id)),
        lambda: store.delete_item(other_user_id, thread.id, item_id),
        lambda: store.add_item(other_user_id, thread.id, role="user", content="x", parent_id=item_id),
    ):
        with pytest.raises(NotFound):
            call()
    assert store.get_thread(user_id, thread.id).leaf_id == items["a2e"].id  # nothing moved
    assert len(store.list_items(user_id, thread.id).data) == 7


def test_read_attachments_gives_only_the_users_own_in_the_order_named(store, user_id, other_user_id):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    mine = store.save_attachment(user_id, filename="a.png", content_type="image/png", content=png)
    text = store.save_attachment(user_id, filename="b.txt", content_type="text/plain", content=b"hello")
    theirs = store.save_attachment(other_user_id, filename="c.txt", content_type="text/plain", content=b"secret")
    found = store.read_attachments(user_id, [text.id, theirs.id, "att_missing", mine.id, text.id])
    assert [(record.id, data) for record, data in found] == [(text.id, b"hello"), (mine.id, png)]
    heads = store.read_attachments(user_id, [mine.id], max_bytes=12)
    assert heads[0][1] == png[:12] and heads[0][0].size == len(png)
    assert store.read_attachments(user_id, []) == []
