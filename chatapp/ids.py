"""Opaque string ids such as thr_…, msg_… and att_…, with 128 random bits each."""

from __future__ import annotations

import secrets

ITEM_PREFIXES = {"message": "msg", "tool_call": "tc", "attachment": "att"}


def new_id(prefix: str) -> str:
    """A new id: the prefix, an underscore and 32 hex characters (128 random bits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def new_thread_id() -> str:
    return new_id("thr")


def new_item_id(item_type: str) -> str:
    return new_id(ITEM_PREFIXES.get(item_type, "itm"))


def new_attachment_id() -> str:
    return new_id("att")
