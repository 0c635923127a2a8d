"""docs/contract.md and the code agree: frames, fields, error codes, intents, span names, ports,
make targets (unit test: parses the document, builds frames in process with fake downstreams).

A client written from the document must be understood by the server, and every frame the
server sends must carry what the document promises. The document's examples are parsed (its
JSON block, the key names of its inline frames, its tables and backticked names), so a change
on either side without the other fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mangaassist.common import spans
from mangaassist.common.vocabulary import INTENTS
from mangaassist.devtools.cluster import DEFAULT_PORTS, GRPC_SERVICES
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.schema import ErrorCode, QueryFilters, QueryFrame, error_frame
from mangaassist.orchestrator.stages.catalog import CARD_FIELDS
from services.orchestrator.tests.test_pipeline_fallbacks import frames_of, make_pipeline

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "contract.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under the ``## title`` heading, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", DOC, flags=re.M | re.S)
    assert match, f"docs/contract.md has no section {title!r}"
    return match.group(1)


def table(title: str) -> list[list[str]]:
    """The body rows of the first table in a section, as lists of cells."""
    rows = [line for line in section(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def top_level_keys(snippet: str) -> set[str]:
    """The keys of the outermost object of a JSON-like example (it may hold ``...``)."""
    keys: set[str] = set()
    depth, i = 0, 0
    while i < len(snippet):
        char = snippet[i]
        if char == '"':
            end = snippet.index('"', i + 1)
            if depth == 1 and snippet[end + 1 : end + 2] == ":":
                keys.add(snippet[i + 1 : end])
            i = end + 1
            continue
        depth += char in "{[" or -(char in "}]")
        i += 1
    return keys


def inline_frame(frame_type: str) -> str:
    """The inline example of a server frame, ``{"type": "<frame_type>", ...}``."""
    text = section("WebSocket frames")
    start = text.index(f'`{{"type": "{frame_type}"')
    return text[start + 1 : text.index("}`", start) + 1]


@pytest.fixture(scope="module")
def frames() -> list[dict[str, Any]]:
    """Every frame the server sends for one answered query (fake downstreams, real pipeline)."""
    import asyncio

    async def answer() -> list[dict[str, Any]]:
        pipeline, inference = make_pipeline()
        inference.sonnet_down = False
        return await frames_of(pipeline)

    return asyncio.run(answer())


def test_the_documented_client_frame_is_accepted_and_its_fields_are_the_schemas() -> None:
    block = re.search(r"Client → server:\n```json\n(.*?)```", section("WebSocket frames"), flags=re.S)
    assert block
    example = json.loads(block.group(1))
    QueryFrame.model_validate(example)
    assert set(example) <= set(QueryFrame.model_fields)
    assert set(example["filters"]) <= set(QueryFilters.model_fields)
    optional = set(ticked(section("WebSocket frames").split("are optional")[0].rsplit("\n", 1)[-1]))
    assert optional == {"request_id", "session_id", "filters"}
    for name, field in QueryFrame.model_fields.items():
        assert field.is_required() == (name in set(example) - optional), name


def test_the_server_sends_the_documented_token_and_done_frames(frames: list[dict[str, Any]]) -> None:
    *tokens, done = frames
    assert tokens and all(set(t) == top_level_keys(inline_frame("token")) for t in tokens)
    documented = top_level_keys(inline_frame("done"))
    optional = {"state"}  # "`state` (optional)"
    assert "`state` (optional)" in section("WebSocket frames")
    assert documented - optional <= set(done), documented - optional - set(done)
    assert set(done["timings_ms"]) <= set(ticked(section("Trace segments")))


def test_every_documented_product_field_is_asked_of_retrieval() -> None:
    """A product on a ``done`` frame carries what retrieval returned for the fields asked
    (``CARD_FIELDS``); ``volume`` comes with a volume that was asked for."""
    product_example = re.search(r'"products": \[(\{.*?\})', inline_frame("done"))
    assert product_example
    every_product = top_level_keys(product_example.group(1)) - {"volume"}
    assert {"series_id", "language"} <= every_product
    assert every_product <= set(CARD_FIELDS), every_product - set(CARD_FIELDS)


def test_error_frames_and_codes_are_the_documented_ones() -> None:
    text = section("WebSocket frames")
    documented_codes = ticked(text[text.index("Error codes:") : text.index("A bad frame")])
    assert sorted(documented_codes) == sorted(code.value for code in ErrorCode)
    keys = top_level_keys(inline_frame("error"))
    for code in ErrorCode:
        frame = error_frame("r1", code, "for people")
        assert set(frame) == keys and frame["code"] == code.value
    assert 'A `rate_limited` error carries `"retry_after_s"`' in text
    assert "retry_after_s" in error_frame("r1", ErrorCode.RATE_LIMITED, "slow down", retry_after_s=1.5)


def test_the_intent_taxonomy_and_span_names_are_the_codes() -> None:
    assert sorted(ticked(section("Intent taxonomy"))) == sorted(INTENTS)
    names = {value for name, value in vars(spans).items() if name.isupper() and isinstance(value, str)}
    assert set(ticked(section("Trace segments"))) - {"(root)"} == names


def test_default_endpoints_are_the_defaults_the_code_binds() -> None:
    rows = {row[0]: row for row in table("Default endpoints")}
    assert rows["orchestrator"][1] == f"`127.0.0.1:{OrchestratorSettings().port}`"
    for service, full_name in GRPC_SERVICES.items():
        assert rows[service][1] == f"`127.0.0.1:{DEFAULT_PORTS[service]}`"
        assert full_name in rows[service][2]
    stand_ins = {
        "local Bedrock emulator": "bedrock_emulator",
        "local AWS stand-in (DynamoDB, X-Ray, CloudWatch)": "aws",
        "local cache": "redis",
        "local trace receiver": "traces",
    }
    for label, key in stand_ins.items():
        assert rows[label][1] == f"`127.0.0.1:{DEFAULT_PORTS[key]}`", label


def test_every_documented_make_target_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    documented = {
        word
        for row in table("Commands (Makefile)")
        for cmd in ticked(row[0])
        for word in re.findall(r"make ([a-z][\w-]*)", cmd)
    }
    assert documented >= {"up", "test", "unit", "integration", "e2e", "lint", "deploy-check"}
    assert documented <= targets, documented - targets
