"""Whole conversations through the real processes: titles found, follow-ups understood."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import connect

from bench.conversations.run import load, run_split
from mangaassist.devtools.cluster import Cluster
from tests.conftest import ask


async def converse(cluster: Cluster, texts: list[str]) -> list[dict[str, Any]]:
    """Each turn's done frame, all in one session (the answer's text as ``answer``)."""
    out: list[dict[str, Any]] = []
    session: dict[str, str] = {}
    async with connect(cluster.ws_url, compression=None) as ws:
        for i, text in enumerate(texts):
            frames = await ask(ws, text, request_id=f"t{i}", **session)
            done = frames[-1]
            assert done["type"] == "done", done
            session = {"session_id": done["session_id"]}
            out.append({**done, "answer": "".join(f["text"] for f in frames if f["type"] == "token")})
    return out


def series(done: dict[str, Any]) -> list[str]:
    return [p["series_id"] for p in done["products"]]


async def test_a_bare_title_is_found_not_asked_back(cluster: Cluster) -> None:
    for text, want in (
        ("One Piece", "one-piece"),
        ("Blue Lock", "blue-lock"),
        ("「ダンダダン」", "dandadan"),
        ("コナン", "case-closed"),
        ("sakamoto days", "sakamoto-days"),
    ):
        done = (await converse(cluster, [text]))[0]
        assert done["intent"].startswith("product_") and "clarify" not in done, (text, done)
        assert series(done)[0] == want, (text, series(done))


async def test_follow_ups_keep_the_thread(cluster: Cluster) -> None:
    kingdom, count, english = await converse(
        cluster, ["Do you have Kingdom?", "how many volumes are out?", "and in English?"]
    )
    assert series(kingdom)[0] == "kingdom" and series(count)[0] == "kingdom"
    assert count["state"]["focus"]["series_id"] == "kingdom"
    assert english["state"]["focus"] == {"series_id": "kingdom", "language": "en", "volume": "latest"}
    # Kingdom has no English edition: the Japanese one is shown (so the answer can say so),
    # and nothing else is passed off as it.
    assert english["products"] and all(
        p["series_id"] == "kingdom" and p["language"] == "ja" for p in english["products"]
    )


async def test_refinements_merge_into_the_request(cluster: Cluster) -> None:
    _, completed, cheap, no_horror = await converse(
        cluster, ["Recommend a romance manga", "only completed ones", "cheaper than 600 yen", "not horror"]
    )
    for done in (completed, cheap, no_horror):
        assert done["intent"] == "product_recommendation" and done["products"]
        assert all("romance" in p["genres"] and p["status"] == "completed" for p in done["products"])
    assert all(p["price_jpy"] < 600 for p in cheap["products"] + no_horror["products"])
    assert not any("horror" in p["genres"] for p in no_horror["products"])
    assert no_horror["state"]["constraints"]["excluded_genres"] == ["horror"]


async def test_like_x_never_recommends_x(cluster: Cluster) -> None:
    done = (await converse(cluster, ["I enjoyed Dandadan, anything similar?"]))[0]
    assert done["intent"] == "product_recommendation" and done["products"]
    assert "dandadan" not in series(done)


async def test_a_volume_asked_for_is_the_volume_shown(cluster: Cluster) -> None:
    vol, latest = await converse(cluster, ["呪術廻戦の0巻", "最新刊は？"])
    assert (vol["products"][0]["series_id"], vol["products"][0]["volume"]) == ("jujutsu-kaisen", 0)
    top = latest["products"][0]
    assert top["series_id"] == "jujutsu-kaisen" and top["volume"] == top["volumes"]


async def test_a_title_we_do_not_carry_gets_an_honest_no_with_alternatives(cluster: Cluster) -> None:
    for text, sorry in (
        ("Do you have Harry Potter?", "we don't carry"),
        ("Do you have Harry Potter?", "we don't carry"),  # answered from the cache: still an honest no
        ("ボルトある？", "取り扱いがありません"),
    ):
        done = (await converse(cluster, [text]))[0]
        assert done.get("not_carried") is True and done["products"], done
        # The answer itself says so, before it offers the alternatives.
        assert sorry in done["answer"], done["answer"]


async def test_a_quick_slice_of_the_hand_written_conversations(cluster: Cluster) -> None:
    """The first dev conversations (the whole suite runs in `make bench`)."""
    conversations = load("dev")[:30]
    outcomes = await run_split(cluster.ws_url, conversations, concurrency=4)
    turns = [t for conv in outcomes for t in conv]
    assert not any(t["error"] for t in turns)
    assert not any("generic_ask_back" in t["failed"] for t in turns)
    assert sum(not t["failed"] for t in turns) / len(turns) >= 0.8


async def test_same_author_and_forgotten_titles(cluster: Cluster) -> None:
    _, other = await converse(cluster, ["Do you have Death Note?", "the artist did other stuff too right?"])
    # Takeshi Obata drew Death Note, Bakuman and Hikaru no Go; Death Note itself is not "other".
    assert other["products"] and "death-note" not in series(other)
    assert set(series(other)) <= {"bakuman", "hikaru-no-go"}
    asked, chosen = await converse(
        cluster, ["アオなんとかっていう恋愛漫画、タイトル忘れちゃった", "バドミントンのほう！"]
    )
    assert asked["clarify"]["kind"] == "series"
    assert {"blue-box", "blue-spring-ride"} <= set(asked["clarify"]["candidates"])
    assert series(chosen)[0] == "blue-box"


async def test_kinds_of_story_and_a_genre_added_to_like_x(cluster: Cluster) -> None:
    skating = (await converse(cluster, ["フィギュアスケートの漫画ってある？"]))[0]
    assert series(skating)[0] == "medalist"  # the catalog's one figure-skating series
    _, romance = await converse(cluster, ["ハイキューみたいな漫画ある？", "恋愛要素もあるとうれしいです"])
    top = romance["products"][0]
    assert "haikyu" not in series(romance) and {"romance", "sports"} <= set(top["genres"])
    # Its main kind ruled out: other kinds of story, not nothing.
    _, not_sports = await converse(cluster, ["Do you have Haikyu?", "something like it but not sports"])
    assert not_sports["products"] and not any("sports" in p["genres"] for p in not_sports["products"])


async def test_the_shortest_of_a_list_comes_first_and_becomes_the_focus(cluster: Cluster) -> None:
    listed, shortest, english = await converse(
        cluster, ["rumiko takahashi manga", "which one is the shortest", "is that one in english"]
    )
    assert len(listed["products"]) > 1
    volumes = [p["volumes"] for p in shortest["products"]]
    assert volumes == sorted(volumes) and shortest["products"][0]["series_id"] == "maison-ikkoku"
    assert english["state"]["focus"]["series_id"] == "maison-ikkoku"


async def test_a_kind_named_beside_like_x_goes_first_and_shorter_goes_back_to_the_request(cluster: Cluster) -> None:
    _, soccer = await converse(cluster, ["スラダン ある?", "similar but soccer"])
    assert "slam-dunk" not in series(soccer) and series(soccer)[0] in {"blue-lock", "captain-tsubasa"}
    _, _, shorter = await converse(
        cluster, ["sports manga please", "hajime no ippo is how many volumes??", "lmao too many. something shorter"]
    )
    assert "hajime-no-ippo" not in series(shorter)
    assert all("sports" in p["genres"] for p in shorter["products"])
    assert [p["volumes"] for p in shorter["products"]] == sorted(p["volumes"] for p in shorter["products"])
