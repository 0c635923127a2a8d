"""The word-list check of a semantic-cache hit (the failure modes of GPTCache #694 and #388).

Embedders place "Is Berserk in stock?" and "Is Berserk out of stock?" closer together
than two honest paraphrases, and "One Piece volume 3" next to "One Piece volume 4". A
cached answer may only be reused when the two messages agree on everything that
changes the answer. ``signature(text)`` extracts four sets from a message, and two
messages agree only when all four are equal:

* ``polarity`` — negation (not/without/「ない」/「ません」), exclusion (except/「以外」),
  out-of-stock wording, and the direction of a limit (under/以下 vs over/以上);
* ``numbers`` — volume numbers, prices, order ids, counts (digits, kanji numerals before
  a counter such as 巻/円/冊, ordinals, 千/万/k multipliers);
* ``concepts`` — a small domain lexicon mapping synonyms in both languages to one label
  (genres, demographics, editions, formats, cheap/expensive, latest/final, FAQ topics),
  so "affordable" and 「安い」 agree but "cheap" and "expensive" do not;
* ``entities`` — every other content word: Latin words outside a stop list, and
  katakana/kanji runs left after removing lexicon words — titles and authors, which must
  match exactly ("Naruto" ≠ "Bleach", 「呪術廻戦」 ≠ 「鬼滅の刃」).

The rules err towards a miss: an unknown word counts as an entity, so a paraphrase that
uses it on one side only is not served from the cache (a lost hit costs one model call;
a wrong hit costs a wrong answer). Hiragana-only titles are not recognised as entities.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mangaassist.common.textbounds import MAX_SCAN_CHARS, cut_runs
from mangaassist.orchestrator.cache.keys import key_text

# --- lexicon -------------------------------------------------------------------------
# label → surface forms. "pol:*" labels are polarity cues, "con:*" concepts, "stop"
# words carry nothing. Multi-word and Japanese forms are matched as substrings before
# tokenising (longest first); single Latin words are matched per token after stemming.
LEXICON: dict[str, tuple[str, ...]] = {
    "pol:neg": (
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "without",
        "neither",
        "nor",
        "cannot",
        "non",
        "isn't",
        "aren't",
        "don't",
        "doesn't",
        "didn't",
        "won't",
        "can't",
        "wasn't",
        "haven't",
        "hasn't",
        "ません",
        "無い",
        "無く",
        "無し",
        "なし",
        "未発売",
        "未入荷",
        "未完",
        "未読",
    ),
    "pol:except": (
        "except",
        "excluding",
        "exclude",
        "other than",
        "besides",
        "apart from",
        "but not",
        "以外",
        "除く",
        "除いて",
        "抜きで",
    ),
    "pol:out": (
        "out of stock",
        "sold out",
        "unavailable",
        "out of print",
        "discontinued",
        "在庫切れ",
        "品切れ",
        "売り切れ",
        "売切れ",
        "欠品",
        "完売",
        "絶版",
        "入手不可",
    ),
    "pol:lt": (
        "under",
        "below",
        "less than",
        "cheaper than",
        "at most",
        "up to",
        "no more than",
        "within",
        "or less",
        "or cheaper",
        "max",
        "maximum",
        "以下",
        "未満",
        "以内",
        "まで",
        "より安い",
    ),
    "pol:gt": (
        "over",
        "above",
        "more than",
        "at least",
        "or more",
        "minimum",
        "min",
        "exceeding",
        "以上",
        "超え",
        "超える",
        "より高い",
        "を超",
    ),
    "con:cheap": (
        "cheap",
        "cheapest",
        "cheaper",
        "inexpensive",
        "affordable",
        "budget",
        "low price",
        "low-priced",
        "安い",
        "安く",
        "格安",
        "手頃",
        "低価格",
        "お得",
    ),
    "con:expensive": ("expensive", "priciest", "pricey", "premium", "high-end", "高い", "高価", "高額"),
    "con:latest": (
        "latest",
        "newest",
        "new release",
        "new releases",
        "newly released",
        "most recent",
        "recent",
        "最新刊",
        "最新巻",
        "最新",
        "新刊",
        "新作",
        "新しい",
    ),
    "con:final": ("final", "last volume", "final volume", "最終巻", "最終"),
    "con:old": ("oldest", "classic", "classics", "old", "older", "古い", "名作", "昔の", "往年"),
    "con:complete": ("completed", "complete series", "finished", "has ended", "完結", "完結済み"),
    "con:ongoing": ("ongoing", "still running", "serialized", "serialised", "連載中"),
    "con:set": (
        "box set",
        "boxset",
        "complete set",
        "full set",
        "all volumes",
        "every volume",
        "whole series",
        "全巻セット",
        "全巻",
        "セット",
        "ボックス",
    ),
    "con:digital": ("ebook", "e-book", "digital", "kindle", "電子書籍", "電子版", "電子"),
    "con:print": ("paperback", "print edition", "physical", "hardcover", "紙の本", "紙版", "単行本"),
    "con:edition_en": (
        "english edition",
        "english version",
        "in english",
        "english translation",
        "英語版",
        "英語",
        "英訳",
    ),
    "con:edition_ja": (
        "japanese edition",
        "japanese version",
        "in japanese",
        "original japanese",
        "日本語版",
        "日本語",
    ),
    "con:limited": ("limited edition", "special edition", "collector's edition", "限定版", "特装版", "限定"),
    "con:author": (
        "author",
        "authors",
        "writer",
        "wrote",
        "written by",
        "mangaka",
        "artist",
        "who drew",
        "作者",
        "著者",
        "漫画家",
        "描いた",
        "作家",
    ),
    "con:plot": ("plot", "synopsis", "story about", "what is it about", "premise", "あらすじ", "内容", "ストーリー"),
    "con:count": ("how many volumes", "number of volumes", "how many books", "何巻まで", "全何巻", "何巻", "何冊"),
    "con:release": (
        "release date",
        "come out",
        "comes out",
        "coming out",
        "released",
        "be released",
        "発売日",
        "発売",
        "刊行",
        "出る",
    ),
    "con:restock": ("restock", "restocked", "back in stock", "再入荷", "入荷"),
    "con:preorder": ("preorder", "pre-order", "reserve", "reservation", "予約"),
    "con:ship": (
        "shipping",
        "ship",
        "delivery",
        "deliver",
        "shipped",
        "delivered",
        "postage",
        "配送",
        "発送",
        "送料",
        "配達",
        "届く",
        "届き",
        "届け",
        "お届け",
        "送って",
        "送れ",
    ),
    "con:ship_abroad": ("overseas", "international", "abroad", "海外"),
    "con:express": ("express", "next-day", "next day", "same-day", "same day", "速達", "お急ぎ", "翌日"),
    "con:return": ("return", "returns", "refund", "refunds", "exchange", "返品", "返金", "交換"),
    "con:damaged": ("damaged", "broken", "torn", "defective", "wrong item", "破損", "汚損", "不良", "傷", "破れ"),
    "con:pay": (
        "payment",
        "pay",
        "credit card",
        "card",
        "paypay",
        "cash on delivery",
        "bank transfer",
        "支払い",
        "支払",
        "払い",
        "払",
        "決済",
        "クレジット",
        "カード",
        "代引き",
        "代金引換",
        "振込",
    ),
    "con:convenience": ("convenience store", "konbini", "コンビニ"),
    "con:installment": ("installment", "instalment", "installments", "分割"),
    "con:points": ("points", "point", "ポイント"),
    "con:coupon": ("coupon", "discount", "promo code", "sale", "クーポン", "割引", "セール"),
    "con:gift": ("gift", "gift wrap", "wrapping", "present", "ギフト", "ラッピング", "プレゼント"),
    "con:price": ("price", "cost", "how much", "fee", "fees", "charge", "いくら", "価格", "値段", "料金", "手数料"),
    "con:duration": (
        "how long",
        "how many days",
        "when will",
        "arrive",
        "何日",
        "いつ",
        "どのくらい",
        "どれくらい",
        "どれぐらい",
        "日数",
        "到着",
        "かかり",
        "かかる",
    ),
    "con:free": ("free", "無料", "タダ"),
    "con:beginner": ("beginner", "beginners", "first-timer", "newcomer", "初心者", "入門", "初めて"),
    "con:adult": ("adult", "adults", "mature", "grown-up", "grownup", "大人", "成人", "アダルト"),
    "con:kids": (
        "kid",
        "kids",
        "child",
        "children",
        "young reader",
        "young readers",
        "子供",
        "子ども",
        "こども",
        "児童",
        "小学生",
    ),
    "con:short": ("short", "few volumes", "quick read", "短い", "短め", "短編", "巻数が少ない"),
    "con:long": ("long-running", "long running", "lengthy", "長い", "長編", "長め"),
    "con:popular": (
        "popular",
        "bestselling",
        "best-selling",
        "bestseller",
        "best seller",
        "trending",
        "top",
        "人気",
        "売れ筋",
        "ランキング",
        "話題",
    ),
    "con:week": ("this week", "weekly", "今週"),
    "con:month": ("this month", "monthly", "今月"),
    "con:next_month": ("next month", "来月"),
    "con:anime": ("anime", "アニメ", "アニメ化"),
    # genres (mangaassist.common.vocabulary.GENRES) and their everyday names
    "con:g_action": ("action", "アクション", "バトル", "battle"),
    "con:g_adventure": ("adventure", "冒険", "アドベンチャー"),
    "con:g_comedy": ("comedy", "funny", "comedic", "gag", "コメディ", "コメディー", "ギャグ", "お笑い", "笑える"),
    "con:g_drama": ("drama", "ドラマ", "感動"),
    "con:g_fantasy": ("fantasy", "ファンタジー"),
    "con:g_dark": ("dark", "grim", "ダーク", "暗い", "重い"),
    "con:g_horror": ("horror", "scary", "creepy", "ホラー", "怖い", "恐怖"),
    "con:g_mystery": ("mystery", "mysteries", "detective", "whodunit", "ミステリー", "ミステリ", "推理", "探偵"),
    "con:g_romance": ("romance", "romantic", "love story", "love stories", "恋愛", "ロマンス", "ラブストーリー", "恋"),
    "con:g_romcom": ("romcom", "rom-com", "romantic comedy", "ラブコメ"),
    "con:g_scifi": ("sci-fi", "scifi", "science fiction", "sf", "space", "宇宙", "近未来"),
    "con:g_sol": ("slice of life", "slice-of-life", "everyday life", "iyashikei", "日常", "日常系", "癒し"),
    "con:g_sports": ("sports", "sport", "スポーツ"),
    "con:g_basketball": ("basketball", "バスケ", "バスケットボール"),
    "con:g_soccer": ("soccer", "football", "サッカー"),
    "con:g_baseball": ("baseball", "野球"),
    "con:g_volleyball": ("volleyball", "バレー", "バレーボール"),
    "con:g_boxing": ("boxing", "ボクシング"),
    "con:g_tennis": ("tennis", "テニス"),
    "con:g_supernatural": ("supernatural", "occult", "ghost", "ghosts", "yokai", "妖怪", "オカルト", "超常", "霊"),
    "con:g_historical": ("historical", "history", "samurai", "歴史", "時代物", "時代劇", "戦国", "侍"),
    "con:g_psychological": ("psychological", "mind game", "mind games", "心理", "頭脳戦"),
    "con:g_thriller": ("thriller", "suspense", "スリラー", "サスペンス"),
    "con:g_mecha": ("mecha", "robot", "robots", "ロボット", "メカ"),
    "con:g_music": ("music", "band", "musician", "音楽", "バンド"),
    "con:g_cooking": ("cooking", "food", "gourmet", "cuisine", "料理", "グルメ", "食べ物"),
    "con:g_school": ("school", "high school", "学園", "学校", "高校"),
    "con:g_isekai": ("isekai", "another world", "異世界", "転生"),
    "con:d_shonen": ("shonen", "shounen", "少年"),
    "con:d_seinen": ("seinen", "青年"),
    "con:d_shojo": ("shojo", "shoujo", "少女"),
    "con:d_josei": ("josei", "女性向け", "女性"),
    "con:d_kodomo": ("kodomo",),
    "stop": (
        # English function words and shop vocabulary that does not change the answer
        "a",
        "an",
        "the",
        "is",
        "are",
        "am",
        "be",
        "been",
        "was",
        "were",
        "do",
        "does",
        "did",
        "you",
        "your",
        "yours",
        "i",
        "i'm",
        "i'd",
        "i've",
        "me",
        "my",
        "we",
        "us",
        "our",
        "have",
        "has",
        "had",
        "any",
        "some",
        "anything",
        "something",
        "what",
        "what's",
        "which",
        "who",
        "where",
        "how",
        "why",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "please",
        "tell",
        "show",
        "find",
        "look",
        "looking",
        "search",
        "searching",
        "for",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "with",
        "about",
        "and",
        "or",
        "if",
        "so",
        "from",
        "as",
        "into",
        "get",
        "got",
        "buy",
        "buying",
        "purchase",
        "order",
        "want",
        "wanna",
        "like",
        "love",
        "need",
        "needs",
        "recommend",
        "recommendation",
        "recommended",
        "suggest",
        "suggestion",
        "suggestions",
        "good",
        "great",
        "nice",
        "best",
        "fun",
        "interesting",
        "there",
        "here",
        "available",
        "availability",
        "stock",
        "stocked",
        "in stock",
        "carry",
        "sell",
        "sold",
        "store",
        "shop",
        "shelf",
        "still",
        "also",
        "too",
        "really",
        "very",
        "much",
        "many",
        "manga",
        "mangas",
        "comic",
        "comics",
        "book",
        "books",
        "series",
        "title",
        "titles",
        "volume",
        "volumes",
        "vol",
        "vols",
        "v",
        "edition",
        "copy",
        "copies",
        "issue",
        "read",
        "reading",
        "to read",
        "it",
        "its",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "they",
        "them",
        "some",
        "all",
        "every",
        "yen",
        "jpy",
        "price range",
        "s",
        "st",
        "nd",
        "rd",
        "th",
        "x",
        "hi",
        "hello",
        "thanks",
        "thank",
        "know",
        "check",
        "see",
        "let",
        "give",
        "kind",
        "sort",
        "type",
        "genre",
        "genres",
        "just",
        "now",
        "currently",
        "right now",
        "today",
        "yet",
        "ok",
        "okay",
        "well",
        "then",
        "than",
        "out",
        "there's",
        "options",
        "option",
        "choice",
        "choices",
        "pick",
        "picks",
        "similar",
        "else",
        "able",
        "possible",
        "take",
        "takes",
        "usually",
        "normally",
        "typically",
        "accept",
        "accepted",
        "use",
        "used",
        "using",
        "method",
        "methods",
        "way",
        "ways",
        "policy",
        "work",
        "works",
        "much is",
        "happen",
        "happens",
        "mean",
        "means",
        "offer",
        "offers",
        "provide",
        "allowed",
        "allow",
        "per",
        "each",
        "item",
        "items",
        "product",
        "products",
        "japan",
        "japanese manga",
        "you'd",
        "you're",
        "you've",
        "i'll",
        "we're",
        "we'd",
        "that's",
        "who's",
        "where's",
        "how's",
        "let's",
        "rules",
        "rule",
        "terms",
        "conditions",
        # Japanese nouns, verb stems and counters that do not change the answer
        "漫画",
        "マンガ",
        "まんが",
        "コミック",
        "コミックス",
        "作品",
        "本",
        "巻",
        "冊",
        "円",
        "シリーズ",
        "タイトル",
        "ジャンル",
        "在庫",
        "商品",
        "購入",
        "注文",
        "おすすめ",
        "オススメ",
        "お勧め",
        "お薦め",
        "教",
        "探",
        "知",
        "読",
        "買",
        "見",
        "欲",
        "好",
        "良",
        "何",
        "今",
        "方",
        "方法",
        "時",
        "事",
        "物",
        "私",
        "僕",
        "気",
        "入",
        "出",
        "使",
        "扱",
        "置",
        "売",
        "取",
        "可能",
        "対応",
        "利用",
        "場合",
        "ありますか",
        "あります",
        "ある",
        "いい",
        "お願い",
        "願",
        "面白",
        "感",
        "系",
        "的",
        "向",
        "向け",
        "作",
        "話",
        "中",
        "一番",
        "特",
        "特に",
        "最も",
        "一",
        "店",
        "ショップ",
        "サイト",
        "ストア",
        "当店",
        "通販",
        "本屋",
        "書店",
        "取り扱い",
        "取扱",
        "販売",
        "確認",
        "状況",
        "在庫状況",
        "有無",
        "手元",
        "欲しい",
        "求",
        "紹介",
        "教え",
        "聞",
        "質問",
        "問い合わせ",
        "他",
        "全部",
        "ページ",
        "キャラ",
        "キャラクター",
        "作風",
        "絵",
        "方々",
        "人",
        "用",
        "頼",
        "受付",
        "受け付け",
        "対象",
        "必要",
        "利用可能",
        "可",
        "便",
        "誰",
        "似",
        "ルール",
        "ポリシー",
        "規定",
        "条件",
        "商品ページ",
        "注文後",
        "後",
        "前",
        "際",
        "時間",
        "予定",
        "可能性",
    ),
}

_KANA_NUM = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNIT = {"十": 10, "百": 100, "千": 1000}
_KANJI_NUMERAL = "〇零一二三四五六七八九十百千万"
_COUNTER = r"(?=巻|冊|円|話|位|章|部|期|弾|作|人|つ|個|日|週|ヶ月|か月|年|名|点|回)"
_EN_NUMBERS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "hundred": 100,
    "thousand": 1000,
}

# Japanese negation in inflections: 〜ない/〜なく/〜なかった, except in adjectives that
# merely end in ない (少ない few, 危ない dangerous, 切ない wistful, つまらない boring, …).
_JA_NEG = re.compile(
    r"(?<![少危幼汚切儚])(?<!つまら)(?<!くだら)(?<!もった)(?<!すく)(?<!あぶ)(?<!おさ)(?<!せつ)(?<!はか)"
    r"な(?:い|く|かった|さそう)"
)
_EN_NEG_SUFFIX = re.compile(r"[a-z]n't\b")

_MAN = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*+万")
_SEN = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*+千")
_KILO = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*+k(?![a-z])")
_KANJI_COUNT = re.compile(rf"第?(?<![{_KANJI_NUMERAL}])([{_KANJI_NUMERAL}]+){_COUNTER}")
_KANJI_ORDINAL = re.compile(rf"第([{_KANJI_NUMERAL}]+)")

_MAX_TOKENS = 512  # past this, the rest agrees only through the whole text's digest

_KANJI = "一-龯々〆ヶ"
_TOKEN = re.compile(rf"[a-z][a-z'\-]*|[ァ-ヺー]+|[{_KANJI}]+|\d+(?:\.\d+)?")


def _kanji_to_int(s: str) -> int:
    total, section, digit = 0, 0, 0
    for ch in s:
        if ch in _KANA_NUM:
            digit = _KANA_NUM[ch]
        elif ch in _KANJI_UNIT:
            section += (digit or 1) * _KANJI_UNIT[ch]
            digit = 0
        elif ch == "万":
            total += (section + digit or 1) * 10_000
            section, digit = 0, 0
    return total + section + digit


def _fmt(x: float) -> str:
    return f" {int(x)} " if x.is_integer() else f" {x} "


def _canonical_number(raw: str) -> str:
    value = float(raw)
    return (
        str(int(value)) if value.is_integer() and not (len(raw) > 1 and raw.startswith("0") and "." not in raw) else raw
    )


@dataclass(frozen=True)
class Signature:
    """What must agree between two messages for one's cached answer to serve the other."""

    polarity: frozenset[str]
    numbers: frozenset[str]
    concepts: frozenset[str]
    entities: frozenset[str]

    def agrees(self, other: Signature) -> bool:
        return self == other

    def disagreement(self, other: Signature) -> str | None:
        """Which guard fails first (for counters and tests), or None."""
        for name in ("polarity", "numbers", "entities", "concepts"):
            if getattr(self, name) != getattr(other, name):
                return name
        return None

    def to_json(self) -> dict[str, list[str]]:
        return {name: sorted(getattr(self, name)) for name in ("polarity", "numbers", "concepts", "entities")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        return cls(
            *(frozenset(str(x) for x in data.get(name, ())) for name in ("polarity", "numbers", "concepts", "entities"))
        )


class _Lexicon:
    """Phrases (regex, longest first) and single words, compiled once."""

    def __init__(self) -> None:
        self.words: dict[str, str] = {}
        self.ja_words: dict[str, str] = {}
        phrases: dict[str, str] = {}
        for label, forms in LEXICON.items():
            for form in forms:
                form = key_text(form)
                if re.fullmatch(r"[a-z][a-z'\-]*", form):
                    self.words.setdefault(form, label)
                elif re.fullmatch(r"[ァ-ヺー一-龯々〆ヶ]+", form):
                    self.ja_words.setdefault(form, label)
                else:
                    phrases.setdefault(form, label)
        ordered = sorted(phrases, key=len, reverse=True)
        self.phrase_label = phrases
        # A phrase starting with a Latin letter is a whole-word match. Latin and other phrases
        # never start with the same character, so one alternation of each (longest first, the
        # word bounds outside) matches what one alternation of all did, and each of its branches
        # starts with a literal that the engine checks before anything else (3-4x faster).
        latin = "|".join(re.escape(p) for p in ordered if re.match(r"[a-z]", p))
        other = "|".join(re.escape(p) for p in ordered if not re.match(r"[a-z]", p))
        self.phrase_re = re.compile(rf"(?:{other})|(?<![a-z])(?:{latin})(?![a-z])")
        self.max_ja = max(len(w) for w in self.ja_words)

    def phrase(self, matched: str) -> str:
        return self.phrase_label[matched]

    def segment(self, run: str) -> list[tuple[str, str | None]]:
        """Split a katakana/kanji run into lexicon words (label) and unknown chunks (None)."""
        out: list[tuple[str, str | None]] = []
        unknown = ""
        i = 0
        while i < len(run):
            for n in range(min(self.max_ja, len(run) - i), 0, -1):
                label = self.ja_words.get(run[i : i + n])
                if label is not None:
                    if unknown:
                        out.append((unknown, None))
                        unknown = ""
                    out.append((run[i : i + n], label))
                    i += n
                    break
            else:
                unknown += run[i]
                i += 1
        if unknown:
            out.append((unknown, None))
        return out


_LEX = _Lexicon()


def _stem(word: str) -> str:
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _bounded(text: str) -> tuple[str, str]:
    """The normalised text the guards' patterns see (see textbounds), and what it stands for:
    the normalised text itself, or the raw rest past ``MAX_SCAN_CHARS`` appended to it."""
    full = key_text(text[:MAX_SCAN_CHARS])
    return cut_runs(full[:MAX_SCAN_CHARS]), full + text[MAX_SCAN_CHARS:]


def _digest(whole: str) -> str:
    return "#" + hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@lru_cache(maxsize=4096)
def signature(text: str) -> Signature:
    """The guard signature of a raw message (normalised here)."""
    t, whole = _bounded(text)
    complete = t == whole
    polarity: set[str] = set()
    numbers: set[str] = set()
    concepts: set[str] = set()
    entities: set[str] = set()

    # Numbers first: multipliers, kanji numerals before counters, grouped digits. Each number
    # pattern starts only where its run starts (the lookbehinds): the same matches, linear time.
    t = _MAN.sub(lambda m: _fmt(float(m.group(1)) * 10_000), t)
    t = _SEN.sub(lambda m: _fmt(float(m.group(1)) * 1_000), t)
    t = _KILO.sub(lambda m: _fmt(float(m.group(1)) * 1_000), t)
    t = _KANJI_COUNT.sub(lambda m: f" {_kanji_to_int(m.group(1))} ", t)
    t = _KANJI_ORDINAL.sub(lambda m: f" {_kanji_to_int(m.group(1))} ", t)
    t = re.sub(r"\d{1,3}(?:,\d{3})+", lambda m: m.group(0).replace(",", ""), t)

    # Japanese inflected negation (before phrases remove the kana around it).
    if _JA_NEG.search(t):
        polarity.add("neg")
    if _EN_NEG_SUFFIX.search(t):
        polarity.add("neg")

    def take_phrase(m: re.Match[str]) -> str:
        label = _LEX.phrase(m.group(0))
        _add(label, m.group(0), polarity, concepts)
        return " "

    t = _LEX.phrase_re.sub(take_phrase, t)

    tokens = _TOKEN.findall(t)
    if len(tokens) > _MAX_TOKENS:
        tokens, complete = tokens[:_MAX_TOKENS], False
    if not complete:
        # What the bounded view did not see must agree too: the whole text, as one more entity.
        entities.add(_digest(whole))
    for tok in tokens:
        if tok[0].isdigit():
            numbers.add(_canonical_number(tok))
        elif "a" <= tok[0] <= "z":
            for part in tok.split("-") if "-" in tok and tok not in _LEX.words else (tok,):
                if not part:
                    continue
                if part in _EN_NUMBERS:
                    numbers.add(str(_EN_NUMBERS[part]))
                    continue
                label = _LEX.words.get(part) or _LEX.words.get(_stem(part))
                if label is None:
                    entities.add(_stem(part))
                else:
                    _add(label, part, polarity, concepts)
        else:
            for chunk, label in _LEX.segment(tok):
                if label is None:
                    if chunk.strip("ー"):
                        entities.add(chunk)
                else:
                    _add(label, chunk, polarity, concepts)
    return Signature(frozenset(polarity), frozenset(numbers), frozenset(concepts), frozenset(entities))


def _add(label: str, _form: str, polarity: set[str], concepts: set[str]) -> None:
    if label.startswith("pol:"):
        polarity.add(label[4:])
    elif label.startswith("con:"):
        concepts.add(label[4:])


def guards_agree(a: str, b: str) -> bool:
    """Do the two messages agree on polarity, numbers, concepts and entities?"""
    return signature(a).agrees(signature(b))


# Messages that refer back to the conversation have no answer of their own.
_ANAPHORA = re.compile(
    r"(?<![a-z])(?:it(?! (?:takes?|costs?|possible))|them|that one|this one|those ones?|these ones?|the same"
    r"|another one|anything else|something else|any others?|(?:that|this|those|these) (?:one|ones|series|manga"
    r"|book|books|volume|volumes|title|titles|author|set)|more like (?:this|that|it)|the (?:next|previous) (?:one|volume)"
    r"|what about|how about)(?![a-z])"
    r"|それ|これ|あれ(?!ば)|その(?!他)|この(?!店|ショップ|サイト|ストア)|あの|同じ|他の|ほかの|他に|ほかに|さっき|先ほど|前の|続き|次の巻|もっと"
)


def is_self_contained(text: str) -> bool:
    """False for a message that depends on earlier turns ("is it in stock?", 「それの続きは？」)."""
    return _ANAPHORA.search(_bounded(text)[0]) is None
