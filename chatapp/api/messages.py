"""Messages with replies: post a user message, get the assistant's reply (JSON or Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

from flask import Response, current_app, request
from pydantic import BaseModel, Field

from ..consistency import HEADER as CONSISTENCY_HEADER, consistency_event
from ..services import reply_service
from ..assistant.streaming import ReplyStream, sse_event
from .registry import api
from .responses import json_response
from ..rules import Id, Text
from ..store import ItemRecord
from .schemas import RequestModel

EVENT_STREAM = "text/event-stream"


class MessageCreate(RequestModel):
    """A user message; `stream: true` (or `Accept: text/event-stream`) streams the reply."""

    id: Optional[Id] = Field(
        None,
        description="A client-chosen id for the user message: re-sending it stores the message "
        "once and asks for a new reply (the retry after an error).",
    )
    content: Annotated[Text, Field(min_length=1)]
    stream: bool = False


class MessageReply(BaseModel):
    user: ItemRecord
    assistant: ItemRecord


def wants_event_stream(body: MessageCreate) -> bool:
    accepted = request.accept_mimetypes
    return body.stream or accepted.best_match(["application/json", EVENT_STREAM]) == EVENT_STREAM


@api.route(
    "/threads/<thread_id>/messages",
    "POST",
    body=MessageCreate,
    response=MessageReply,
    status=201,
    extra_responses={
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
    },
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
    `metadata.status = "incomplete"`.
    """
    reply = reply_service().start(user_id, thread_id, body.content, item_id=body.id)
    if wants_event_stream(body):
        stream = ReplyStream(current_app._get_current_object(), reply, sse_event, lambda: consistency_event(user_id))
        return Response(
            stream,
            mimetype=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    user_item, assistant_item = reply.complete()
    return json_response({"user": user_item.to_dict(), "assistant": assistant_item.to_dict()}, 201)
