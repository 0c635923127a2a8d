"""The emulator's "model": a grounded answer composed from the request's own prompt.

The inference service renders its prompt as tagged sections (``<language>``,
``<intent>``, ``<products>`` with one JSON object per line, ``<documents>``,
``<question>``), which is also the layout Anthropic recommends for Claude. This module
reads those sections back and answers with fixed Japanese / English templates, saying
only what the supplied products and documents say. It is NOT a language model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

# Roughly model-like chunks: a word with its leading space, or one-two CJK characters.
_CHUNK = re.compile(r"\s*[A-Za-z0-9'’.,!?¥$%:;/()\-]+|\s*[\u3040-\u30ff\u3400-\u9fff]{1,2}|\s*\S|\s+")
_SECTION = re.compile(r"<(language|intent|catalog_note|products|documents|question)>\n?(.*?)\n?</\1>", re.S)

GENRE_JA = {
    "action": "アクション",
    "adventure": "冒険",
    "comedy": "コメディ",
    "drama": "ドラマ",
    "fantasy": "ファンタジー",
    "horror": "ホラー",
    "mystery": "ミステリー",
    "romance": "恋愛",
    "sci-fi": "SF",
    "slice-of-life": "日常",
    "sports": "スポーツ",
    "supernatural": "超常",
    "historical": "歴史",
    "psychological": "心理",
    "thriller": "スリラー",
    "mecha": "ロボット",
    "music": "音楽",
    "cooking": "料理",
    "school": "学園",
    "isekai": "異世界",
}


def chunk(text: str) -> list[str]:
    """Split text into streaming chunks (also the emulator's token count)."""
    return _CHUNK.findall(text)


@dataclass
class Prompt:
    """What the emulator understood from the last user message."""

    language: str = "en"
    intent: str = ""
    products: list[dict[str, Any]] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    question: str = ""
    # The prompt says the title asked for is not sold here (its <catalog_note>).
    not_carried: bool = False


def parse(text: str) -> Prompt:
    """Read the tagged sections; anything untagged is taken as the question."""
    found = {m.group(1): m.group(2) for m in _SECTION.finditer(text)}
    if not found:
        return Prompt(question=text.strip())
    products = []
    for line in found.get("products", "").splitlines():
        line = line.strip()
        if line:
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict):
                products.append(item)
    documents = [d.strip() for d in found.get("documents", "").split("\n---\n") if d.strip()]
    return Prompt(
        language=found.get("language", "en").strip() or "en",
        intent=found.get("intent", "").strip(),
        products=products,
        documents=documents,
        question=found.get("question", "").strip(),
        not_carried=bool(found.get("catalog_note", "").strip()),
    )


@dataclass(frozen=True)
class _Listing:
    """How one language writes a product line: title, authors, and the facts after a dash."""

    title: str
    authors: str
    list_sep: str
    genre_sep: str
    genre_names: dict[str, str]
    volumes: str
    price: str
    stock: tuple[str, str]  # in stock, out of stock
    facts_sep: str

    def line(self, i: int, p: dict[str, Any]) -> str:
        line = f"{i}. " + self.title.format(p.get("title", ""))
        if p.get("authors"):
            line += self.authors.format(self.list_sep.join(p["authors"]))
        facts = []
        if p.get("genres"):
            facts.append(self.genre_sep.join(self.genre_names.get(g, g) for g in p["genres"]))
        if p.get("volumes") is not None:
            facts.append(self.volumes.format(p["volumes"]))
        if p.get("price_jpy") is not None:
            facts.append(self.price.format(p["price_jpy"]))
        if p.get("in_stock") is not None:
            facts.append(self.stock[0] if p["in_stock"] else self.stock[1])
        if facts:
            line += f" — {self.facts_sep.join(facts)}"
        if p.get("synopsis_short"):
            line += f"\n   {p['synopsis_short']}"
        return line


_LISTING = {
    "ja": _Listing("『{}』", "（{}）", "、", "・", GENRE_JA, "既刊{}巻", "{:,}円", ("在庫あり", "在庫切れ"), "、"),
    "en": _Listing("{}", " by {}", ", ", ", ", {}, "{} volumes", "¥{:,}", ("in stock", "out of stock"), "; "),
}


def compose(model: str, prompt: Prompt) -> str:
    """The full answer for a prompt, grounded only in its products and documents."""
    ja = prompt.language == "ja"
    limit = 5 if model == "sonnet" else 3
    products = prompt.products[:limit]
    if prompt.not_carried:
        sorry = (
            "申し訳ありません、お探しの作品は当店では取り扱いがありません。"
            if ja
            else "Sorry, we don't carry that title."
        )
        if not products:
            return sorry
        head = sorry + ("代わりに、こちらはいかがでしょう。" if ja else " You might like these instead:")
        listing = _LISTING["ja" if ja else "en"]
        return head + "\n" + "\n".join(listing.line(i, p) for i, p in enumerate(products, 1))
    if products:
        if prompt.intent == "product_question":
            head = (
                "お問い合わせの作品について、当店の情報です。"
                if ja
                else "Here is what our catalog says about that title."
            )
        elif prompt.intent == "product_search":
            head = "お探しの条件で見つかった商品です。" if ja else "Here is what I found in our store."
        else:
            head = (
                "ご希望に合いそうな作品をご紹介します。" if ja else "Here are some picks that match what you asked for."
            )
        listing = _LISTING["ja" if ja else "en"]
        body = "\n".join(listing.line(i, p) for i, p in enumerate(products, 1))
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
