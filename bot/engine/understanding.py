"""Understanding what buyers type: which flow a free-text message asks for, and which button a typed
answer means.

Built once per content snapshot from the flows' `triggers.examples` (and keywords), so a reload
retrains it. Pure Python and small on purpose (measured in bench/nlu.py): ~350 examples train in
tens of milliseconds, a message is routed in well under 300 µs.

The pipeline:
- `normalize`: NFKC width folding, case, ё→е, emoji and punctuation dropped, letters repeated
  three times or more collapsed ("заказзз"), Russian typed in Latin letters transliterated
  ("gde moy zakaz" → "где мой заказ"), order numbers replaced by one token.
- `features`: Russian word stems (Snowball) and stem pairs, character 3-grams inside each word
  (typos change a few n-grams, not the whole word), Chinese character unigrams and bigrams (no
  segmenter needed: the flows' words are two or three characters).
- TF-IDF weights, L2-normalised vectors; a flow's score blends its nearest example (cosine) with
  its centroid; a keyword of the flow found in the text adds a fixed bonus (keywords stay strong
  signals). The system flow `not_understood` carries off-topic examples: when it wins, or the
  best score is under the threshold, nothing is started and the closest flows are suggested.
- A greeting before a question never wins over the question: greetings and polite words are
  stripped first, and the greeting flow wins only when nothing else is left.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import snowballstemmer  # type: ignore[import-untyped]
from rapidfuzz.fuzz import ratio

from bot.engine.keywords import YIELDING_FLOWS, KeywordIndex

NONE = "not_understood"  # the system flow whose examples are off-topic messages
GREETING_FLOW = "main_menu"
# Blend of nearest example and centroid; keyword bonus; confidence under which nothing is started.
KNN_WEIGHT = 0.5
KEYWORD_BONUS = 0.1
THRESHOLD = 0.2
SUGGEST_MIN = 0.2
SPECIFIC = frozenset({"k:cancel", "k:return", "k:refuse", "k:agent"})  # requests to do something
YIELD_MARGIN = 0.15  # how much less likely a specific request may be and still beat the status question
ROUTE_CACHE = 4096  # routed messages remembered per model
POSTINGS_MAX = 1000  # (measured: pruning long lists changed nothing cross-validated)
KNN_FEATURES = 40  # the nearest example is looked up with a message's strongest features only
UNSUPPORTED = 0.4  # without a concept or keyword, only a close example routes

_STEMMER = snowballstemmer.stemmer("russian")
_STEMS: dict[str, str] = {}
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_WORD = re.compile(r"[a-zа-я]+")
_ORDER_NUMBER = re.compile(r"\d{6,}(?:[\s-]*\d{1,5}){0,2}")
_DIGITS = re.compile(r"\d+")
_REPEATS = re.compile(r"(\D)\1{2,}")
_NOT_TEXT = re.compile(f"[^0-9a-zа-я{_HAN}#]+")
_LATIN_WORD = re.compile(r"[a-z']+")

# Latin letters to Cyrillic, longest first (as buyers type Russian without a Russian keyboard).
_TRANSLIT = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("sh", "ш"),
    ("ch", "ч"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("tz", "ц"),
    ("ya", "я"),
    ("ja", "я"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("yo", "е"),
    ("jo", "е"),
    ("ye", "е"),
    ("je", "е"),
    ("a", "а"),
    ("b", "б"),
    ("v", "в"),
    ("g", "г"),
    ("d", "д"),
    ("e", "е"),
    ("z", "з"),
    ("i", "и"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("f", "ф"),
    ("h", "х"),
    ("c", "ц"),
    ("w", "в"),
    ("x", "кс"),
    ("q", "к"),
    ("j", "й"),
    ("'", "ь"),
]
_VOWELS = set("aeiouy")

# Greetings and polite words: stripped before routing, so they never win over the question.
GREETINGS = {
    "ru": [
        "здравствуйте",
        "здраствуйте",
        "здравствуй",
        "здрасте",
        "привет",
        "приветик",
        "добрый день",
        "добрый вечер",
        "доброе утро",
        "доброй ночи",
        "доброго дня",
        "хай",
        "хелло",
        "хеллоу",
        "хи",
        "алло",
        "ау",
        "салют",
    ],
    "zh": [
        "你好",
        "您好",
        "你好呀",
        "在吗",
        "在不在",
        "哈喽",
        "哈罗",
        "嗨",
        "早上好",
        "晚上好",
        "下午好",
        "亲",
        "您好呀",
        "喂",
    ],
}
POLITE = {
    "ru": ["пожалуйста", "пжл", "пжлст", "плиз", "подскажите", "скажите", "спасибо", "извините", "будьте добры"],
    "zh": ["请问", "请", "谢谢", "麻烦", "一下", "您"],
}


# Concepts: word roots (Russian: a word starting with one; Chinese: anywhere) that mean the same
# thing to routing. Each adds one shared feature, so "аннулировать" and "撤单" land near "отменить"
# although no example has them. Few on purpose: a root belongs here only when it is unambiguous.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "order": (
        "заказ",
        "посылк",
        "товар",
        "доставк",
        "курьер",
        "пункт выдачи",
        "пвз",
        "продав",
        "订单",
        "包裹",
        "快递",
        "商品",
        "卖家",
        "下单",
        "驿站",
        "自提点",
        "货",
    ),
    "cancel": ("отмен", "аннул", "取消", "撤销", "撤单", "撤回", "不要了", "不想要", "不想买", "后悔", "передумал"),
    "cancelled": (
        "отменил",
        "отменен",
        "отменился",
        "аннулирован",
        "стал отмен",
        "取消了",
        "被取消",
        "已取消",
        "显示取消",
        "自动取消",
        "自己取消",
    ),
    "why": (
        "почему",
        "зачем",
        "причин",
        "с чего",
        "с какой стати",
        "для чего",
        "из за",
        "为什么",
        "为何",
        "为啥",
        "原因",
        "怎么回事",
        "怎么就",
        "什么意思",
        "谁",
    ),
    "pay": ("оплат", "плат", "списа", "сняли", "снял", "деньг", "карт", "付", "支付", "扣", "钱", "银行"),
    "return": (
        "возврат",
        "вернут",
        "верни",
        "брак",
        "слома",
        "повреж",
        "разбит",
        "дефект",
        "сдать",
        "не подош",
        "не тот",
        "другой товар",
        "обратно",
        "царапин",
        "вмятин",
        "трещин",
        "треснут",
        "описани",
        "не работает",
        "退",
        "坏",
        "破",
        "质量",
        "不对",
        "不一样",
        "碎",
        "划痕",
        "裂",
        "售后",
        "发错",
        "用不了",
        "不能用",
    ),
    "agent": (
        "оператор",
        "человек",
        "менеджер",
        "специалист",
        "сотрудник",
        "поддержк",
        "жалоб",
        "пожаловат",
        "人工",
        "客服",
        "真人",
        "投诉",
        "经理",
        "工作人员",
        "机器人",
    ),
    "late": (
        "задерж",
        "опазд",
        "опозд",
        "просроч",
        "долго",
        "срок",
        "истек",
        "должны были",
        "должен был",
        "обещали",
        "сколько можно",
        "超时",
        "延迟",
        "延误",
        "逾期",
        "太慢",
        "晚了",
        "晚到",
        "晚几天",
        "晚一",
        "晚好",
        "迟迟",
        "过了",
        "超过",
        "期限",
        "太久",
        "等了",
        "说好",
        "承诺",
        "预计",
        "超期",
        "拖",
    ),
    "where": (
        "где",
        "статус",
        "когда",
        "трек",
        "отслед",
        "отправ",
        "что с заказ",
        "что с моим",
        "едет",
        "сборк",
        "висит",
        "поторопи",
        "ускор",
        "到哪",
        "在哪",
        "物流",
        "发货",
        "状态",
        "进度",
        "什么时候",
        "啥时候",
        "动静",
        "催",
        "刷新",
        "发出",
        "位置",
        "追踪",
        "等待包装",
        "备货",
        "查",
    ),
    "refuse": (
        "отказ",
        "откаж",
        "не забер",
        "не забира",
        "не буду забира",
        "не пойду забира",
        "не забрать",
        "не хочу забира",
        "не хочу брать",
        "не хочу получ",
        "не буду получ",
        "拒收",
        "拒签",
        "不取",
        "不签收",
        "不想收",
        "不收",
        "不去拿",
        "不想去拿",
        "不去取",
        "不想签收",
    ),
    "number": ("номер", "订单号", "单号"),
    "missing": (
        "нет номер",
        "не знаю",
        "не помню",
        "потерял",
        "не могу найти",
        "не видно",
        "не появ",
        "не созда",
        "не оформ",
        "нет в приложении",
        "в списке нет",
        "заказа нет",
        "没有订单号",
        "不知道",
        "不记得",
        "找不到",
        "忘了",
        "看不到",
        "没生成",
        "没有生成",
        "不见了",
        "没有订单",
        "里没有",
        "却没有",
    ),
    "lang": ("язык", "по китайски", "китайск", "по русски", "русск", "中文", "俄语", "语言", "汉语"),
    "menu": (
        "меню",
        "помощ",
        "помоги",
        "умеешь",
        "можешь",
        "начат",
        "начал",
        "есть кто",
        "菜单",
        "帮助",
        "帮帮",
        "功能",
        "能做什么",
        "开始",
        "有人",
    ),
}


def translit(word: str) -> str:
    """Latin-letter Russian to Cyrillic, roughly ("zakaz" → "заказ", "moy" → "мой")."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        ch = word[i]
        if ch == "y" and i > 0 and word[i - 1] in _VOWELS and not word.startswith(("ya", "yu", "yo", "ye"), i):
            out.append("й")
            i += 1
            continue
        if ch == "y" and not word.startswith(("ya", "yu", "yo", "ye"), i):
            out.append("ы")
            i += 1
            continue
        if ch == "e" and i == 0:
            out.append("э")
            i += 1
            continue
        for lat, cyr in _TRANSLIT:
            if word.startswith(lat, i):
                out.append(cyr)
                i += len(lat)
                break
        else:
            i += 1
    return "".join(out)


def normalize(text: str) -> str:
    """The form every comparison works on (see the module's docstring)."""
    t = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    t = _ORDER_NUMBER.sub(" # ", t)
    t = _DIGITS.sub(" ", t)
    t = _NOT_TEXT.sub(" ", t)
    t = _REPEATS.sub(r"\1", t)
    if any("a" <= ch <= "z" for ch in t):
        t = _LATIN_WORD.sub(lambda m: translit(m.group()), t)
    return " ".join(t.split())


def _concept_roots() -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for concept, roots in CONCEPTS.items():
        forms = []
        for root in roots:
            norm = " ".join(unicodedata.normalize("NFKC", root).casefold().replace("ё", "е").replace("-", " ").split())
            forms.append(norm if _HAN_RUN.match(norm) else " " + norm)  # Russian: at a word's start
        out.append((concept, tuple(forms)))
    return out


_CONCEPT_ROOTS = _concept_roots()
# one regular expression per concept: a single C-level scan instead of a substring test per root
# Buyers spell as they speak: unstressed о written а ("атменить", "пасылка"), е written и, ы written и.
# Concepts also match on a text and roots with those vowels folded together.
_VOWEL_FOLD = str.maketrans({"о": "а", "е": "и", "ы": "и"})
_CONCEPT_PATTERNS = [
    (
        c,
        re.compile(
            "|".join(
                re.escape(r)
                for r in sorted({*roots, *(r.translate(_VOWEL_FOLD) for r in roots)}, key=len, reverse=True)
            )
        ),
    )
    for c, roots in _CONCEPT_ROOTS
]
CONCEPT_WEIGHT = 2.0


def stem(word: str) -> str:
    s = _STEMS.get(word)
    if s is None:
        s = _STEMMER.stemWord(word) if len(word) > 3 else word
        if len(_STEMS) < 100_000:
            _STEMS[word] = s
    return s


def features(norm: str) -> dict[str, float]:
    """Counts of the features of a normalised text."""
    out: dict[str, float] = {}

    def add(f: str, w: float = 1.0) -> None:
        out[f] = out.get(f, 0.0) + w

    for run in _HAN_RUN.findall(norm):
        for i, ch in enumerate(run):
            add(ch)
            if i:
                add(run[i - 1 : i + 1])
    prev = ""
    for word in _WORD.findall(norm):
        s = stem(word)
        add("w:" + s)
        if prev:
            add("b:" + prev + "_" + s, 0.5)
        prev = s
        padded = f" {word} "
        for i in range(len(padded) - 2):
            add("c:" + padded[i : i + 3], 0.5)
    if "#" in norm:
        add("n:#")
    padded_norm = f" {norm}"
    folded = padded_norm.translate(_VOWEL_FOLD)
    for concept, pattern in _CONCEPT_PATTERNS:
        if pattern.search(padded_norm) or pattern.search(folded):
            add("k:" + concept, CONCEPT_WEIGHT)
    return out


class _Vectorizer:
    def __init__(self, docs: Sequence[dict[str, float]]) -> None:
        n = len(docs)
        df: dict[str, int] = {}
        for d in docs:
            for f in d:
                df[f] = df.get(f, 0) + 1
        self.idf = {f: math.log((n + 1) / (c + 1)) + 1.0 for f, c in df.items()}

    def vector(self, counts: Mapping[str, float]) -> dict[str, float]:
        idf = self.idf
        v = {f: (1.0 + math.log(c) if c > 1 else c) * idf[f] for f, c in counts.items() if f in idf}
        norm = math.sqrt(sum(x * x for x in v.values()))
        return {f: x / norm for f, x in v.items()} if norm else {}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a message goes: `flow` None means not understood (then `suggestions` are the closest flows)."""

    flow: str | None
    confidence: float
    scores: tuple[tuple[str, float], ...]  # every flow's score, best first
    keyword: str | None = None  # the flow of a keyword found in the text
    greeting: bool = False
    text: str = ""  # the normalised text the scores are about
    suggestions: tuple[str, ...] = field(default=())

    @property
    def understood(self) -> bool:
        return self.flow is not None


class Understanding:
    """The intent model of one flow set: examples per flow and language, plus its keyword index."""

    def __init__(
        self,
        examples: Mapping[str, Mapping[str, Sequence[str]]],
        keywords: KeywordIndex | None = None,
        *,
        suggestable: Iterable[str] = (),
        threshold: float = THRESHOLD,
    ) -> None:
        self.keywords = keywords
        self.threshold = threshold
        self._cache: dict[str, Route] = {}
        labels: list[str] = []
        counts: list[dict[str, float]] = []
        self.texts: list[str] = []
        for flow_id, by_lang in examples.items():
            for texts in by_lang.values():
                for text in texts:
                    c = features(normalize(str(text)))
                    if c:
                        labels.append(flow_id)
                        counts.append(c)
                        self.texts.append(str(text))
        self.flows = sorted(set(labels))
        self._ranges: list[tuple[str, int, int]] = []  # flow, first example, past its last
        for i, label in enumerate(labels):
            if self._ranges and self._ranges[-1][0] == label:
                self._ranges[-1] = (label, self._ranges[-1][1], i + 1)
            else:
                self._ranges.append((label, i, i + 1))
        assert len({r[0] for r in self._ranges}) == len(self._ranges), "examples of a flow must be contiguous"
        self.suggestable = frozenset(suggestable) or frozenset(f for f in self.flows if f != NONE)
        self._vec = _Vectorizer(counts)
        vectors = [self._vec.vector(c) for c in counts]
        self.labels = labels
        self.vectors = vectors
        # inverted index: feature -> [(example index, weight)]; features in more than POSTINGS_MAX
        # examples are left to the centroids (they say little about the nearest example, and their
        # long lists were most of the cost of routing a message)
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for i, v in enumerate(vectors):
            for f, w in v.items():
                self._postings.setdefault(f, []).append((i, w))
        self._postings = {f: p for f, p in self._postings.items() if len(p) <= POSTINGS_MAX}
        # centroids: feature -> [(flow, weight)]
        sums: dict[str, dict[str, float]] = {}
        for label, v in zip(labels, vectors, strict=True):
            s = sums.setdefault(label, {})
            for f, w in v.items():
                s[f] = s.get(f, 0.0) + w
        self._centroid: dict[str, list[tuple[str, float]]] = {}
        for label, s in sums.items():
            norm = math.sqrt(sum(x * x for x in s.values())) or 1.0
            for f, w in s.items():
                self._centroid.setdefault(f, []).append((label, w / norm))
        self._strip = _phrase_pattern([w for d in (GREETINGS, POLITE) for ws in d.values() for w in ws])
        self._greet = _phrase_pattern([w for ws in GREETINGS.values() for w in ws])

    # ---- scoring ----------------------------------------------------------------------------------
    def scores(self, norm: str) -> dict[str, float]:
        """Every flow's score for a normalised text."""
        return self._score(features(norm))

    def _score(self, counts: dict[str, float]) -> dict[str, float]:
        v = self._vec.vector(counts)
        sims = [0.0] * len(self.labels)
        cent: dict[str, float] = {}
        postings, centroid = self._postings, self._centroid
        items: Iterable[tuple[str, float]] = v.items()
        for f, w in items:
            for label, x in centroid.get(f, ()):
                cent[label] = cent.get(label, 0.0) + w * x
        if len(v) > KNN_FEATURES:  # a long story: its strongest features find the nearest example
            items = sorted(items, key=lambda fw: -fw[1])[:KNN_FEATURES]
        for f, w in items:
            for i, x in postings.get(f, ()):
                sims[i] += w * x
        # a flow's examples are contiguous: its nearest example is one C-level max over a slice
        best = {flow: max(sims[a:b]) for flow, a, b in self._ranges}
        return {f: KNN_WEIGHT * best.get(f, 0.0) + (1 - KNN_WEIGHT) * cent.get(f, 0.0) for f in self.flows}

    def route(self, text: str) -> Route:
        """The flow a free-text message asks for, or not understood with suggestions. Buyers repeat
        themselves ("где мой заказ"): answers are remembered per model (bounded)."""
        found = self._cache.get(text)
        if found is None:
            found = self.route_uncached(text)
            if len(self._cache) >= ROUTE_CACHE:
                self._cache.clear()
            self._cache[text] = found
        return found

    def route_uncached(self, text: str) -> Route:
        """`route` without the cache (what bench/nlu.py times)."""
        norm = normalize(text)
        greeting = bool(self._greet.search(f" {norm} "))
        rest = (
            " ".join(self._strip.sub(" ", f" {norm} ").split()) if greeting or self._strip.search(f" {norm} ") else norm
        )
        keyword = self.keywords.match(text) if self.keywords is not None else None
        if keyword == GREETING_FLOW and rest and rest != norm:
            keyword = self.keywords.match(rest) if self.keywords is not None else None
        if not rest or rest == "#":
            if greeting:
                return Route(GREETING_FLOW, 1.0, ((GREETING_FLOW, 1.0),), keyword, True, norm)
            rest = norm
        counts = features(rest)
        scores = self._score(counts)
        # Evidence of a support question: a concept or a keyword in the text, or a close example.
        # ("заказ" alone is a topic, not a question: it gets the closest flows offered).
        evidence = keyword is not None or any(f.startswith("k:") and f != "k:order" for f in counts)
        if keyword is not None and keyword in scores:
            scores[keyword] += KEYWORD_BONUS
        ranked = tuple(sorted(scores.items(), key=lambda kv: -kv[1]))
        top, conf = ranked[0] if ranked else (NONE, 0.0)
        if top in YIELDING_FLOWS and len(ranked) > 1 and SPECIFIC & counts.keys():
            # "где мой заказ и как его отменить": a request to do something beats the generic status
            # question (as keywords do, bot/engine/keywords.py) when it is nearly as likely
            second, score = ranked[1]
            if second not in YIELDING_FLOWS and second != NONE and score >= max(self.threshold, conf - YIELD_MARGIN):
                top, conf = second, score
        if greeting and (top == NONE or conf < self.threshold):
            return Route(GREETING_FLOW, conf, ranked, keyword, True, rest)
        if top == NONE or conf < self.threshold or (not evidence and conf < UNSUPPORTED):
            near = tuple(f for f, s in ranked if f in self.suggestable and s >= SUGGEST_MIN)[:3]
            return Route(None, conf, ranked, keyword, greeting, rest, near)
        return Route(top, conf, ranked, keyword, greeting, rest)

    def cross_validate(self) -> float:
        """Leave-one-out accuracy of the nearest-example part on the training examples (for tuning
        without touching the held-out set)."""
        ok = 0
        for i, label in enumerate(self.labels):
            sims: dict[int, float] = {}
            for f, w in self.vectors[i].items():
                for j, x in self._postings.get(f, ()):
                    if j != i:
                        sims[j] = sims.get(j, 0.0) + w * x
            j = max(sims, key=sims.__getitem__) if sims else -1
            ok += j >= 0 and self.labels[j] == label
        return ok / max(1, len(self.labels))


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    words = sorted({normalize(p) for p in phrases if normalize(p)}, key=len, reverse=True)
    han = [w for w in words if _HAN_RUN.fullmatch(w.replace(" ", ""))]
    other = [w for w in words if w not in han]
    parts = []
    if other:
        parts.append(r"(?<= )(?:" + "|".join(re.escape(w) for w in other) + r")(?= )")
    if han:
        parts.append("(?:" + "|".join(re.escape(w) for w in han) + ")")
    return re.compile("|".join(parts) or "(?!)")


# ---- typed answers at a waiting step -------------------------------------------------------------
_ORDINAL_RU = re.compile(r"(?:^| )(перв|втор|трет|четверт|пят(?!ниц)|шест|последн)[а-я]*(?= |$)")
_ORDINAL_ZH = re.compile(r"(?:第|头)(一|二|三|四|五|六|1|2|3|4|5|6)|最后|最下面|最上面")
_ORDINAL_INDEX = {
    "перв": 0,
    "втор": 1,
    "трет": 2,
    "четверт": 3,
    "пят": 4,
    "шест": 5,
    "последн": -1,
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
}
_DIGIT_ORDINAL = re.compile(r"^\s*(?:№|#|n|no\.?)?\s*([1-9])\s*(?:[.)й-]|й|ый|ой|ий|ая|ое|个|号)?\s*$", re.IGNORECASE)
_DIGIT_ZH = re.compile(r"[第选]?\s*([1-9])\s*(?:个|号|项)?")
PICK_MIN = 0.5
PICK_MARGIN = 0.08


def mask_digits(text: str) -> str:
    """The text with every digit replaced by 0: what operators may read of a buyer's message."""
    return _DIGITS.sub(lambda m: "0" * min(len(m.group()), 4), text)


def ordinal(text: str, count: int) -> int | None:
    """The option index an answer like "первый", "последнее", "第二个", "3" names, among `count`."""
    m = _DIGIT_ORDINAL.match(text)
    idx: int | None = None
    if m:
        idx = int(m.group(1)) - 1
    else:
        norm = normalize(text)
        if not norm or len(norm.split()) > 4 or len(norm) > 24:
            return None
        m2 = _ORDINAL_RU.search(norm)
        if m2:
            idx = _ORDINAL_INDEX[m2.group(1)]
        elif (m3 := _ORDINAL_ZH.search(norm)) is not None:
            g = m3.group(1)
            idx = -1 if g is None else (int(g) - 1 if g.isdigit() else _ORDINAL_INDEX[g])
        elif _HAN_RUN.search(norm) and (m4 := _DIGIT_ZH.fullmatch(unicodedata.normalize("NFKC", text).strip())):
            idx = int(m4.group(1)) - 1
    if idx is None:
        return None
    if idx < 0:
        idx = count + idx
    return idx if 0 <= idx < count else None


_GRAM_CACHE: dict[str, frozenset[str]] = {}


def _grams(norm: str) -> frozenset[str]:
    """Character n-grams of a normalised text (labels and synonyms repeat: cached, bounded)."""
    found = _GRAM_CACHE.get(norm)
    if found is not None:
        return found
    out: set[str] = set()
    for run in _HAN_RUN.findall(norm):
        out.update(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(norm):
        padded = f" {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    grams = frozenset(out)
    if len(_GRAM_CACHE) < 20_000:
        _GRAM_CACHE[norm] = grams
    return grams


def similarity(text: str, variant: str) -> float:
    """How well a normalised answer matches a normalised label or synonym, 0..1."""
    if not text or not variant:
        return 0.0
    if text == variant:
        return 1.0
    han = bool(_HAN_RUN.search(variant))
    if (variant in text) if han else (f" {variant} " in f" {text} "):
        return 0.9 - 0.2 * (1 - len(variant) / len(text))  # the whole label inside the answer
    if len(text) >= 2 and ((text in variant) if han else (f" {text} " in f" {variant} " or variant.startswith(text))):
        return 0.6 + 0.3 * len(text) / len(variant)  # part of the label
    a, b = _grams(text), _grams(variant)
    if not a or not b:
        return 0.0
    return 0.75 * 2 * len(a & b) / (len(a) + len(b))  # shared n-grams alone: never a sure match


def pick(text: str, options: Sequence[Iterable[str]], *, normalized: bool = False) -> int | None:
    """The option a typed answer means: an ordinal, or the closest label or synonym (typos,
    partial labels, either language). `options`: each option's labels and synonyms. None when no
    option is close enough or two are equally close."""
    idx = ordinal(text, len(options))
    if idx is not None:
        return idx
    norm = normalize(text)
    if not norm:
        return None
    scores = []
    norm_options = [[v if normalized else normalize(v) for v in variants] for variants in options]
    for variants in norm_options:
        scores.append(max((similarity(norm, v) for v in variants), default=0.0))
    # typos: a longer word of the answer close to a word of only one option's labels votes for it
    words = [w for w in _WORD.findall(norm) if len(w) >= 4]
    if words and max(scores, default=0.0) < 0.9:
        option_words = [{w for v in variants for w in _WORD.findall(v)} for variants in norm_options]
        votes = [0] * len(options)
        for w in words:
            near = [i for i, ws in enumerate(option_words) if ws and max(ratio(w, x) for x in ws) >= 70]
            if len(near) == 1:
                votes[near[0]] += 1
        for i, v in enumerate(votes):
            if v:
                scores[i] = max(scores[i], 0.45 + 0.35 * v / len(words))
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = ranked[0] if ranked else None
    if best is None or scores[best] < PICK_MIN:
        return None
    if len(ranked) > 1 and scores[ranked[1]] > scores[best] - PICK_MARGIN:
        return None
    return best


# ---- ways out of a step that asks for input --------------------------------------------------------
ESCAPES: dict[str, tuple[str, ...]] = {
    "agent": (
        "оператор",
        "живой человек",
        "с человеком",
        "человека",
        "менеджер",
        "специалист",
        "поддержк",
        "人工",
        "客服",
        "真人",
        "找人",
    ),
    "menu": ("меню", "главное меню", "назад", "в начало", "菜单", "返回", "主菜单"),
    "no_number": (
        "нет номер",
        "номера нет",
        "не знаю",
        "не помню",
        "не могу найти",
        "где найти номер",
        "где взять номер",
        "потерял",
        "без номера",
        "не видно",
        "заказа нет",
        "нет заказа",
        "没有订单号",
        "没有单号",
        "不知道",
        "不记得",
        "找不到",
        "忘了",
        "没有订单",
        "看不到订单",
        "没订单号",
        "没有号",
    ),
}
_ESCAPE_ROOTS = {
    k: tuple(normalize(r) if _HAN_RUN.match(r) else " " + normalize(r) for r in v) for k, v in ESCAPES.items()
}


def escape(text: str) -> str | None:
    """ "agent", "menu" or "no_number" when an answer to a question asks for a way out instead."""
    norm = " " + normalize(text)
    for kind in ("no_number", "agent", "menu"):
        if any(root in norm for root in _ESCAPE_ROOTS[kind]):
            return kind
    return None


# ---- the buyer asks for a language in words -----------------------------------------------------
# Checked in this order: "I don't understand Russian" asks for Chinese although it names Russian.
LANGUAGE_REQUESTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "zh",
        (
            "не понимаю по русски",
            "не понимаю русский",
            "не говорю по русски",
            "не читаю по русски",
            "看不懂俄语",
            "不懂俄语",
            "不会俄语",
            "看不懂俄文",
        ),
    ),
    (
        "ru",
        (
            "не понимаю по китайски",
            "не понимаю китайский",
            "не говорю по китайски",
            "看不懂中文",
            "不懂中文",
            "不会中文",
        ),
    ),
    (
        "zh",
        (
            "по китайски",
            "на китайском",
            "китайский язык",
            "китайском языке",
            "说中文",
            "用中文",
            "讲中文",
            "中文回复",
            "换中文",
            "改成中文",
            "切换成中文",
            "切换中文",
            "中文吧",
            "说汉语",
            "用汉语",
        ),
    ),
    (
        "ru",
        (
            "по русски",
            "на русском",
            "русский язык",
            "русском языке",
            "说俄语",
            "用俄语",
            "讲俄语",
            "俄语回复",
            "换俄语",
            "换成俄语",
            "切换俄语",
            "改成俄语",
            "俄文",
        ),
    ),
)
_LANGUAGE_REQUESTS = tuple((lang, tuple(normalize(p) for p in phrases)) for lang, phrases in LANGUAGE_REQUESTS)


def language_asked(text: str) -> str | None:
    """The language a short message asks to be answered in ("можно по-китайски", "说中文",
    "po-russki pozhaluysta"), or None. Long messages only mention languages."""
    norm = normalize(text)
    if not norm or len(norm.split()) > 8:
        return None
    padded = f" {norm} "
    for lang, phrases in _LANGUAGE_REQUESTS:
        for p in phrases:
            if (p in norm) if _HAN_RUN.match(p) else (f" {p}" in padded):
                return lang
    return None


# ---- thanks and acknowledgements -----------------------------------------------------------------
THANKS = frozenset(
    normalize(w)
    for w in (
        "спасибо",
        "спс",
        "благодарю",
        "спасибо большое",
        "большое спасибо",
        "ок",
        "окей",
        "ok",
        "okay",
        "хорошо",
        "понятно",
        "ясно",
        "понял",
        "поняла",
        "ладно",
        "отлично",
        "супер",
        "пасиб",
        "сенкс",
        "thanks",
        "thank you",
        "谢谢",
        "谢谢你",
        "多谢",
        "好的",
        "好",
        "明白",
        "明白了",
        "知道了",
        "懂了",
        "收到",
        "行",
        "嗯嗯",
        "谢啦",
        "感谢",
    )
)


def is_thanks(text: str) -> bool:
    """A message that only thanks or acknowledges ("спасибо!", "ок понятно", "好的谢谢")."""
    norm = normalize(text)
    if not norm or len(norm) > 40:
        return False
    if norm in THANKS:
        return True
    rest = norm
    for w in sorted(THANKS, key=len, reverse=True):
        rest = rest.replace(w, " ")
    return not rest.strip()
