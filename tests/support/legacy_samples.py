"""Sample rows for each legacy shape (legacy_schemas.py), with what the import must make of them.

Each `fill_*` writes its rows into a source database and returns a `Sample`: the threads and
items chatapp must hold afterwards, field by field and in order, the ChatKit items the adapter
must load back, and the ids of the rows that must be reported as bad.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    FileAttachment,
    InferenceOptions,
    TaskItem,
    UserMessageItem,
    UserMessageTextContent,
)

from .legacy_schemas import TIE, at, create, insert


@dataclass
class Item:
    item_id: str
    type: str
    role: str | None
    content: Any
    metadata: dict[str, Any]
    created_at: datetime
    chatkit: Any = None  # the SDK item the ChatKit adapter must load, when it has one


@dataclass
class Thread:
    thread_id: str
    external_user: str | None  # None: the --owner's
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    items: list[Item] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Sample:
    seed: str
    tables: list[str]
    threads: list[Thread]
    bad: dict[str, set[str]]  # table -> legacy ids reported and skipped
    rows: int  # every row written


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def seed_001_json(item: Any) -> str:
    """What seed 001's add_thread_item wrote: model_dump(), created_at as isoformat, default=str."""
    data = item.model_dump()
    data["created_at"] = data["created_at"].isoformat()
    return json.dumps(data, default=str)


def chatkit_message(item: Any) -> tuple[str, str]:
    role = "user" if item.type == "user_message" else "assistant"
    joiner = "" if role == "user" else "\n\n"
    return role, joiner.join(part.text for part in item.content)


def from_chatkit(item: Any, created_at: datetime, stored: str | None = None) -> Item:
    """What chatapp keeps for a ChatKit item written as `stored` (default: model_dump_json)."""
    data = json.loads(stored or item.model_dump_json())
    if item.type in ("user_message", "assistant_message"):
        role, text = chatkit_message(item)
        return Item(item.id, "message", role, text, {"chatkit": data}, created_at, item)
    return Item(item.id, item.type, None, data, {}, created_at, item)


def fill_000_001(engine: sa.Engine) -> Sample:
    create(engine, ["000/001"])
    thread_id = "thread_7f3a9c1e2b4d"
    question = UserMessageItem(
        id="msg_a1", thread_id=thread_id, created_at=naive(at(1)),
        content=[UserMessageTextContent(text="Kal Dilli jaana hai, ट्रेन का टाइम बताओ")], inference_options=InferenceOptions(),
    )
    tool = ClientToolCallItem(
        id="tc_a3", thread_id=thread_id, created_at=naive(TIE), call_id="call_1", name="train_times",
        arguments={"from": "Mumbai", "to": "दिल्ली"},
    )
    answer = AssistantMessageItem(
        id="msg_a2", thread_id=thread_id, created_at=naive(TIE),
        content=[AssistantMessageContent(text="Rajdhani Express subah 6 baje chalti hai.")],
    )
    metadata = {"title": "Dilli yatra", "tags": ["travel", "हिंदी"]}
    insert(engine, "chatkit_thread", [
        {"id": thread_id, "userId": "host-user-1", "metadata": metadata, "createdAt": at(0), "updatedAt": at(30)},
        {"id": "thread_empty_b2", "userId": "host-user-2", "metadata": None, "createdAt": at(20), "updatedAt": None},
    ], json_columns=("metadata",))
    rows = [  # the tool call and the answer tie on createdAt: the id decides (msg_a2 < tc_a3)
        {"id": "tc_a3", "threadId": thread_id, "type": "clienttoolcallitem", "content": seed_001_json(tool), "createdAt": TIE},
        {"id": "msg_a1", "threadId": thread_id, "type": "usermessageitem", "content": seed_001_json(question), "createdAt": at(1)},
        {"id": "msg_a2", "threadId": thread_id, "type": "assistantmessageitem", "content": seed_001_json(answer), "createdAt": TIE},
        {"id": "legacy-4", "threadId": thread_id, "type": "assistant", "content": {"content": "Aur kuch?"}, "createdAt": at(10)},
        {"id": "bad-null", "threadId": thread_id, "type": "usermessageitem", "content": None, "createdAt": at(11)},
    ]
    insert(engine, "chatkit_thread_item", rows, json_columns=("content",))
    file = FileAttachment(id="atc_file_1", name="ticket.pdf", mime_type="application/pdf", thread_id=thread_id)
    insert(engine, "chatkit_attachment", [
        {"id": "atc_file_1", "threadId": thread_id, "content": {"data": file.model_dump(mode="json")}, "createdAt": at(2)},
        {"id": "atc_orphan", "threadId": None, "content": {"data": {}}, "createdAt": at(3)},
    ], json_columns=("content",))
    legacy_answer = AssistantMessageItem(
        id="legacy-4", thread_id=thread_id, created_at=at(10), content=[AssistantMessageContent(text="Aur kuch?")]
    )
    threads = [
        Thread(thread_id, "host-user-1", "Dilli yatra", metadata, at(0), at(30), [
            from_chatkit(question, at(1), seed_001_json(question)),
            from_chatkit(answer, TIE, seed_001_json(answer)),
            from_chatkit(tool, TIE, seed_001_json(tool)),
            Item("legacy-4", "message", "assistant", "Aur kuch?", {"legacy": {"content": {"content": "Aur kuch?"}}}, at(10), legacy_answer),
        ], [{"id": "atc_file_1", "filename": "ticket.pdf", "content_type": "application/pdf", "chatkit": file}]),
        Thread("thread_empty_b2", "host-user-2", None, {}, at(20), at(20)),
    ]
    bad = {"chatkit_thread_item": {"bad-null"}, "chatkit_attachment": {"atc_orphan"}}
    return Sample("000/001", ["chatkit_thread", "chatkit_thread_item", "chatkit_attachment"], threads, bad, 9)


def fill_002(engine: sa.Engine) -> Sample:
    create(engine, ["002"])
    sqlite = engine.dialect.name == "sqlite"
    main = "thread_abc123def456"
    insert(engine, "threads", [
        {"id": main, "created_at": at(0), "metadata": {"mode": "full_book", "title": "Neon setup"}},
        {"id": "thread_no_meta", "created_at": None, "metadata": None},
    ], json_columns=("metadata",))
    rows = [
        {"id": "i2", "thread_id": main, "type": "message", "role": "assistant", "content": "Neon ek serverless PostgreSQL database hai.", "created_at": TIE},
        {"id": "i1", "thread_id": main, "type": "message", "role": "user", "content": "Neon kya hai? मुझे समझाओ", "created_at": TIE},
        {"id": "i3", "thread_id": main, "type": "user_message", "role": None, "content": "Aur SSL?", "created_at": at(7)},
        {"id": "i4", "thread_id": main, "type": "message", "role": "assistant", "content": None, "created_at": at(8)},
        {"id": "i5", "thread_id": main, "type": "message", "role": "assistant", "content": "sslmode=require add karo.", "created_at": None},
        {"id": "i6", "thread_id": "thread_no_meta", "type": "message", "role": "user", "content": "hello", "created_at": at(30)},
    ]
    if sqlite:  # text PostgreSQL cannot hold at all
        rows.append({"id": "i7", "thread_id": main, "type": "message", "role": "user", "content": "nul \x00 byte", "created_at": at(9)})
    insert(engine, "thread_items", rows)
    bad = {"thread_items": {"i4"}}
    if sqlite:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO thread_items VALUES ('i8', ?, 'message', 'user', CAST(x'4869ff' AS TEXT), '2025-03-14 09:40:00')",
                (main,),
            )
        bad["thread_items"] |= {"i7", "i8"}
    threads = [
        Thread(main, None, "Neon setup", {"mode": "full_book", "title": "Neon setup"}, at(0), at(7), [
            Item("i1", "message", "user", "Neon kya hai? मुझे समझाओ", {}, TIE),
            Item("i2", "message", "assistant", "Neon ek serverless PostgreSQL database hai.", {}, TIE),
            Item("i3", "message", "user", "Aur SSL?", {}, at(7)),
            Item("i5", "message", "assistant", "sslmode=require add karo.", {}, at(7)),  # NULL time: the previous item's
        ]),
        Thread("thread_no_meta", None, None, {}, at(30), at(30), [Item("i6", "message", "user", "hello", {}, at(30))]),
    ]
    return Sample("002", ["threads", "thread_items"], threads, bad, 8 + (2 if sqlite else 0))


def fill_003(engine: sa.Engine) -> Sample:
    create(engine, ["003"])
    main = "thr_1a2b3c4d"
    question = UserMessageItem(
        id="msg_u1", thread_id=main, created_at=at(1), content=[UserMessageTextContent(text="ROS 2 mein node kya hota hai? नोड समझाओ")],
        inference_options=InferenceOptions(model="gpt-test"),
    )
    answer = AssistantMessageItem(
        id="msg_a1", thread_id=main, created_at=at(2), content=[AssistantMessageContent(text="Node ek process hai."), AssistantMessageContent(text="Topics pe publish karta hai.")],
    )
    task = TaskItem(id="tsk_1", thread_id=main, created_at=at(2), task=CustomTask(title="Docs padhe", content="ROS 2 basics"))
    thanks = UserMessageItem(
        id="msg_u2", thread_id=main, created_at=at(5), content=[UserMessageTextContent(text="Dhanyavaad!")], inference_options=InferenceOptions(),
    )
    alone = UserMessageItem(
        id="msg_anon", thread_id="thr_anon0001", created_at=at(6), content=[UserMessageTextContent(text="anonymous hello")], inference_options=InferenceOptions(),
    )
    insert(engine, "chatkit_threads", [
        {"id": main, "user_id": "host-user-3", "title": "ROS 2 notes", "metadata_json": '{"topic": "ros2", "lang": "hi-en"}', "created_at": at(0), "updated_at": at(40)},
        {"id": "thr_anon0001", "user_id": "anonymous", "title": None, "metadata_json": "{}", "created_at": at(6), "updated_at": at(6)},
        {"id": "thr_badmeta1", "user_id": "host-user-3", "title": "broken", "metadata_json": "{not json", "created_at": at(7), "updated_at": at(7)},
    ])
    nul = json.loads(thanks.model_dump_json())
    nul["content"][0]["text"] = "nul \u0000 inside"
    insert(engine, "chatkit_thread_items", [  # the answer and the task share sort_key 2: the id decides
        {"id": "tsk_1", "thread_id": main, "item_json": task.model_dump_json(), "sort_key": 2, "created_at": at(2)},
        {"id": "msg_u1", "thread_id": main, "item_json": question.model_dump_json(), "sort_key": 1, "created_at": at(1)},
        {"id": "msg_a1", "thread_id": main, "item_json": answer.model_dump_json(), "sort_key": 2, "created_at": at(2)},
        {"id": "msg_bad", "thread_id": main, "item_json": "{not json", "sort_key": 3, "created_at": at(3)},
        {"id": "msg_nul", "thread_id": main, "item_json": json.dumps(nul), "sort_key": 4, "created_at": at(4)},
        {"id": "msg_u2", "thread_id": main, "item_json": thanks.model_dump_json(), "sort_key": 5, "created_at": at(5)},
        {"id": "msg_anon", "thread_id": "thr_anon0001", "item_json": alone.model_dump_json(), "sort_key": 1, "created_at": at(6)},
        {"id": "msg_lost", "thread_id": "thr_badmeta1", "item_json": alone.model_dump_json(), "sort_key": 1, "created_at": at(7)},
    ])
    insert(engine, "chatkit_attachments", [
        {"id": "atc_1", "thread_id": main, "filename": "notes.pdf", "content_type": "application/pdf", "size_bytes": 1234,
         "metadata_json": '{"pages": 3}', "created_at": at(3)},
    ])
    file = FileAttachment(id="atc_1", name="notes.pdf", mime_type="application/pdf", thread_id=main)
    threads = [
        Thread(main, "host-user-3", "ROS 2 notes", {"topic": "ros2", "lang": "hi-en"}, at(0), at(40), [
            from_chatkit(question, at(1)), from_chatkit(answer, at(2)), from_chatkit(task, at(2)), from_chatkit(thanks, at(5)),
        ], [{"id": "atc_1", "filename": "notes.pdf", "content_type": "application/pdf", "chatkit": file}]),
        Thread("thr_anon0001", "anonymous", None, {}, at(6), at(6), [from_chatkit(alone, at(6))]),
    ]
    bad = {"chatkit_threads": {"thr_badmeta1"}, "chatkit_thread_items": {"msg_bad", "msg_nul", "msg_lost"}}
    return Sample("003", ["chatkit_threads", "chatkit_thread_items", "chatkit_attachments"], threads, bad, 12)


def fill_004(engine: sa.Engine, prefix: str = "") -> Sample:
    """Seed 004's rows; `prefix` makes the session ids unique when several imports share a database."""
    create(engine, ["004"])
    session = f"{prefix}sess-hinglish-1"
    empty = f"{prefix}6f1c0f6e-5b8a-4c1e-9d3a-2b7e8f0a1c2d"
    sessions = [
        {"session_id": session, "metadata": {"title": "ROS 2 doubts", "source": "web"}, "created_at": at(0), "last_activity": at(50)},
        {"session_id": empty, "metadata": {}, "created_at": at(60), "last_activity": at(60)},
    ]
    if engine.dialect.name == "sqlite":
        for number, row in enumerate(sessions):
            row["id"] = f"{number:032x}"
    insert(engine, "chat_sessions", sessions, json_columns=("metadata",))
    sources = [{"chunk_id": "ch-12", "score": 0.91, "title": "ROS 2 basics"}]
    insert(engine, "chat_messages", [
        {"id": 1, "session_id": session, "role": "user", "content": "ROS 2 kya hai? समझाइए", "sources": [], "confidence": None, "tokens_used": None, "created_at": TIE},
        {"id": 2, "session_id": session, "role": "assistant", "content": "ROS 2 ek robotics middleware hai.", "sources": sources, "confidence": 0.87, "tokens_used": 321, "created_at": TIE},
        {"id": 3, "session_id": session, "role": "user", "content": "   ", "sources": [], "confidence": None, "tokens_used": None, "created_at": at(6)},
        {"id": 4, "session_id": session, "role": "assistant", "content": "Docs dekho.", "sources": None, "confidence": 0.5, "tokens_used": 42, "created_at": at(7)},
    ], json_columns=("sources",))
    threads = [
        Thread(session, None, "ROS 2 doubts", {"title": "ROS 2 doubts", "source": "web"}, at(0), at(50), [
            Item("msg_1", "message", "user", "ROS 2 kya hai? समझाइए", {}, TIE),
            Item("msg_2", "message", "assistant", "ROS 2 ek robotics middleware hai.",
                 {"sources": sources, "confidence": 0.87, "usage": {"total_tokens": 321}}, TIE),
            Item("msg_4", "message", "assistant", "Docs dekho.", {"confidence": 0.5, "usage": {"total_tokens": 42}}, at(7)),
        ]),
        Thread(empty, None, None, {}, at(60), at(60)),
    ]
    return Sample("004", ["chat_sessions", "chat_messages"], threads, {"chat_messages": {"3"}}, 6)


FILLERS = {"000/001": fill_000_001, "002": fill_002, "003": fill_003, "004": fill_004}
