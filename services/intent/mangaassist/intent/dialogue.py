"""Dialogue policy: resolve one turn against the conversation's state.

The NLU parts say what *this* message holds: the classifier its intent, ``entities`` its
facts (prices, editions, genres, order ids), retrieval's linker the series and authors it
names (``Mention``), and ``cues`` below the conversational signals (a refinement, a
reference, "like X", "only completed ones", "under 10 volumes", "the latest volume").
This module is the policy: from those and the state before the turn (``DialogueState``)
it decides what the customer is asking for now and returns the state after the turn.

- A named series (or author) makes the turn a product turn and becomes the focus; a
  different series than before is a new topic, and the old constraints go.
- "Something like X" recommends from X and never shows X.
- A refinement ("not horror", 「1000円以下で」) merges into the request in force.
- A reference ("how many volumes are out?", 「英語版は？」, "volume 3") points at the focus.
- A reply to our own question (the order number we asked for) fills the pending slot.
- A product request with none of these starts a new topic.
- Two series equally named ("Dragon Ball or Dragon Ball Super?") are asked back, by name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import islice

from mangaassist.common.messages import copy_present
from mangaassist.common.pii import mask_pii
from mangaassist.common.text import ROMAJI_WORD, words_offsets
from mangaassist.common.vocabulary import EN_NUMBER_WORDS, PRODUCT_INTENTS, kanji_counts
from mangaassist.intent.entities import Entities, aspect_of, extract, genres_in
from mangaassist.intent.model import LEXICON
from mangaassist.intent.nouns import is_common_noun
from mangaassist.intent.patterns import PAT
from mangaassist.proto.common.v1 import common_pb2

STATE_VERSION = 1
MAX_LAST_SHOWN = 10
MAX_LIST = 12  # bound every list kept in the state
MAX_TOPIC_CHARS = 200  # the request's own words kept for its refinements
CUE_CHARS = 1_000  # cues are read from the first part of a long message only
MAX_TERSE_CHARS = 30  # a request of another kind this short refines the one in force
BARE_NAME_REST = 6  # characters besides the names that still make a message "just a name"

# Conversational cues over the NFKC-folded, lower-cased message. Bounded quantifiers only.
_STATUS = (
    (
        "completed",
        re.compile(
            r"完結(?!して(?:い)?な[いく]|してませ|していませ|じゃな|ではな|しな[いく])|(?<![a-z])completed?(?![a-z])"
            r"|終わって(?:る|いる|います)|(?<!読み)終わった(?=やつ|もの|の|作品|漫画|マンガ|シリーズ)|連載(?:が|は)?(?:終了|終わ)"
            r"|続いて(?:い)?な[いく]|全巻(?:出て(?:る|いる|ます)|出そろ|出揃|発売済|刊行済)|最終巻(?:まで)?(?:出て|発売済|刊行済)"
            r"|finished (?:series|ones?|manga)|(?:already|but|only|that'?s|is|be|are) finished"
            r"|\bended\b|already over|(?<!has he )(?<!has she )(?<!have they )(?<!has it )(?<!have you )(?<!they've )\bdone\b(?! (?:by|anything|any|else|other|more))|(?:that|which) (?:actually |really )?ends\b|has an ending|\bkanketsu"
        ),
    ),
    (
        "ongoing",
        re.compile(
            r"連載中|続いて(?:い)?る|連載して(?:い)?る|連載継続|刊行中|出続け|未完|完結して(?:い)?な[いく]|完結してませ|完結していませ"
            r"|完結じゃな|完結ではな|終わって(?:い)?な[いく]|終わってませ|終わっていませ"
            r"|ongoing|still (?:running|going|coming out|publishing)|not (?:yet )?(?:finished|complete|over)|unfinished"
            r"|\brensai ?ch[uū]"
        ),
    ),
)
_VOLUME_CAP = (
    # (pattern, inclusive)
    # 「1巻完結の漫画ある？」「5冊で終わるやつ」: a kind of manga by its length, asked or not
    (
        re.compile(
            r"(\d{1,3})\s*(?:巻|冊)\s*(?:くらい|ぐらい|程度)?\s*(?:で)?\s*(?:完結|終わる|読み切れる|読める)\s*(?:する|している|してる)?\s*の?\s*"
            r"(?:漫画|マンガ|まんが|やつ|もの|作品|シリーズ)"
        ),
        True,
    ),
    # (「まだ8巻までしか出てないの？」 says how far it has come out: no limit)
    (
        re.compile(
            r"(\d{1,3})\s*(?:巻|冊|vol(?:ume)?s?\b|books\b)\s*(?:くらい|ぐらい|程度)?\s*(?:以内|以下|まで)(?!\s*(?:しか|出て|でて|です|なの|だっけ|でしょ))"
        ),
        True,
    ),
    (re.compile(r"(\d{1,3})\s*(?:巻|冊|vol(?:ume)?s?\b|books\b)\s*未満"), False),
    (
        re.compile(
            r"(\d{1,3})\s*(?:巻|冊)\s*(?:くらい|ぐらい|程度)?\s*で\s*(?:読み切|完結|終わ)(?![^\s、。]{0,6}(?:[?？か]|よね|ね\s*$|でしょ|っけ))"
        ),
        True,
    ),
    (
        re.compile(
            r"(?:nothing|no|not)\s(?:\w+\s)?(?:over|more than|longer than|above)\s{1,3}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books)\b"
        ),
        True,
    ),
    (
        re.compile(
            r"(\d{1,3})\s*巻\s*(?:を)?(?:超えて|越えて|超えない|越えない|超え(?:る|た)?の(?:は)?(?:嫌|無理|なし))"
        ),
        True,
    ),
    # A bare number under 100 after a limit is a length, not a price ("a mystery that ends in
    # under 10", "up to 8 is fine"): no price is that low.
    (
        re.compile(
            r"(?:under|fewer than|less than|below|shorter than)\s{1,3}(\d{1,2})(?![\d.,]|\s*(?:円|yen|jpy|k\b|%|[¥$]|years?|yo\b|歳|min|hours?))"
        ),
        False,
    ),
    (
        re.compile(
            r"(?:at most|up to|no more than|within|max(?:imum)?)\s{1,3}(\d{1,2})(?![\d.,]|\s*(?:円|yen|jpy|k\b|%|[¥$]|years?|yo\b|歳|min|hours?|days?))"
        ),
        True,
    ),
    # "like 1-3 volumes", 「3〜5巻くらい」: at most the top of the range
    (
        re.compile(r"(?<!\d)\d{1,2}\s{0,2}(?:[-~〜～]|or|to)\s{0,2}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books|巻|kan\b)"),
        True,
    ),
    (
        re.compile(
            r"(?:under|fewer than|less than|below|shorter than)\s{1,3}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books)\b"
        ),
        False,
    ),
    (
        re.compile(
            r"(?:at most|max(?:imum)?|up to|no more than|within)\s{1,3}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books)\b"
        ),
        True,
    ),
    (
        re.compile(
            r"(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books|巻)\s{0,3}(?:max|maximum|or less|or fewer|or under|or below|at most|tops|まで|以内)"
            r"(?!\s*(?:しか|出て|でて|です|なの|だっけ|でしょ))"
        ),
        True,
    ),
    # "fewer volumes, like 15 max", "shorter ones, 8 tops": a bare number capped, volumes said
    (
        re.compile(
            r"^(?=.{0,200}\b(?:vol(?:ume)?s?|books|fewer|shorter)\b).{0,200}?(?<![\d.,])(\d{1,2})(?:ish)?\s{0,2}"
            r"(?:max|tops|at most|or (?:less|fewer|under))\b(?!\s*(?:円|yen|jpy|[¥$]))"
        ),
        True,
    ),
    (
        re.compile(
            r"1\s*冊(?:で|だけで)?(?:終わる|完結)|読み切り|one[- ]shot|(?<!is )(?<!per )(?<!for )(?<!each )(?:single|one)[- ]volume(?!\s(?:in|of)\b)"
        ),
        "one",
    ),
    # "not too long", 「あんまり長くない」「長すぎない」: a looser bound than "short"
    (
        re.compile(
            r"\bnot (?:too|that|very|super|overly) long\b|\bnothing (?:too|very|super) long\b"
            r"|(?:あんまり|あまり|そんなに|それほど)長くな|長すぎ(?:ない|なく|ず)|長過ぎ(?:ない|なく|ず)"
        ),
        "not too long",
    ),
    # (「短くて一気読みできる」「サクッと読める」)
    (
        re.compile(r"\bshort\b|短い|短め|短くて|短く(?:終わ|完結|まとま)|(?:サクッと|さくっと|すぐ)読(?:める|み終わ)"),
        None,
    ),
)
SHORT_SERIES_VOLUMES = 10
NOT_TOO_LONG_VOLUMES = 20
# English number words read as digits by the volume limits ("ten volumes max", "one or two volumes").
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(sorted(EN_NUMBER_WORDS, key=len, reverse=True)) + r")\b")
# A long series: "at least 50 volumes", 「50巻以上」, "over 30 volumes".
_VOLUME_FLOOR = (
    (re.compile(r"(\d{1,3})\s*巻\s*(?:以上|超え|越え|超|オーバー)(?!え?て(?:い)?ない|えない|ない)"), True),
    (re.compile(r"(?:at least|min(?:imum)?)\s{1,3}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books)\b"), True),
    (
        re.compile(r"(?<!nothing )(?<!no )(?<!not )(?:over|more than)\s{1,3}(\d{1,3})\s{0,3}(?:vol(?:ume)?s?|books)\b"),
        False,
    ),
    (re.compile(r"(\d{1,3})\+\s{0,3}(?:vol(?:ume)?s?|books|巻)"), True),
)
# A bare edition word in a question about the focus: "english?", 「英語の方は」.
_EDITION_WORDS = (
    (
        "en",
        re.compile(
            r"(?<![a-z])(?:english|eng|eigo(?:-?ban)?|en(?= ?(?:ver|version|ed|edition)\b))(?![a-z])|英語|えいご"
        ),
    ),
    (
        "ja",
        re.compile(
            r"(?<![a-z])(?:japanese|jp|jpn|nihongo(?:-?ban)?|(?:out |released )?in japan)(?![a-z])|日本語|にほんご|原書"
        ),
    ),
)
# Genres that are a tone more than a kind of story: said with a kind, both are wanted.
TONES = frozenset({"comedy", "drama", "slice-of-life"})


@dataclass(frozen=True)
class Cues:
    status: str | None = None
    drop_status: bool = False
    drop_price: bool = False  # "any price is ok": the price limits in force go
    drop_length: bool = False  # "longer is fine now": the volume limits in force go
    max_volumes: int | None = None
    latest: bool = False
    like: bool = False
    reference: bool = False
    product_question: bool = False
    new_request: bool = False
    refine_lead: bool = False
    whole: bool = False  # the whole series, not one volume
    next_volume: bool = False  # "what's after that", 「次の巻」
    previous_volume: bool = False  # "the one before", 「ひとつ前の巻」
    min_volumes: int | None = None  # "at least 50 volumes", 「50巻以上」
    folded: str = ""


def _sentence_at(folded: str, start: int) -> str:
    """The sentence of ``folded`` that holds position ``start`` (with its closing mark)."""
    begin = 0
    for m in PAT.SENTENCE_END.finditer(folded):
        if m.end() > start:
            return folded[begin : m.end()]
        begin = m.end()
    return folded[begin:]


# Texting shorthand read as the words it stands for ("smth by togashi thats finished").
_TEXTING_WORDS = {
    "smth": "something",
    "sth": "something",
    "smthn": "something",
    "anythin": "anything",
    "plz": "please",
    "pls": "please",
}
_TEXTING = re.compile(r"\b(?:" + "|".join(_TEXTING_WORDS) + r")\b")


def _refused_status(folded: str, start: int, end: int, status: str) -> str:
    """The status wanted when the one said at ``start:end`` is refused ("not ongoing", 「連載中のは除いて」)."""
    if PAT.STATUS_REFUSED_BEFORE.search(folded[max(0, start - 30) : start]) or PAT.STATUS_REFUSED_AFTER.search(
        folded[end : end + 16]
    ):
        return "ongoing" if status == "completed" else "completed"
    return status


def cues(text: str) -> Cues:
    """The conversational signals of one message (deterministic, microseconds)."""
    folded = _TEXTING.sub(
        lambda m: _TEXTING_WORDS[m.group()], unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower().strip()
    )
    folded = PAT.SCRIPT_SEAM.sub(" ", folded)
    status = None
    drop = bool(PAT.STATUS_DROPPED.search(folded))
    finished = bool(re.search(r"\bfinished\b", folded)) and not re.search(
        r"\b(?:i|just) (?:just |already )?finished|after finishing|finished (?:reading|it|the)"
        r"|^\s*finished\b(?!\s(?:only|ones?|series|manga|please|pls|plz)\b)|finished\s{2}",
        folded,
    )
    if not drop:
        # Both said ("still ongoing? I've caught up on all the finished classics"): the one in
        # the first sentence that asks (「まだ続いているんですね。完結しているコメディでおすすめは？」:
        # the remark comes first), else the first.
        found = [
            (m.start(), name, m.end()) if m else (len(folded), name, len(folded))
            for name, pattern in _STATUS
            if (m := pattern.search(folded)) or (name == "completed" and finished)
        ]
        if len(found) > 1:
            asking = [
                said
                for said in found
                if (sentence := _sentence_at(folded, said[0])) and PAT.ASKING_SENTENCE.search(sentence)
            ]
            found = asking or found
        if found:
            start, status, end = min(found)
            status = _refused_status(folded, start, end, status)
    max_volumes = None
    buying = PAT.VOLUME_RANGE.search(folded)
    counted = kanji_counts(
        _NUMBER_WORD.sub(lambda m: str(EN_NUMBER_WORDS[m.group(0)]), folded)
    )  # "one or two", 「十巻」
    for pattern, inclusive in () if buying else _VOLUME_CAP:
        m = pattern.search(folded if inclusive in ("one", "not too long", None) else counted)
        if m is None:
            continue
        if inclusive == "one":
            max_volumes = 1
        elif inclusive == "not too long":
            max_volumes = NOT_TOO_LONG_VOLUMES
        elif inclusive is None:
            max_volumes = SHORT_SERIES_VOLUMES
        else:
            n = int(m.group(1))
            max_volumes = n if inclusive else max(0, n - 1)
        break
    min_volumes = None
    for pattern, inclusive in _VOLUME_FLOOR:
        m = pattern.search(counted)
        if m is not None:
            if max_volumes is None and PAT.FLOOR_REFUSED.search(counted[max(0, m.start() - 24) : m.start()]):
                # "nothing with 40+ volumes", "no 50巻以上": fewer than that, not at least
                max_volumes = max(0, int(m.group(1)) - (1 if inclusive else 0))
            else:
                min_volumes = int(m.group(1)) + (0 if inclusive else 1)
            break
    hedges = [m.start() for m in PAT.HEDGE_LIKE.finditer(folded)]
    likened = any(m.start() not in hedges for m in PAT.LIKE.finditer(folded))
    like = (likened and not PAT.NOT_LIKE.search(folded)) or bool(
        # ("is Golgo 13 anything like that?" compares a title with it: no likeness asked for)
        PAT.MORE_LIKE_THAT.search(folded) and not PAT.IS_IT_LIKE.search(folded)
    )
    return Cues(
        status=status,
        drop_status=drop,
        drop_price=bool(PAT.PRICE_DROPPED.search(folded)),
        drop_length=bool(PAT.LENGTH_DROPPED.search(folded)),
        max_volumes=max_volumes,
        latest=bool(PAT.LATEST.search(folded)),
        like=like,
        reference=bool(PAT.REFERENCE.search(folded)),
        product_question=bool(PAT.PRODUCT_QUESTION.search(folded)),
        new_request=bool(PAT.NEW_REQUEST.search(folded)),
        refine_lead=bool(PAT.REFINE_LEAD.search(folded)),
        whole=bool(PAT.WHOLE.search(folded)),
        next_volume=bool(PAT.NEXT.search(folded)),
        previous_volume=bool(PAT.PREVIOUS.search(folded)),
        min_volumes=min_volumes,
        folded=folded,
    )


@dataclass
class Resolution:
    intent: str
    action: str  # "search", "similar", "clarify_series", "ask_order_id", "answer", "clarify"
    reason: str
    state: common_pb2.DialogueState
    candidates: list[str]
    not_carried: bool = False
    follow_up: bool = False
    offered_only: bool = False  # a choice among the series offered only (see the proto)


def _has_constraints(entities: Entities, c: Cues) -> bool:
    # (A narrower kind ruled out, "not those cooking battle ones", refines the request in force
    # though it rules out no genre.)
    return bool(
        entities.genres
        or entities.excluded_genres
        or entities.excluded_kinds
        # "anything like that for little kids?" (not 「小学2年生でも読めますか？」, asked of it)
        or (entities.young_reader and bool(PAT.ASKS_FOR_SOMETHING.match(c.folded) or c.new_request))
        # ("keep it family friendly", 「全年齢向けのがいい」: the reader said as what is wanted)
        or (entities.young_reader and bool(PAT.SAID_AS_WANTED.search(c.folded)))
        or entities.max_price_jpy is not None
        or entities.min_price_jpy is not None
        or entities.language is not None
        or entities.in_stock is not None
        or c.status is not None
        or c.drop_status
        or c.drop_price
        or c.drop_length
        or c.max_volumes is not None
        or c.min_volumes is not None
    )


def _merge(into: common_pb2.Constraints, entities: Entities, c: Cues, replace_genres: bool = True) -> None:
    """Apply this message's constraints on top of those in force."""
    if entities.genres and replace_genres:
        del into.genres[:]
        del into.all_genres[:]  # another kind of story: the kinds added to the old one go too
        tones = [g for g in entities.genres if g in TONES]
        if tones and len(tones) < len(entities.genres) and not PAT.ALTERNATIVES.search(c.folded):
            # "any other comedy with history in it", 「ホラーだけどコメディ寄り」: a kind of story in
            # that tone, both at once (not one or the other).
            into.all_genres.extend(tones)
            entities = replace(entities, genres=[g for g in entities.genres if g not in TONES])
    for g in entities.genres:
        if g not in into.genres:
            into.genres.append(g)
        if g in into.excluded_genres and g not in entities.excluded_genres:
            into.excluded_genres.remove(g)  # asked for now: an earlier "not horror" is lifted
    for g in entities.excluded_genres:
        if g in into.genres and g not in entities.genres and any(aspect_of(k) == g for k in entities.excluded_kinds):
            continue  # "horror" in force, then 「グロいのは無理」: horror without the gore
        if g not in into.excluded_genres:
            into.excluded_genres.append(g)
        if g in into.genres:
            into.genres.remove(g)
    for kind in entities.excluded_kinds:
        if kind not in into.excluded_kinds:
            into.excluded_kinds.append(kind)
    if entities.young_reader and "horror" not in into.genres and "horror" not in into.excluded_genres:
        # A young child's book is no horror (「小学生の息子にプレゼント」, "for my 7 year old").
        into.excluded_genres.append("horror")
    if entities.young_reader:
        # ... and rated for all ages (the catalog's age rating; retrieval applies it).
        into.max_age_rating = 0
    elif into.HasField("max_age_rating") and PAT.OTHER_READER.search(c.folded):
        into.ClearField("max_age_rating")  # "what about for me?": another reader now
    if c.drop_price:
        into.ClearField("max_price_jpy")
        into.ClearField("min_price_jpy")
    if c.drop_length:
        into.ClearField("max_volumes")
    copy_present(entities, into, ("max_price_jpy", "min_price_jpy", "language", "in_stock"))
    if into.HasField("min_price_jpy") and into.HasField("max_price_jpy") and into.min_price_jpy > into.max_price_jpy:
        into.ClearField("min_price_jpy")
    if c.drop_status:
        into.ClearField("status")
    elif c.status is not None:
        into.status = c.status
    copy_present(c, into, ("max_volumes", "min_volumes"))
    if into.HasField("min_volumes") and into.HasField("max_volumes") and into.min_volumes > into.max_volumes:
        into.ClearField("min_volumes" if c.max_volumes is not None else "max_volumes")
    del into.genres[MAX_LIST:]
    del into.excluded_genres[MAX_LIST:]
    del into.excluded_kinds[MAX_LIST:]


def _focus_update(focus: common_pb2.Focus, entities: Entities, c: Cues) -> None:
    if entities.language is not None:
        focus.language = entities.language
    else:
        for language, pattern in _EDITION_WORDS:
            if pattern.search(c.folded):
                focus.language = language
                break
    if (c.previous_volume or c.next_volume) and focus.latest_volume and focus.HasField("latest_shown"):
        # "the one before it" after the latest volume was shown: counted from its number.
        focus.volume = focus.latest_shown + (1 if c.next_volume else -1)
        focus.latest_volume = False
        focus.ClearField("latest_shown")
    elif c.latest:
        # 「30巻しか出てないのか。最新刊は？」: the latest volume, whatever numbers came before.
        focus.latest_volume = True
        focus.ClearField("volume")
    elif entities.volumes:
        after = PAT.AFTER_N.search(c.folded)
        focus.volume = entities.volumes[-1] + (1 if after and c.next_volume else 0)
        focus.latest_volume = False
        focus.ClearField("latest_shown")
    elif c.next_volume and focus.HasField("volume"):
        focus.volume += 1
    elif c.previous_volume and focus.HasField("volume") and focus.volume > 0:
        focus.volume -= 1
    elif c.whole:
        focus.ClearField("volume")
        focus.latest_volume = False


def product_intent(classified: str, abstained: bool, c: Cues, fallback: str = "product_search") -> str:
    """The product intent of a turn we know is about products."""
    if classified in PRODUCT_INTENTS and not abstained:
        return classified
    if c.like or (c.new_request and not c.product_question):
        return "product_recommendation" if c.like else fallback
    return "product_question" if c.product_question else fallback


# The linker's kind for a well-known title the catalog does not hold (``data/not_carried.json``).
ABSENT = "absent"
# The linker's kind for the word a series adds to another's name (「超」: Dragon Ball Super).
SEQUEL = "sequel"


def resolve(
    text: str,
    classified: str,
    abstained: bool,
    mentions: list[common_pb2.Mention],
    previous: common_pb2.DialogueState,
    unlinked_title: bool,
    previous_intent: str = "",
    entities: Entities | None = None,
) -> Resolution:
    """Decide what this turn asks for, and the state after it (``previous_intent``: the
    last turn's intent, whatever it was; ``entities``: ``extract(text)``, when the caller
    has it already)."""
    if entities is None:
        entities = extract(text)
    lowered = unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower()  # folded once for the turn
    echo = PAT.ECHOED_COUNT.match(lowered) if previous.HasField("focus") and previous.focus.series_id else None
    if echo is not None and not any((span := _span(lowered, m)) is not None and span[0] < echo.end() for m in mentions):
        # 「34巻で完結なんだ。英語も34巻？」, 「200巻超え！？…1巻だけ」: the count just given, said
        # back about the series in focus, is no limit asked for; the rest of the message is
        # the turn.
        rest = lowered[echo.end() :].strip()
        if not rest:
            state = common_pb2.DialogueState(version=STATE_VERSION)
            state.last_shown.extend(previous.last_shown)
            state.focus.CopyFrom(previous.focus)
            _keep_request(state, previous)
            state.intent = "product_question"
            return Resolution(state.intent, "search", "remarks on the series in focus", state, [], follow_up=True)
        return resolve(rest, classified, abstained, mentions, previous, unlinked_title, previous_intent)
    bare = PAT.NUMBER_ALONE.match(lowered)
    if bare is not None and not entities.volumes and previous.HasField("focus") and previous.focus.series_id:
        # 「チェンソーマン」 then 「21」: a number on its own names a volume of the series in focus.
        entities = replace(entities, volumes=[int(bare.group(1))])
    opening = PAT.OPENING_CORRECTION.match(lowered)
    if opening is not None and (rest := lowered[opening.end() :].strip(" ,.!、。")):
        # "no the super one" after Dragon Ball: what was meant, not "no" to it.
        return resolve(rest, classified, abstained, mentions, previous, unlinked_title, previous_intent)
    fixed = PAT.CORRECTION.search(lowered)
    if fixed is not None and (rest := lowered[fixed.end() :].strip(" ,.!、。")):
        # "Looking for the manga where Luffy... no wait, the one with Ichigo": what the customer
        # takes back is not asked; the rest of the message is the turn.
        kept = [m for m in mentions if (span := _span(lowered, m)) is not None and span[0] >= fixed.end()]
        taken_back = {m.series_id for m in mentions if m not in kept and m.kind not in (ABSENT, "author")}
        result = resolve(rest, classified, abstained, kept, previous, unlinked_title, previous_intent)
        # (searched with the whole message, the name taken back must not come first)
        ruled_out = result.state.constraints.excluded_series
        ruled_out.extend(sorted(taken_back - set(ruled_out) - {result.state.focus.series_id}))
        return result
    breaks = [b.end() for b in PAT.AFTER_A_QUESTION.finditer(lowered.rstrip())]
    if breaks and PAT.WANTED_NOW.search(lowered, breaks[-1]):
        # 「かぐや様の作者ですよね？かぐや様も読んでみたい」: a title wanted after a question is the
        # turn, whatever the question asked (the names in it are its own).
        tail = lowered[breaks[-1] :]
        last = [
            m
            for m in mentions
            if m.kind != "author"
            and (
                bool(m.name and _name_pattern(m.name).search(tail))
                or ((span := _span(lowered, m)) is not None and span[0] >= breaks[-1])
            )
        ]
        if last:
            return resolve(tail, classified, abstained, last, previous, unlinked_title, previous_intent)
    if any(m.kind == SEQUEL for m in mentions):
        # 「超のほうも」 names Dragon Ball Super only while Dragon Ball is talked about.
        # (or shown: 「悟空のやつ」 listed Dragon Ball and Super, then 「無印のほうね」)
        talked = {
            previous.focus.series_id,
            *previous.discussed,
            *previous.last_shown,
            *previous.candidates,
            *previous.constraints.only_series,
            # (or named in the same message: 「ドラゴンボールの続編の方ってある？超のほう」)
            *(m.series_id for m in mentions if m.kind != SEQUEL),
        } - {""}
        # ... and the one it follows, named beside it, is only how the customer got there.
        # (「ドラゴンボールの続編の方」「超のほう」; not 「ドラゴンボールと超、両方」)
        followed = (
            {sid for m in mentions if m.kind == SEQUEL and talked.intersection(m.relative_to) for sid in m.relative_to}
            if PAT.SEQUEL_ASKED.search(lowered) and not PAT.BOTH.search(lowered)
            else set()
        )
        mentions = [
            common_pb2.Mention(
                series_id=m.series_id, kind="alias", name=m.name, score=m.score, start=m.start, end=m.end
            )
            if m.kind == SEQUEL
            else m
            for m in mentions
            if (m.kind != SEQUEL or talked.intersection(m.relative_to)) and m.series_id not in followed
        ]
    if (
        previous_intent in FOLLOW_ON_INTENTS
        and classified in FOLLOW_ON_INTENTS
        and classified != previous_intent
        and [name for name, pattern in _SERVICE_ASKED if pattern.search(lowered)] == [previous_intent]
    ):
        # 「キャンセルできる？」 after an order's status: the order's service goes on when its own
        # words are the only service words said; the other service the classifier read is unsure.
        abstained = True
    absent = [m for m in mentions if m.kind == ABSENT]
    if absent:
        # A well-known title the shop does not carry ("Tokyo Mew Mew?", 「弱虫ペダルある？」): a
        # product turn that says so, unless the message asks something of its own about it
        # ("where can I stream Tokyo Mew Mew?").
        mentions = [m for m in mentions if m.kind != ABSENT]
        # ("is it connected to astro boy?" about Pluto: a question about the series in focus)
        about_focus = (
            previous.HasField("focus") and bool(previous.focus.series_id) and bool(PAT.REFERENCE.search(lowered))
        )
        unlinked_title = unlinked_title or not about_focus
        if (
            not about_focus
            and classified not in PRODUCT_INTENTS
            and not _own_words(classified, cues(_without_names(text, absent)).folded)
        ):
            # (「アオアシの最新刊も一緒に頼みたい」 after a shipping question: the title asked for)
            classified, abstained = "product_search", True
    excluded = _excluded_ids(lowered, mentions)
    resolution = _resolve(
        text,
        lowered,
        classified,
        abstained,
        entities,
        mentions,
        previous,
        unlinked_title,
        previous_intent,
        set(excluded),
    )
    state = resolution.state
    # The conversation's series stay known whatever the turn was (the orchestrator adds the
    # one in focus once it is shown); the series offered stay known while one of them is in
    # focus ("and the other one?" after choosing).
    state.discussed.extend(s for s in previous.discussed if s not in state.discussed)
    named_together = list(
        dict.fromkeys(m.series_id for m in sorted(mentions, key=lambda m: m.start) if m.kind in _NAMED_KINDS)
    )
    if resolution.intent in PRODUCT_INTENTS and len(named_together) > 1:
        # Several named at once (「スラダンとハイキュー、どっちも完結してますか?」): talked about in
        # the order named, so 「最初に聞いたほう」 later is the first of them.
        state.discussed.extend(s for s in named_together if s not in state.discussed)
    if (
        not state.candidates
        and previous.version == STATE_VERSION
        and (
            (state.HasField("focus") and state.focus.series_id in previous.candidates)
            or (resolution.action == "choose" and previous.pending == "series")
        )
    ):
        state.candidates.extend(previous.candidates)
    if resolution.intent in PRODUCT_INTENTS and excluded:
        # Whatever the turn asks, a series it rules out ("already read Monster. something else
        # by him") is never shown, unless it is the one the turn is about.
        ruled_out = resolution.state.constraints.excluded_series
        for series_id in sorted(excluded):
            if (
                series_id not in ruled_out
                and series_id != resolution.state.focus.series_id
                and len(ruled_out) < MAX_LIST
            ):
                ruled_out.append(series_id)
    if (
        resolution.intent == "product_search"
        and resolution.state.focus.series_id
        and (previous.intent in PRODUCT_INTENTS or previous.last_shown)
        and _DETAIL_ASKED.search(lowered)
    ):
        # In a conversation about products, the price, stock or release of one of them asked
        # is a detail of that product (every hand-written conversation calls it a question);
        # a message on its own keeps the taxonomy's search ("ワンピースの最新刊いくら？").
        resolution = replace(resolution, intent="product_question")
        resolution.state.intent = "product_question"
    return _relative_limits(resolution, previous, lowered)


def _relative_limits(resolution: Resolution, previous: common_pb2.DialogueState, lowered: str) -> Resolution:
    """Others asked for that are shorter or cheaper than the series the customer compares them
    with (the one in focus before, or the one they are to be like): fewer volumes or a lower
    price than it, which retrieval reads from the catalog (「これ系で、もっと巻数少ないのない？」
    after Frieren's 14 volumes: 13 at most). With no request of its own in force, "anything
    cheaper?" about one series asks for its kind of story, cheaper: suggestions like it."""
    state = resolution.state
    if (
        resolution.intent not in PRODUCT_INTENTS
        or resolution.action not in ("search", "similar")
        or state.focus.series_id
        or state.constraints.only_series
        or not _RELATIVE_LIMIT.search(lowered)
    ):
        return resolution
    focus = previous.focus.series_id if previous.version == STATE_VERSION and previous.HasField("focus") else ""
    anchor = focus or (state.constraints.like_series_ids[:1] or [""])[0]
    if not anchor:
        return resolution
    for pattern, limit in (
        (PAT.SHORTER, state.constraints.shorter_than),
        (PAT.CHEAPER, state.constraints.cheaper_than),
    ):
        if pattern.search(lowered) and anchor not in limit:
            limit.append(anchor)
    # (「もっと安いのある？」 compares with a series we carry: it names no title we lack)
    resolution = replace(resolution, not_carried=False)
    no_request_before = not (previous.topic or previous.HasField("request") or previous.constraints.genres)
    if focus and no_request_before and not (state.constraints.genres or state.constraints.like_series_ids):
        # ("Do you have Kingdom?" … "anything cheaper?": others of its kind, cheaper)
        state.constraints.like_series_ids.append(focus)
        state.topic = ""  # (its words say nothing of the kind of story)
        state.intent = "product_recommendation"
        return replace(resolution, intent=state.intent, action="similar")
    return resolution


# A purchase made, not a detail asked: "… ください", "I'll take", "add".
_NOT_A_PURCHASE = (
    # (「教えてください」 asks; 「1巻ください」 buys)
    r"(?!.*(?:(?<!て)ください|(?<!て)下さい|お願い|おねがい|\bi'?ll (?:take|get|buy)|\badd\b|\bbuy\b|\border\b|買います|注文))"
)
# A detail of an item asked, not the item asked for.
_DETAIL_ASKED = re.compile(
    r"(?=.*(?:how much|price|\bcost|in stock|available|\bout\b|when|release|いくら|値段|価格|在庫|発売|出て|いつ|円))"
    r"(?=.*(?:[?？]|\b(?:how|when|is|are|does|do)\b|ですか|ますか|かな|でしょう|いくら|ある$|あります$|\bprice\b|値段))"
    + _NOT_A_PURCHASE
)

# A price asked, not a purchase: "how much is Berserk vol 1?" (not "vol 1 please, how much with shipping").
_PRICE_ASKED = re.compile(
    r"(?=.*(?:how much|\bprices?\b|\bcosts?\b|いくら|値段|価格|なんぼ|\bikura\b|\bnedan\b))" + _NOT_A_PURCHASE
)


def _resolve(
    text: str,
    lowered: str,
    classified: str,
    abstained: bool,
    entities: Entities,
    mentions: list[common_pb2.Mention],
    previous: common_pb2.DialogueState,
    unlinked_title: bool,
    previous_intent: str,
    excluded: set[str],
) -> Resolution:
    prev = previous if previous.version == STATE_VERSION else common_pb2.DialogueState()
    order = _order_of(lowered)  # "the shortest", "which is older?": read once for the whole turn
    bought = PAT.VOLUME_RANGE.search(lowered)
    if bought is not None:
        entities = replace(entities, volumes=[int(bought.group(1) or bought.group(3) or 1)])
    elif not entities.volumes:
        named_volume = _bare_volume(lowered, mentions, prev.HasField("focus"))
        if named_volume is not None:
            entities = replace(entities, volumes=[named_volume])
    whole_cues = cues(text) if entities.volumes else None
    if (
        whole_cues is not None
        and (whole_cues.max_volumes is not None or whole_cues.min_volumes is not None)
        and (
            not order  # 「短い方の1巻」 picks the shorter one, it caps nothing
            # (「巻数少なめ、10巻以下」: the number of the cap itself, whatever else is said)
            or set(entities.volumes) <= {int(m.group(1)) for m in PAT.VOLUME_CAP_SAID.finditer(lowered)}
        )
    ):
        # 「37巻は長いなぁ…15巻以内で」 caps the length; it asks for no volume.
        entities = replace(entities, volumes=[])
    # A bare edition word ("english only", 「English で」) names the edition wanted; both named
    # ("212 volumes in japanese. english?"), the one named last.
    folded_text = PAT.LANGUAGE_SKILL.sub(" ", lowered)
    named_editions: list[tuple[int, str]] = []
    ruled_out_editions: list[tuple[int, str]] = []
    for language, pattern in _EDITION_WORDS:
        for word in islice(pattern.finditer(folded_text), 8):
            negated = PAT.NEGATED_BEFORE_EDITION.search(folded_text[max(0, word.start() - 16) : word.start()])
            negated = negated or PAT.NEGATED_AFTER_EDITION.search(folded_text[word.end() : word.end() + 8])
            (ruled_out_editions if negated else named_editions).append((word.start(), language))
    if named_editions:
        entities = replace(entities, language=max(named_editions)[1])
    elif ruled_out_editions and len({language for _, language in ruled_out_editions}) == 1:
        entities = replace(entities, language="en" if ruled_out_editions[0][1] == "ja" else "ja")
    if not entities.volumes and prev.HasField("focus") and (prev.focus.HasField("volume") or prev.focus.latest_volume):
        bare = PAT.BARE_VOLUME.match(folded_text)
        if bare is not None:
            # "and 5?", 「6は？」 after a volume of the series in focus: that volume.
            entities = replace(entities, volumes=[int(bare.group(1))])
    if not unlinked_title and not mentions and not prev.HasField("focus") and not prev.last_shown:
        unlinked_title = _bare_unknown_name(text, entities)
    state = common_pb2.DialogueState(version=STATE_VERSION)
    state.last_shown.extend(prev.last_shown)
    named = [m for m in mentions if m.series_id not in excluded]
    said_of_others = len(named)
    if prev.HasField("focus") or prev.candidates:
        # "who drew it? isn't it the death note guy", 「NANAの人が描いたやつ」: a title naming its
        # author, said of the series talked about, is no new series.
        # (「絵の人 Death Note と同じだよね？」: the same person as that title's)
        person = PAT.PERSON_ASKED.search(lowered)
        named = [
            m
            for m in named
            if not (
                (span := _span(lowered, m)) is not None
                and (PAT.TITLE_AS_PERSON.match(lowered, span[1]) or (person and PAT.SAME_AS.match(lowered, span[1])))
            )
        ]
    as_person = len(named) < said_of_others  # a title named only as its author's name
    # Cues are read without the names: "March Comes in Like a Lion" is no "like X".
    c = cues(_without_names(text, mentions))
    titles = [m for m in named if m.kind != "author"]
    authors = [m for m in named if m.kind == "author"]
    # "something after Naruto", 「進撃の後に読める漫画ある？」: one like it, never it
    read_after = bool(titles) and (
        bool(PAT.READ_AFTER_JA.search(c.folded))
        or any((span := _span(lowered, m)) and PAT.READ_AFTER.search(lowered, 0, span[0]) for m in titles)
    )
    c = replace(c, like=c.like or read_after)
    if (
        c.like
        and titles
        and not read_after
        and PAT.AVAILABILITY.search(c.folded)
        and not PAT.SIMILAR.search(c.folded)
        and not (c.new_request or PAT.RECOMMEND.search(c.folded))
    ):
        # "Do you have Sailor Moon? my wife loved it": that title, not others like it.
        c = replace(c, like=False)
    # (a present for someone said in the turn before: 「小学生の息子にプレゼント…」 then 「ポケモンが大好きなんです」)
    gift_before = bool(prev.topic and PAT.THIRD_PERSON.search(prev.topic) and PAT.GIFT.search(prev.topic))
    if (
        c.like
        and titles
        and (PAT.THIRD_PERSON.search(c.folded) or gift_before)
        and not PAT.SIMILAR.search(c.folded)
        and not PAT.MORE_LIKE.search(c.folded)
        and (PAT.AVAILABILITY.search(c.folded) or PAT.GIFT.search(c.folded) or gift_before)
    ):
        # 「母がベルばら好きで、誕生日にあげたい」, "my son loves pokemon. is there a manga": a present
        # of the title someone else loves, not others like it.
        c = replace(c, like=False)
    if (
        c.like
        and titles
        and all(t.kind == "character" for t in titles)
        and not (PAT.SIMILAR.search(c.folded) or PAT.MORE_LIKE.search(c.folded))
    ):
        # 「アーニャが出てるやつ、娘が好きで」: a hero liked is their series wanted, not others like it.
        c = replace(c, like=False)
    asked = _asked_title(text, titles, c) if c.like and titles else None
    if asked is not None:
        # "What about Claymore? Similar dark fantasy vibe. Is that one finished?", "Zatch Bell! I
        # loved that as a kid. Is it complete?": a question about that title, not others like it.
        c = replace(c, like=False)
        titles = [t for t in titles if t.series_id == asked]
    other = PAT.OTHER.search(c.folded) or re.search(r"\bmore\b|もっと", c.folded)
    if (
        authors
        and titles
        and other is not None
        and all(t.series_id in {s for a in authors for s in a.author_series} for t in titles)
        # (「冨樫の他の作品は？幽白とか」「矢沢あいの他の作品、Paradise Kiss ありますか」: a title after
        # "other" is one of the others asked for)
        and not all(
            (span := _span(lowered, t)) is not None
            and (said := PAT.OTHER.search(lowered)) is not None
            and span[0] > said.start()
            for t in titles
        )
    ):
        # "Just finished Dr. Slump, what else did Toriyama draw?": the author's other works.
        excluded |= {t.series_id for t in titles}
        named = [m for m in named if m.series_id not in excluded]
        titles = []
        authors = [m for m in authors if m.series_id not in excluded] or authors
    if (
        abstained
        and not named
        and classified in _SERVICE_INTENTS
        and (
            _OWN_WORDS[classified].search(c.folded)
            or (PAT.SHIPPING_TERMS.search(c.folded) and classified == "shipping_info")
        )
    ):
        # An unsure guess backed by its own words (「何円以上で無料とかあります？」 is about shipping).
        abstained = False
    if mentions and (entities.genres or entities.excluded_genres):
        # A genre word in a name is no genre asked for ("Demon Slayer", "Magic Knight Rayearth").
        genres, excluded_genres, kinds = genres_in(_without_names(text, mentions))
        entities = replace(entities, genres=genres, excluded_genres=excluded_genres, excluded_kinds=kinds)
    if (
        prev.intent in PRODUCT_INTENTS
        and classified not in PRODUCT_INTENTS
        and not named
        and (entities.genres or entities.excluded_genres)
        and not _own_words(classified, c.folded)
    ):
        # "drama please, not action" while a request is in force: a refinement, whatever the
        # classifier guessed.
        classified, abstained = "product_recommendation", True
    if (
        classified not in PRODUCT_INTENTS
        and len({m.series_id for m in mentions if m.kind != "author"}) > 1
        and PAT.CHOICE.search(c.folded)
        and not entities.order_ids
    ):
        # "torn between blue box and skip and loafer": a choice between series, not a torn book.
        classified, abstained = "product_recommendation", True
    if PAT.ORDER_BY_DIGITS.search(c.folded) and not entities.order_ids:
        # "the status on the one ending in 6778", 「末尾6778の注文」: an order of theirs.
        classified, abstained = "order_status", False
    if prev.HasField("focus") and classified in _SERVICE_INTENTS and not named:
        first = _sentence_at(c.folded, 0)
        if (
            first != c.folded
            and not _service_asked(first)
            and not _own_words(classified, first)
            and (PAT.EDITION_ASKED.search(first) or PAT.PRODUCT_QUESTION.search(first))
        ):
            # 「英語版ってあります？海外の友達に送りたくて」: the series in focus asked first.
            classified, abstained = "product_question", True
    if (
        classified in _SERVICE_INTENTS
        and not named
        and not entities.order_ids
        and PAT.RECALL.search(c.folded)
        # (the classifier's words may be the story's: 不良 is a delinquent here, not a defect)
        and not (_service_asked(c.folded) or PAT.DAMAGED.search(c.folded) or PAT.MY_ORDER.search(c.folded))
    ):
        # 「不良がタイムリープするやつ」: a story told, whatever service the classifier guessed.
        classified, abstained = "product_search", True
    if (
        classified in _SERVICE_INTENTS
        and not named
        and prev.intent in PRODUCT_INTENTS
        and (prev.focus.series_id or prev.last_shown)
        and (c.status is not None or PAT.PRODUCT_QUESTION.search(c.folded))
        and not _own_words(classified, c.folded)
    ):
        # 「まだ連載中？」「値段差は」 after a series was shown: a fact of it, not an order's state
        # or how to pay.
        classified, abstained = "product_question", True
    if (
        (classified in PRODUCT_INTENTS or abstained)
        and classified != "order_status"
        and not PAT.ORDER_NOT_YET_PLACED.search(c.folded)
        and PAT.NOT_ARRIVED.search(c.folded)
        and not _other_service_words("order_status", c.folded)
    ):
        # "my oshi no ko 16 never arrived": an order's delivery, whatever series it holds.
        classified, abstained = "order_status", False
    if (
        not entities.order_ids
        and PAT.ORDER_NOT_YET_PLACED.search(c.folded)
        and (classified == "order_status" or PAT.DELIVERY_TIME.search(c.folded))
    ):
        # 「北海道ですが、注文したらいつ届きますか？」: delivery times, before there is an order.
        classified, abstained = "shipping_info", False
    if (
        classified == "shipping_info"
        and PAT.MY_ORDER.search(c.folded)
        and PAT.ORDER_PROGRESS.search(c.folded)
        and not PAT.ORDER_NOT_YET_PLACED.search(c.folded)
    ):
        # 「こないだ頼んだやつの配送状況しりたい」, "where is my order?": an order of theirs, not
        # shipping in general.
        classified, abstained = "order_status", False
    if not entities.order_ids and not PAT.MY_ORDER.search(c.folded) and PAT.DELIVERY_TO.search(c.folded):
        # "how long would it take to get to osaka?" after choosing a volume: delivery, not the book.
        classified, abstained = "shipping_info", False
    if (
        classified in PRODUCT_INTENTS
        and not titles
        and not authors
        and PAT.NOT_SOLD.search(c.folded)
        and not (entities.genres or _MANGA_WORDS.search(c.folded) or c.reference or entities.volumes)
    ):
        # 「おすすめの映画おしえて」, "any good movies?": films, games or food are not the shop's.
        classified, abstained = "out_of_scope", False
    product_turn = classified in PRODUCT_INTENTS and not abstained
    # A non-product intent the classifier is sure of (shipping, payment…) is not taken over.
    # "I'd like to order volume 200" about the series in focus is a purchase, not an order's status.
    about_focus = prev.HasField("focus") and bool(entities.volumes or c.latest)
    hijackable = (
        product_turn
        or abstained
        or classified in ("out_of_scope", "greeting")
        or (classified == "order_status" and about_focus and not entities.order_ids)
    )
    # With no conversation to lean on, only a turn whose best guess is a product (or nothing
    # the shop does) becomes a product turn: 「送料無料ある？」 stays a shipping question. (Work
    # the shop does not do never gets this far: section 0.)
    productish = classified in PRODUCT_INTENTS or (abstained and classified in ("out_of_scope", "greeting"))
    # A message that is (almost) only a name is a product turn whatever the classifier says
    # ("Bleach" is no greeting); a confident out-of-scope question that merely mentions a title
    # ("where can I stream Jujutsu Kaisen?") stays what it is.
    bare_name = bool(named) and len(_without_names(text, named).strip(" ?？!！。、,.")) <= BARE_NAME_REST
    productish = productish or (bare_name and classified in ("out_of_scope", "greeting"))
    # ("the cosplay romcom, with marin and gojo": one title told by what it is)
    one_title_told = bool(PAT.ONE_TITLE_TOLD.search(c.folded))
    productish = productish or one_title_told
    # ("a mystery that's done": a kind and a status, none of a greeting's own words)
    productish = productish or (
        classified in ("greeting", "out_of_scope")
        and bool(entities.genres)
        and c.status is not None
        and not _own_words(classified, c.folded)
    )
    # (「カードキャプターさくら」, "Cardcaptors": only a name, whatever the classifier made of its words)
    # (not a piece of a title: "human と話したい" asks for a person, not for Ajin: Demi-Human)
    hijackable = hijackable or (
        bare_name and all(m.kind != "partial" for m in named) and not _own_words(classified, c.folded)
    )
    # (「スキップ・ビートじゃなくて、ローファーの方ね」: a series chosen by name)
    hijackable = hijackable or (
        bool(named)
        and bool(re.search(r"(?:のほう|の方)(?:ね|で|に|を|だ)?\s*[!！。.]*$", c.folded))
        and not _own_words(classified, c.folded)
    )
    # ("I want to start One Piece", 「カードキャプターさくらはどうでしょう？」: a title wanted, though the
    # classifier read a shop service into the words; none of the service's own words are there)
    hijackable = hijackable or (
        classified in _SERVICE_INTENTS
        # (an exact name: 「パスワードリセット」 is one edit from no title anyone meant)
        and any(m.kind not in ("author", "partial") and not m.fuzzy for m in named)
        and not _ESCALATION_ASKED.search(c.folded)
        and not _own_words(classified, c.folded)
        and not _service_asked(c.folded)
        and not entities.order_ids
    )
    # 「もっと安いのは？」, "anything shorter?" after a list: the same request, cheaper or shorter first
    # (however the classifier reads 「安い」).
    relative_to_list = (
        prev.intent in PRODUCT_INTENTS
        and bool(prev.last_shown)
        and not prev.HasField("focus")
        and not named
        and bool(_RELATIVE_LIMIT.search(c.folded))
    )
    hijackable = hijackable or relative_to_list
    # 「続きの巻ほしい」「前の巻も」 with a series in focus: its volume, whatever the classifier read
    hijackable = hijackable or (
        prev.HasField("focus")
        and bool(prev.focus.series_id)
        and bool(c.next_volume or c.previous_volume or entities.volumes or c.latest)
        and not _own_words(classified, c.folded)
        and not _service_asked(c.folded)
    )
    # 「後者で」「3番のやつ」 after a list: one of it picked by place, whatever the classifier read
    by_place = (
        prev.intent in PRODUCT_INTENTS
        and len(prev.last_shown) > 1
        and _PLACE.search(c.folded) is not None
        and not _own_words(classified, c.folded)
    )
    hijackable = hijackable or by_place
    # A named series with a non-product intent that has none of its own words in the message
    # ("tell me about Planetes" is no out-of-scope question; "Tekkonkinkreet too" is no payment).
    # (a hero named alone is weaker: "who would win, goku or saitama" stays out of scope)
    productish = productish or (any(m.kind != "character" for m in named) and not _own_words(classified, c.folded))
    # 「ギンコが旅する話、タイトルが出てこない」: a title searched for by what the customer recalls of
    # it, whatever the classifier made of 「出てこない」.
    if named and PAT.RECALL.search(c.folded) and not PAT.OTHER_MEDIA.search(c.folded) and not entities.order_ids:
        productish = hijackable = True
    # "Ok, what about Shangri-La Frontier? Similar VR game premise.": that series, asked after.
    productish = productish or (bool(named) and bool(PAT.WHAT_ABOUT_OPENING.match(c.folded)))
    # 「ゲームが好きな子なので、カービィの漫画があれば」: the manga of a named series asked for.
    productish = productish or (
        bool(named) and bool(PAT.AVAILABILITY.search(c.folded)) and bool(_MANGA_WORDS.search(c.folded))
    )
    # ("what about Tower of God" while shopping: a title asked after, even one we lack)
    productish = productish or (
        unlinked_title and prev.intent in PRODUCT_INTENTS and bool(PAT.WHAT_ABOUT_OPENING.match(c.folded))
    )
    if (
        any(m.kind == "partial" for m in named)
        and PAT.FORGOT_NAME.search(lowered)
        and not _own_words(classified, c.folded)
    ):
        # A piece of a title said to be forgotten (「東京なんとかって漫画…」) is looked for,
        # whatever the classifier made of the words around it.
        productish = hijackable = True
    # A described title ("the one about the roman bath architect…") or a kind of story asked for
    # with an unsure guess ("want to be properly scared. horror only") is about the shop's manga.
    if (
        not named
        and not entities.order_ids
        # (any unsure non-product guess with none of its words: "completed sci-fi under 10
        # volumes, go" read as a return is a request for manga)
        and (
            classified in ("out_of_scope", "greeting", "escalation")
            or (abstained and classified not in PRODUCT_INTENTS)
        )
        and (
            ((PAT.RECALL.search(c.folded) or _STORY_TOLD.search(c.folded)) and not PAT.OTHER_MEDIA.search(c.folded))
            or (
                not _own_words(classified, c.folded)
                and abstained
                and (entities.genres or (c.new_request and classified != "escalation"))
            )
        )
    ):
        productish, abstained = True, True
        hijackable = True

    if (
        titles
        and all(m.kind == "character" for m in titles)
        and classified not in PRODUCT_INTENTS
        and not (
            PAT.ON_TOPIC.search(c.folded)
            or PAT.AVAILABILITY.search(c.folded)
            or PAT.RECALL.search(c.folded)
            or one_title_told
        )
    ):
        # A hero named in an off-topic question (「ルフィの声優って誰？」) is no request for their
        # manga; "the one with Luffy" or 「アーニャが出てる漫画」 is.
        productish = False
    # 0. Work the shop does not do, whatever title it names: "can you write me a naruto
    #    fanfic", "translate a japanese email for me".
    if PAT.NOT_OUR_WORK.search(c.folded) and not entities.order_ids:
        return Resolution("out_of_scope", "answer", "a task the shop does not do", state, [])

    # 1. Order ids, asked for or volunteered, answer the order slot.
    if entities.order_ids:
        _carry(state, prev)
        if prev.pending != "order_id" and (
            (classified == "return_refund" and _own_words(classified, c.folded))
            or PAT.DAMAGED.search(c.folded)
            # 「返品したいんですが」 then 「注文番号は…です」: the order to return
            or (previous_intent == "return_refund" and not _service_asked(c.folded))
        ):
            # 「注文番号…で届いた本が違っていました。返品したい」: a return of that order.
            return Resolution("return_refund", "answer", "return of a given order", state, [])
        return Resolution(
            "order_status", "answer", "order number given", state, [], follow_up=prev.pending == "order_id"
        )
    if (
        prev.pending == "order_id"
        and not named
        and PAT.NO_ORDER_NUMBER.search(c.folded)
        and not _ESCALATION_ASKED.search(c.folded)
    ):
        # "i don't have the number", 「注文番号わからない」 when we asked for it: still the order's
        # question (the answer says where the number is found); the slot stays open.
        _carry(state, prev)
        state.pending = "order_id"
        return Resolution("order_status", "answer", "no order number to give", state, [], follow_up=True)
    if (
        (classified == "order_status" or PAT.DELIVERED.search(c.folded))
        and PAT.DAMAGED.search(c.folded)
        and not PAT.NOT_ARRIVED.search(c.folded)
    ):
        # 「注文と違う巻が届きました」: what arrived is wrong, a return (the number is asked with it);
        # 「昨日届いた呪術廻戦の25巻、表紙が折れてた」: so too with the title it names (the focus).
        _carry(state, prev)
        if own := [m for m in named if m.kind != "author"]:
            state.focus.Clear()
            state.focus.series_id = own[0].series_id
            _focus_update(state.focus, entities, c)
        if classified == "escalation" or _ESCALATION_ASKED.search(c.folded):
            # ("the third time it arrived damaged. I want to talk to a manager": a person asked for)
            return Resolution("escalation", "answer", "a person asked for about a delivery", state, [])
        return Resolution("return_refund", "answer", "a wrong or damaged delivery", state, [])
    if (
        classified == "order_status"
        and previous_intent == "shipping_info"
        and not PAT.MY_ORDER.search(c.folded)
        and not _service_asked(c.folded)
    ):
        # "is there tracking?" after "how long does shipping to Australia take": still about
        # shipping in general; no order of theirs is spoken of.
        _carry(state, prev)
        return Resolution("shipping_info", "answer", "continues the shipping question", state, [], follow_up=True)
    if (
        classified == "order_status"
        and not abstained
        and not about_focus
        and not by_place
        and (not named or PAT.NOT_ARRIVED.search(c.folded))
    ):
        _carry(state, prev)
        state.pending = "order_id"
        return Resolution("order_status", "ask_order_id", "order status without an order number", state, [])

    # 1-. A shop service asked in so many words, no title named: a person asked for wins over
    #     what they want to ask them about (「…破れてました。責任者に代わってください」), and an
    #     unsure guess gives way to the service named ("can i at least get a replacement").
    service_named = _service_asked(c.folded) if not entities.order_ids else ""
    asked_service = service_named if not named else ""
    if asked_service != "order_status" and (
        classified == "order_status" or _OWN_WORDS["order_status"].search(c.folded)
    ):
        asked_service = ""  # 「前に頼んだやつの配送状況」 is about an order
    if asked_service and (
        (asked_service == "escalation" and classified in _SERVICE_INTENTS)
        or (
            abstained
            and classified not in PRODUCT_INTENTS
            # (「まとめて買うと割引ってあります？」 beside a series in focus asks nothing of it)
            and (not prev.HasField("focus") or not (c.reference or c.latest or c.product_question or entities.volumes))
        )
        # ("Do you sell gift cards? I'd like my grandson to pick his own manga.": the question
        # asked first is the service's; an unsure product guess gives way)
        or (abstained and not prev.HasField("focus") and not entities.genres and _asks_first(c.folded, asked_service))
    ):
        _carry(state, prev)
        return Resolution(asked_service, "answer", f"{asked_service} asked", state, [])

    # 1a. A shop-service question about what was just chosen ("I'll take Ping Pong in English.
    #     how long to get it to Osaka?", 「Noragamiにする。JCBで払える？」, or of the series in focus:
    #     "I'll take vol 1 in English. how long to get it to Osaka?"): that service answers, and
    #     the series stays in focus for what comes next.
    service = service_named if named or prev.HasField("focus") else ""
    # (an unsure guess of the same service counts: 「ラッピングできますか」 about the series in focus)
    if service and (
        classified not in _SERVICE_INTENTS
        or (abstained and classified == service)
        # (a return or a person asked for is what the message is about, whatever else it names)
        or (service in ("return_refund", "escalation") and classified != service)
    ):
        _carry(state, prev)
        if titles:
            state.focus.Clear()
            state.focus.series_id = titles[0].series_id
        if state.HasField("focus"):
            _focus_update(state.focus, entities, c)
        return Resolution(service, "answer", f"{service} about the series chosen", state, [])

    # 1b. One title asked about through another's author: "Knights of Sidonia, is that by the
    #     Blame! guy?", 「プラネテスってヴィンランド・サガの人？」: a question about the first.
    subject = _asked_through_author(text, titles) if hijackable else None
    if subject is not None:
        state.focus.series_id = subject
        _focus_update(state.focus, entities, c)
        state.intent = "product_question"
        return Resolution(state.intent, "search", "asks whose work a series is", state, [])

    # 1c. The author of a series named with it: 「モブサイコ100の作者の他の作品」, "did the FMA author
    #     do anything else?" (the series itself is not "other").
    # ("Parasyte is by the same author, right? that one in English", 「同じ作者のエマも気になる」
    #  after another series: the customer names the other work itself, and asks about it.)
    names_the_other_work = bool(
        titles
        and PAT.SAME_AUTHOR_WORD.search(c.folded)
        and (prev.HasField("focus") or prev.last_shown)
        and titles[0].series_id not in (prev.focus.series_id, *prev.last_shown[:1])
    )
    if (
        prev.HasField("focus")
        and prev.focus.series_id
        and (
            (len(titles) == 1 and titles[0].series_id != prev.focus.series_id and PAT.IS_IT_BY.search(c.folded))
            or (as_person and not titles and (PAT.IS_IT_BY.search(c.folded) or not PAT.SAME_AUTHOR.search(c.folded)))
        )
    ):
        # "is it by the Assassination Classroom guy?" about the series in focus: a question about it.
        state.focus.CopyFrom(prev.focus)
        _keep_request(state, prev)
        state.intent = "product_question"
        return Resolution(state.intent, "search", "asks whose work the series in focus is", state, [], follow_up=True)
    if (
        len(titles) == 1
        and not authors
        and hijackable
        and PAT.SAME_AUTHOR.search(c.folded)
        and not names_the_other_work
    ):
        anchor = titles[0].series_id
        state.constraints.by_authors_of.append(anchor)
        state.constraints.excluded_series.append(anchor)
        _merge(state.constraints, entities, c)
        state.intent = "product_recommendation" if classified == "product_recommendation" else "product_search"
        return Resolution(state.intent, "search", "works by the author of the series named", state, [])

    # 1d. One of those shown, by its place: "the second one, is it finished?", 「2番目の値段」,
    #     "number 3", "the last one" (of the candidates, when we asked which one).
    listed = list(prev.candidates) if prev.pending == "series" else list(prev.last_shown)
    place = _place_in_list(c.folded, len(listed)) if len(listed) > 1 and not titles and hijackable else None
    if place is not None and -len(listed) <= place < len(listed):
        state.focus.series_id = listed[place]
        _focus_update(state.focus, entities, c)
        _keep_request(state, prev)  # the request it came up in, for "skip it"
        state.intent = _one_series_intent(c)
        return Resolution(state.intent, "search", "one of the series shown, by its place", state, [], follow_up=True)

    # 1d". A series talked about earlier, by when: 「最初に聞いたほう」, "the one I asked about
    #      before" (the conversation's series are kept in order with its state).
    earlier = _discussed_earlier(c.folded, prev) if not titles and hijackable else None
    if earlier is not None:
        if earlier in prev.constraints.only_series:
            # ("and the other one?" next: the other of the two named)
            state.candidates.extend(prev.constraints.only_series[:MAX_LIST])
        state.focus.series_id = earlier
        _focus_update(state.focus, entities, c)
        state.intent = _one_series_intent(c)
        return Resolution(state.intent, "search", "a series talked about earlier", state, [], follow_up=True)

    # 1d'. The request a series in focus came up in, asked again with a limit changed ("ちょっと
    #      長いですね。10巻以内のものはありますか？", "actually longer is fine now, and ongoing too"):
    #      that request, with this turn's conditions, and the series no longer in focus.
    if (
        prev.HasField("focus")
        and prev.focus.series_id
        and prev.HasField("request")
        and not titles
        and hijackable
        and not c.reference
        and not c.like
        and not entities.genres
        and not PAT.SAME_AUTHOR_WORD.search(c.folded)  # 「同じ作者で短めのやつ他にある？」: that author's
        # (「完結済み？英語版もある？」 asks the focus whether it has that edition)
        and not PAT.EDITION_ASKED.search(c.folded)
        and (
            (_lists_limits(entities, c) and bool(PAT.OTHERS_ASKED.search(c.folded)))
            or c.drop_price
            or c.drop_length
            or c.drop_status
            # "too many. something shorter", 「もうちょっと安いのある？」: than the one in focus
            or bool(_RELATIVE_LIMIT.search(c.folded))
        )
    ):
        state.constraints.CopyFrom(prev.request)
        state.topic = prev.topic
        if _RELATIVE_LIMIT.search(c.folded):
            state.constraints.excluded_series.append(prev.focus.series_id)
        _merge(state.constraints, entities, c)
        return _recommend(state, "back to the request in force")

    # 1e. The series in focus dropped ("oh it's not finished? skip it then", 「それはパスで」): the
    #     request in force again, without it.
    #     A message that asks for something of its own besides ("forget that - any good cooking
    #     manga?") is a new request, below.
    if (
        prev.HasField("focus")
        and prev.focus.series_id
        and not titles
        and not (entities.genres or c.new_request)
        and PAT.DROP_FOCUS.search(c.folded)
    ):
        _carry(state, prev)
        state.focus.Clear()
        state.ClearField("focus")
        if prev.HasField("request"):
            state.constraints.CopyFrom(prev.request)
            state.ClearField("request")
        if prev.focus.series_id not in state.constraints.excluded_series:
            state.constraints.excluded_series.append(prev.focus.series_id)
        del state.constraints.excluded_series[:-MAX_LIST]
        in_force = bool(state.topic or state.constraints.genres or state.constraints.like_series_ids)
        # ("nah smth less cringe": something else is asked for)
        asks = bool(PAT.ASKS_FOR_SOMETHING.match(c.folded) or re.search(r"\b(?:something|anything)\b", c.folded))
        state.intent = "product_recommendation" if in_force or asks else "product_search"
        return Resolution(state.intent, "search", "drops the series in focus", state, [], follow_up=True)

    both = (
        list(prev.last_shown[:2])
        if len(prev.last_shown) == 2 and not prev.HasField("focus")
        else list(prev.discussed[-2:])
        if len(prev.discussed) >= 2
        else []
    )
    if (
        both
        and not (titles or authors or prev.pending or entities.volumes or entities.genres)
        # (「どっちも続いてるのか…完結してるやつで同じ系統ない？」: a remark, then a request)
        and not (c.like or c.new_request or PAT.RECOMMEND.search(c.folded) or PAT.OTHER.search(c.folded))
        and PAT.BOTH.search(c.folded)
        and (entities.language is not None or c.product_question or c.status is not None or c.latest)
    ):
        # 「どっちも英語版ある？」 after 僕ヤバ and 着せ恋: the same question of both.
        state.constraints.only_series.extend(both)
        _merge(state.constraints, entities, c)
        state.intent = "product_question"
        return Resolution(state.intent, "search", "asks the same of both series", state, [], follow_up=True)

    # 2. A reply to "which one did you mean?": a name among the candidates, or a description
    #    the search ranks the candidates by.
    answering = prev.pending == "series" and prev.intent in PRODUCT_INTENTS
    among_shown = bool(prev.last_shown) and bool(PAT.AMONG_SHOWN.search(c.folded))
    offered = (
        list(prev.candidates)
        if prev.pending == "series"
        # ("and the other one?" after choosing one of the series we asked between)
        or (
            prev.candidates
            and prev.focus.series_id in prev.candidates
            and (PAT.NOT_THAT.search(c.folded) or PAT.ALSO_THE_OTHER.search(c.folded))
        )
        else (
            list(prev.constraints.only_series or prev.last_shown)
            # ("and the oldest?", "shorter one in English please" after a list: the one of those
            # put first)
            # ("Anything shorter for a beginner?" asks for others: ``_RELATIVE_LIMIT``)
            if among_shown
            or (
                order
                and len(prev.constraints.only_series or prev.last_shown) > 1
                and not _RELATIVE_LIMIT.search(c.folded)
                # (「完結済みで巻数少なめ、10巻以下」: a length asked for with a cap refines the request)
                and c.max_volumes is None
            )
            # ("the school one", "the table tennis one" after a list: one of those shown; "ok and
            # the robot one?" while one of them is in focus: one of the list it came up in)
            else list(
                prev.constraints.only_series
                or (
                    (prev.last_shown if len(prev.last_shown) > 1 else prev.request.only_series or prev.last_shown)
                    if PAT.THE_ONE.search(c.folded)
                    else []
                )
            )
            # ("similar vibe, any others?", 「他の sports 漫画で completed のやつ」 ask for others,
            # not for one of those)
            if PAT.CHOOSING.search(c.folded)
            and not (c.like and PAT.SIMILAR.search(c.folded))
            and not (PAT.OTHER.search(c.folded) and not PAT.NOT_THAT.search(c.folded))
            else []
        )
    )
    if (
        offered
        and not (among_shown or answering or titles)
        and prev.intent == "product_recommendation"
        and not prev.HasField("focus")
        and not (entities.volumes or c.latest or order or entities.language is not None)
        and not re.search(r"\bthe\b", c.folded)
        # (「漫画家を目指す話のほうって完結してますか？」 asks about the one described)
        and not PAT.ASKED_OF_ONE_DESCRIBED.search(c.folded)
        and (
            c.status is not None
            or entities.max_price_jpy is not None
            or c.max_volumes is not None
            or re.search(r"(?:やつ|の|もの)(?:で|がいい|が読みたい)\s*[?？!！。.]*$", c.folded)
        )
    ):
        # 「完結済みのやつ」「野球のやつで」 after suggestions: the kind of series wanted, a
        # refinement of the request (not one of those shown, described).
        offered = []
    ours = bool(offered)  # (offered by us: asked between, or just shown; not recalled below)
    if offered == [prev.focus.series_id] and not (among_shown or answering or titles):
        # 「英語版のほうが巻数少ないの？」 with one series shown: a question about it, not a choice
        # (nor is 「もう一個のほうは？」 with no other one known).
        offered = []
    if offered and prev.HasField("focus") and _EDITION_ONE.search(c.folded):
        # 「ほんで英語のやつは？」: the other edition of the series in focus, not a series described.
        offered = []
    confirmed = False  # (a story told, to be confirmed: set below)
    going_back = False  # (back to one talked about: none other is meant)
    if (
        not offered
        and not titles
        and prev.discussed
        and (len(prev.discussed) > 1 or prev.discussed[0] != prev.focus.series_id)
        and _BACK_DESCRIBED.search(c.folded)
    ):
        # 「鋼の方に戻るけど…」, "go back to the pirate one", 「最初の料理学校のほうにする」: one of the
        # series talked about, by the words (the search ranks them, or finds a better fit).
        offered = list(prev.discussed)
        going_back = True
        hijackable = hijackable or classified in PRODUCT_INTENTS or not _own_words(classified, c.folded)
    elif (
        not offered
        and not titles
        and prev.HasField("focus")
        and prev.focus.series_id
        and (
            (
                (described := _DESCRIBED_NOUN.search(c.folded)) is not None
                and not _NOT_A_DESCRIPTION.search(described.group(1))
            )
            # 「伝説の殺し屋が引退して太っちゃうやつだよね？」 about Sakamoto Days: a story confirmed
            or (confirmed := bool(PAT.STORY_CONFIRMED.search(c.folded) and PAT.RECALL.search(c.folded)))
        )
        and not _SHORT_DESCRIBED.match(c.folded)
        and not (order or c.latest or c.like or c.new_request or (entities.genres and not confirmed))
        and not (PAT.SAME_AUTHOR_WORD.search(c.folded) or PAT.OTHER.search(c.folded) or PAT.RECOMMEND.search(c.folded))
        # (a question of one series: 「…忍者のやつ、あれってもう終わってるん？」)
        and bool(c.reference or c.product_question or c.status is not None or PAT.ONE_SERIES.search(c.folded))
    ):
        # 「あとな、九尾がどうこう言うてた忍者のやつ、あれってもう終わってるん？」 about One Piece:
        # the series in focus or one talked about, unless one in the catalog fits the words
        # clearly better (the search decides).
        offered = list(dict.fromkeys([prev.focus.series_id, *prev.discussed]))
        hijackable = hijackable or classified in PRODUCT_INTENTS or not _own_words(classified, c.folded)
    elif (
        not offered
        and not titles
        and prev.HasField("focus")
        and (short := _SHORT_DESCRIBED.match(c.folded)) is not None
        and not _NOT_A_DESCRIPTION.search(short.group(1))
        and not (PAT.SAME_AUTHOR_WORD.search(c.folded) or PAT.OTHER.search(c.folded))
        and not _EDITION_ONE.search(c.folded)
        and not (entities.volumes or c.latest or order or entities.language is not None or c.status is not None)
        and not _has_constraints(entities, c)
        and (classified in PRODUCT_INTENTS or not _own_words(classified, c.folded))
    ):
        # 「忍者のは？」 after 「海賊のやつって何巻まで出てます？」: the same question of another
        # series, described; the one the words find in the catalog is the one meant.
        state.intent = "product_question"
        return Resolution(state.intent, "choose", "another series described", state, [], follow_up=True)
    # (Two series named are compared or listed, whatever was offered: "Slime or Shield Hero,
    # which one has more volumes?")
    if offered and hijackable and len({t.series_id for t in titles}) < 2:
        if PAT.NOT_THAT.search(c.folded) or (prev.candidates and PAT.ALSO_THE_OTHER.search(c.folded)):
            # 「いや、そっちじゃなくて…」, "the other one", 「サッカーのほうも」: not the one we just showed.
            current = (
                prev.focus.series_id if prev.HasField("focus") else (prev.last_shown[0] if prev.last_shown else "")
            )
            offered = [s for s in offered if s != current]
        offered = [s for s in offered if s not in excluded]
        chosen = [m for m in titles if m.series_id in offered]
        theirs = [s for s in offered if any(s in a.author_series for a in authors)]
        if answering and not chosen and all(m.kind == "partial" for m in titles):
            # (a piece of another title, 「ヒーローのほう」 asked between Mob and One-Punch: words
            # that describe one of those offered)
            titles = []
        if chosen:
            titles = chosen[:1]
        elif not titles and len(set(theirs)) == 1:
            # 「浅野いにおのほう」 when we asked between two titles: the one that author drew.
            state.focus.series_id = theirs[0]
            _focus_update(state.focus, entities, c)
            state.intent = prev.intent if prev.intent in PRODUCT_INTENTS else "product_search"
            return Resolution(
                state.intent, "search", "the series offered by the author named", state, [], follow_up=True
            )
        elif (
            not titles
            and not authors
            and len(offered) == 1
            and (PAT.NOT_THAT.search(c.folded) or excluded or PAT.ALSO_THE_OTHER.search(c.folded))
        ):
            # Only one is left ("already read Ao Haru Ride, the other one"): that one.
            state.focus.series_id = offered[0]
            _focus_update(state.focus, entities, c)
            state.intent = prev.intent if prev.intent in PRODUCT_INTENTS else "product_search"
            return Resolution(state.intent, "search", "the other series offered", state, [], follow_up=True)
        elif not titles and not authors:
            narrows = (
                among_shown
                and not answering
                and prev.intent in PRODUCT_INTENTS
                and not order
                and bool(
                    entities.genres
                    or entities.excluded_genres
                    or entities.max_price_jpy is not None
                    or entities.language is not None
                    or c.max_volumes is not None
                    or c.min_volumes is not None
                    # "which of those are already finished", "any of them in english? price doesnt matter"
                    or (
                        c.status is not None
                        and re.search(r"\b(?:are|ones|any of)\b|(?:その|この)中で.{0,20}(?:やつ|もの)|のだけ", c.folded)
                    )
                    or c.drop_price
                    or c.drop_length
                )
            )
            if narrows:
                # 「その中で恋愛もの」 after "English editions under 1600 yen?": those shown, under the
                # request in force and this turn's conditions, still a list.
                state.constraints.CopyFrom(prev.constraints)
                del state.constraints.only_series[:]
                state.constraints.only_series.extend(list(dict.fromkeys(offered))[:MAX_LIST])
                _merge(state.constraints, entities, c)
                state.intent = prev.intent
                state.topic = prev.topic
                return Resolution(state.intent, "search", "narrows the series shown", state, [], follow_up=True)
            if among_shown and not answering and prev.intent in PRODUCT_INTENTS:
                # 「その中で一番安いのは？」: one of those shown, under the request they were shown for.
                state.constraints.CopyFrom(prev.constraints)
                del state.constraints.only_series[:]
            state.constraints.only_series.extend(list(dict.fromkeys(offered))[:MAX_LIST])
            if answering and prev.HasField("focus") and not prev.focus.series_id:
                # (「ブルーなんとかの最新刊」 then 「サッカーのやつ」: the volume asked for waited for the choice)
                state.focus.CopyFrom(prev.focus)
            if entities.volumes or c.latest or entities.language is not None:
                # 「完結してる方の1巻ください」: the volume and edition of the one described.
                _focus_update(state.focus, entities, c)
            if among_shown or PAT.CHOOSING.search(c.folded):
                if not among_shown:
                    # "the one with the robot girl": a genre word describes the one meant.
                    entities = replace(entities, genres=[])
                # "Which of those is finished?": the ones just shown, under this turn's conditions
                # (「漫画家を目指す話のほうって完結してますか？」 asks it of the one described).
                asked_of_one = not among_shown and PAT.ASKED_OF_ONE_DESCRIBED.search(c.folded)
                _merge(state.constraints, entities, replace(c, status=None) if asked_of_one else c)
            elif entities.excluded_genres:
                # ("board games, so probably not a horror one": not the one of that kind)
                state.constraints.excluded_genres.extend(entities.excluded_genres[:MAX_LIST])
            # ("which of those is finished" asks)
            state.intent = (
                prev.intent if answering and not _own_question(c) else _series_intent(classified, abstained, c)
            )
            if (entities.volumes or c.latest) and state.intent == "product_recommendation":
                state.intent = "product_question" if c.product_question else "product_search"
            elif state.intent == "product_recommendation" and not among_shown and _PRICE_ASKED.search(c.folded):
                # 「魔物食べるほうの値段を教えて」: the price of the one described, a question of it
                state.intent = "product_question"
            elif (
                order
                # (「短いほうがいい」, "I'll take the shorter one": a choice made, not asked)
                and not re.search(r"がいい|にする|ください|\bplease\b|i'?ll (?:take|get|go)|\bgive me\b", c.folded)
                and not (answering or entities.volumes or c.latest)
            ):
                # "which is the shortest?", 「古い方」: a question of which one.
                state.intent = "product_question"
            return Resolution(
                state.intent,
                "choose",
                "describes one of the series offered",
                state,
                [],
                follow_up=True,
                # (an answer to "which one did you mean?" is one of those asked between; a
                # description of one of a list may mean another that fits it clearly better)
                offered_only=(ours and answering) or going_back,
            )

    # 3. A named series. Named in a question the classifier is sure is about something else
    #    ("I preordered Frieren vol 14, when will it ship?"), it becomes the focus, and the
    #    classifier's intent answers.
    if titles and not (productish or c.like or about_focus or answering):
        _carry(state, prev)
        state.focus.Clear()
        state.focus.series_id = titles[0].series_id
        _focus_update(state.focus, entities, c)
        return Resolution(classified, "answer", f"{classified} about a named series", state, [])
    if titles and (hijackable or c.like):
        top = titles[0]
        tied = [m.series_id for m in titles if m.score == top.score and (m.start, m.end) == (top.start, top.end)]
        if len(tied) > 1:
            if top.kind == "partial" and classified not in ("product_search", "product_question"):
                # A piece of a forgotten title: the customer looks for one title, whatever they
                # said around it (「アオなんとかっていう恋愛漫画」 is no request for suggestions).
                classified, abstained = "product_search", False
            if top.kind == "partial" and PAT.PIECE_DESCRIBED.search(c.folded):
                # 「ブルーなんとかってやつ、美大めざす話」「美大受験のほうのブルー」: the piece and what
                # the story is; the words choose among the series the piece fits (the search ranks them).
                _carry_choice(state, prev, entities, c)
                del state.constraints.only_series[:]
                state.constraints.only_series.extend(tied[:MAX_LIST])
                state.intent = _one_series_intent(c)
                return Resolution(
                    state.intent, "choose", "describes one of the series a piece fits", state, [], offered_only=True
                )
            return _ask_which(state, prev, tied, classified, abstained, c, "the name fits several series", entities)
        if (
            prev.HasField("focus")
            and prev.focus.series_id
            and PAT.IS_IT_SIMILAR.search(c.folded)
            and all(m.series_id != prev.focus.series_id for m in titles)
        ):
            # "is it similar to berserk?" about Claymore: a question about the series in focus.
            state.focus.CopyFrom(prev.focus)
            _keep_request(state, prev)
            state.intent = "product_question"
            return Resolution(state.intent, "search", "compares the series in focus", state, [], follow_up=True)
        if (
            len({m.series_id for m in titles}) == 1
            and PAT.SAME_AUTHOR.search(c.folded)
            # (「推しの子も同じ作者だよね？」 asks whether it is theirs: a question about it)
            and (PAT.OTHER.search(c.folded) or re.search(r"\banything\b|\bworks?\b|作品|やつ|もの|漫画", c.folded))
        ):
            # "what else did the Chainsaw Man author do?", 「チェンソーマンの作者の他の作品」: that
            # author's other works (retrieval knows who wrote what: ``by_authors_of``).
            state.constraints.by_authors_of.append(titles[0].series_id)
            state.constraints.excluded_series.append(titles[0].series_id)
            _merge(state.constraints, entities, c)
            state.intent = "product_recommendation" if classified == "product_recommendation" else "product_search"
            return Resolution(state.intent, "search", "works by the author of the series named", state, [])
        if c.like or PAT.MORE_LIKE.search(c.folded):
            state.intent = "product_recommendation"
            state.constraints.like_series_ids.extend(dict.fromkeys(m.series_id for m in titles[:3]))
            state.constraints.excluded_series.extend(sorted(excluded)[:MAX_LIST])
            _merge(state.constraints, entities, c)
            # 「けいおんも好きなんですけど、ほかに…」 after Bocchi: not the one just talked about either.
            _rule_out_seen(state, prev, c)
            return Resolution("product_recommendation", "similar", "recommend from the series named", state, [])
        # (in the order named: "Planetes or Astra?" then "the second one" is Astra)
        several = list(dict.fromkeys(m.series_id for m in sorted(titles, key=lambda m: m.start)))
        if len(several) > 1 and order and (entities.volumes or c.latest or entities.language is not None):
            # "the older one of Fushigi Yugi and Rayearth, vol 1 please", 「プラネテスとソラニン、古い方の1巻」:
            # that volume of the one put first.
            state.constraints.only_series.extend(several[:MAX_LIST])
            _focus_update(state.focus, entities, c)
            state.intent = "product_question" if c.product_question else "product_search"
            return Resolution(state.intent, "choose", "picks one of the series named", state, [])
        if len(several) > 1:
            # "Fairy Tail or Seven Deadly Sins, which is shorter?": both, side by side.
            state.constraints.only_series.extend(several[:MAX_LIST])
            if PAT.ASKS_ABOUT.search(c.folded) or c.product_question:
                # 「AとBどっちが短い？」 asks about both: "short" and "finished" are no filters here.
                if entities.language is not None:
                    state.constraints.language = entities.language
            else:
                _merge(state.constraints, entities, c)
            state.intent = _series_intent(classified, abstained, c)
            return Resolution(state.intent, "search", "several series named", state, [])
        same = prev.HasField("focus") and prev.focus.series_id == top.series_id
        if same or (answering and prev.HasField("focus")):
            state.focus.CopyFrom(prev.focus)
        state.focus.series_id = top.series_id
        if not same and prev.constraints.HasField("language") and prev.intent in PRODUCT_INTENTS:
            # 「english で読みたい」 then 「fushigi yugi の vol 1」: the edition asked for stays wanted.
            state.focus.language = prev.constraints.language
        # The request this series came up in, for when it is turned down ("skip it then") or
        # asked again with a limit changed ("any shorter ones?").
        _keep_request(state, prev)
        edition = (
            prev.focus.language
            if prev.focus.HasField("language")
            else (prev.constraints.language if prev.constraints.HasField("language") else None)
        )
        if not same and edition is not None and prev.intent in PRODUCT_INTENTS and PAT.WHAT_ABOUT.search(c.folded):
            # "maid sama は？" / "what about Horimiya?" after English editions: the same edition.
            state.focus.language = edition
        _focus_update(state.focus, entities, c)
        # The answer to our "which one?" asks what the customer asked before it.
        # (「3月のライオン何巻まで？」 answering it asks its own question.)
        state.intent = prev.intent if answering and not _own_question(c) else _series_intent(classified, abstained, c)
        if (
            not same
            and prev.intent in ("product_question", "product_search")
            and PAT.WHAT_ABOUT.search(c.folded)
            and len(PAT.WHAT_ABOUT.sub("", c.folded).strip(" ?？!！。、,.")) <= BARE_NAME_REST
            # 「じゃあNarutoは何巻？」 asks its own question of the new series.
            and not _own_question(c)
        ):
            # "and Glass Mask?" after a question about another series: the same question of it
            # (「スキビは？」 after the latest volume of another: its latest volume).
            state.intent = prev.intent
            if prev.focus.latest_volume and not entities.volumes:
                state.focus.latest_volume = True
        if top.kind == "partial" and state.intent == "product_recommendation":
            # A half-remembered title ("that other fujimoto one, fire something") is that title sought.
            state.intent = "product_search"
        if (entities.volumes or c.latest) and state.intent == "product_recommendation":
            # 「夏目友人帳の30巻を探しています」: one volume of it, not suggestions.
            state.intent = "product_question" if c.product_question else "product_search"
        return Resolution(
            state.intent, "search", "series named" + (" again" if same else ""), state, [], follow_up=same
        )

    # 4. An author: their works (or, asked about "the" one of several, which one).
    if authors and hijackable:
        series = list(dict.fromkeys(s for m in authors for s in (m.author_series or [m.series_id])))
        series = [s for s in series if s not in excluded]
        if not titles and _author_ruled_out(text, authors):
            # "anything not by Junji Ito?", 「伊藤潤二以外で」: the request in force without that
            # author's works.
            if prev.intent in PRODUCT_INTENTS:
                _carry(state, prev)
                state.ClearField("focus")
                del state.constraints.only_series[:]
            _merge(state.constraints, entities, c)
            ruled_out = list(dict.fromkeys([*state.constraints.excluded_series, *series]))[:MAX_LIST]
            del state.constraints.excluded_series[:]
            state.constraints.excluded_series.extend(ruled_out)
            state.intent = "product_recommendation"
            return Resolution(
                state.intent, "search", "the request without an author's works", state, [], follow_up=True
            )
        asks_of_focus = (
            (c.product_question or c.status is not None)
            and not (c.new_request or c.like or PAT.OTHER.search(c.folded) or PAT.RECOMMEND.search(c.folded))
            # (「冨樫の完結してるやつは？」「矢沢あいの完結してるやつ」 pick among the author's works)
            and not re.search(
                r"(?:やつ|もの|作品|漫画|マンガ|まんが|シリーズ|の)も?(?:は|って|ある|あります)"
                r"|(?:やつ|もの|作品|漫画|マンガ)(?:で|を)?\s?[?？!！。]*$|\bones?\b",
                c.folded,
            )
            and not _has_constraints(entities, replace(c, status=None))
        )
        # (or the first shown, pointed at: 「これ手塚治虫の原作なんだっけ」 after Pluto was shown)
        pointed = prev.focus.series_id if prev.HasField("focus") else (prev.last_shown[:1] or [""])[0]
        if (
            (prev.HasField("focus") or c.reference)
            and pointed in series
            and (PAT.BY_THEM.search(c.folded) or asks_of_focus)
        ):
            if not prev.HasField("focus"):
                prev = _with_focus(prev, pointed)
            # 「宮崎駿が描いてるの？」 about Nausicaä, 「三浦先生が亡くなったあとも続いてるんですか」 about
            # Berserk: a question about the series in focus.
            state.focus.CopyFrom(prev.focus)
            state.intent = "product_question"
            return Resolution(state.intent, "search", "asks about the series in focus", state, [], follow_up=True)
        talked_about = (
            prev.focus.series_id
            if prev.HasField("focus")
            # (not the list of an author's works shown in place of a title we lack)
            else (
                prev.last_shown[0]
                if prev.last_shown and prev.last_shown[0] in series and not prev.constraints.only_series
                else ""
            )
        )
        if talked_about and PAT.OTHER.search(c.folded) and series == [talked_about] and not (c.like or titles):
            # 「荒木飛呂彦のほかの作品も置いてる？」 when JoJo is all of theirs we carry: that one,
            # so the answer can say so (not others like it passed off as theirs).
            state.constraints.only_series.append(talked_about)
            _merge(state.constraints, entities, c)
            state.intent = "product_search"
            return Resolution(state.intent, "search", "the author's only series carried", state, [], follow_up=True)
        if talked_about and PAT.OTHER.search(c.folded):
            # 「荒川弘の他の作品」 after Fullmetal Alchemist: not that one.
            state.constraints.excluded_series.append(talked_about)
            series = [s for s in series if s != talked_about]
        if PAT.OTHER.search(c.folded) and prev.intent in PRODUCT_INTENTS:
            # "what else did Urasawa do?" after Monster and Pluto were talked about: the others
            # (all of them again when every one was).
            # (the series named, liked or in focus, not suggestions shown: after "anything like
            # Monster by urasawa", "other urasawa works?" leaves Monster out, not what was shown)
            seen = {
                prev.focus.series_id,
                *prev.constraints.like_series_ids,
                *prev.constraints.only_series,
                *prev.discussed,  # (「鳥山明のほかのは？」 after Dragon Ball and Super)
            }
            unseen = [s for s in series if s not in seen]
            if unseen and len(unseen) < len(series):
                ruled_out = [s for s in series if s in seen]
                state.constraints.excluded_series.extend(
                    s for s in ruled_out if s not in state.constraints.excluded_series
                )
                series = unseen
        if unlinked_title and productish and series and not c.like:
            # "Do you have Touch by Mitsuru Adachi?": not that title, but the author's we carry.
            state.constraints.only_series.extend(series[:MAX_LIST])
            _merge(state.constraints, entities, c)
            state.intent = classified if product_turn and classified != "product_recommendation" else "product_search"
            return Resolution(
                state.intent, "search", "title not in the catalog; the author's works", state, [], not_carried=True
            )
        if (
            len(series) == 1
            and _about_one_series(entities, c)
            and not (c.new_request or c.like or PAT.OTHER.search(c.folded))
        ):
            # 「尾田先生の最新刊ありますか」, "Oda's volume 3": the one series of that author, in focus.
            state.focus.series_id = series[0]
            _focus_update(state.focus, entities, c)
            state.intent = _series_intent(classified, abstained, c)
            return Resolution(state.intent, "search", "the author's one series", state, [])
        if len(series) > 1 and _about_one_series(entities, c) and not c.new_request and PAT.DESCRIBED.search(c.folded):
            # "that manga by oda, the pirate one": the one of theirs the words describe.
            state.constraints.only_series.extend(series[:MAX_LIST])
            state.intent = _series_intent(classified, abstained, c)
            return Resolution(state.intent, "choose", "describes one of the author's series", state, [])
        if len(series) > 1 and _about_one_series(entities, c) and not c.new_request:
            return _ask_which(state, prev, series, classified, abstained, c, "the author has several series", entities)
        if (
            (c.like and PAT.SIMILAR.search(c.folded))
            or PAT.OTHER_AUTHORS.search(c.folded)
            or (PAT.OTHER.search(c.folded) and not series)
        ):
            # "Junji Ito fan, who else is that creepy?": like their works, by someone else.
            # (「藤本タツキの他の作品」 asks for the author's other works: those are searched below.)
            state.constraints.like_series_ids.extend(series[:MAX_LIST])
            _merge(state.constraints, entities, c)
            state.intent = "product_recommendation"
            return Resolution(state.intent, "similar", "recommend from the author's works", state, [])
        # (A fan of the author, 「東村アキコが好き」, is shown the author's works.)
        state.constraints.only_series.extend(series[:MAX_LIST])
        if PAT.THE_ONE.search(c.folded) or PAT.DESCRIBED.search(c.folded):
            # "togashi's other one, the spirit detective one": the words describe one of the
            # works (searched), no kind every one of them must be
            entities = replace(entities, genres=[])
        _merge(state.constraints, entities, c)
        state.intent = classified if product_turn else "product_search"
        if state.intent == "product_question" and (
            _has_constraints(entities, c)
            or re.search(r"何か|なにか|何が|なにが|\banything\b|\bwhat (?:else|other)\b|\bwhich ones?\b|どれ", c.folded)
            or PAT.OTHER.search(c.folded)  # 「奥浩哉のほかの漫画は？」 asks for works
        ):
            # 「高橋留美子の作品で完結してるやつ」「手塚治虫の作品って何かありますか」 ask for works, not about one.
            state.intent = "product_search"
        elif c.like and state.intent != "product_recommendation":
            state.intent = "product_recommendation"
        return Resolution(state.intent, "search", "author named", state, [])

    in_force = prev.intent in PRODUCT_INTENTS
    # 「全年齢向けのがいい」 after suggestions: a condition of the request in force, whatever
    # shop service the classifier read, when none of that service's words is said
    hijackable = hijackable or (
        in_force and not named and _has_constraints(entities, c) and not _own_words(classified, c.folded)
    )

    # 4b. The author of what we are talking about: "same author?", "anything else by him",
    #     「この作者の他の作品は？」 (retrieval knows who wrote what: ``by_authors_of``).
    anchor = (
        prev.focus.series_id
        if prev.HasField("focus")
        # (「似たような作品でおすすめ、ハガレン以外で」 then 「同じ作者の別の作品は？」: Fullmetal
        # Alchemist's author, the series the customer knows, not the first suggestion's)
        else (
            (
                list(prev.constraints.like_series_ids[:1])
                or list(prev.constraints.only_series)
                or list(prev.last_shown)
                or [""]
            )[0]
        )
    )
    if (
        prev.HasField("focus")
        and prev.focus.series_id
        and not named
        and not c.like
        and PAT.CONFIRMATION.search(c.folded)
        and (
            # (not "the same author did a farming one too right?": another work of theirs asked for)
            (PAT.SAME_AUTHOR_WORD.search(c.folded) and not PAT.ANOTHER_WORK.search(c.folded))
            or c.max_volumes is not None
        )
    ):
        # 「かぐや様と同じ作者だよね？」 about Oshi no Ko, "and japanese goes up to 30 right?": a fact
        # of the series in focus checked, not a request for that author's works or a length cap.
        state.focus.CopyFrom(prev.focus)
        _keep_request(state, prev)
        if entities.language is not None:
            state.focus.language = entities.language
        state.intent = "product_question"
        return Resolution(state.intent, "search", "checks a fact of the series in focus", state, [], follow_up=True)
    if anchor and not named and hijackable and PAT.SAME_AUTHOR.search(c.folded):
        if prev.HasField("focus") or anchor in prev.constraints.like_series_ids:
            state.constraints.excluded_series.append(anchor)
        state.constraints.by_authors_of.append(anchor)
        if prev.constraints.HasField("language"):
            state.constraints.language = prev.constraints.language
        _merge(state.constraints, entities, c)
        state.intent = "product_recommendation" if classified == "product_recommendation" else "product_search"
        # ("same author has a newer one right? samurai kid on the run": the one described, found)
        action = "choose" if PAT.ONE_WORK.search(c.folded) else "search"
        return Resolution(state.intent, action, "works by the same author", state, [], follow_up=True)

    # 5. Series the customer rules out ("I already have Doraemon", 「伊藤潤二以外で」, or what
    #    we just showed: 「それは両方読んだ」): the request in force goes on without them.
    if not named and prev.last_shown and PAT.SHOWN_RULED_OUT.search(c.folded):
        excluded |= set(prev.last_shown[:MAX_LIST])
    if excluded and not named:
        _carry(state, prev)
        state.ClearField("focus")
        out = list(state.constraints.excluded_series) + sorted(excluded)
        for m in mentions:
            if m.series_id in excluded and m.kind == "author":
                out.extend(m.author_series)
        del state.constraints.excluded_series[:]
        state.constraints.excluded_series.extend(list(dict.fromkeys(out))[:MAX_LIST])
        del state.constraints.only_series[:]
        if (c.like or PAT.MORE_LIKE.search(c.folded)) and not state.constraints.like_series_ids:
            # 「ワンピースは全部読んだ、次は何がいい？」: more of its kind, never it.
            titles_out = [m.series_id for m in mentions if m.series_id in excluded and m.kind != "author"]
            state.constraints.like_series_ids.extend(titles_out[:3])
        _merge(state.constraints, entities, c)
        return _recommend(state, "rules series out", follow_up=in_force)

    # 6. A title we do not carry ("do you have X?" is a product question even when the
    #    classifier is unsure what X is, unless the message has words of its best guess).
    if unlinked_title and (productish or (abstained and not _own_words(classified, c.folded))):
        state.intent = classified if product_turn and classified != "product_recommendation" else "product_search"
        if (c.like and PAT.SIMILAR.search(c.folded)) or (
            classified == "product_recommendation" and product_turn and PAT.RECOMMEND.search(c.folded)
        ):
            # 「ドラクエっぽいファンタジーでなにかない？」: others like it, whatever it is.
            # (「悟空の漫画ほしい」 asks for one title we could not name: a search)
            state.intent = "product_recommendation"
        _merge(state.constraints, entities, c)
        return Resolution(state.intent, "search", "title not in the catalog", state, [], not_carried=True)

    # 7. "Anything like it?" about the series in focus.
    if c.like and prev.HasField("focus") and (c.reference or not titles) and hijackable and not authors:
        state.intent = "product_recommendation"
        state.constraints.like_series_ids.append(prev.focus.series_id)
        # The edition being read stays wanted ("anything else that simple?" to a Japanese learner).
        for held in (prev.focus, prev.constraints, prev.request):
            if held.HasField("language"):
                state.constraints.language = held.language
                break
        _merge(state.constraints, entities, c)
        return Resolution(
            "product_recommendation", "similar", "recommend from the series in focus", state, [], follow_up=True
        )

    # 8. A question about the series in focus (or the first one we just showed): its
    #    volumes, editions, price, stock, status.
    # A question after a list ("how many in english", "english is only 3 volumes?") is about the
    # first series shown, unless it asks for others: a genre, a price, a length, suggestions.
    asks_for_others = bool(
        # ("is it scary or funny" asks what the first one shown is like)
        (entities.genres and not (PAT.POINTS_AT_IT.search(c.folded) and PAT.PROPERTY.search(c.folded)))
        or (entities.excluded_genres and not c.reference)
        or entities.max_price_jpy is not None
        or entities.min_price_jpy is not None
        or c.max_volumes is not None
        or c.min_volumes is not None
        or c.new_request
        or PAT.RECOMMEND.search(c.folded)
    )
    if (
        not prev.HasField("focus")
        and prev.last_shown
        and not c.like
        and (
            c.reference
            or c.latest
            or _about_one_series(entities, c)
            or PAT.ASKS_ONE.search(c.folded)
            or PAT.BARE_QUESTION.match(c.folded)
            # 「全巻だといくらになる？」, "how much for all 45 in japanese" after a list: the first one's set
            or (PAT.WHOLE.search(c.folded) and bool(_PRICE_ASKED.match(c.folded)))
        )
        and not asks_for_others
        and not (_has_constraints(entities, c) and PAT.REQUIREMENT.search(c.folded))
        and not (PAT.PLURAL_REFERENCE.search(c.folded) and not (c.product_question or PAT.ASKS_ONE.search(c.folded)))
    ):
        prev = _with_focus(prev, prev.last_shown[0])
    # (A genre word in a question about it is a property asked about: "is it super gory?")
    asks_of_it = (
        (c.product_question or PAT.PROPERTY.search(c.folded))
        # ("is it super gory? it's for my 15 yo": a question about it, whoever it is for)
        and (not c.new_request or re.search(r"\b(?:is|was) (?:it|that|this)\b|(?:それ|これ)(?:は|って)", c.folded))
        # (「この漫画怖い？」: the manga pointed at is the one asked about, not manga asked for)
        and not _MANGA_WORDS.search(PAT.POINTED_MANGA.sub(" ", c.folded))
        # (「グロいのは苦手かも、ホラー抜きで」: a kind ruled out of the request, not asked of it)
        and not (
            entities.excluded_genres
            and re.search(r"(?:抜き|なし|無し|以外|除いて|除外)で?\s*[!！。.]*$|\b(?:please|pls)\s*[!.]*$", c.folded)
        )
        # A kind of story in it asks of the series only when the series is pointed at ("does it
        # have any romance?"); else others are asked for ("hmm pricey. any sci-fi under 1000 yen
        # a volume?", 「高いな…1000円以下のSFないですか」, "then a sports one that IS finished?").
        and (
            not (entities.genres or entities.excluded_genres)
            or PAT.POINTS_AT_IT.search(c.folded)
            # (「グロい？」, "scary?", 「怖い？ホラー苦手なんだけど」: a bare question is about it)
            or not PAT.OTHERS_ASKED.search(c.folded)
        )
    )
    # "how long does it usually take?" after "do you ship to Toronto?": still about shipping,
    # whatever series is in focus (unless it asks something of the series).
    continues_service = (
        abstained
        and previous_intent in FOLLOW_ON_INTENTS
        and not PAT.ASKS_FOR_SOMETHING.match(c.folded)
        and not PAT.ANOTHER_SUBJECT.match(c.folded)
        and not _other_service_words(previous_intent, c.folded)
        and not (
            entities.volumes
            or entities.language is not None
            or c.latest
            or c.status
            or c.next_volume
            or c.previous_volume
            or PAT.PROPERTY.search(c.folded)
            # 「1冊いくら？」 after a shipping question asks a price of the series
            or re.search(r"\d\s{0,2}冊|一冊|\bper (?:book|volume)\b|\beach (?:book|volume)\b|\bvol", c.folded)
        )
    )
    if (
        continues_service
        and classified != "order_status"
        and not named
        and not c.new_request
        and not _has_constraints(entities, c)
    ):
        _carry(state, prev)
        return Resolution(previous_intent, "answer", "continues the previous question", state, [], follow_up=True)
    # 「フィギュアスケートの漫画だっけ」: what the series in focus is, checked (not 「…の漫画もあったよね」)
    checks_it = not named and bool(PAT.CHECKS_WHAT_IT_IS.search(c.folded))
    if (
        prev.HasField("focus")
        and hijackable
        and not PAT.RECOMMEND.search(c.folded)
        and not PAT.MORE_LIKE.search(c.folded)
        and (not (entities.genres or entities.excluded_genres) or asks_of_it or checks_it)
        # ("kinda pricey. any classic sci-fi that's cheaper?": a sure request for a kind of story;
        # 「囲碁の漫画もあったよね？」: manga of another kind)
        and not (
            classified == "product_recommendation"
            and not abstained
            and not checks_it
            # (「その漫画泣ける？」: a kind asked of the one pointed at)
            and not (asks_of_it and PAT.POINTS_AT_IT.search(c.folded))
            and (entities.genres or (PAT.OTHER_MANGA_ASKED.search(c.folded) and not c.reference))
        )
        and (
            c.reference
            or c.product_question
            or asks_of_it
            or checks_it
            or c.latest
            or c.status
            or entities.volumes
            or c.whole
            or c.next_volume
            or c.previous_volume
            or entities.language is not None
            or entities.in_stock
            or abstained
            or (product_turn and not _has_constraints(entities, c) and not c.new_request)
        )
        and not c.like
        and not _length_wanted(c)
        # 「10歳の子向けで、怖くない、完結済みの漫画を教えてください」: manga asked for, not about it
        and not (c.new_request and _MANGA_WORDS.search(c.folded) and not c.reference)
        and not (PAT.KIND_ASKED.search(c.folded) and not c.reference)
        # 「完結した異世界ものってある？」: a kind of story asked for
        and not (
            entities.genres
            and re.search(r"(?:もの|物)(?:って|は|も)?(?:ある|あります|ない)", c.folded)
            and not c.reference
        )
        # 「休載中か…じゃあ完結してる時代劇で」: a kind of story wanted instead
        and not (
            entities.genres and re.search(r"(?:で|がいい|が読みたい)\s*[?？!！。.]*$", c.folded) and not c.reference
        )
        # 「将棋の漫画もある？」: manga about a thing asked for (an ordinary noun, no title)
        and not (
            (thing := PAT.NOUN_MANGA_ASKED.search(c.folded)) is not None
            and is_common_noun(thing.group(1))
            # (「英語のやつもある？」「最新の本ある？」: an edition or a volume of it)
            and not (c.reference or c.latest or entities.language is not None or entities.volumes)
        )
        # 「パン作るやつもあったよね」: another title recalled, not the one in focus
        and not PAT.ANOTHER_RECALLED.search(c.folded)
        # "ok and what about the one where they eat monsters": another, described
        and not PAT.ANOTHER_DESCRIBED.search(c.folded)
    ):
        state.focus.CopyFrom(prev.focus)
        _keep_request(state, prev)
        state.intent = "product_question"
        _focus_update(state.focus, entities, c)
        return Resolution("product_question", "search", "refers to the series in focus", state, [], follow_up=True)

    # 9. A refinement of the request in force ("preferably shojo": a readership, searched with
    #    the request's words, not a filter).
    if (
        in_force
        and hijackable
        and (
            _has_constraints(entities, c)
            or (c.refine_lead and bool(PAT.READERSHIP.search(c.folded)))
            or relative_to_list
        )
        and not prev.HasField("focus")
        # (a new request of another kind is a new topic, unless said in a few words, "something
        # with sports?": the budget, edition and status asked for before still hold)
        and not (c.new_request and entities.genres and not c.refine_lead and len(c.folded) > MAX_TERSE_CHARS)
        # (「ダンジョンで魔物食べるやつ、もう完結してる？」: one of that kind described and asked
        # about; not 「バスケのやつで完結してるのは？」, those of a kind narrowed, nor one by place)
        and not (
            _described_and_asked(c)
            and not PAT.KIND_NARROWED.search(c.folded)
            and _PLACE.search(c.folded) is None
            and not PAT.FIRST_SHOWN.search(c.folded)
        )
    ):
        _carry(state, prev)
        adds_kind = bool(
            entities.genres
            and prev.constraints.genres
            and not set(entities.genres) & set(prev.constraints.genres)
            and (
                PAT.ADDS_KIND.search(c.folded)
                # "lighter and funny pls" after music manga: a tone for the kind in force
                or (
                    set(entities.genres) <= TONES
                    and not set(prev.constraints.genres) <= TONES
                    and not PAT.INSTEAD.search(c.folded)
                )
            )
        )
        added: list[str] = []
        if adds_kind:
            # "something funny too" after romance, 「学園ものがいい」「恋愛要素もほしい」: both kinds at
            # once. The kind in force stays the filter and the kind added must be there as well
            # (``all_genres``); its words join the request's query.
            added = [g for g in entities.genres if g not in state.constraints.all_genres]
            entities = replace(entities, genres=[])
            words = mask_pii(" ".join(text.split()))[0]
            state.topic = f"{prev.topic} {words}"[-MAX_TOPIC_CHARS:].strip()
        if state.constraints.only_series and (
            _RELATIVE_LIMIT.search(c.folded) or PAT.SEEN_OTHER.search(c.folded) or c.new_request or entities.genres
        ):
            # "Naruto or Bleach?" then "anything shorter? action, 12 volumes max": others than those;
            # 「恋愛ものがいい」 after 「その中で完結してるやつ」: that kind, under the same limits.
            named_before = list(state.constraints.only_series)
            del state.constraints.only_series[:]
            if not entities.genres or _RELATIVE_LIMIT.search(c.folded) or PAT.SEEN_OTHER.search(c.folded):
                state.constraints.excluded_series.extend(
                    [s for s in named_before if s not in state.constraints.excluded_series][:MAX_LIST]
                )
        _merge(state.constraints, entities, c)
        state.constraints.all_genres.extend(added)
        del state.constraints.all_genres[MAX_LIST:]
        _rule_out_seen(state, prev, c)
        if entities.genres:
            state.topic = ""  # another kind of story: the words of the first request no longer hold
        refined = _recommend(state, "refines the request in force")
        if (
            (entities.language is not None or entities.in_stock)
            and not (_lists_limits(entities, c) or entities.genres or c.drop_price or c.drop_length or c.drop_status)
            and PAT.ASKS_IF_THERE.search(c.folded)
        ):
            # 「英語版はありますか？」, "do you have them in english" after a list: whether those can
            # be had in that edition (the taxonomy's search), still under the request in force.
            state.intent = "product_search"
            refined = replace(refined, intent="product_search")
        elif prev.intent == "product_question" and state.constraints.only_series and not entities.genres:
            # "and in english?" after "what's cheaper per volume, naruto or bleach?": the same
            # question of the same series, in that edition
            state.intent = "product_question"
            refined = replace(refined, intent="product_question")
        return refined

    # 10. Something we could not classify while a request is in force: it goes on, with the
    #    message as its query ("she loves cats" after asking for a gift).
    # (a sure out-of-scope question in its own words, 「今週末の富士山の天気わかる？」, is not the
    # request going on)
    unsure = abstained or (
        classified == "out_of_scope"
        and not (
            _own_words("out_of_scope", c.folded)
            # (a question of its own, or small talk with nothing of the shop in it: 「今日天気いいね〜」;
            # not "he loves games", said of whom a manga is for)
            and (
                re.search(r"[?？]|教えて|わかる|ますか|\b(?:what|how|when|where|can you)\b", c.folded)
                or (
                    PAT.SMALL_TALK.search(c.folded)
                    and not (_has_constraints(entities, c) or _MANGA_WORDS.search(c.folded))
                )
            )
        )
    )
    # ("a mystery that's done", "done series, action": a kind and a status, none of a greeting's
    # or out-of-scope question's own words)
    unsure = unsure or (
        classified in ("greeting", "out_of_scope")
        and bool(entities.genres)
        and c.status is not None
        and not _own_words(classified, c.folded)
    )
    # ("それは前に読んだ。別のは？", "got any others?" after a list: others, under the same request)
    others = (
        bool(PAT.SEEN_OTHER.search(c.folded)) and not prev.HasField("focus") and bool(prev.last_shown) and not named
    )
    if (
        (unsure or others)
        and in_force
        and not PAT.GREETING.search(c.folded)
        and not entities.genres
        and not c.new_request
    ):
        _carry(state, prev)
        state.ClearField("focus")
        _merge(state.constraints, entities, c)
        _rule_out_seen(state, prev, c)
        return _recommend(state, "continues the request in force")
    if (
        in_force
        and prev.intent in PRODUCT_INTENTS
        and not prev.HasField("focus")
        and not entities.genres
        and not named
        and len(c.folded) <= MAX_WITH_KIND_CHARS
        and PAT.WITH_KIND.match(c.folded)
    ):
        # "something with a female lead", "anything with animals?" after a request: that request
        # narrowed (its words and these searched together), not a new topic.
        _carry(state, prev)
        state.ClearField("focus")
        _merge(state.constraints, entities, c)
        _rule_out_seen(state, prev, c)
        return _recommend(state, "narrows the request in force by a kind")
    if (
        (abstained or (classified == "out_of_scope" and not _own_words(classified, c.folded)))
        and previous_intent in FOLLOW_ON_INTENTS
        and not c.new_request
        # ("something I can finish in a weekend" after a password question asks for manga)
        and not PAT.ASKS_FOR_SOMETHING.match(c.folded)
        and not PAT.ANOTHER_SUBJECT.match(c.folded)
        # ("do you have a points program on accounts?" after a payment question asks another)
        and not _other_service_words(previous_intent, c.folded)
        # ("Okay, then help me choose. He's 12 and loves ninjas.": a kind of story is asked for)
        and not (entities.genres and not _own_words(previous_intent, c.folded))
    ):
        _carry(state, prev)
        if (
            classified == "order_status"
            and previous_intent != "return_refund"  # 「未開封です」 goes on about the return
            and (previous_intent != "order_status" or prev.pending == "order_id")
        ):
            # 「注文履歴は？」 then 「先週頼んだやつがどうなってるか」: now about one order, whose number we need.
            state.pending = "order_id"
            return Resolution(
                "order_status", "ask_order_id", "order status without an order number", state, [], follow_up=True
            )
        return Resolution(previous_intent, "answer", "continues the previous question", state, [], follow_up=True)

    # 11. A new product request: a new topic.
    # Unsure and with no conversation behind it, a message is a product request only with a
    # product word in it ("漫画", a genre, a price): 「近くの病院教えて」 is not.
    if product_turn or (
        unsure
        and productish
        and (
            _has_constraints(entities, c)
            or PAT.ON_TOPIC.search(c.folded)
            or PAT.RECALL.search(c.folded)
            or _STORY_TOLD.search(c.folded)
            # with a request for manga behind it, "how about something with a cat" asks for one
            or (in_force and c.new_request)
        )
    ):
        # Nothing named: the classifier's product intent when it is sure, else suggestions; a
        # "question" with genres or limits and no product named asks for suggestions.
        state.intent = classified if product_turn else "product_recommendation"
        if (
            state.intent == "product_question"
            and (_has_constraints(entities, c) or (not named and PAT.RECOMMEND.search(c.folded)))
        ) or (
            # (「ギャンブルものでほかにある？」, "looking for older manga, 80s or 90s classics": others
            # of a kind, no title named)
            state.intent == "product_search"
            and (
                entities.genres
                or (
                    not named
                    and (
                        PAT.RECOMMEND.search(c.folded)
                        or (c.new_request and not PAT.RECALL.search(c.folded))
                        # 「かわいくてほっこりする漫画ほしい」「子供向けのマンガありますか」「昔の少女漫画で名作ある？」
                        or (PAT.KIND_WANTED.search(c.folded) and not PAT.RECALL.search(c.folded))
                    )
                )
            )
        ):
            # Asking for a genre or mood, with no title named, is asking for suggestions.
            state.intent = "product_recommendation"
        if (
            state.intent == "product_recommendation"
            # (a told story ending 「…やつ」「…話」 is one title; 「…読む漫画」 asks for suggestions)
            and (PAT.RECALL.search(c.folded) or (_ONE_STORY.search(c.folded) and not entities.genres) or one_title_told)
            and not c.like
        ):
            # Describing a title one cannot name is looking for that one title.
            state.intent = "product_search"
        elif state.intent == "product_recommendation" and _described_and_asked(c):
            # "oh and the other Tokyo one with the ghouls, is that finished": a question of the
            # one described
            state.intent = "product_question"
        _rule_out_seen(state, prev, c)
        if (
            state.intent == "product_recommendation"
            and prev.HasField("focus")
            and prev.focus.series_id
            and (prev.focus.series_id not in state.constraints.excluded_series)
        ):
            # Suggestions asked for after talking about a series ("something isekai but tamer
            # then"): not the series just discussed.
            state.constraints.excluded_series.append(prev.focus.series_id)
        describing = (
            state.intent != "product_recommendation"
            and (
                PAT.RECALL.search(c.folded)
                or one_title_told
                or (
                    PAT.ONE_SERIES.search(c.folded)
                    and (PAT.DESCRIBED.search(c.folded) or re.search(r"あれ|あの(?:漫画|マンガ|作品|やつ)", c.folded))
                )
                # (「ダンジョンで魔物食べるやつ、もう完結してる？」: asked of the one described)
                or _described_and_asked(c)
            )
            and not c.like
        )
        # (a title recalled by its story: a kind its words name, "beat the demon king", is no
        # filter the one meant must pass; the words rank it)
        _merge(
            state.constraints,
            replace(entities, genres=[]) if describing else entities,
            # ("…the ghouls, is that finished": asked of the one described, no filter)
            replace(c, status=None) if describing and state.intent == "product_question" else c,
        )
        if (
            prev.constraints.HasField("max_age_rating")
            and not state.constraints.HasField("max_age_rating")
            and not PAT.OTHER_READER.search(c.folded)
        ):
            # "books for my 6 year old" then "anything with animals?": a new request, the same reader.
            state.constraints.max_age_rating = prev.constraints.max_age_rating
        # Its words ("into samurai stuff", 「キャンプとか旅する系」) are searched again with each
        # refinement ("10 volumes or fewer"), which alone says nothing of the kind of story.
        # (Stored with the session, so masked like the turns: no e-mail or phone number in it.)
        state.topic = mask_pii(" ".join(text.split())[:MAX_TOPIC_CHARS])[0]
        if describing:
            # "what's that manga with tiny people living in a forest?", 「海賊のやつって何巻まで出て
            # ます？」: the one found is the one meant, and "english?" next asks of it (a choice:
            # the first shown becomes the focus).
            return Resolution(state.intent, "choose", "describes a title to find", state, [])
        return Resolution(state.intent, "search", "new product request", state, [])

    # 12. Anything else keeps the conversation's state for later turns.
    _carry(state, prev)
    if (
        (PAT.BEGINNER.search(c.folded) or (PAT.THIRD_PERSON.search(c.folded) and PAT.FOR_SOMEONE.search(c.folded)))
        and (abstained or classified in ("greeting", "out_of_scope", "escalation"))
        and not _own_words(classified, c.folded)
        and not _service_asked(c.folded)
    ):
        # "my nephew is 12, any ideas", "I'm new to manga": suggestions for the reader described
        # (a young one's age group with them), not "could you tell me more?".
        state.ClearField("focus")
        _merge(state.constraints, entities, c)
        return _recommend(state, "suggestions for the reader described", follow_up=bool(prev.intent))
    if PAT.OUR_CHOICE.search(c.folded) and len(c.folded) <= MAX_CHOICE_LEFT_CHARS:
        # "idk, surprise me", 「おまかせで」: suggestions under the request in force, if any (not
        # the series just talked about).
        if state.focus.series_id and state.focus.series_id not in state.constraints.excluded_series:
            state.constraints.excluded_series.append(state.focus.series_id)
        state.ClearField("focus")
        return _recommend(state, "leaves the choice to us", follow_up=bool(prev.intent))
    if abstained and classified in PRODUCT_INTENTS and not PAT.GREETING.search(c.folded):
        # An unsure guess that it is about the shop's manga: about the series in focus, or a
        # search with the customer's words, rather than "could you tell me more?".
        if prev.HasField("focus") and prev.focus.series_id:
            state.intent = "product_question"
            return Resolution(state.intent, "search", "unsure; about the series in focus", state, [], follow_up=True)
        state.intent = "product_search"
        return Resolution(state.intent, "search", "unsure; searched with the customer's words", state, [])
    if abstained:
        return Resolution(classified, "clarify", "nothing understood to act on", state, [])
    return Resolution(classified, "answer", f"{classified} turn", state, [])


# Shop-information intents a short unclassified follow-up ("how long does it usually take?") continues.
FOLLOW_ON_INTENTS = frozenset({"shipping_info", "payment", "return_refund", "account", "order_status"})


# An edition of the series in focus, not a series described: 「英語のやつは？」, "the english one".
_EDITION_NAMES = r"英語|日本語|ジャパニーズ|イングリッシュ|原書|翻訳"
_EDITION_ONE = re.compile(
    rf"(?:{_EDITION_NAMES}|english|japanese|eng|jp)(?:版|ばん| ?version| ?edition)?\s?の?\s?(?:やつ|ほう|方|の|one)"
)
# A noun before の that can describe a series (「忍者」「料理学校」): up to 8 characters ending in
# kanji or katakana.
_NOUN = r"[^\s、。,?？!！]{0,7}[一-龥ァ-ヴー]"
# A series described by a noun: 「忍者のやつ」「料理学校のほう」 (the noun in group 1).
_DESCRIBED_NOUN = re.compile(rf"({_NOUN})(?:のほう|の方|のやつ)")
# Nouns that pick an edition, a volume or a length, not a series: 「英語版のほう」「1巻のやつ」「短編の方」.
_NOT_A_DESCRIPTION = re.compile(
    rf"{_EDITION_NAMES}|版|巻|冊|新刊|最新|短編|長編|完結|連載|安|高|値段|円|セット|全巻"
    r"|^(?:今|さっき)$|前|後|次|上|下|他|ほか|別|個|一つ|片方|一方|もう|作者|作家|先生|人|雰囲気|感じ|系|もの|物|主人公|同じ|似"
    # (「漫画のほうは何巻？」 after the anime: the manga of it)
    r"|漫画|マンガ|まんが|原作|紙|電子"
)
# A short question of another series, described: 「忍者のは？」「死神のほうは？」.
# (a noun before の, no question word: not 「次っていつ出るの？」)
_SHORT_DESCRIBED = re.compile(
    rf"^(?!.*(?:いつ|何|なに|なん|どう|どこ|どれ|いくら))({_NOUN})(?:のほう|の方|のやつ|の)(?:は|って)?\s?[?？]\s*$"
)
# Back to one of the series talked about, described: "go back to the pirate one", 「鋼の方に戻る
# けど」, 「料理学校のほうにする」, 「忍者のは？」.
_BACK_DESCRIBED = re.compile(
    r"\b(?:go|going|get|come|coming|went) back to\b|\bback to the\b"
    r"|(?:のほう|の方|のやつ|の)に(?:戻|する|します|しよう)|に戻(?:る|って|ります|ろう)"
    # (not 「野球のやつで」: a kind wanted)
    rf"|^\s*(?:じゃあ|では|なら|で|ほな|やっぱ(?:り)?)?\s?{_NOUN}(?:のほう|の方|のやつ)(?:の|は|を|、|,)"
)


_NAMED_KINDS = frozenset({"title", "alias", "romaji", "character"})
# A story told as the whole message, 「魚が歩いてくるやつ」「主人公が料理で戦う話」: a title looked for.
_TOLD = r"[がをにでと][^、。,.!?！？「」]{1,14}?(?:[うくすつぬむぶぐる]|た|てる|ている|てた|ちゃう|ない)"
_STORY_TOLD = re.compile(rf"{_TOLD}(?:やつ|話|漫画|マンガ)\s*[?？!！。…]*$")
_ONE_STORY = re.compile(rf"{_TOLD}(?:やつ|話)\s*[?？!！。…]*$")


def _discussed_earlier(folded: str, prev: common_pb2.DialogueState) -> str | None:
    """The series a turn points back to by when it came up, if the conversation has one."""
    current = prev.focus.series_id if prev.HasField("focus") else ""
    # (two named at once, 「スラムダンクとバガボンドって…」, then 「最初に言ったほう」: the first named)
    talked = list(prev.discussed or prev.constraints.only_series)
    if PAT.ASKED_FIRST.search(folded) and talked:
        return talked[0]
    # (「MONSTERと20世紀少年…」 then 「あとで言ったほう」: the later of those named together)
    together = list(prev.constraints.only_series or prev.request.only_series or prev.candidates or prev.discussed)
    if PAT.SAID_LATER.search(folded) and len(together) > 1:
        return together[-1]
    if PAT.ASKED_BEFORE.search(folded):
        return next((s for s in reversed(prev.discussed) if s != current), None)
    return None


def _one_series_intent(c: Cues) -> str:
    """A turn about one series chosen: a question when it asks something of it, else a search."""
    if c.product_question or c.status or PAT.PROPERTY.search(c.folded) or PAT.ASKS_ABOUT.search(c.folded):
        return "product_question"
    return "product_search"


def _length_wanted(c: Cues) -> bool:
    """A length ("5 volumes or fewer", 「10巻以内」) chooses among series; it asks nothing of the
    one in focus. (「5巻までお願いします」 about a series is volumes 1 to 5 of it.)"""
    return (c.max_volumes is not None or c.min_volumes is not None) and not PAT.UP_TO_VOLUME.search(c.folded)


def _with_focus(prev: common_pb2.DialogueState, series_id: str) -> common_pb2.DialogueState:
    out = common_pb2.DialogueState()
    out.CopyFrom(prev)
    out.focus.series_id = series_id
    return out


# The words of each non-product intent (the classifier's lexicon), and of media the shop does
# not sell: a non-product intent stands beside a named series only with its own words.
_INTENT_WORDS = {
    "return_refund": "refund",
    "order_status": "order",
    "shipping_info": "shipping",
    "payment": "payment",
    "account": "account",
    "greeting": "greeting",
    "escalation": "escalation",
    "out_of_scope": "oos",
}
_OWN_WORDS = {intent: re.compile(LEXICON[group]) for intent, group in _INTENT_WORDS.items()}


# Service questions asked beside a series' name, most specific first (a person asked for
# wins over what they want to ask them about).
_SERVICE_ASKED = (
    (
        "escalation",
        re.compile(
            r"スタッフ|担当の方|担当者|責任者|上の人|上司|店員|(?:人|人間)と話(?:したい|せ|させ|がしたい)|人間と|オペレーター|real person|\bhuman\b"
            r"|(?:talk to|speak to|speak with|get me|want) (?:a |the |your )?(?:manager|supervisor)|\b(?:manager|supervisor),? please"
            r"|(?:talk|speak) (?:to|with) (?:someone|somebody|a person|staff|an? (?:agent|human|person))"
            # "just connect me to support"
            r"|(?:connect|transfer|put) me (?:through )?(?:to|with) (?:support|customer (?:service|support|care)|someone"
            r"|somebody|staff|an? (?:agent|human|person|representative))|\blive (?:agent|person)\b"
        ),
    ),
    (
        "return_refund",
        re.compile(
            r"返品|返金|返送|交換|send (?:it|them|this|that) back|\breturn (?:it|them|this|that)\b|\brefund|\bexchange (?:it|them)"
            r"|\bswap (?:it|them)|replacement|\breplace (?:it|them)|(?:send|ship) (?:me )?a new (?:copy|one)"
            r"|ship (?:it|them|this|that) back|return shipping|送り直|再送|money back"
        ),
    ),
    # (an order cancelled: the taxonomy's order_status; "can I just cancel it?")
    (
        "order_status",
        # ("やっぱりキャンセルはやめます" takes it back: no cancellation asked)
        re.compile(
            r"(?<!don't )(?<!not )\bcancel(?:l?ing|l?ed)?\b(?! (?:my )?(?:account|membership|subscription))"
            r"|キャンセル(?!\s?(?:は|を)?\s?(?:やめ|止め|しない|しません|なし|取り消|大丈夫))"
            # "I need help with an order", 「注文の件で相談したい」
            r"|\b(?:help|problem|issue|trouble|question)s? (?:with|about|regarding) (?:an?|my|the) (?:order|purchase)\b"
            r"|\bwhere(?:'s| is| are) my (?:stuff|order|package|parcel|delivery|books?|manga)\b"
            r"|注文(?:の件|について|のこと)で?(?:相談|質問|問い合わせ|聞きたい)"
        ),
    ),
    # (what is kept on the account, even when it is a shipping address: that page edits it)
    (
        "account",
        re.compile(
            r"\b(?:saved|stored|registered|kept) (?:on|in|to|with) (?:my|your|the) account\b|\baccount settings\b"
            r"|登録(?:した|している|済みの)?住所|アカウント(?:の|に)(?:住所|設定)"
        ),
    ),
    (
        "payment",
        re.compile(
            # gift cards sold as a way to pay ("do you sell gift cards?"), not the card in a parcel
            r"gift (?:cards|vouchers?|certificates?)|(?:sell|buy|use|have) (?:a |any )?gift cards?|ギフト券|商品券|ギフトカード"
            r"|払え|支払|引き落と|決済|クレカ|クレジット|カード払い|代引き|コンビニ払い|\bjcb\b|\bvisa\b|paypay|paypal"
            r"|apple pay|google pay|credit card|debit card|pay (?:with|by|in|for it)|payment"
            # discounts and coupons are the taxonomy's payment (「まとめて買うと割引ってあります？」)
            r"|割引|値引き|クーポン|\bdiscounts?\b|\bcoupons?\b|promo code"
            # paying as a guest ("guest checkout ok?"; not "check out this manga")
            r"|\bcheckout\b|\bguest (?:check ?out|purchase|order)|ゲスト購入|会員登録なしで"
        ),
    ),
    (
        "shipping_info",
        re.compile(
            r"送料|発送|配送|いつ届|何日で届|届くまで|shipping|deliver"
            r"|how long (?:to|does it take to|will it take to) (?:get|arrive|ship|reach)|ship (?:it|them|to)\b"
            # gift wrapping and arriving in time go with the delivery
            r"|ラッピング|包装|(?<![ぁ-ゖ])のし(?![っぁ-ゖ])|熨斗|のし(?=紙|を|は|って|つけ|付け)|メッセージカード|gift ?wrap|\bwrap(?:ped|ping)? (?:it|them|each|separately)"
            r"|message card|gift (?:message|note|card)|arrive (?:by|before|in time)|get (?:here|there) (?:by|before)"
            r"|in time for|(?:までに|前に)届|customs|import (?:tax|duty|duties)|関税|\bokure(?:masu|ru)\b|\bokuru\b"
            r"|\bhassou\b|\bsouryou\b|how long (?:to|for) (?:[a-z]+)"
        ),
    ),
    ("account", re.compile(r"アカウント|会員登録|ログイン|\baccount\b|sign up|log ?in")),
)


def _asks_first(folded: str, service: str) -> bool:
    """Whether the message's first sentence is a question about ``service``."""
    first = _sentence_at(folded, 0)
    return _service_asked(first) == service and bool(PAT.ASKING_SENTENCE.search(first))


_ESCALATION_ASKED = dict(_SERVICE_ASKED)["escalation"]


def _described_and_asked(c: Cues) -> bool:
    """Whether one series is described and then asked about ("oh and the other Tokyo one with
    the ghouls, is that finished", 「ダンジョンで魔物食べるやつ、もう完結してる？」): a question of
    that one, not a kind of story asked for."""
    described_one = PAT.DESCRIBED.search(c.folded)
    return bool(
        described_one is not None
        # (not 「完結済みのやつってある？」「…のやつ他にある？」: that kind asked for)
        and not re.search(r"(?:ある|あります|ありますか|ない|ないですか)\s*[?？]?\s*$|他|ほか|おすすめ", c.folded)
        # asked *after* the one is described (「卓球のやつか、何巻完結？」; not 「完結してる
        # ボクシングのやつは」: a kind wanted)
        and _asked_of_it(c.folded[described_one.end() :])
        and PAT.ASKS_ABOUT.search(c.folded)
        and not c.like
    )


def _asked_of_it(rest: str) -> bool:
    """Whether the words after a series described ask something of it (its length, price,
    whether it is finished): 「卓球のやつか、何巻完結？」, "the ghouls one, is that finished"."""
    return bool(
        PAT.PROPERTY.search(rest)
        or PAT.PRODUCT_QUESTION.search(rest)
        or re.search(r"\b(?:finished|done|over|complete|ongoing)\b|完結|終わ|連載|続い", rest)
        or any(p.search(rest) for _, p in _STATUS)
    )


def _service_asked(folded: str) -> str:
    """The shop service a message asks about, or "" (read with the series' names taken out)."""
    return next((intent for intent, pattern in _SERVICE_ASKED if pattern.search(folded)), "")


_SERVICE_INTENTS = frozenset({"return_refund", "order_status", "shipping_info", "payment", "account", "escalation"})
_SERVICE_OWN_WORDS = {intent: _OWN_WORDS[intent] for intent in sorted(_SERVICE_INTENTS)}
_SERVICE_WORDS = tuple(_SERVICE_OWN_WORDS.values())


def _other_service_words(intent: str, folded: str) -> bool:
    """Whether the message has the words of a shop service other than ``intent``."""
    return any(pattern.search(folded) for other, pattern in _SERVICE_OWN_WORDS.items() if other != intent)


def _own_words(intent: str, folded: str) -> bool:
    """Whether the message has words of the classifier's non-product intent (any shop-service
    words count for a service intent: 「予約した…のshipping状況」 is about an order)."""
    pattern = _OWN_WORDS.get(intent)
    if pattern is None:
        return True
    if intent == "out_of_scope":
        return bool(pattern.search(folded) or PAT.OTHER_MEDIA.search(folded))
    if intent in ("greeting",):
        # (「ボット」 is the assistant, not the ロボット of 「ロボットもの」)
        return bool(pattern.search(PAT.LONGER_KATAKANA_BOT.sub(" ", folded)))
    return any(p.search(folded) for p in _SERVICE_WORDS)


def _carry_choice(
    state: common_pb2.DialogueState, prev: common_pb2.DialogueState, entities: Entities | None, c: Cues
) -> None:
    """The state carried while the customer chooses among series: no series in focus; the
    edition and volume asked about wait, with no series, for the choice."""
    _carry(state, prev)
    state.ClearField("focus")
    if entities is not None:
        _focus_update(state.focus, entities, c)
        if state.focus == common_pb2.Focus():
            state.ClearField("focus")


def _ask_which(
    state: common_pb2.DialogueState,
    prev: common_pb2.DialogueState,
    candidates: list[str],
    classified: str,
    abstained: bool,
    c: Cues,
    reason: str,
    entities: Entities | None = None,
) -> Resolution:
    _carry_choice(state, prev, entities, c)
    state.pending = "series"
    state.candidates.extend(candidates[:MAX_LIST])
    state.intent = _series_intent(classified, abstained, c)
    return Resolution(state.intent, "clarify_series", reason, state, candidates[:MAX_LIST])


_MANGA_WORDS = re.compile(r"漫画|マンガ|まんが|manga|comics?|\bones\b|\bstuff\b|\bseries\b|" + PAT.KIND_ASKED.pattern)


def _asked_title(text: str, titles: list[common_pb2.Mention], c: Cues) -> str | None:
    """The title a message with a liking in it ("I loved that") asks about, not for others
    like it, or None: a question about it, no request for others, and
    exactly one title not named as what it is like ("Claymore - finished? I heard it's like
    berserk lite": Claymore)."""
    if not (PAT.ABOUT_IT.search(c.folded) or PAT.WHAT_ABOUT_OPENING.match(c.folded)):
        return None
    # ("Is Blue Exorcist anything like it? how many volumes": whether it is alike, asked of it)
    if (PAT.RECOMMEND.search(c.folded) and not PAT.IS_IT_LIKE.search(c.folded)) or PAT.MORE_LIKE.search(c.folded):
        return None
    folded = unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower()
    asked = set()
    for title in titles:
        span = _span(folded, title)
        if span is None or not PAT.LIKE_BEFORE.search(folded[max(0, span[0] - 24) : span[0]]):
            asked.add(title.series_id)
    return next(iter(asked)) if len(asked) == 1 else None


# Which products first, when the customer asks for the shortest, longest, cheapest or dearest
# ("which one is the shortest?", 「一番安いのは？」): the answer leads with that one.
# (A comparative asked of two, "which is longer?", 「どっちが古い？」, orders them the same way.)
_WHICH = r"(?:\bwhich\b|どっち|どちら)"
# 「1冊の値段が安いのはどっち？」: the which-word after the comparison
_WHICH_AFTER = r"(?:の|ほう|方)?(?:は|って)\s?(?:どっち|どちら|どれ)"
_ORDERS = (
    (
        "fewest_volumes",
        re.compile(
            r"\bshortest\b|fewest (?:volumes|books)|least (?:volumes|books)|(?:一番|最も|いちばん)短い"
            r"|(?:(?:一番|最も|いちばん)\s?)?巻数(?:が|の)?\s?(?:一番|最も|いちばん)?少な"
            # of two: "the shorter one", 「短いほう」
            r"|\bshorter one\b|\bthe shorter\b|短い(?:ほう|方)"
            r"|\b(?:something|anything|ones?|any) (?:a (?:bit|little) |much |way |even )?shorter\b(?! than)"
            r"|\bnot as long\b|もう(?:少し|ちょっと|ちょい)?短い|もっと短い|短めの|\bshorter (?:ones|series|stuff|manga|options|titles|picks)\b"
            r"|(?:もっと|もう(?:少し|ちょっと|ちょい)?)\s?short(?:er)?\b"
            rf"|{_WHICH}.{{0,30}}(?:\bshorter\b|fewer (?:volumes|books)|短い|少ない)|(?:短い|少ない){_WHICH_AFTER}"
            # said of what was shown: "hmm too long", 「長すぎ」
            rf"|{PAT.TOO_LONG.pattern}"
            r"|^\W{0,3}(?:even |a bit |a little )?shorter\W*$"
        ),
    ),
    (
        "most_volumes",
        re.compile(
            r"\blongest\b|most (?:volumes|books)|(?:一番|最も|いちばん)長い|\blonger one\b|\bthe longer\b"
            r"|(?:(?:一番|最も|いちばん)\s?)?巻数(?:が|の)?\s?(?:一番|最も|いちばん)?多い"
            r"|長い(?:ほう|方)"
            rf"|{_WHICH}.{{0,30}}(?:\blonger\b|more (?:volumes|books)|長い|多い)|(?:長い|多い){_WHICH_AFTER}"
        ),
    ),
    (
        "cheapest",
        re.compile(
            r"\bcheapest\b|least expensive|(?:一番|最も|いちばん)安い|最安|\bcheaper one\b|\bthe cheaper\b|安い(?:ほう|方)"
            r"|\b(?:something|anything|ones?|any) (?:a (?:bit|little) |much |way |even )?cheaper\b(?! than)"
            r"|\b(?:less expensive|not as (?:expensive|pricey))\b|もう(?:少し|ちょっと|ちょい)?安い|もっと安い|安めの"
            r"|\bcheaper (?:ones|series|stuff|manga|options|titles|picks)\b|(?:もっと|もう(?:少し|ちょっと|ちょい)?)\s?cheap(?:er)?\b"
            rf"|{_WHICH}.{{0,30}}(?:\bcheaper\b|安い)|安い{_WHICH_AFTER}"
            rf"|{PAT.TOO_DEAR.pattern}"
            r"|^\W{0,3}(?:even |a bit |a little )?cheaper\W*$"
        ),
    ),
    (
        "priciest",
        re.compile(
            r"\bpriciest\b|most expensive|(?:一番|最も|いちばん)高い|\bpricier one\b|\bthe pricier\b|高い(?:ほう|方)"
            rf"|{_WHICH}.{{0,30}}(?:\bpricier\b|more expensive|高い)|高い{_WHICH_AFTER}"
        ),
    ),
    (
        "oldest",
        re.compile(
            r"\boldest\b|\bolder one\b|\bthe older\b|\bearliest\b|came out first|(?:一番|最も|いちばん)古い|古い(?:ほう|方)"
            r"|(?:先|最初)に(?:出た|始まった)"
            rf"|{_WHICH}.{{0,30}}(?:\bolder\b|古い)|古い{_WHICH_AFTER}"
        ),
    ),
    (
        "newest",
        # (not "the newest volume", 「一番新しい巻」: the latest volume of a series)
        re.compile(
            r"\bnewest (?:one|series|title)|\bnewer one\b|\bthe newer\b|most recent one"
            r"|(?:一番|最も|いちばん)新しい(?:の|作品|シリーズ|やつ)|新しい(?:ほう|方)"
            rf"|{_WHICH}.{{0,30}}(?:\bnewer\b|新しい(?!巻))|新しい{_WHICH_AFTER}"
        ),
    ),
)


def superlative(text: str) -> str:
    """The order the customer asked the products in, or "" (see ``_ORDERS``)."""
    return _order_of(unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower())


def _order_of(folded: str) -> str:
    return next((order for order, pattern in _ORDERS if pattern.search(folded)), "")


# A place in the list shown: 「2番目」「二つ目」, "the second one", "#2", "the last one" (not "the
# second volume", "second hand", "wait a second"; "the first one" is the first volume, unless
# it is "the first one you showed").
_PLACE_CUE = r"(?:ご)?(?:提案|紹介|おすすめ|オススメ|お勧め|教えて|挙げて|あげて|出して|見せて|出て(?:き|く)|言って|書いて|載って|あった)"
_PLACE = re.compile(
    r"(?<![\d])(?P<n>[1-9])\s{0,2}(?:番目|つ目|つめ|個目|こ目|番(?=の|って|は|が|で|を|に|$|\s))"
    r"|(?P<k>[一二三四五])(?:番目|つ目|つめ|個目)|(?P<kana>ひとつ|ふたつ|みっつ|よっつ|いつつ)(?:め|目)"
    r"|(?<!\ba )\b(?P<en>second|third|fourth|fifth|2nd|3rd|4th|5th)\b"
    r"(?!\s{0,2}(?:vol|book|巻|edition|season|arc|part|hand|copy|copies|time|thought|opinion))"
    r"|\b(?P<first>first)\s(?:one\s)?(?:you|on the list|in the list|listed|shown|mentioned)\b"
    # 「最初にご提案いただいたもの」「最初に出てきたの」「一番上のにします」「前者」: the first one shown
    rf"|(?P<first_ja>最初に{_PLACE_CUE}\S{{0,8}}?(?:もの|やつ|の|作品|漫画)|最初の(?:やつ|作品|漫画|ほう|方)|最初の(?=\s*(?:で|に|を|ね|[!！。]|$))|一番上|(?<![以年目])上の(?:やつ|ほう|方)|前者)"
    r"|\bthe (?P<first_en>top one|former)\b"
    r"|(?:\bnumber|\bno\.|\boption|#)\s{0,2}(?P<num>[1-5])\b"
    # ("is that the last one?" asks for the latest volume)
    rf"|(?P<last>最後の(?:やつ|作品|漫画|ほう|方)|最後の(?=\s*(?:で|に|を|ね|[!！。]|$))|最後に{_PLACE_CUE}\S{{0,8}}?(?:もの|やつ|の|作品|漫画)|一番下|(?<![以年目])下の(?:やつ|ほう|方)|後者"
    r"|\b(?:the )?last one (?:you|on the list|in the list|listed|shown|mentioned)\b|\bthe (?:bottom one|latter)\b)"
    # 「真ん中のは？」, "the middle one": the middle of an odd number shown
    r"|(?P<middle>真ん中|まんなか|\bthe middle one\b)"
)
_PLACES = {
    "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "ひとつ": 1, "ふたつ": 2, "みっつ": 3, "よっつ": 4, "いつつ": 5,
}  # fmt: skip


def _place_in_list(folded: str, count: int) -> int | None:
    """The index into the list of ``count`` shown that the message picks by place, or None."""
    m = _PLACE.search(folded)
    if m is None:
        return None
    for later in _PLACE.finditer(folded, m.end()):
        # 「最後のやつじゃなくて最初の」, "not the first one, the third one": the place said last
        if PAT.PLACE_TAKEN_BACK.search(folded[m.end() : later.start()]) or PAT.PLACE_TAKEN_BACK.search(
            folded[max(0, m.start() - 8) : m.start()]
        ):
            m = later
    if m.group("last"):
        return -1
    if m.group("middle"):
        return count // 2 if count % 2 else None
    if m.group("first") or m.group("first_ja") or m.group("first_en"):
        return 0
    word = m.group("n") or m.group("num") or m.group("k") or m.group("kana") or m.group("en")
    return (int(word[0]) if word[0].isdigit() else _PLACES[word]) - 1


def _series_intent(classified: str, abstained: bool, c: Cues) -> str:
    """A turn about one named series: the classifier's product intent when it is sure; else a
    question when it asks something of the series, a search when it only names it."""
    if classified == "product_search" and (
        PAT.PERSON_ASKED.search(c.folded)
        or (PAT.SAME_AUTHOR_WORD.search(c.folded) and PAT.CONFIRMATION.search(c.folded))
    ):
        # "who wrote monster", 「幽遊白書も同じ人だっけ」: whose work it is, a fact asked of it
        return "product_question"
    if (
        classified == "product_search"
        and not abstained
        and PAT.PROPERTY.search(c.folded)
        and (PAT.COUNT.search(c.folded) or not PAT.AVAILABILITY.search(c.folded))
    ):
        # What the series is like, not whether it can be had (the intent taxonomy's test);
        # 「ドラえもんは何冊ありますか」 counts, it does not ask for one.
        return "product_question"
    if (
        classified == "product_search"
        and (c.next_volume or c.latest)
        and re.search(
            r"いつ|\bwhen\b|もう出|まだ(?:です(?:か|かね)?|かな|なの|出てない)?\s?[?？]|\bout yet\b", c.folded
        )
    ):
        # 「ワンピの次の巻っていつ出ますか」「最新刊ってもう出てる？」「新刊まだ?」: whether and when the
        # next one comes out, a fact asked of it.
        return "product_question"
    if classified == "product_search" and PAT.ONLY_SO_LONG.search(c.folded):
        return "product_question"  # 「look back って1巻だけ?」: how long it is
    if classified == "product_search" and _PRICE_ASKED.match(c.folded):
        # "how much is Berserk vol 1?", 「鬼滅っていくら？」: its price is a fact asked of it (every
        # hand-written conversation calls it a question; the taxonomy follows, see the DATASHEET).
        return "product_question"
    if classified == "product_search" and PAT.EDITION_ASKED.search(c.folded) and not PAT.A_VOLUME.search(c.folded):
        # 「カイジの英語版ある？」, "is there an English edition of Solanin?": which editions the series
        # has is a property of it, like its length.
        return "product_question"
    if classified == "product_recommendation" and not abstained and not c.like:
        if (c.status or PAT.PROPERTY.search(c.folded)) and PAT.ASKS_ABOUT.search(c.folded):
            return "product_question"  # 「…もおすすめされたけど、あれはまだ続いてる？」
        if PAT.AVAILABILITY.search(c.folded) and not PAT.RECOMMEND.search(c.folded):
            return "product_search"  # 「誕生日プレゼントで、ポケモンの漫画ってありますか」
        if re.search(r"探して|\b(?:looking|searching) for\b", c.folded) and not PAT.RECOMMEND.search(c.folded):
            return "product_search"  # 「炭治郎が主人公の漫画を探しております」: that one title sought
        if PAT.ONE_WORK.search(c.folded) and not PAT.RECOMMEND.search(PAT.PIECE_SOMETHING.sub("", c.folded)):
            return "product_search"  # "my daughter wants the one with the little kitten, chi something?"
    if (
        classified in PRODUCT_INTENTS
        and not abstained
        and (classified != "product_recommendation" or c.new_request or PAT.RECOMMEND.search(c.folded))
    ):
        # (A recommendation needs a request for suggestions: 「…セーラームーンある？」 asks for one title.)
        return classified
    if c.product_question or c.status or c.latest or PAT.ASKS_ABOUT.search(c.folded) or PAT.PROPERTY.search(c.folded):
        return "product_question"
    return "product_search"


_EDITION_NUMBER = re.compile(r"(?:^|\s)(?:english|japanese|eng|jp|英語版?|日本語版?)" + PAT.BARE_NUMBER.pattern)


def _bare_volume(lowered: str, mentions: list[common_pb2.Mention], focus: bool) -> int | None:
    """The volume a bare number after a named title (or, with a series in focus, after an
    edition, or numbers wanted too: 「11と12もほしい」) names, or None."""
    for m in mentions:
        if m.kind == "author":
            continue
        span = _span(lowered, m)
        found = PAT.BARE_NUMBER.match(lowered, span[1]) if span is not None else None
        if found is not None and int(found.group(1)) > 0:
            return int(found.group(1))
    if focus and not mentions:
        found = _EDITION_NUMBER.search(lowered) or PAT.MORE_VOLUMES.match(lowered)
        if found is not None and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


def _own_question(c: Cues) -> bool:
    """Whether the turn asks a property of its own (how many volumes, finished, what it is like)."""
    return bool(c.status or PAT.PROPERTY.search(c.folded))


def _about_one_series(entities: Entities, c: Cues) -> bool:
    """Whether the turn asks about one series ("how many volumes", "vol 3", "the latest")."""
    return bool(entities.volumes or c.latest or PAT.ONE_SERIES.search(c.folded))


def _asked_through_author(text: str, titles: list[common_pb2.Mention]) -> str | None:
    """The series a message asks about when it names a second one only for its author, or None."""
    if len({t.series_id for t in titles}) != 2:
        return None
    folded = unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower()
    spans = {t.series_id: span for t in titles if (span := _span(folded, t)) is not None}
    if len(spans) != 2:
        return None
    (first, _), (_, (second_start, second_end)) = sorted(spans.items(), key=lambda kv: kv[1])
    if PAT.AUTHOR_AFTER.search(folded[second_end : second_end + 12]) or PAT.AUTHOR_BEFORE.search(
        folded[max(0, second_start - 30) : second_start]
    ):
        return first
    return None


def _rule_out_seen(state: common_pb2.DialogueState, prev: common_pb2.DialogueState, c: Cues) -> None:
    """Exclude the series in focus, those just shown and those talked about before (「ガンダム」
    then 「エヴァもある？」 then 「他にロボットもの」) when the customer asks for others."""
    if not PAT.SEEN_OTHER.search(c.folded):
        return
    seen = (
        ([prev.focus.series_id] if prev.HasField("focus") and prev.focus.series_id else [])
        + list(prev.last_shown[:5])
        + list(prev.discussed)
    )
    merged = list(dict.fromkeys([*state.constraints.excluded_series, *seen]))[:MAX_LIST]
    del state.constraints.excluded_series[:]
    state.constraints.excluded_series.extend(merged)


def _span(folded: str, m: common_pb2.Mention) -> tuple[int, int] | None:
    """Where the mention stands in the folded message: where its catalog name is, else the
    linker's span ("ゆるキャン" for the catalog's 「ゆるキャン△」)."""
    found = _name_pattern(m.name).search(folded) if m.name else None
    if found is not None:
        return found.start(), found.end()
    return _linker_span(folded, m)


def _linker_span(folded: str, m: common_pb2.Mention) -> tuple[int, int] | None:
    """Where the linker saw the mention, in the folded message (the linker counts characters
    in the message without punctuation)."""
    offsets = words_offsets(folded)
    if 0 <= m.start < m.end <= len(offsets):
        return offsets[m.start], offsets[m.end - 1] + 1
    return None


def _excluded_ids(folded: str, mentions: list[common_pb2.Mention]) -> set[str]:
    """The series the message (NFKC-folded, lower case) rules out rather than asks for ("I
    already have Doraemon", 「ゆるキャンはもう全部持ってます」); names joined by と/、/and share
    the last one's fate (「ダン飯と食戟は読みました」)."""
    spans = sorted((span, m.series_id) for m in mentions if (span := _span(folded, m)) is not None)
    out: set[str] = set()
    besides = PAT.BESIDES_THOSE.search(folded)
    if besides is not None:
        # 「盾の勇者は話が重いと聞いたので、それ以外で」: the titles named before "other than those".
        titles = {m.series_id for m in mentions if m.kind != "author"}
        out |= {sid for (_, end), sid in spans if end <= besides.start() and sid in titles}
    carried = False  # "except A and B": the words before A rule out B too
    for i, ((start, end), series_id) in enumerate(spans):
        carried = carried or bool(PAT.EXCLUDE_BEFORE.search(folded[max(0, start - 30) : start]))
        carried = carried or bool(PAT.READ_OPENING.fullmatch(folded[:start]))
        ruled_out = carried or bool(PAT.EXCLUDE_AFTER.search(folded[end : end + 30]))
        j = i
        while (
            not ruled_out and j + 1 < len(spans) and PAT.JOINED.fullmatch(folded[spans[j][0][1] : spans[j + 1][0][0]])
        ):
            j += 1
            ruled_out = bool(PAT.EXCLUDE_AFTER.search(folded[spans[j][0][1] : spans[j][0][1] + 30]))
        if ruled_out:
            out.add(series_id)
        if not (i + 1 < len(spans) and PAT.JOINED.fullmatch(folded[end : spans[i + 1][0][0]])):
            carried = False
    return out


@lru_cache(maxsize=4096)  # catalog names: a bounded set, compiled once each
def _name_pattern(name: str) -> re.Pattern[str]:
    """A catalog name as the customer may have spaced or punctuated it ("kaguya sama love is war")."""
    chars = [ch for ch in unicodedata.normalize("NFKC", name).lower() if ch.isalnum()]
    return re.compile(r"[\W_]{0,3}".join(map(re.escape, chars[:60])))


@lru_cache(maxsize=4096)  # catalog names: a bounded set, compiled once each
def _name_word_pattern(name: str) -> re.Pattern[str]:
    """A catalog name to the end of the word it is typed in ("haikyuu" for "haikyu")."""
    return re.compile(_name_pattern(name).pattern + r"[a-z]{0,2}(?![a-z])")


def _without_names(text: str, mentions: list[common_pb2.Mention]) -> str:
    """The message with the catalog names it contains blanked out."""
    folded = unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower()
    # A name not found as the catalog spells it is a typo ("kaguya sama love is wat"): blanked
    # where the linker saw it (same length, so the other spans still hold), the rest by name,
    # to the end of the word typed ("haikyuu" holds the catalog's "haikyu").
    typed = [
        span
        for m in mentions
        if m.name and not _name_pattern(m.name).search(folded) and (span := _linker_span(folded, m)) is not None
    ]
    for start, end in sorted(typed, reverse=True):
        folded = folded[:start] + " " * (end - start) + folded[end:]
    for m in mentions:
        if m.name:
            folded = _name_word_pattern(m.name).sub(" ", folded)
    return folded


def _recommend(state: common_pb2.DialogueState, reason: str, follow_up: bool = True) -> Resolution:
    """A recommendation under the request in ``state``: from the series liked, else a search."""
    state.intent = "product_recommendation"
    return Resolution(
        state.intent,
        "similar" if state.constraints.like_series_ids else "search",
        reason,
        state,
        [],
        follow_up=follow_up,
    )


def _keep_request(state: common_pb2.DialogueState, prev: common_pb2.DialogueState) -> None:
    """Keep the request a series came up in (its words and constraints, not searched) while that
    series is in focus."""
    if not (prev.intent in PRODUCT_INTENTS and (prev.topic or prev.HasField("constraints"))):
        return
    state.topic = prev.topic
    if prev.HasField("request"):
        state.request.CopyFrom(prev.request)
    elif not (prev.HasField("focus") and prev.focus.series_id):
        state.request.CopyFrom(prev.constraints)


def _author_ruled_out(text: str, authors: list[common_pb2.Mention]) -> bool:
    for m in authors:
        before = unicodedata.normalize("NFKC", text[max(0, m.start - 24) : m.start]).lower()
        after = unicodedata.normalize("NFKC", text[m.end : m.end + 12]).lstrip()
        if PAT.NOT_BY_BEFORE.search(before) or PAT.NOT_BY_AFTER.match(after):
            return True
    return False


def _lists_limits(entities: Entities, c: Cues) -> bool:
    """Limits a list is filtered by (not an edition or stock, which a question about one series
    asks too)."""
    return bool(
        entities.max_price_jpy is not None
        or entities.min_price_jpy is not None
        or entities.excluded_genres
        or c.status is not None
        or c.max_volumes is not None
        or c.min_volumes is not None
    )


def _carry(state: common_pb2.DialogueState, prev: common_pb2.DialogueState) -> None:
    """Keep the focus and the request in force (not a pending slot: it was answered or dropped)."""
    if prev.HasField("focus"):
        state.focus.CopyFrom(prev.focus)
    state.constraints.CopyFrom(prev.constraints)
    state.intent = prev.intent
    state.topic = prev.topic


_ASKED_FOR = (
    re.compile(r"[「『\"“]([^」』\"”]{2,40})[」』\"”]"),
    re.compile(
        r"(?:do (?:you|u|ya) (?:guys )?(?:have|sell|carry|stock)|have you got|you got|looking for|search(?:ing)? for"
        r"|^got any|any chance (?:you|u) (?:have|sell|carry|stock|got))"
        r"\s{1,3}([^?？!！。,、]{2,40})"
    ),
    # 「ハリーポッターある？」「こち亀ありますか」「シャーマンキングの完全版ってありますか」
    re.compile(
        r"^([^?？!！。,、]{2,20}?)\s{0,2}(?:の)?\s{0,2}(?:漫画|マンガ|manga|完全版|新装版|文庫版|全巻セット|全巻|セット|本|最新刊|新刊|\d{1,3}巻)?"
        r"\s{0,2}(?:って|は|も|を|が)?"
        # (not 「けっこうありますね」: a remark, not a question)
        r"\s{0,2}(?:ある|あります|置いて|おいて|売って|うって|取り扱|扱って|扱い|ほしい|欲しい|ください|下さい|買いたい)(?![ねよ])"
    ),
    re.compile(r"^(?:got|have you got|you have)\s{1,3}([^?？!！。,、]{2,30}?)\s{0,2}[?？]*\s*$"),
    re.compile(r"^(?:is|are)\s{1,3}([^?？!！。,、]{2,40}?)\s{1,3}(?:in stock|available|sold here|on sale)\b"),
    # 「ザ・ファブル is there?」
    re.compile(
        r"^(?!(?:do|does|did|is|are|can|could|have|has|any|what|which|how|where|when)\b)"
        r"([^?？!！。,、]{2,40}?)\s{0,2}(?:is there|are there|available|in stock)\s{0,2}[?？]+\s*$"
    ),
    # 「アオアシは？」「ブラックラグーンみたいなの」: a name in katakana asked after, or liked
    re.compile(r"^([ァ-ヴー・ぁ-ん]{3,20})\s{0,2}(?:は|って|も)\s{0,2}[?？]+\s*$"),
    # 「火の鳥はないんですか」
    re.compile(
        r"^([^?？!！。,、]{2,20}?)\s{0,2}(?:は|って)\s{0,2}(?:ない|置いてない|扱ってない)(?:んですか|ですか|の|んだ|か)"
    ),
    re.compile(r"^([ァ-ヴー・]{3,20})\s{0,2}(?:みたいな|っぽい|のような|みたいの)"),
    # "Kimi wa Houkago Insomnia arimasu ka?": asked in romaji
    re.compile(
        r"^([a-z][a-z0-9' \-]{3,40}?)\s{1,2}(?:(?:no )?manga\s{1,2})?(?:wa\s{1,2})?(?:arimasu|aru|oitemasu|utte masu)(?: ka)?\s{0,2}[?？]*\s*$"
    ),
    # "what about Boruto?" (when no catalog name is in it)
    re.compile(
        r"^(?:(?:and|so|ok|okay|hmm+|then)\W{1,3})?(?:what|how) about\s{1,3}([^?？!！。,、]{2,40}?)\s{0,2}[?？]*\s*$"
    ),
    # "Don't Toy with Me, Miss Nagatoro — got it?"
    re.compile(
        r"^([^?？!！。]{2,60}?)\s{0,2}[—–\-:]{1,2}\s{0,2}(?:got it|have it|do you have it|you have it|in stock|available)"
        r"\s{0,2}[?？]*\s*$"
    ),
)
# An opening message that is only one or two such words, asked or not: a Japanese title.
_BARE_ROMAJI = re.compile(rf"^({ROMAJI_WORD}(?: {ROMAJI_WORD})?)\s{{0,2}}[?？.!]*\s*$")
# A bare name asked after as a conversation opens: "boruto?", "yowamushi pedal?" (later in a
# conversation such a message is a follow-up: "previous one?", "kanketsu shiteru?").
_BARE_NAME = (
    re.compile(r"^([a-z][a-z0-9'\-]{3,20}(?: [a-z0-9'\-]{2,20}){0,3})\s{0,2}[?？]+\s*$"),
    # "blue giant please": a name asked for.
    re.compile(r"^([a-z][a-z0-9'\-]{3,20}(?: [a-z0-9'\-]{2,20}){0,3})\s{1,2}(?:please|pls|plz)\s{0,2}[.!]*\s*$"),
    # "boruto": a Japanese name in romaji, asked or not.
    _BARE_ROMAJI,
    # "black butler vol 30": a name and a volume number, asked or not.
    re.compile(
        r"^([a-z][a-z0-9'\-]{3,20}(?: [a-z0-9'\-]{2,20}){0,3}\s{1,2}vol(?:ume)?\.?\s{0,2}\d{1,3})\s{0,2}[?？]*\s*$"
    ),
)
# Words asked bare that name no title ("help?", "anyone?", "seriously?"), and Japanese words
# every manga reader knows that are no title ("kawaii", "shonen").
_NOT_TITLES = frozenset(
    {
        "anime",
        "kawaii",
        "sugoi",
        "otaku",
        "senpai",
        "sensei",
        "arigato",
        "arigatou",
        "konnichiwa",
        "konbanwa",
        "ohayo",
        "ohayou",
        "sayonara",
        "moshimoshi",
        "domo",
        "sumimasen",
        "onegai",
        "shonen",
        "shounen",
        "shojo",
        "shoujo",
        "seinen",
        "josei",
        "mangaka",
        "tankobon",
        "tankoubon",
        "kanzenban",
        "omake",
        "chibi",
        "doujinshi",
        "yaoi",
        "yuri",
        "ecchi",
        "hentai",
        "nani",
        "baka",
        "waifu",
        "help",
        "anyone",
        "hello",
        "really",
        "seriously",
        "sorry",
        "please",
        "thanks",
        "thank you",
        "why",
        "what",
        "when",
        "where",
        "how",
        "who",
        "which",
        "okay",
        "hmm",
        "huh",
        "yes",
        "nope",
        "sure",
        "maybe",
        "still",
        "anything else",
        "what else",
        "and",
        "also",
        "then",
        "same",
        "none",
        "nothing",
        "done",
        "finished",
        "ongoing",
        "price",
        "stock",
    }
)
# First words and whole phrases that name no title ("do you have any horror", 「在庫ある？」).
_GENERIC_WORDS = frozenset(
    {
        "any",
        "anything",
        "something",
        "some",
        "a",
        "an",
        "the",
        "manga",
        "mangas",
        "books",
        "book",
        "comics",
        "comic",
        "more",
        "other",
        "others",
        "one",
        "it",
        "that",
        "this",
        "them",
        "those",
        "these",
        "english",
        "japanese",
        "new",
        "good",
        "cheap",
        "cheaper",
        "volume",
        "volumes",
        "vol",
        "series",
        "stock",
        "gift",
        "gifts",
        "kids",
        "my",
        "all",
        "every",
        "another",
        "similar",
        "stuff",
        "things",
        "titles",
        "title",
        "old",
        "popular",
        "older",
        "newer",
        "recent",
        "classic",
        "classics",
        "famous",
        "recommendations",
        "suggestions",
        "ideas",
        "by",
        "from",
        "your",
        "their",
        "his",
        "her",
        "him",
        "us",
        "you",
        "both",
        "for",
        "in",
        "with",
        "without",
        "under",
        "over",
        "less",
        "shorter",
        "longer",
        "sequel",
        "prequel",
        "second",
        "third",
        "fourth",
        "fifth",
        "spinoff",
        "spin-off",
        "digital",
        "ebook",
        "e-book",
        "kindle",
        "print",
        "physical",
        "paperback",
        "hardcover",
        "works",
        "work",
        "everything",
        # requests and question words: "show me vol 4", "recommend manga vol 1"
        "show",
        "recommend",
        "suggest",
        "find",
        "give",
        "want",
        "need",
        "buy",
        "order",
        "tell",
        "me",
        "what",
        "which",
        "how",
        "next",
        "last",
        "latest",
        "first",
        "previous",
        "漫画",
        "マンガ",
        "まんが",
        "本",
        "在庫",
        "新刊",
        "最新刊",
        "英語版",
        "日本語版",
        "完全版",
        "新装版",
        "文庫版",
        "愛蔵版",
        "全巻セット",
        "おすすめ",
        "オススメ",
        "何か",
        "なにか",
        "他",
        "ほか",
        "続き",
        "それ",
        "これ",
        "あれ",
        "全巻",
        "セット",
        "ギフト",
        "送料",
        "支払い",
        "注文",
        "返品",
    }
)


def unlinked_title(
    text: str,
    entities: Entities,
    mentions: list[common_pb2.Mention] | tuple[()] = (),
    patterns: tuple[re.Pattern[str], ...] = _ASKED_FOR,
) -> bool:
    """Whether the customer asks for something by name that is not in the catalog: a quoted
    or "do you have X" name that is no genre, edition, price or ordinary product word, once
    the catalog names the linker found in it are taken out ("Touch by Mitsuru Adachi" names
    an author we carry and a title we do not)."""
    folded = unicodedata.normalize("NFKC", text[:CUE_CHARS]).strip()
    # (「YAWARA!ってありますか」「魁!!男塾は？」: the marks are part of the name)
    lowered = re.sub(r"!{1,3}(?=\s?(?:って|は|の|も|を|\w))", "", folded.lower())
    candidates: list[str] = []
    for pattern in patterns:
        m = pattern.search(lowered)
        if m:
            # (the last sentence of it: "She reads in English. Is volume 13 available?" asks for
            # no title "she reads in english. is volume 13")
            last = PAT.SENTENCE_BREAK.split(m.group(1))[-1]
            candidates.append(re.sub(r"^(?:is|are|do|does|can|could)\s", "", last.strip()))
    for name in candidates:
        name = name.lower()
        for linked in mentions:
            if linked.name:
                name = _name_pattern(linked.name).sub(" ", name)
        # (「高橋留美子の漫画ってどれくらいある？」: the works of a name linked, not a title)
        name = re.sub(r"^\s*の\s*(?:漫画|マンガ|まんが|作品|本|シリーズ)\S*", "", name)
        name = PAT.CONNECTOR_TAIL.sub("", PAT.LEADING_FILLER.sub("", name.strip()))
        name = PAT.GENERIC_TAIL.sub("", PAT.VOLUME_TAIL.sub("", name)).strip()
        words = name.split()
        if (
            not words
            or words[0] in _GENERIC_WORDS
            or words[0].removesuffix("s") in _GENERIC_WORDS  # "ebooks", "sequels"
            or name in _GENERIC_WORDS
            or name in _NOT_TITLES
        ):
            continue
        if (
            (any(ch.isdigit() for ch in name) and len(name) <= 4)
            or re.fullmatch(r"\d{1,3}(?:\s\w+)?", name)
            # (「11と12もほしい」, "3, 4 and 5": volume numbers)
            or re.fullmatch(r"\d{1,3}(?:\s?(?:と|,|、|and|&|-|~|〜)\s?\d{1,3})+\s?(?:巻|kan|vols?)?", name)
        ):
            continue  # ("do you have 26 too": a volume number)
        for _, edition in _EDITION_WORDS:
            # 「ao ashi の英語版ありますか」: the name without the edition asked for.
            name = PAT.CONNECTOR_TAIL.sub("", edition.sub(" ", name).replace(" 版", " ")).strip()
        # (「英語版も全巻ある？」: what is left after the edition is no name)
        name = re.sub(r"^(?:mo|wa|no)\b|\b(?:mo|wa|no)$", "", name.strip(" もはのをが")).strip()
        if (
            not name
            or name in _GENERIC_WORDS
            or PAT.NOT_A_NAME.search(name)
            or re.fullmatch(r"\d{1,3}\s?(?:kan|巻|vols?|volumes?)?", name)  # "eigo-ban mo 18 kan?"
        ):
            continue
        probe = extract(name)
        if probe.genres or probe.excluded_genres or probe.language or probe.max_price_jpy or probe.in_stock:
            continue
        if _CJK_WORD.fullmatch(name) and re.search(re.escape(name) + _ABOUT_IT, lowered) and is_common_noun(name):
            continue  # 「動物の漫画ある？」: manga about animals, no title we lack (「アオアシは？」 is one)
        c = cues(name)
        if (
            c.status
            or c.max_volumes is not None
            or c.latest
            or c.like
            or c.product_question
            or c.reference
            or c.next_volume
            or c.previous_volume
            or c.min_volumes is not None
        ):
            continue
        return True
    return False


# Others asked for shorter or cheaper than those shown or talked about, in any of its wordings.
_RELATIVE_LIMIT = re.compile("|".join(p.pattern for p in (PAT.RELATIVE_LIMIT, PAT.TOO_LONG, PAT.TOO_DEAR)))
MAX_WITH_KIND_CHARS = 40  # "something with a female lead": a longer message is a request of its own
MAX_CHOICE_LEFT_CHARS = 40  # "surprise me" is said in a few words; a longer message says more
_CJK_WORD = re.compile(r"[\u3040-\u30ff\u4e00-\u9fffー]{1,20}")
_ABOUT_IT = r"\s?の\s?(?:漫画|マンガ|まんが|話|作品|本|やつ)"  # 「Xの漫画」: manga about X


def _bare_unknown_name(text: str, entities: Entities) -> bool:
    """Whether an opening message is only a name we do not carry, asked after ("boruto?");
    a word of the shop's own ("cheapest volume?") makes it no name."""
    folded = unicodedata.normalize("NFKC", text[:CUE_CHARS]).lower().strip(" ?？")
    folded = re.sub(r"\s{1,2}(?:please|pls|plz)\s{0,2}[.!]*\s*$", "", folded)
    # ("overlord manga?", "tokyo mew mew vol 1?": the name without its volume or "manga")
    words = re.findall(r"[a-z0-9'\-]+", PAT.GENERIC_TAIL.sub("", PAT.VOLUME_TAIL.sub("", folded)))
    if any(w in _GENERIC_WORDS or w in _NOT_TITLES or w.startswith("cheap") for w in words):
        return False
    return unlinked_title(text, entities, (), _BARE_NAME)
