"""Conversation sessions behind one protocol; in memory until the DynamoDB store lands."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Session:
    session_id: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first
    intents: list[str] = field(default_factory=list)


class SessionStore(Protocol):
    async def load(self, session_id: str) -> Session:
        """The session, or a new empty one."""
        ...

    async def append(self, session_id: str, intent: str, user_text: str, answer: str) -> None:
        """Record one finished turn."""
        ...


class InMemorySessionStore:
    """Bounded LRU of sessions with an idle TTL, so memory cannot grow without limit."""

    def __init__(self, max_sessions: int, ttl_s: float, max_turns: int = 40) -> None:
        self._data: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        self._max = max_sessions
        self._ttl = ttl_s
        self._max_turns = max_turns

    async def load(self, session_id: str) -> Session:
        entry = self._data.get(session_id)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return Session(session_id)
        stored = entry[1]
        return Session(session_id, list(stored.turns), list(stored.intents))

    async def append(self, session_id: str, intent: str, user_text: str, answer: str) -> None:
        now = time.monotonic()
        entry = self._data.pop(session_id, None)
        session = entry[1] if entry and now - entry[0] <= self._ttl else Session(session_id)
        session.turns.extend([("user", user_text), ("assistant", answer)])
        session.intents.append(intent)
        del session.turns[: -self._max_turns]
        del session.intents[: -self._max_turns]
        self._data[session_id] = (now, session)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
