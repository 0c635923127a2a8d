"""Conversation sessions behind one protocol: DynamoDB (default) or process memory.

A session holds the last turns of a conversation, a rolling summary of older ones,
the intents seen so far and the customer who owns it. Turns are appended with
optimistic concurrency (a version attribute and conditional writes), so two quick
turns of the same session never overwrite one another.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

# Bounds that keep a session item far below DynamoDB's 400 KB limit:
# 12 turns × ≤ 4,000 chars + a 1,000-char summary + 40 intents ≈ 60 KB at worst.
MAX_TURNS = 12
MAX_TURN_CHARS = 4_000
MAX_SUMMARY_CHARS = 1_000
MAX_INTENTS = 40
# The serialised dialogue state (focus, constraints, last shown, pending slot); a bigger
# one is dropped (the next turn starts a new topic) rather than stored.
MAX_STATE_BYTES = 2_048


class SessionOwnershipError(Exception):
    """The session belongs to another customer (or to a signed-in one while anonymous)."""


@dataclass(frozen=True)
class Turn:
    """One finished exchange to record: who asked (``None``: anonymous), the intent, the
    question and the answer, the model cost, and the dialogue state after it (``None``
    keeps the stored one)."""

    customer_id: str | None
    intent: str
    user_text: str
    answer: str
    cost_usd: float = 0.0
    state: bytes | None = None
    turn_id: str = ""  # a retried write of the same turn is stored once


@dataclass
class Session:
    session_id: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first
    intents: list[str] = field(default_factory=list)
    summary: str = ""
    customer_id: str | None = None
    version: int = 0
    cost_usd: float = 0.0  # model cost of the whole conversation so far
    state: bytes = b""  # the serialised DialogueState after the last turn
    # Ids of the latest turns written: a retried write whose first try landed after all
    # (its reply lost to a timeout) finds its id here and is not appended twice.
    turn_ids: list[str] = field(default_factory=list)

    def owned_by(self, customer_id: str | None) -> bool:
        """Anyone may use an unowned session; an owned one only its customer."""
        return self.customer_id is None or self.customer_id == customer_id

    def with_turn(self, turn: Turn) -> Session:
        """A copy with one more exchange; the oldest turns roll into the summary."""
        user_text, answer, state = turn.user_text, turn.answer, turn.state
        turns = [*self.turns, ("user", user_text[:MAX_TURN_CHARS]), ("assistant", answer[:MAX_TURN_CHARS])]
        summary = self.summary
        if len(turns) > MAX_TURNS:
            dropped, turns = turns[:-MAX_TURNS], turns[-MAX_TURNS:]
            # Rolling summary: the customer's earlier questions, newest last, bounded.
            earlier = " | ".join(text[:120] for role, text in dropped if role == "user")
            summary = (f"{summary} | {earlier}" if summary else earlier)[-MAX_SUMMARY_CHARS:]
        return Session(
            session_id=self.session_id,
            turns=turns,
            intents=[*self.intents, turn.intent][-MAX_INTENTS:],
            summary=summary,
            customer_id=self.customer_id or turn.customer_id,
            version=self.version + 1,
            cost_usd=self.cost_usd + turn.cost_usd,
            state=self.state if state is None else (state if len(state) <= MAX_STATE_BYTES else b""),
            turn_ids=[*self.turn_ids, turn.turn_id][-MAX_INTENTS:] if turn.turn_id else list(self.turn_ids),
        )


class SessionStore(Protocol):
    async def load(self, session_id: str) -> Session:
        """The session, or a new empty one (version 0)."""
        ...

    async def append(self, session_id: str, turn: Turn, base: Session | None = None) -> None:
        """Record one finished exchange and the dialogue state after it (``None`` keeps the
        stored one), in one write; raises ``SessionOwnershipError`` for another's session.

        ``base`` is the session as this turn loaded it: a store that writes conditionally on
        its version appends to it without reading again, and re-reads only when another
        write landed in between (the condition fails). ``turn_id`` makes the append
        idempotent: a turn whose id the session already holds is not appended again."""
        ...

    async def close(self) -> None: ...


class Guarded(Protocol):
    """A downstream's guard (``guards.Guard``): admits a call through its breaker and bulkhead."""

    def call(self, squeezed: bool = False) -> AbstractAsyncContextManager[None]: ...


class GuardedSessionStore:
    """Appends through the store's breaker: while it is open they fail at once (and are retried
    later by the post-processor) instead of adding load to a store that is failing.

    Loads are guarded by the pipeline already; they pass straight through. A session owned by
    someone else is the customer's error, not the store's: it does not count against it.
    """

    def __init__(self, store: SessionStore, guard: Guarded) -> None:
        self._store = store
        self._guard = guard

    async def load(self, session_id: str) -> Session:
        return await self._store.load(session_id)

    async def append(self, session_id: str, turn: Turn, base: Session | None = None) -> None:
        refused: SessionOwnershipError | None = None
        async with self._guard.call():
            try:
                await self._store.append(session_id, turn, base)
            except SessionOwnershipError as exc:
                refused = exc
        if refused is not None:
            raise refused

    async def close(self) -> None:
        await self._store.close()


class InMemorySessionStore:
    """Bounded LRU of sessions with an idle TTL: for a single process without DynamoDB."""

    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self._data: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        self._max = max_sessions
        self._ttl = ttl_s

    async def load(self, session_id: str) -> Session:
        entry = self._data.get(session_id)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return Session(session_id)
        s = entry[1]
        return Session(
            s.session_id,
            list(s.turns),
            list(s.intents),
            s.summary,
            s.customer_id,
            s.version,
            s.cost_usd,
            s.state,
            list(s.turn_ids),
        )

    async def append(self, session_id: str, turn: Turn, base: Session | None = None) -> None:
        session = await self.load(session_id)
        if not session.owned_by(turn.customer_id):
            raise SessionOwnershipError(session_id)
        if turn.turn_id and turn.turn_id in session.turn_ids:
            return
        self._data.pop(session_id, None)
        self._data[session_id] = (time.monotonic(), session.with_turn(turn))
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def close(self) -> None:
        self._data.clear()
