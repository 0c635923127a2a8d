"""A local stand-in for the foundation model. It is NOT a language model.

It composes a grounded answer from the prompt's products and shop documents with fixed
Japanese / English templates, then streams it chunk by chunk with a configurable delay,
so the whole mesh (streaming, usage, timings) runs without AWS. Answers say only what
the supplied products and documents say. Replies carry ``backend="template-emulator"``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from mangaassist.inference.backend import Finished
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2

# Roughly model-like chunks: a word with its leading space, or one-two CJK characters.
_CHUNK = re.compile(r"\s*[A-Za-z0-9'’.,!?¥$%:;/()\-]+|\s*[\u3040-\u30ff\u3400-\u9fff]{1,2}|\s*\S|\s+")

GENRE_JA = {
    "action": "アクション", "adventure": "冒険", "comedy": "コメディ", "drama": "ドラマ",
    "fantasy": "ファンタジー", "horror": "ホラー", "mystery": "ミステリー", "romance": "恋愛",
    "sci-fi": "SF", "slice-of-life": "日常", "sports": "スポーツ", "supernatural": "超常",
    "historical": "歴史", "psychological": "心理", "thriller": "スリラー", "mecha": "ロボット",
    "music": "音楽", "cooking": "料理", "school": "学園", "isekai": "異世界",
}


def chunk(text: str) -> list[str]:
    """Split text into streaming chunks (also our token estimate)."""
    return _CHUNK.findall(text)


def _line_ja(i: int, p: common_pb2.Product) -> str:
    parts = [f"{i}. 『{p.title}』"]
    if p.authors:
        parts.append(f"（{'、'.join(p.authors)}）")
    facts = []
    if p.genres:
        facts.append("・".join(GENRE_JA.get(g, g) for g in p.genres))
    if p.HasField("volumes"):
        facts.append(f"既刊{p.volumes}巻")
    if p.HasField("price_jpy"):
        facts.append(f"{p.price_jpy:,}円")
    if p.HasField("in_stock"):
        facts.append("在庫あり" if p.in_stock else "在庫切れ")
    line = "".join(parts) + (f" — {'、'.join(facts)}" if facts else "")
    if p.synopsis_short:
        line += f"\n   {p.synopsis_short}"
    return line


def _line_en(i: int, p: common_pb2.Product) -> str:
    line = f"{i}. {p.title}"
    if p.authors:
        line += f" by {', '.join(p.authors)}"
    facts = []
    if p.genres:
        facts.append(", ".join(p.genres))
    if p.HasField("volumes"):
        facts.append(f"{p.volumes} volumes")
    if p.HasField("price_jpy"):
        facts.append(f"¥{p.price_jpy:,}")
    if p.HasField("in_stock"):
        facts.append("in stock" if p.in_stock else "out of stock")
    if facts:
        line += f" — {'; '.join(facts)}"
    if p.synopsis_short:
        line += f"\n   {p.synopsis_short}"
    return line


def compose(model: str, prompt: inference_pb2.PromptParts) -> str:
    """The full answer text for a prompt, grounded only in its products and documents."""
    ja = prompt.language == "ja"
    limit = 5 if model == "sonnet" else 3
    products = list(prompt.products)[:limit]
    if products:
        if prompt.intent == "product_question":
            head = "お問い合わせの作品について、当店の情報です。" if ja else "Here is what our catalog says about that title."
        elif prompt.intent == "product_search":
            head = "お探しの条件で見つかった商品です。" if ja else "Here is what I found in our store."
        else:
            head = "ご希望に合いそうな作品をご紹介します。" if ja else "Here are some picks that match what you asked for."
        line = _line_ja if ja else _line_en
        body = "\n".join(line(i, p) for i, p in enumerate(products, 1))
        tail = (
            "気になる作品があれば、巻数や在庫について続けてお尋ねください。"
            if ja
            else "Ask me about any of these for volumes, editions or stock."
        )
        return f"{head}\n{body}\n{tail}"
    if prompt.documents:
        head = "ご質問について、当店のご案内です。" if ja else "Here is our store's information on that."
        return head + "\n" + "\n".join(prompt.documents)
    if ja:
        return "申し訳ありません。条件に合う商品が見つかりませんでした。条件を変えてもう一度お試しください。"
    return "Sorry, I couldn't find anything in our store that matches. Try loosening the conditions."


def prompt_text(prompt: inference_pb2.PromptParts) -> str:
    """Everything the model would read; used for the input-token estimate."""
    parts = [prompt.system, prompt.question, *prompt.documents]
    parts += [t.text for t in prompt.history]
    parts += [str(p) for p in prompt.products]
    return "\n".join(parts)


class TemplateEmulator:
    """Streams ``compose()``'s answer with ``token_delay_s`` between chunks."""

    name = "template-emulator"

    def __init__(self, token_delay_s: float) -> None:
        self._delay = token_delay_s

    async def stream(
        self, model: str, prompt: inference_pb2.PromptParts, max_tokens: int
    ) -> AsyncIterator[str | Finished]:
        chunks = chunk(compose(model, prompt))
        finish = "end_turn"
        if len(chunks) > max_tokens:
            chunks, finish = chunks[:max_tokens], "max_tokens"
        for piece in chunks:
            if self._delay:
                await asyncio.sleep(self._delay)
            yield piece
        yield Finished(
            input_tokens=len(chunk(prompt_text(prompt))),
            output_tokens=len(chunks),
            finish_reason=finish,
            model=model,
        )
