"""Messages with replies: post a user message, get the assistant's reply (JSON or Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Response, current_app, request
from pydantic import BaseModel, Field

from ..assistant import Reply
from ..assistant.streaming import ReplyStream, sse_event
from ..consistency import HEADER as CONSISTENCY_HEADER
from ..consistency import consistency_event
from ..errors import InvalidRequest
from ..rules import MAX_ATTACHMENTS_PER_MESSAGE, Id, Text
from ..services import chat_store, reply_service
from ..store import UNSET, ItemRecord
from .registry import api
from .responses import json_response
from .schemas import PARENT_ID, RequestModel

EVENT_STREAM = "text/event-stream"


class MessageCreate(RequestModel):
    """A user message; `stream: true` (or `Accept: text/event-stream`) streams the reply."""

    id: Id | None = Field(
        None,
        description="A client-chosen id for the user message: re-sending it stores the message "
        "once and asks for a new reply (the retry after an error).",
    )
    content: Annotated[Text, Field(min_length=1)]
    parent_id: Id | None = Field(None, description=PARENT_ID + " Edit and resend a message: its parent_id.")
    attachments: Annotated[list[Id], Field(max_length=MAX_ATTACHMENTS_PER_MESSAGE)] | None = Field(
        None,
        description="Ids of your attachments (POST /attachments) that go with the message, kept in its "
        "metadata.attachments: text files reach the model as text, images as images when it accepts them.",
    )
    stream: bool = False


class ReplyCreate(RequestModel):
    """`stream: true` (or `Accept: text/event-stream`) streams the reply."""

    stream: bool = False


class MessageReply(BaseModel):
    user: ItemRecord
    assistant: ItemRecord


def wants_event_stream(body: MessageCreate | ReplyCreate) -> bool:
    accepted = request.accept_mimetypes
    return body.stream or accepted.best_match(["application/json", EVENT_STREAM]) == EVENT_STREAM


STREAMED_REPLY = {
    200: {
        "description": "The reply as Server-Sent Events (`stream: true` or Accept: text/event-stream).",
        "content": {
            EVENT_STREAM: {
                "schema": {
                    "type": "string",
                    "description": (
                        "A text/event-stream body: events separated by a blank line, each "
                        "`event: <name>` then `data: <one line of JSON>`. In order: one `user` "
                        "event (the stored user item), any number of `delta` events "
                        '(`{"text": "..."}`), then either one `assistant` event (the stored '
                        'reply item) or one `error` event (`{"error": {"code", "message"}, '
                        '"status", "assistant": the stored item}`). With read replicas, a last '
                        f'`consistency` event (`{{"position": "0/16B3748"}}`) follows: the position to send '
                        f"back in the {CONSISTENCY_HEADER} header so that reads on any instance show the stored reply."
                    ),
                }
            }
        },
    }
}


@api.route(
    "/threads/<thread_id>/messages",
    "POST",
    body=MessageCreate,
    response=MessageReply,
    status=201,
    extra_responses=STREAMED_REPLY,
    errors=(409, 502, 504),
    tag="messages",
)
def post_message(user_id: str, thread_id: str, body: MessageCreate) -> Any:
    """Post a user message and get the assistant's reply.

    The user message is stored first. Without streaming the answer is 201 with both stored
    items. With `"stream": true` or `Accept: text/event-stream` the answer is 200
    `text/event-stream`: a `user` event (the stored user item), `delta` events (`{"text"}`),
    then an `assistant` event (the stored reply) or an `error` event (`{"error", "status",
    "assistant"}`). When the backend fails before replying, the answer is 502 (unreachable,
    error status, malformed answer) or 504 (timeout) JSON whose details carry the user item and
    the assistant item stored with `metadata.status = "error"`. A reply cut short is stored with
    `metadata.status = "incomplete"`. The message follows `parent_id` (default: the thread's
    leaf): send the parent of a message to edit it, and the conversation continues from the new
    version while the old branch stays. The reply follows the message.
    """
    parent_id = body.parent_id if "parent_id" in body.model_fields_set else UNSET
    metadata = None
    if body.attachments:
        found = chat_store().read_attachments(user_id, body.attachments, max_bytes=0)
        if len(found) != len(set(body.attachments)):
            raise InvalidRequest("attachments: each must be the id of one of your attachments", {"field": "attachments"})
        metadata = {"attachments": list(dict.fromkeys(body.attachments))}
    reply = reply_service().start(
        user_id, thread_id, body.content, item_id=body.id, parent_id=parent_id, metadata=metadata
    )
    return answer(reply, body)


@api.route(
    "/threads/<thread_id>/items/<item_id>/replies",
    "POST",
    body=ReplyCreate,
    response=MessageReply,
    status=201,
    extra_responses=STREAMED_REPLY,
    errors=(502, 504),
    tag="messages",
)
def post_reply(user_id: str, thread_id: str, item_id: str, body: ReplyCreate) -> Any:
    """Ask for a new reply to a stored user message: regenerate, or retry after a failure.

    The new reply becomes another version of the message's earlier replies, which stay (`GET
    .../items/{reply_id}/versions`), and the thread's leaf; earlier replies that are only a
    failure notice, with nothing after them, are deleted. Answers like POST .../messages; an
    item that is not a user message is a 400.
    """
    return answer(reply_service().reply_to(user_id, thread_id, item_id), body)


def answer(reply: Reply, body: MessageCreate | ReplyCreate) -> Any:
    """The reply as Server-Sent Events, or run to its end and answered as JSON."""
    if wants_event_stream(body):
        stream = ReplyStream(current_app._get_current_object(), reply, sse_event, lambda: consistency_event(reply.recorder.user_id))
        return Response(
            stream,
            mimetype=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    user_item, assistant_item = reply.complete()
    return json_response({"user": user_item.to_dict(), "assistant": assistant_item.to_dict()}, 201)
