"""The benchmark's baseline: the two endpoints as someone would hand-write them in a few routes.

A pooled SQLAlchemy Core engine on chatapp's own tables, no auth, no validation, plain
jsonify. It is what chatapp is measured against (bench/http_bench.py), never a part of chatapp.
Run: DATABASE_URL=postgresql://... gunicorn bench.baseline_app:app
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)
app = Flask(__name__)

LIST_ITEMS = text(
    "SELECT id, thread_id, seq, type, role, content, metadata, created_at FROM thread_items "
    "WHERE thread_id = :thread_id ORDER BY seq DESC LIMIT :limit"
)
BUMP_SEQ = text(
    "UPDATE threads SET last_seq = last_seq + 1, updated_at = :now WHERE id = :thread_id RETURNING last_seq"
)
INSERT_ITEM = text(
    "INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at) "
    "VALUES (:thread_id, :id, :seq, 'message', :role, to_jsonb(CAST(:content AS text)), '{}'::jsonb, :now)"
)


@app.get("/api/v1/threads/<thread_id>/items")
def list_items(thread_id):
    limit = int(request.args.get("limit", 50))
    with engine.connect() as conn:
        rows = conn.execute(LIST_ITEMS, {"thread_id": thread_id, "limit": limit}).mappings().all()
    return jsonify({"data": [dict(row) for row in rows]})


@app.post("/api/v1/threads/<thread_id>/items")
def add_item(thread_id):
    body = request.get_json()
    now = datetime.now(UTC)
    item_id = "msg_" + uuid.uuid4().hex
    with engine.begin() as conn:
        seq = conn.execute(BUMP_SEQ, {"thread_id": thread_id, "now": now}).scalar()
        conn.execute(
            INSERT_ITEM,
            {
                "thread_id": thread_id,
                "id": item_id,
                "seq": seq,
                "role": body["role"],
                "content": body["content"],
                "now": now,
            },
        )
    item = {
        "id": item_id,
        "thread_id": thread_id,
        "seq": seq,
        "type": "message",
        "role": body["role"],
        "content": body["content"],
        "metadata": {},
        "created_at": now,
    }
    return jsonify(item), 201
