"""Name matching for hybrid search: character n-grams, no tokenizer, Japanese and English.

Titles and author names are matched by how much of a *name* the query contains (its
character bigrams found in the query), on two spellings of every string:
- the NFKC-normalised, lower-cased text without spaces or punctuation (呪術廻戦, bluelock);
- a romaji folding: kana are transliterated and long vowels collapsed, so 「ワンピース」
  and "ONE PIECE"'s romaji "Wan Pisu" meet as ``wanpisu``, 「ブルーロック」 as ``burrokku``…

Volume numbers are read from the query (「0巻」, 「第3巻」, "vol. 20", "volume 20", "#5").
A small bilingual glossary maps Japanese genre / tag words (ダークファンタジー, 異世界, …)
to the catalog's English tag vocabulary, so such queries can match tags lexically and
the embedder sees the English term too.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from mangaassist.common.text import fold
from mangaassist.common.vocabulary import GENRES

# The least a synopsis must share with a query (summed IDF of the content bigrams, about two
# rare ones) to rank it as the story told.
MIN_STORY_SCORE = 5.0
# How much better the story must fit its series than any other (the told series ranked 23.6
# against 4.6, 「漫画家を目指す話」 12.4 against 7.9; kinds tie: 「バスケ漫画」 8.3 for three).
STORY_MARGIN = 1.5
KANJI_WEIGHT = 0.7
MIN_CHOICE_STORY_SCORE = 2.0  # the floor among a few series the customer chooses between

_KANA = {
    "きゃ": "kya",
    "きゅ": "kyu",
    "きょ": "kyo",
    "しゃ": "sha",
    "しゅ": "shu",
    "しょ": "sho",
    "ちゃ": "cha",
    "ちゅ": "chu",
    "ちょ": "cho",
    "にゃ": "nya",
    "にゅ": "nyu",
    "にょ": "nyo",
    "ひゃ": "hya",
    "ひゅ": "hyu",
    "ひょ": "hyo",
    "みゃ": "mya",
    "みゅ": "myu",
    "みょ": "myo",
    "りゃ": "rya",
    "りゅ": "ryu",
    "りょ": "ryo",
    "ぎゃ": "gya",
    "ぎゅ": "gyu",
    "ぎょ": "gyo",
    "じゃ": "ja",
    "じゅ": "ju",
    "じょ": "jo",
    "びゃ": "bya",
    "びゅ": "byu",
    "びょ": "byo",
    "ぴゃ": "pya",
    "ぴゅ": "pyu",
    "ぴょ": "pyo",
    "てぃ": "ti",
    "でぃ": "di",
    "ふぁ": "fa",
    "ふぃ": "fi",
    "ふぇ": "fe",
    "ふぉ": "fo",
    "うぃ": "wi",
    "うぇ": "we",
    "しぇ": "she",
    "じぇ": "je",
    "ちぇ": "che",
    "ゔぁ": "va",
    "とぅ": "tu",
    "どぅ": "du",
    "あ": "a",
    "い": "i",
    "う": "u",
    "え": "e",
    "お": "o",
    "か": "ka",
    "き": "ki",
    "く": "ku",
    "け": "ke",
    "こ": "ko",
    "さ": "sa",
    "し": "shi",
    "す": "su",
    "せ": "se",
    "そ": "so",
    "た": "ta",
    "ち": "chi",
    "つ": "tsu",
    "て": "te",
    "と": "to",
    "な": "na",
    "に": "ni",
    "ぬ": "nu",
    "ね": "ne",
    "の": "no",
    "は": "ha",
    "ひ": "hi",
    "ふ": "fu",
    "へ": "he",
    "ほ": "ho",
    "ま": "ma",
    "み": "mi",
    "む": "mu",
    "め": "me",
    "も": "mo",
    "や": "ya",
    "ゆ": "yu",
    "よ": "yo",
    "ら": "ra",
    "り": "ri",
    "る": "ru",
    "れ": "re",
    "ろ": "ro",
    "わ": "wa",
    "ゐ": "i",
    "ゑ": "e",
    "を": "o",
    "ん": "n",
    "が": "ga",
    "ぎ": "gi",
    "ぐ": "gu",
    "げ": "ge",
    "ご": "go",
    "ざ": "za",
    "じ": "ji",
    "ず": "zu",
    "ぜ": "ze",
    "ぞ": "zo",
    "だ": "da",
    "ぢ": "ji",
    "づ": "zu",
    "で": "de",
    "ど": "do",
    "ば": "ba",
    "び": "bi",
    "ぶ": "bu",
    "べ": "be",
    "ぼ": "bo",
    "ぱ": "pa",
    "ぴ": "pi",
    "ぷ": "pu",
    "ぺ": "pe",
    "ぽ": "po",
    "ゔ": "vu",
    "ぁ": "a",
    "ぃ": "i",
    "ぅ": "u",
    "ぇ": "e",
    "ぉ": "o",
    "ゃ": "ya",
    "ゅ": "yu",
    "ょ": "yo",
    "ゎ": "wa",
}

# Japanese genre / tag words → the catalog's English tag and genre vocabulary.
GLOSSARY: dict[str, str] = {
    "ダークファンタジー": "dark fantasy",
    "ファンタジー": "fantasy",
    "異世界": "isekai",
    "転生": "reincarnation",
    "ホラー": "horror",
    "ミステリー": "mystery",
    "推理": "detective",
    "探偵": "detective",
    "サスペンス": "thriller",
    "恋愛": "romance",
    "ラブコメ": "rom-com",
    "初恋": "first love",
    "青春": "coming of age",
    "学園": "high school",
    "スポーツ": "sports",
    "サッカー": "soccer",
    "野球": "baseball",
    "バスケ": "basketball",
    "バレー": "volleyball",
    "ボクシング": "boxing",
    "格闘": "martial arts",
    "日常": "slice-of-life",
    "癒し": "iyashikei",
    "料理": "cooking",
    "グルメ": "cooking",
    "歴史": "historical",
    "時代劇": "samurai",
    "侍": "samurai",
    "アイヌ": "ainu culture",
    "忍者": "ninja",
    "戦争": "war",
    "ロボット": "mecha",
    "SF": "sci-fi",
    "宇宙": "space",
    "音楽": "music",
    "バンド": "band",
    "復讐": "revenge",
    "悪魔": "demons",
    "鬼": "demons",
    "妖怪": "yokai",
    "幽霊": "ghosts",
    "吸血鬼": "vampires",
    "ゾンビ": "zombies",
    "サバイバル": "survival",
    "終末": "post-apocalyptic",
    "タイムリープ": "time travel",
    "タイムトラベル": "time travel",
    "魔法": "magic",
    "魔法少女": "magical girl",
    "海賊": "pirates",
    "冒険": "adventure",
    "友情": "friendship",
    "家族": "family",
    "ギャグ": "gag",
    "コメディ": "comedy",
    "心理戦": "psychological",
    "頭脳戦": "psychological",
    "ヤクザ": "yakuza",
    "不良": "delinquent",
    "医療": "medical",
    "将棋": "shogi",
    "囲碁": "go",
    "アイドル": "idols",
    # Kinds of story (the catalog's tags) a customer names in Japanese. Whole words only: a
    # short word that sits inside common longer ones (パン in ワンパンマン, 車 in 電車) is left out.
    "フィギュアスケート": "figure skating",
    "スケート": "figure skating",
    "テニス": "tennis",
    "卓球": "table tennis",
    "バドミントン": "badminton",
    "アメフト": "american football",
    "かるた": "karuta",
    "百人一首": "karuta",
    "甲子園": "koshien",
    "キャンプ": "camping",
    "アウトドア": "outdoors",
    "旅行": "travel",
    "旅": "travel",
    "書道": "calligraphy",
    "ゲーム": "video game",
    "カードゲーム": "card games",
    "ボードゲーム": "board games",
    "デスゲーム": "death games",
    "ギャンブル": "gambling",
    "賭け": "gambling",
    "謎解き": "puzzles",
    "パン屋": "bread",
    "お菓子": "baking",
    "和食": "japanese cuisine",
    "飯テロ": "food",
    "農業": "farming",
    "田舎": "countryside",
    "離島": "island life",
    "島暮らし": "island life",
    "島で暮らす": "island life",
    "バイク": "motorcycles",
    "暴走族": "biker gangs",
    "走り屋": "street racing",
    "峠": "mountain passes",
    "医者": "doctor",
    "医師": "doctor",
    "外科医": "surgeon",
    "手術": "surgeon",
    "消防": "firefighters",
    "宇宙飛行士": "astronauts",
    "巨大ロボ": "giant robots",
    "アンドロイド": "androids",
    "サイボーグ": "cyborg",
    "怪獣": "kaiju",
    "ドラゴン": "dragons",
    "エルフ": "elves",
    "魔女": "witches",
    "魔法使い": "mages",
    "騎士": "knights",
    "剣士": "swordsmanship",
    "剣術": "swordsmanship",
    "武士": "samurai",
    "戦国": "warring states",
    "江戸": "edo period",
    "明治": "meiji era",
    "大正": "taisho era",
    "幕末": "shogunate",
    "三国志": "ancient china",
    "中国": "ancient china",
    "古代ローマ": "ancient rome",
    "ギリシャ神話": "greek mythology",
    "ヴァイキング": "vikings",
    "バイキング": "vikings",
    "殺し屋": "assassin",
    "暗殺": "assassin",
    "スパイ": "spies",
    "刑事": "detective",
    "殺人鬼": "serial killer",
    "ピアノ": "piano",
    "バイオリン": "violin",
    "ヴァイオリン": "violin",
    "ギター": "guitar",
    "クラシック": "classical music",
    "オーケストラ": "classical music",
    "落語": "rakugo",
    "演劇": "theater",
    "役者": "acting",
    "俳優": "acting",
    "漫画家": "manga artists",
    "絵画": "painting",
    "美大": "art college",
    "ファッション": "fashion",
    "モデル": "modeling",
    "片思い": "unrequited love",
    "片想い": "unrequited love",
    "三角関係": "love triangle",
    "幼なじみ": "childhood friends",
    "幼馴染": "childhood friends",
    "年の差": "age gap",
    "同居": "living together",
    "同棲": "living together",
    "契約結婚": "contract marriage",
    "結婚": "marriage",
    "社会人": "office worker",
    "職場": "workplace",
    "社内恋愛": "office romance",
    "高校": "high school",
    "中学": "middle school",
    "小学生": "elementary school",
    "生徒会": "student council",
    "教師": "teacher",
    "受験": "exam prep",
    "家庭教師": "tutoring",
    "子育て": "parenting",
    "育児": "parenting",
    "シングルファーザー": "single father",
    "お父さん": "single father",
    "父親": "single father",
    "兄弟": "brothers",
    "双子": "twin brothers",
    "五つ子": "quintuplets",
    "ペット": "pets",
    "猫": "kitten",
    "犬": "dog",
    "モンスター": "monsters",
    "化け物": "monsters",
    "呪い": "curses",
    "天使": "angels",
    "死神": "shinigami",
    "妖精": "fairies",
    "近未来": "near future",
    "ハッカー": "hackers",
    "サイバーパンク": "cyberpunk",
    "超能力": "psychic powers",
    "ヒーロー": "superheroes",
    "ダンジョン": "dungeons",
    "召喚": "summoned to another world",
    "ヤンキー": "delinquent",
    "極道": "yakuza",
    "任侠": "yakuza",
    "軍隊": "military",
    "ミリタリー": "military",
    "ほのぼの": "heartwarming",
    "ほっこり": "heartwarming",
    "孤独": "loneliness",
    "ぼっち": "loner",
    "コミュ障": "social anxiety",
    "車椅子": "wheelchair user",
    "手話": "sign language",
    "病気": "illness",
    "グロ": "gore",
    "スプラッター": "gore",
    "武術": "martial arts",
    "空手": "martial arts",
    "主夫": "househusband",
    "元ヤクザ": "ex-yakuza",
    "人体": "human body",
    "体の仕組み": "human body",
    "細胞": "immune system",
    "原爆": "atomic bomb",
    "cooking competition": "cooking battles",
    "cooking competitions": "cooking battles",
    "料理対決": "cooking battles",
    "料理バトル": "cooking battles",
    "gory": "gore",
}
_GLOSSARY_LONGEST_FIRST = sorted(GLOSSARY, key=len, reverse=True)

_VOLUME_PATTERNS = (
    re.compile(r"第?\s*(\d{1,3})\s*(?:巻|卷)"),
    re.compile(r"(?:\b(?:vol(?:ume)?\.?|book)|#)\s*(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"(?<![0-9])(\d{1,3})\s?かん(?!じ|ぜん|けい|たん|こう|がえ|ばん)"),
    re.compile(r"(?<![a-z0-9])(\d{1,3})\s?kan(?![a-z])", re.IGNORECASE),
)
_DROP = re.compile(r"[\W_]+", re.UNICODE)


def compact(text: str) -> str:
    """The shared ``fold`` (NFKC, lower case) with no spaces or punctuation."""
    return _DROP.sub("", fold(text))


def _to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def romaji(text: str) -> str:
    """Kana → romaji with long vowels and doubled letters collapsed; other characters kept."""
    s = _to_hiragana(compact(text))
    out: list[str] = []
    i = 0
    while i < len(s):
        pair, one = s[i : i + 2], s[i]
        if pair in _KANA:
            out.append(_KANA[pair])
            i += 2
        elif one == "っ":
            i += 1  # geminate: dropped (collapsed below anyway)
        elif one in _KANA:
            out.append(_KANA[one])
            i += 1
        elif one == "ー":
            i += 1
        else:
            out.append(one)
            i += 1
    folded = "".join(out)
    folded = folded.replace("ou", "o").replace("ei", "e")
    return re.sub(r"(.)\1+", r"\1", folded)


def bigrams(text: str) -> set[str]:
    if len(text) < 2:
        return {text} if text else set()
    return {text[i : i + 2] for i in range(len(text) - 1)}


def volume_number(query: str) -> int | None:
    """The volume a query names, if any: 「呪術廻戦の0巻」 → 0, "Blue Lock volume 20" → 20."""
    text = unicodedata.normalize("NFKC", query)
    for pattern in _VOLUME_PATTERNS:
        m = pattern.search(text)
        if m:
            return int(m.group(1))
    return None


def strip_volume(query: str) -> str:
    text = unicodedata.normalize("NFKC", query)
    for pattern in _VOLUME_PATTERNS:
        text = pattern.sub(" ", text)
    return text


# The Japanese words of the catalog's genres (「サスペンス」, 「恋愛」): kinds, not plot.
_GENRE_WORDS = re.compile(
    "|".join(sorted((re.escape(w) for w, term in GLOSSARY.items() if term in GENRES), key=len, reverse=True))
)


def glossary_terms(query: str) -> list[str]:
    """English catalog terms for the Japanese genre words in the query (longest match wins)."""
    text = unicodedata.normalize("NFKC", query)
    found: list[str] = []
    for word in _GLOSSARY_LONGEST_FIRST:
        if word in text:
            found.append(GLOSSARY[word])
            text = text.replace(word, " ")
    return found


@dataclass(frozen=True)
class NameMatch:
    row: int
    score: float  # 0..1: how completely the best name is contained in the query


class NameIndex:
    """Bigram index over the names (titles, authors) of each vector row (edition)."""

    def __init__(self, names: list[list[tuple[str, float]]], tags: list[list[str]]) -> None:
        # names[row] = [(name, weight)]; weight < 1 for names not in the edition's own language.
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._entries: list[tuple[int, int, float]] = []  # (row, bigram count, weight)
        for row, row_names in enumerate(names):
            for name, weight in row_names:
                for form in {compact(name), romaji(name)}:
                    grams = bigrams(form)
                    if len(form) < 2 or not grams:
                        continue
                    entry = len(self._entries)
                    self._entries.append((row, len(grams), weight))
                    for g in grams:
                        self._postings[g].append(entry)
        self._tag_rows: dict[str, set[int]] = defaultdict(set)
        for row, row_tags in enumerate(tags):
            for tag in row_tags:
                self._tag_rows[tag.lower()].add(row)

    def match(self, query: str, min_score: float = 0.5) -> list[NameMatch]:
        """Rows whose names the query contains, best first."""
        text = strip_volume(query)
        hits: dict[int, int] = defaultdict(int)
        for form in {compact(text), romaji(text)}:
            grams = bigrams(form)
            seen: dict[int, int] = defaultdict(int)
            for g in grams:
                for entry in self._postings.get(g, ()):
                    seen[entry] += 1
            for entry, count in seen.items():
                hits[entry] = max(hits[entry], count)
        best: dict[int, float] = {}
        for entry, count in hits.items():
            row, size, weight = self._entries[entry]
            score = weight * count / size
            if score >= min_score and score > best.get(row, 0.0):
                best[row] = score
        return [NameMatch(r, s) for r, s in sorted(best.items(), key=lambda rs: (-rs[1], rs[0]))]

    def tag_rows(self, terms: list[str]) -> list[int]:
        """Rows carrying any of the tag/genre terms, rows with more of them first."""
        counts: dict[int, int] = defaultdict(int)
        for term in terms:
            for row in self._tag_rows.get(term.lower(), ()):
                counts[row] += 1
        return [r for r, _ in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0]))]


_CJK_RUN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff々ー]+")
_KANA_ONLY_PAIR = re.compile(r"[\u3040-\u309fー]{2}")


# Shop words, not plot: what a customer says about any manga (「漫画」「完結」「英語版」「主人公」).
_SHOP_BIGRAMS = frozenset(
    {"漫画", "マン", "ンガ", "作品", "巻数", "何巻", "完結", "連載", "英語", "語版", "日本", "本語", "最新", "新刊"}
    | {"値段", "以外", "向け", "主人", "人公", "おす", "すす", "オス", "スス", "メメ", "画の"}
    | {"読み", "読め", "見た", "見て", "教え", "探し", "買い", "買っ", "好き", "話が", "話の", "気に"}
)


def story_bigrams(text: str) -> set[str]:
    """The Japanese content of a text as character bigrams; pairs of hiragana (grammar: の
    が, やつ, ある) and shop words are left out."""
    out: set[str] = set()
    for run in _CJK_RUN.findall(unicodedata.normalize("NFKC", text)):
        out.update(
            g
            for g in (run[i : i + 2] for i in range(len(run) - 1))
            if not _KANA_ONLY_PAIR.fullmatch(g) and not _SEAM.fullmatch(g) and g not in _SHOP_BIGRAMS
        )
        # and each kanji alone: a one-character word (魚, 犬) has no pair of its own to share
        # when its endings differ (「魚が歩いてくる」, 「歩く魚に」)
        out.update(ch for ch in run if _ONE_KANJI.fullmatch(ch) and ch not in _SHOP_KANJI)
    return out


# (the kanji of shop words, 漫画, 作品, 巻, 完結, 英語版, 新刊…, and of asking, 読みたい, 見たい,
# 教えて, 探して, 買いたい, 好き, 話, 気になる)
_SHOP_KANJI = frozenset("漫画作品巻数何完結連載英語版日本最新刊値段以外向主人公円冊読見教探買好話気")


# Two characters from two words, not one: a particle before a word (の下, た少), katakana against
# kanji (バトル|漫画: ル漫), katakana before hiragana (ゴミ|だらけ). Kanji then hiragana stays (落と:
# a verb and its ending).
_HIRAGANA_CHAR = "[\u3041-\u309f]"
_KATAKANA_CHAR = "[\u30a1-\u30ffー]"
_KANJI_CHAR = "[\u4e00-\u9fff々]"
_ONE_KANJI = re.compile("[\u4e00-\u9fff]")  # (not 々, which repeats the kanji before it)
_SEAM = re.compile(
    rf"{_HIRAGANA_CHAR}(?:{_KATAKANA_CHAR}|{_KANJI_CHAR})|{_KATAKANA_CHAR}(?:{_KANJI_CHAR}|{_HIRAGANA_CHAR})"
    rf"|{_KANJI_CHAR}{_KATAKANA_CHAR}"
)


class StoryIndex:
    """Rows ranked by the Japanese plot words their series' synopsis shares with a query:
    content bigrams weighted by inverse document frequency. A story told in Japanese
    (「ゴムの体の主人公が海賊王めざすやつ」「不良がタイムリープするやつ」) shares its rare bigrams
    with one synopsis far more than with any other, where the small dense embedder ranks such
    descriptions weakly. Written here: a few hundred short texts scored by a set intersection;
    the BM25 libraries need a Japanese tokenizer and add nothing at this size."""

    def __init__(self, synopses: list[str], tokens: Callable[[str], set[str]] | None = None) -> None:
        """``tokens``: a text's plot words (Japanese bigrams by default; ``story_words`` for English)."""
        self._tokens = tokens or story_bigrams
        self._grams = [(row, grams) for row, text in enumerate(synopses) if (grams := self._tokens(text))]
        self._text_of = dict(enumerate(synopses))
        distinct = {frozenset(g) for _, g in self._grams}
        df: dict[str, int] = defaultdict(int)
        for text_grams in distinct:
            for g in text_grams:
                df[g] += 1
        n = len(distinct)
        # (a kanji alone says less than a word: half the weight of a pair as rare)
        self._idf = {g: math.log((n + 1) / (c + 0.5)) * (KANJI_WEIGHT if len(g) == 1 else 1.0) for g, c in df.items()}

    def rank(
        self, query: str, min_score: float = MIN_STORY_SCORE, allowed: np.ndarray[Any, Any] | None = None
    ) -> list[int]:
        """The rows (editions) of the one series whose synopsis the query tells: it shares
        enough of the query's plot words and clearly more than any other (``STORY_MARGIN``);
        none when the words fit several alike (a kind of story, 「バスケ漫画」, is no story told)."""
        # (a kind of story named, 「サスペンスの漫画」, is the genre filter's to apply: no plot word)
        told = _GENRE_WORDS.sub(" ", unicodedata.normalize("NFKC", query))
        wanted = {g: w for g in self._tokens(told) if (w := self._idf.get(g, 0.0)) > 0}
        if not wanted:
            return []
        # (``allowed``, a row mask: among those the filters leave, e.g. the series a customer
        # chooses between, 「ブルーなんとかってやつ、美大めざす話」)
        scored = [
            (sum(wanted.get(g, 0.0) for g in grams), row)
            for row, grams in self._grams
            if allowed is None or allowed[row]
        ]
        best = max((score for score, _ in scored), default=0.0)
        runner_up = max((score for score, _ in scored if score < best), default=0.0)
        if best < min_score or best < STORY_MARGIN * runner_up:
            return []
        rows = sorted(row for score, row in scored if score == best)
        # (one series: its editions share the synopsis; two series tied fit a kind, not a story)
        return rows if len({self._text_of[row] for row in rows}) == 1 else []


_ENGLISH_WORD = re.compile(r"[a-z]{3,}")
# Endings cut (plural, -ing, -ed; "-es" only after s, x, z, ch, sh: "boxes", not "pirates").
_ENGLISH_ENDING = re.compile(r"(?:ing|ed|(?<=[sxz])es|(?<=[cs]h)es|(?<![su])s)$")
MIN_STEM = 3


def story_words(text: str) -> set[str]:
    """The English words of a text, their endings cut ("cooking" and "cook", "pirates" and
    "pirate" meet); the words every synopsis has ("the", "his") weigh nothing through their
    document frequency."""
    out: set[str] = set()
    for word in _ENGLISH_WORD.findall(text.lower()):
        stem = _ENGLISH_ENDING.sub("", word)
        out.add(stem if len(stem) >= MIN_STEM else word)
    return out


def rrf(rankings: list[list[int]], k: int = 60, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion: Σ w / (k + rank) over the lists an item appears in."""
    fused: dict[int, float] = defaultdict(float)
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[i]
        for rank, item in enumerate(ranking, start=1):
            fused[item] += w / (k + rank)
    return dict(fused)
