"""Entity extraction: the structured facts in a message that other services act on.

Order ids (the store's ``123-4567890-1234567`` and ``MA-2024-00123`` formats, and ids
after 注文番号 / "order #"), titles (quoted, before a volume number, after "like" /
before みたいな), volume numbers, price limits (「2000円以下」, "under ¥1,500",
「予算3千円」), the edition language asked for (英語版, "in English"), "in stock" and genres
mapped onto the contract vocabulary. A genre the customer excludes (「ホラー以外」,
"not romance") is reported as excluded, never as a filter.

Everything is a regular expression over the NFKC-folded message (full-width digits
and ￥ become ASCII), so extraction is deterministic and costs microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from mangaassist.common.textbounds import MAX_RUN, bounded_fold
from mangaassist.common.vocabulary import GENRES, kanji_counts

# (?<!\d): a bare number is tried from the start of its digit run only (the same matches,
# linear time); textbounds cuts longer runs before any pattern runs.
_NUM = r"(\d{1,3}(?:,\d{3})+|(?<!\d)\d+)"

ORDER_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![0-9a-z-])(\d{3}-\d{7}-\d{7})(?![0-9a-z-])", re.IGNORECASE),
    re.compile(r"(?<![0-9a-z-])#?(ma-?\d{4}-\d{4,6})(?![0-9a-z-])", re.IGNORECASE),
    re.compile(r"(?<![0-9a-z-])(\d{8}-\d{4})(?![0-9a-z-])", re.IGNORECASE),
    re.compile(
        r"(?:注文(?:番号|no\.?|id|#)|order\s*+(?:number|no\.?|id|#))\s*+[:：#]?\s*+([a-z0-9][a-z0-9-]{5,40}+)(?![a-z0-9-])",
        re.IGNORECASE,
    ),
)

VOLUME_PATTERNS: tuple[re.Pattern[str], ...] = (
    # (「全27巻」 counts the volumes; it names none)
    re.compile(r"(?<![全\d])(?<!全\s)第?\s*(\d{1,3})\s*巻"),
    # (bound on ASCII only: 「ワンピースのvolume 105ある?」 has no \b around it)
    re.compile(r"(?<![a-z])(?:vol(?:ume)?\.?|book)\s*#?\s*(\d{1,3})(?!\d)", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})(?:st|nd|rd|th)\s+(?:volume|book)\b", re.IGNORECASE),
    # Typed in kana or romaji: 「きめつの1かん」, "shingeki no kyojin 1kan".
    re.compile(r"(?<![0-9])(\d{1,3})\s?かん(?!じ|ぜん|けい|たん|こう|がえ|ばん)"),
    re.compile(r"(?<![a-z0-9])(\d{1,3})\s?kan(?![a-z])", re.IGNORECASE),
)

_FIRST_VOLUME = re.compile(
    r"\bfirst (?:[a-z]{1,10} )?(?:vol(?:ume)?|book)(?![a-z])|(?:\bthe |^|,\s?)first one\b(?! (?:you|on|in the list))|最初の巻|第一巻"
    # where to start reading: "where do I start", "which one first", 「何巻から読めばいい？」
    r"|\bwhere (?:do|should|would|can) (?:i|we|he|she|they|you) (?:start|begin)|\bwhere to (?:start|begin)"
    r"|\bwhich (?:one|volume|book) (?:first|to start)|\bstart (?:from|at|with) the (?:beginning|start)"
    r"|(?:何巻|どこ|どれ)から(?:読|始|買)|最初から(?:読|買)"
)
_YEN_SUFFIX = r"\s*+(千|万)?\s*+(?:円|yen|jpy)"
# (after "more than that") is too much: 「…超えるのは高い」「…以上はきつい」
_TOO_DEAR = r"\s*(?:の|もの|やつ)?\s*(?:は|と|だと)\s*(?:高い|高すぎ|無理|きつい|厳しい|ちょっと)"
MAX_PRICE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(_NUM + _YEN_SUFFIX + r"\s*(?:くらい|ぐらい|程度|位)?\s*(?:以下|以内|まで|未満|より安い)"),
    re.compile(r"予算\s*(?:は|が)?\s*" + _NUM + _YEN_SUFFIX),
    # 「1000円超えるのは高いから」「800円以上はきつい」: more than that is too much
    re.compile(_NUM + _YEN_SUFFIX + r"\s*(?:を)?\s*(?:超える|超え|越える|越え|以上)" + _TOO_DEAR),
    # "I have like 3000 yen", "I've only got ¥2000 to spend": a budget
    re.compile(
        r"\b(?:i|we) (?:only )?(?:have|'ve got|have got|got)(?: only)?(?: like| about| around)?\s*[¥$]?\s*"
        + _NUM
        + _YEN_SUFFIX,
        re.IGNORECASE,
    ),
    # "2000 yen or less per book", "700 yen max"
    # ("600 yen a volume or less", "800 yen per book max")
    re.compile(
        _NUM
        + _YEN_SUFFIX
        + r"\s*(?:(?:a|per|each|/)\s?(?:vol(?:ume)?|book|copy)\s*)?(?:or (?:less|cheaper|below)|max(?:imum)?\b|tops\b|at most\b)"
    ),
    # "nothing over 700 yen a volume" (inclusive)
    re.compile(
        r"(?:nothing|not|no(?:thing)?)\s+(?:over|above|more than|pricier than|dearer than)\s*[¥$]?\s*"
        + _NUM
        + r"\s*(k|千|万)?\s*(?:円|yen|jpy)?(?!\s*(?:vol|book|巻|冊|chapter|episode|\d))",
        re.IGNORECASE,
    ),
    # Not a count of volumes, books or chapters ("under 10 volumes" caps the length, not the price).
    re.compile(
        r"(?:under|below|less than|cheaper than|up to|at most|no more than|max(?:imum)?|within|budget(?: of| is)?)"
        r"\s*[¥$]?\s*" + _NUM + r"\s*(k|千|万)?\s*(?:円|yen|jpy)?(?!\s*(?:vol|book|巻|冊|chapter|episode|\d))",
        re.IGNORECASE,
    ),
)
MIN_PRICE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(_NUM + _YEN_SUFFIX + r"\s*(?:以上|より高い)(?!" + _TOO_DEAR + ")"),
    re.compile(
        r"(?<!nothing )(?<!no )(?<!not )(?:over|above|more than|at least)\s*[¥$]?\s*"
        + _NUM
        + r"\s*(k|千|万)?\s*(?:円|yen|jpy)?(?!\s*(?:vol|book|巻|冊|chapter|episode|\d))",
        re.IGNORECASE,
    ),
)
_KANJI_DIGITS = {"": 1, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_PRICE = re.compile(r"(?<![\d一二三四五六七八九十百])([一二三四五六七八九]?)千円\s*(以下|以内|まで|未満)")
_PRICE_BAND = re.compile(r"(\d{2,5}0)\s*円台\s*(?:まで|以下|以内|で|の)")
_MULTIPLIER = {None: 1, "": 1, "k": 1000, "千": 1000, "万": 10000}

LANGUAGE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # English words bound on ASCII only: 「ONE PIECEのEnglish版」 has no \b before "english".
    (
        "en",
        re.compile(
            r"英語版|英語で|英訳|英語の|えいごばん|えいごで|(?<![a-z])(?:translated|translation)(?![a-z])|(?<![a-z])eigo[- ]?ban(?![a-z])|(?<![a-z])in english(?![a-z])|イングリッシュ(?:・|\s)?(?:エディション|版|バージョン)|イングリッシュの(?:方|ほう)"
            r"|(?<![a-z])(?:english|eng) ?(?:edition|version|ver|translation|copy|copies|版|で|の(?:方|ほう))"
            r"|(?<![a-z])the english ones?(?![a-z])"
        ),
    ),
    (
        "ja",
        re.compile(
            r"日本語版|日本語で|原書|にほんごばん|にほんごで|(?<![a-z])nihongo[- ]?ban(?![a-z])|(?<![a-z])in japanese(?![a-z])|ジャパニーズ(?:・|\s)?(?:エディション|版|バージョン)|ジャパニーズの(?:方|ほう)"
            r"|(?<![a-z])japanese ?(?:edition|version|ver|original|copy|copies|版|で|の(?:方|ほう))"
            r"|(?<![a-z])original japanese(?![a-z])"
            # "the japanese one I mean", "I read raw" (the untranslated edition)
            r"|(?<![a-z])the japanese ones?(?![a-z])|(?<![a-z])(?:read|reading|reads|in) raws?(?![a-z])"
        ),
    ),
)

# A reader of primary-school age or younger.
_YOUNG_READER = re.compile(
    r"小学生|小学校|小学[1-6一二三四五六]年|低学年|幼稚園|保育園|園児|未就学|幼児|子供向け|子ども向け|こども向け|キッズ"
    r"|(?<!\d)(?:[3-9]|10)\s?(?:歳|才|さい)|\b(?:[3-9]|10)\s?(?:yo|y/o|yrs?|years?)(?: old)?\b|\b(?:three|four|five|six|seven|eight|nine|ten)[- ]year[- ]old\b"
    r"|\b(?:little|young|small) (?:kids?|children|ones|boy|girl|son|daughter)\b|\bfor (?:a |my )?kids\b|\bchildren'?s\b"
    r"|\belementary\b|\bkindergart|\btoddlers?\b|\bpreschool"
    # "keep it family friendly", 「全年齢向け」: nothing a child may not read
    r"|\b(?:family|kid|child)[- ]friendly\b|\ball[- ]ages\b|全年齢|家族(?:で|みんなで)読める"
)
IN_STOCK = re.compile(
    r"在庫(?:の|が)?(?:ある|あり|有り)|すぐ(?:に)?(?:届く|買える)|\bin stock\b|\bavailable now\b|\bin-stock\b"
)

# Keyword → contract genre. Short English words are whole-word matches. A message names a
# genre by a kind of story inside it just as often ("boxing manga", 「宇宙もの」, "vampires"),
# so those words map onto their genre too; see NARROWER_KEYWORDS for how they are negated.
GENRE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "fantasy": (
        "ファンタジー",
        "魔法",
        "魔女",
        "剣と魔法",
        r"\bfantasy\b",
        r"\bmagic(?:al)?\b",
        r"\bwizards?\b",
        r"\bwitch(?:es)?\b",
        r"\bsword and sorcery\b",
        r"\belves\b",
    ),
    "horror": (
        "ホラー",
        "怖い",
        "怖いの",
        "怖く(?=な)",
        "こわい",
        "こわく(?=な)",
        "グロく(?=な)",
        "ゾンビ",
        "グロ",
        r"\bhorror\b",
        r"\bscar(?:y|ier|iest)\b",
        r"\bcreep(?:y|ier|iest)\b",
        r"\bspooky\b",
        r"\bgruesome\b",
        r"\bgor(?:e|y)\b",
    ),
    "romance": (
        "恋愛",
        "ロマンス",
        "純愛",
        "ラブコメ",
        "ラブストーリー",
        "胸キュン",
        r"\bromance\b",
        r"\bromantic\b",
        r"\bdating\b",
        r"\brom[- ]?coms?\b",
        r"\blove stor",
        r"\blove triangle",
    ),
    "mystery": (
        "ミステリー",
        "ミステリ",
        "推理",
        "探偵",
        "謎解き",
        r"\bmyster(?:y|ies)\b",
        r"\bdetectives?\b",
        r"\bwhodunn?its?\b",
        r"\bsleuths?\b",
    ),
    "sci-fi": (
        r"\bsf\b",
        r"\bsci[- ]?fi\b",
        r"\bscience fiction\b",
        "宇宙",
        "近未来",
        "サイバーパンク",
        "タイムトラベル",
        "タイムリープ",
        r"\bcyberpunk\b",
        r"\bspace\b",
        r"\btime travel",
        r"\bdystopi",
        r"\bandroids?\b",
        r"\bcyborgs?\b",
        "終末",
        "科学",
        r"\bscience(?:-?y)?\b",
        r"\bsciency\b",
        r"\bchemistry\b",
        r"\bpost[- ]?apocalyp",
        r"\bapocalyptic\b",
    ),
    "sports": ("スポーツ", "スポ根", "部活もの", r"\bsports?\b", r"\bathlet"),
    "action": (
        "アクション",
        "バトル",
        "格闘",
        "戦い",
        "戦う",
        "戦闘",
        r"\baction\b",
        r"\bbattles?\b",
        r"\bfight(?:ing|s)?\b",
        r"\bmartial arts?\b",
        r"\bninjas?\b",
        "殺し屋",
        r"\bhitm[ae]n\b",
        r"\bassassins?\b",
    ),
    "slice-of-life": (
        "日常",
        "ほのぼの",
        "まったり",
        r"ゆる[ー〜~]*い(?!ホラー)|ゆるめ|ゆるっと",
        "癒し",
        "癒やし",
        "癒され",
        "癒やされ",
        r"\bslice[- ]of[- ]life\b",
        r"\bcozy\b",
        r"\biyashikei\b",
        r"\bwholesome\b",
        r"\brelaxing\b",
        r"\bcomfy\b",
    ),
    "historical": (
        "歴史",
        "時代物",
        "時代もの",
        "時代劇",
        "戦国",
        "宮廷",
        "後宮",
        "幕末",
        "江戸時代",
        # (an era of Japan's past as the setting: 「明治時代が舞台」「大正ロマン」「平安もの」)
        "明治",
        "大正",
        "平安",
        "鎌倉時代",
        "室町時代",
        "三国志",
        r"\bhistorical\b",
        r"\bhistory\b",
        r"\bsamurai\b",
        r"\bfeudal\b",
        r"\bsengoku\b",
        "侍",
        "武士",
        r"\bvikings?\b",
        r"\bworld war",
    ),
    "isekai": ("異世界", "転生", "なろう系", "なろう", r"\bisekai\b", r"\breincarnat", r"\banother world\b"),
    "cooking": (
        "グルメ",
        "料理",
        "ごはん",
        "ご飯",
        "パン屋",
        "パン作り",
        "ケーキ",
        "スイーツ",
        "お菓子",
        r"\bcooking\b",
        r"\bfood(?:ie)?\b",
        "飯テロ",
        "グルメ漫画",
        r"\bgourmet\b",
        r"\bchefs?\b",
        r"\bcuisine\b",
        r"\bcook\b",
        r"\bbak(?:ing|ery|er)\b",
        r"\bbread\b",
        r"\bcakes?\b",
        r"\bpastr(?:y|ies)\b",
        r"\bsweets\b",
    ),
    "music": (
        "音楽",
        "バンド",
        "ピアノ",
        "アイドル",
        "ギター",
        r"\bmusic(?:al|ians?)?\b",
        r"\bband manga\b",
        r"\b(?:a|the|my|starting a|form(?:ing)? a|join(?:ing)? a) band\b",
        r"\brock bands?\b",
        r"\bpiano\b",
        r"\bidols?\b",
        r"\bguitar",
    ),
    "mecha": ("ロボット", "メカ", r"\bmecha\b", r"\brobots?\b", r"\bgiant robots?\b"),
    "thriller": (
        "サスペンス",
        "スリラー",
        "デスゲーム",
        r"\bthrillers?\b",
        r"\bsuspense(?:ful)?\b",
        r"\bdeath games?\b",
    ),
    "comedy": (
        "ギャグ",
        "コメディ",
        "笑える",
        "笑えて",
        "笑えた",
        "お笑い",
        r"\bcomed(?:y|ies)\b",
        r"\bcomedic\b",
        r"\bfunn(?:y|ier|iest)\b",
        r"\bhilarious\b",
        r"\bgag\b",
    ),
    "drama": (
        "ヒューマンドラマ",
        "泣ける",
        "感動",
        r"\bdramas?\b",
        r"\btear-?jerkers?\b",
        r"\bemotional(?:ly)?\b",
        r"\bmake me cry\b",
        r"\bmakes? you cry\b",
        r"\bwreck me\b",
        r"\bsad(?:der|dest)?\b",
        "悲しい",
        "切ない",
    ),
    "adventure": ("冒険", r"\badventures?\b", r"\bpirates?\b", r"\bquests?\b"),
    "supernatural": (
        "妖怪",
        "怪異",
        "超常",
        "幽霊",
        "お化け",
        "吸血鬼",
        "悪魔",
        "オカルト",
        r"\bsupernatural\b",
        r"\byokai\b",
        r"\boccult\b",
        r"\bghosts?\b",
        r"\bvampires?\b",
        r"\bdemons?\b",
        r"\bspirits\b",
        "ゴシック",
        r"\bgothic\b",
    ),
    "psychological": (
        "心理",
        "サイコ",
        "鬱展開",
        "鬱になれる",
        "鬱漫画",
        "頭脳戦",
        "心理戦",
        r"\bpsychological\b",
        r"\bmind games?\b",
        r"\bbattle of wits\b",
        "ギャンブル",
        "賭け事",
        r"\bgambl(?:ing|ers?)\b",
    ),
    "school": (
        "学園",
        "学校もの",
        "学生もの",
        "学校が舞台",
        r"\bschool (?:life|manga|stuff|ones?|settings?|stor(?:y|ies)|romance|comed(?:y|ies))\b",
        r"\bset (?:in|at) (?:a |high |the )?schools?\b",
        r"\bhigh ?school(?:ers?)?\b",
        r"\bhigh ?school (?:manga|stor(?:y|ies)|ones?|settings?)\b",
    ),
}
# Words for one kind of story inside a genre. Named, they ask for the genre ("boxing manga"
# is a sports manga); negated, they rule out that kind and not the genre ("sports, but no
# basketball"), so a negated narrower word excludes no genre.
NARROWER_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sports": (
        "サッカー",
        "野球",
        "バスケ",
        "バレー",
        "ボクシング",
        "テニス",
        "卓球",
        "ゴルフ",
        "水泳",
        "陸上",
        "ラグビー",
        "アメフト",
        "スケート",
        "フィギュアスケート",
        "自転車競技",
        "競馬",
        "相撲",
        "柔道",
        "剣道",
        "かるた",
        r"\bsoccer\b",
        r"\bbaseball\b",
        r"\bbasketball\b",
        r"\bvolleyball\b",
        r"\bboxing\b",
        r"\btennis\b",
        r"\bgolf\b",
        r"\bswimming\b",
        r"\brugby\b",
        r"\bfootball\b",
        r"\b(?:figure )?skating\b",
        r"\bcycling\b",
        r"\bbadminton\b",
        r"\bsumo\b",
        r"\bjudo\b",
        r"\bkendo\b",
        r"\btable tennis\b",
    ),
    "cooking": ("料理バトル", "料理対決", r"\bcooking[- ](?:battles?|competitions?)\b"),
    "action": (r"\bbattle royale\b",),
    "romance": (r"\b(?:reverse )?harem(?:-y)?\b", "ハーレム", "逆ハー"),
    # ("space manga, realistic, no aliens": space without the aliens; "no zombies" in horror)
    "sci-fi": (r"\baliens?\b", "宇宙人", "エイリアン"),
    "horror": (r"\bzombies?\b",),
    # ("historical, not samurai duels": history without the swords)
    "historical": (r"\bsamurai\b", "侍", "武士", r"\bvikings?\b"),
    # ("a band, not classical piano stuff": music without the piano; 「アイドルもの以外で」)
    "music": (r"\bclassical\b", r"\bpiano\b", "ピアノ", "クラシック", r"\bidols?\b", "アイドル"),
}
assert set(GENRE_KEYWORDS) | set(NARROWER_KEYWORDS) <= GENRES, "genre keywords must map onto the contract vocabulary"


def _ascii_bounds(word: str) -> str:
    """``\\b`` treats kana as word characters (no boundary in 「SFと」): bound on ASCII only."""
    if word.startswith(r"\b"):
        word = "(?<![a-z0-9])" + word[2:]
    if word.endswith(r"\b"):
        word = word[:-2] + "(?![a-z0-9])"
    return word


def _alternation(words: tuple[str, ...]) -> str:
    """Longest first, so "cooking battle" is read as one phrase before "cooking" alone."""
    return "|".join(map(_ascii_bounds, sorted(words, key=len, reverse=True)))


# Narrower words go first in their genre's pattern: the negation test needs the whole phrase
# the customer typed.
_GENRE_RES = {
    genre: re.compile(_alternation(NARROWER_KEYWORDS.get(genre, ()) + GENRE_KEYWORDS.get(genre, ())))
    for genre in dict.fromkeys([*GENRE_KEYWORDS, *NARROWER_KEYWORDS])
}
_NARROWER = re.compile(_alternation(tuple(w for words in NARROWER_KEYWORDS.values() for w in words)))
# Aspects of a genre: ruled out on their own they rule the genre out ("nothing gory for my
# kid"), but not when the genre itself is asked for ("horror, nothing gory").
ASPECT_KEYWORDS: dict[str, tuple[str, ...]] = {"horror": ("グロ", r"\bgor(?:e|y)\b", r"\bgruesome\b")}
_ASPECTS = {genre: re.compile(_alternation(words)) for genre, words in ASPECT_KEYWORDS.items()}


def aspect_of(word: str) -> str | None:
    """The genre ``word`` is an aspect of, or None."""
    return next((genre for genre, pattern in _ASPECTS.items() if pattern.fullmatch(word)), None)


_NEGATED_AFTER = re.compile(
    r"^\s*(?:っぽいの|っぽいもの|っぽ(?=くな|すぎ|過ぎ)|系の?|もの|物|とか|要素|描写|シーン|メイン|中心|い(?:の|もの|やつ)|の(?:もの|やつ)?"
    # 「SFっぽい設定のものは苦手」「恋愛系の話はまだ早い」: what about it
    r"|(?:っぽい|系の?|の)?(?:設定|展開|雰囲気|感じ|話|作品|漫画|マンガ|ストーリー)(?:の(?:もの|やつ)?)?"
    r"|(?:すぎる|過ぎる)(?:の|もの|やつ)?"
    # 「恋愛要素強いのはなしで」「バトルが多いのはちょっと…」: much of it, ruled out
    r"|(?:要素|描写|シーン)?[がの]?(?:強い|強め|多い|多め|濃い|濃いめ|激しい|メインの)(?:の|もの|やつ)?)?\s*"
    r"(?:以外|じゃない|じゃなく|ではない|ではなく|[はがも]?なくて(?:いい|良い|も|大丈夫)|[はがの]?(?:少なめ|控えめ|少ない|薄め|弱め)|すぎない|過ぎない|すぎず|過ぎず"
    # (「ホラーとか絶対ムリ」: after とか the particle may go)
    r"|(?:[はがも]\s?|(?<=とか)|(?<=とか\s))(?:絶対|ぜったい|マジで|まじで|ほんとに|本当に)?\s?"
    r"(?:嫌|いや|イヤ|やだ|ヤダ|苦手|なし|無し|ナシ|抜き|ダメ|だめ|NG|ng|ちょっと|無理|ムリ|勘弁|パス|いらない|要らない|遠慮|やめ|止め"
    # (kansai: 「グロいのはいらんで」「ホラーはあかん」)
    r"|いらん|要らん|いらへん|あかん|no(?![a-z])|nope"
    r"|避け|除い|まだ早|もう(?:いい|十分|卒業|飽き)|卒業|飽き)"
    r"|抜き|なし|無し|ナシ|苦手|は避け|を避け|は除い|を除い|くない"
    # 「バトル要素ないのがいい」 (not 「恋愛がないと」, a must, nor 「ホラーない？」, asked for)
    # (「料理の漫画ないん？」「ないの？」: asked for, kansai or not)
    r"|[がはの]?(?:ない|無い)(?!\s?[?？]|と|か|です|でしょ|よね|ん\s?[?？]|の\s?[?？]|ん(?:か|やろ|やけど)|かな))"
)
# "not too gory", 「ホラー要素少なめ」: less of it, not none.
_LISTED_WITH = re.compile(r"\s*(?:とか|や|と|、|,|/|or|and|nor)\s*")
# Darkness ruled out: "less dark", "nothing too dark", "something lighter", 「暗くないやつ」.
_LESS_DARK = re.compile(
    r"\b(?:less|not (?:so|too|as|that|very)|nothing (?:too|that|so)|no(?:t)?|without the)\s+(?:\w+\s+)?dark(?:er)?\b"
    r"|\b(?:something|anything|bit|little|much) lighter\b|\blighter (?:tone|one|stuff|read|vibe)"
    r"|暗くな|暗すぎな|暗過ぎな|暗いのは(?:ちょっと|苦手|嫌|いや|無理|パス)|重くな(?:い|くて)|ダークじゃな|ダークすぎな|ダーク過ぎな"
    r"|あんまり暗|明るい(?:やつ|の|もの|感じ|話|作品)"
)
_SOFT_NEGATION = re.compile(
    r"too|less|light|much|super|very|overly|really|that|extremely|少な|控え|すぎ|過ぎ|薄|弱|あまり|そんなに|それほど"
)
_CUE_WINDOW = 64
_MAX_MENTIONS = 8  # a genre named more often is judged on its first mentions
_NEGATED_BEFORE = re.compile(
    r"(?:\bnot|\bno|\bzero|\bnothing|\bwithout|\bexcept|\bbut not|n't|\b(?:isnt|arent|dont|doesnt)|\bhate|\bdislike|\bavoid(?:ing)?"
    r"|\banything but|\bskip|\btired of|\bsick of|\bscared of|\bafraid of|\bno more|\bless|\blight on|\bnot much)\s+(?:\w+\s+){0,2}$"
)

_TITLE_CHARS = r"[\w\u3040-\u30ff\u3400-\u9fff・!?'’:&\-]"
TITLE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"[「『\"“]([^」』\"”]{1,60})[」』\"”]"),
    re.compile(r"(" + _TITLE_CHARS + r"(?:" + _TITLE_CHARS + r"| (?=\S)){0,40}?)\s*の\s*(?:第)?\s*\d{1,3}\s*巻"),
    re.compile(r"(" + _TITLE_CHARS + r"{2,40}?)(?:みたいな|のような|っぽい|に似た)"),
    # Case-blind, so every word is a [A-Z]… word (particles need no alternatives of their own,
    # which made "no no no …" exponential); at most 24 words of at most 41 characters.
    re.compile(
        r"\b([A-Z][\w'’:!&\-]{0,40}+(?:\s++[A-Z0-9][\w'’:!&\-]{0,40}+){0,23})\s+(?:vol(?:ume)?\.?)\s*\d", re.IGNORECASE
    ),
    re.compile(
        r"\b(?i:like|similar to|such as|fans? of|do you (?:have|sell|carry)|is)\s+"
        r"([A-Z0-9][\w'’:!&\-]{0,40}+(?:\s++(?:[A-Z0-9][\w'’:!&\-]{0,40}+|no|of|the|to|wa|ga|na)){0,23})"
    ),
)
# Two title patterns end at a fixed marker (「…の3巻」, 「…みたいな」): they are searched only
# within reach of a marker, since a lazy title tried from every position of a long text costs
# up to 41 steps a character. Reach: the longest title, plus whitespace runs (at most MAX_RUN).
_TITLE_MARKERS: dict[int, tuple[re.Pattern[str], int]] = {
    1: (re.compile(r"の\s*+(?:第)?\s*+\d{1,3}\s*+巻"), 41 + MAX_RUN),
    2: (re.compile(r"みたいな|のような|っぽい|に似た"), 40),
}
# Words a title pattern can catch that are not titles.
_NOT_TITLES = frozenset(
    {
        "i",
        "it",
        "you",
        "there",
        "this",
        "that",
        "something",
        "anything",
        "one",
        "a",
        "the",
        "manga",
        "series",
        "english",
        "japanese",
        "何か",
        "なにか",
        "これ",
        "それ",
    }
)


@dataclass
class Entities:
    order_ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    volumes: list[int] = field(default_factory=list)
    max_price_jpy: int | None = None
    min_price_jpy: int | None = None
    language: str | None = None  # the edition asked for, not the language of the message
    genres: list[str] = field(default_factory=list)
    excluded_genres: list[str] = field(default_factory=list)
    in_stock: bool | None = None  # True when the customer asks for items in stock
    excluded_kinds: list[str] = field(default_factory=list)  # negated narrower kinds ("no basketball")
    young_reader: bool = False  # for a child of primary-school age or younger ("for my 7 year old")


def _amount(number: str, multiplier: str | None) -> int | None:
    value = int(number.replace(",", ""))
    amount = value * _MULTIPLIER.get(multiplier.lower() if multiplier else None, 1)
    return amount if 0 < amount <= 10_000_000 else None


# "Under 600 yen" / 「600円未満」 exclude 600 itself; "up to" / 「以下」 include it.
_STRICT_BOUND = re.compile(r"under|below|less than|cheaper than|未満|より安い|over|above|more than|より高い")


MIN_BARE_PRICE = 100  # a smaller number without a currency is no price
_CURRENCY = re.compile(r"円|yen|jpy|[¥$]|千|万|\dk\b", re.IGNORECASE)


def _first_amount(patterns: tuple[re.Pattern[str], ...], text: str, step: int) -> int | None:
    """The first amount the patterns find; a strict bound moves by ``step`` (-1 for a
    maximum, +1 for a minimum) so the result is always inclusive."""
    for pattern in patterns:
        for match in pattern.finditer(text):
            amount = _amount(match.group(1), match.group(2))
            if amount is not None and amount < MIN_BARE_PRICE and not _CURRENCY.search(match.group(0)):
                continue  # "up to 8 is fine": a count, not 8 yen
            if amount is not None:
                strict = _STRICT_BOUND.search(match.group(0)) and not re.match(r"(?:nothing|not|no)\b", match.group(0))
                return amount + step if strict else amount
    return None


def _dedupe(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _title_matches(index: int, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, for a marker pattern run only in windows that reach a marker."""
    if index not in _TITLE_MARKERS:
        yield from pattern.finditer(text)
        return
    marker, reach = _TITLE_MARKERS[index]
    lo = hi = -1
    for found in marker.finditer(text):
        if found.start() - reach > hi:  # a window of its own
            if hi >= 0:
                yield from pattern.finditer(text, lo, hi)
            lo = max(0, found.start() - reach)
        hi = found.end()
    if hi >= 0:
        yield from pattern.finditer(text, lo, hi)


def _genres(lower: str) -> tuple[list[str], list[str], list[str]]:
    """(genres asked for, genres ruled out, narrower kinds ruled out) in folded, lower-cased text.
    A genre both asked for and ruled out by another word ("horror, spooky but not too gory") is
    asked for: what is ruled out is an aspect of it."""
    genres: list[str] = []
    excluded: list[str] = []
    kinds: list[str] = []
    asked_by: dict[str, set[str]] = {}
    hard: set[str] = set()  # ruled out outright, not only "not too" much of it
    positive_at: dict[str, tuple[int, int]] = {}
    negated_at: dict[str, tuple[int, int]] = {}
    ruled_by: dict[str, set[str]] = {}
    # A genre word inside a longer narrower phrase ("battle" in "cooking battle") is that phrase.
    narrower = [m.span() for m in islice(_NARROWER.finditer(lower), _MAX_MENTIONS * 4)]
    for genre, pattern in _GENRE_RES.items():
        for match in islice(pattern.finditer(lower), _MAX_MENTIONS):
            if any(
                a <= match.start() and match.end() <= b and b - a > match.end() - match.start() for a, b in narrower
            ):
                continue
            # Each cue is near the genre word: look at a bounded window, not the whole text.
            negated = _NEGATED_AFTER.search(lower[match.end() : match.end() + _CUE_WINDOW]) or _NEGATED_BEFORE.search(
                lower, max(0, match.start() - _CUE_WINDOW), match.start()
            )
            if negated and _NARROWER.fullmatch(match.group()):
                kinds.append(match.group().removesuffix("-y"))  # "harem-y": the harem kind
                # (「バトルとか料理対決ものじゃなくて」: what is listed before it goes with it)
                negated_at.setdefault(f"kind:{match.group()}", match.span())
                continue
            if negated and aspect_of(match.group()) == genre:
                # 「グロいのは無理」: the aspect is ruled out as a kind too, so a request for the
                # genre in force keeps the genre (see ``aspect_of``).
                kinds.append(match.group())
            (excluded if negated else genres).append(genre)
            (negated_at if negated else positive_at).setdefault(genre, match.span())
            if negated and not _SOFT_NEGATION.search(negated.group()):
                hard.add(genre)
            (ruled_by if negated else asked_by).setdefault(genre, set()).add(match.group())
    # 「戦いとか怖いのはなしで」, "no romance or horror": a genre listed just before a ruled-out one
    # is ruled out with it.
    for genre, (_, end) in positive_at.items():
        if any(at > end and _LISTED_WITH.fullmatch(lower[end:at]) for at, _ in negated_at.values()):
            excluded.append(genre)
            hard.add(genre)
            genres = [g for g in genres if g != genre]
    excluded = [g for g in _dedupe(excluded) if g in hard or g not in asked_by or ruled_by[g] <= asked_by[g]]
    if "horror" not in excluded and "horror" not in genres and _LESS_DARK.search(lower):
        # "less dark pls", 「あんまり暗くないの」: not the horror end of the catalog.
        excluded.append("horror")
    return [g for g in _dedupe(genres) if g not in excluded], excluded, _dedupe(kinds)


def genres_in(text: str) -> tuple[list[str], list[str], list[str]]:
    """The genres ``text`` asks for and rules out, and the narrower kinds it rules out (as
    ``extract`` reads them)."""
    return _genres(bounded_fold(text).lower())


def extract(text: str) -> Entities:
    """Every entity found in ``text`` (lists keep first-seen order, without repeats)."""
    folded = bounded_fold(text)
    lower = folded.lower()
    out = Entities()

    order_spans: list[tuple[int, int]] = []
    for pattern in ORDER_PATTERNS:
        for match in pattern.finditer(folded):
            order_spans.append(match.span(1))
            out.order_ids.append(match.group(1).upper() if match.group(1)[:2].lower() == "ma" else match.group(1))
    out.order_ids = _dedupe(out.order_ids)

    def inside_order_id(pos: int) -> bool:
        return any(a <= pos < b for a, b in order_spans)

    volumes: list[int] = []
    counted = kanji_counts(folded)  # 「一巻」 is volume 1
    if counted != folded:  # (order ids hold no kanji, but their places move)
        order_spans = [m.span(1) for pattern in ORDER_PATTERNS for m in pattern.finditer(counted)]
    for pattern in VOLUME_PATTERNS:
        for match in pattern.finditer(counted):
            if not inside_order_id(match.start(1)):
                volumes.append(int(match.group(1)))
    if _FIRST_VOLUME.search(lower):
        volumes.append(1)
    out.volumes = sorted(set(volumes))

    out.max_price_jpy = _first_amount(MAX_PRICE_PATTERNS, lower, -1)
    kanji = _KANJI_PRICE.search(lower)
    if out.max_price_jpy is None and kanji is not None:
        # 「千円以下」「二千円まで」: thousands written in kanji.
        out.max_price_jpy = _KANJI_DIGITS.get(kanji.group(1), 1) * 1000 - (1 if kanji.group(2) == "未満" else 0)
    band = _PRICE_BAND.search(lower)
    if band is not None:
        # 「500円台まで」: up to the top of the 500s.
        digits = band.group(1)
        out.max_price_jpy = int(digits) + 10 ** (len(digits) - len(digits.rstrip("0"))) - 1
    out.min_price_jpy = _first_amount(MIN_PRICE_PATTERNS, lower, +1)
    if out.min_price_jpy is not None and out.max_price_jpy is not None and out.min_price_jpy > out.max_price_jpy:
        out.min_price_jpy = None

    # Both editions named (「英語版は17巻までなんですね、日本語版の25巻ください」): the one named
    # last is the one asked for.
    last = -1
    for language, pattern in LANGUAGE_PATTERNS:
        starts = [m.start() for m in islice(pattern.finditer(lower), _MAX_MENTIONS)]
        if starts and starts[-1] > last:
            out.language, last = language, starts[-1]

    if IN_STOCK.search(lower):
        out.in_stock = True

    out.genres, out.excluded_genres, out.excluded_kinds = _genres(lower)
    out.young_reader = bool(_YOUNG_READER.search(lower))

    titles: list[str] = []
    for index, pattern in enumerate(TITLE_PATTERNS):
        for match in _title_matches(index, pattern, folded):
            title = match.group(1).strip(" ・:-'’")
            if len(title) >= 2 and title.lower() not in _NOT_TITLES and not inside_order_id(match.start(1)):
                titles.append(title)
    out.titles = _dedupe(titles)[:5]
    return out
