"""Understanding what buyers type: which flow a free-text message asks for, and which button a typed
answer means.

Built once per content snapshot from the flows' `triggers.examples` (and keywords), so a reload
retrains it. Pure Python and small on purpose (measured in bench/nlu.py): ~1,300 examples train in
tens of milliseconds, a message is routed in ~100 µs (p99 under 300 µs).

The pipeline:
- `normalize`: NFKC width folding, case, ё→е, emoji and punctuation dropped, letters repeated
  three times or more collapsed ("заказзз"), Russian typed in Latin letters transliterated
  ("gde moy zakaz", "kho4u" → "где мой заказ", "хочу"), order numbers replaced by one token, a
  day of the month ("10号", "20 числа") by a date token.
- `features`: Russian word stems (Snowball) and stem pairs, character 3-grams inside each word
  (typos change a few n-grams, not the whole word), Chinese character unigrams and bigrams (no
  segmenter needed: the flows' words are two or three characters), concepts (CONCEPTS: roots that
  mean one idea, with unstressed vowels folded) and pairs of concepts found together.
- TF-IDF weights, L2-normalised vectors; a flow's score blends its nearest example (cosine; looked
  for in the flows the centroids rank first) with its centroid in the message's language; every
  flow with a keyword in the text gets a fixed bonus (keywords stay strong signals). A flow starts
  only on evidence (a keyword, a concept of a support question, or a close example); a word no
  example has may be a typo of a concept's root (`fuzzy_concepts`). The system flow
  `not_understood` carries off-topic examples: when it wins, or the best score is under the
  threshold, nothing is started and the closest flows are suggested.
- A greeting before a question never wins over the question: greetings and polite words are
  stripped first, and the greeting flow wins only when nothing else is left.

Tune it by cross-validation on the flows' own examples (`ozonbot nlu eval --cv`), never by the
held-out messages.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import snowballstemmer  # type: ignore[import-untyped]
from rapidfuzz.distance import OSA
from rapidfuzz.fuzz import ratio

from bot.engine.keywords import YIELDING_FLOWS, KeywordIndex

NONE = "not_understood"  # the system flow whose examples are off-topic messages
GREETING_FLOW = "main_menu"
# Blend of nearest example and centroid; keyword bonus; confidence under which nothing is started.
KNN_WEIGHT = 0.5
KEYWORD_BONUS = 0.1
THRESHOLD = 0.25
SUGGEST_MIN = 0.2
SPECIFIC = frozenset({"k:cancel", "k:return", "k:refuse", "k:agent"})  # requests to do something
YIELD_MARGIN = 0.15  # how much less likely a specific request may be and still beat the status question
ROUTE_CACHE = 4096  # routed messages remembered per model
# features in more examples ('заказ', the order concept) are left to the centroids (cross-validated
# the same as 1000; ~20% less routing time; 200 instead of 300: CV the same, ~3% less)
POSTINGS_MAX = 200
KNN_FLOWS = 3  # the nearest example is looked for in the flows the centroids rank first (CV: the same as all)
KNN_FEATURES = 40  # the nearest example is looked up with a message's strongest features only
UNSUPPORTED = 0.4  # without a concept or keyword, only a close example routes
CONCEPT_WEIGHT = 2.0  # a concept counts as two words
PAIR_WEIGHT = 2.5  # two concepts together ("pay" and "missing": charged, no order) tell flows apart

_STEMMER = snowballstemmer.stemmer("russian")
_STEMS: dict[str, str] = {}
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_WORD = re.compile(r"[a-zа-я]+")
_ORDER_NUMBER = re.compile(r"\d{6,}(?:[\s-]*\d{1,5}){0,2}")
_DIGITS = re.compile(r"\d+")
# a day of the month ("10号", "3月5日", "20 числа", "до 15-го", "15.03"): one token, a date was named
_DATE = re.compile(
    r"\d{1,2}\s*[号日月]|\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?|\d{1,2}\s*-?\s*(?:го|числа|число|chisla|chislo)(?![а-я])"
)
_REPEATS = re.compile(r"(\D)\1{2,}")
_NOT_TEXT = re.compile(f"[^0-9a-zа-я{_HAN}#']+|(?<![a-z])'+")
_SOFT_SIGN = re.compile(r"(?<=[a-z])[’`ʼ]")  # "den’gi": the typographic apostrophes are ' too
_LATIN_WORD = re.compile(r"[a-z']+")
_LATIN_CH = re.compile(r"(?<=[a-z])4|4(?=[a-z])")

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
    ("ye", "е"),
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
    ("x", "х"),  # "xochu": x for х, as it looks
    ("q", "к"),
    ("j", "й"),
    ("'", "ь"),
]
_VOWELS = set("aeiouy")
# Latin letters that look like Cyrillic ones, inside a Cyrillic word ("зaкaз" with a Latin a)
_HOMOGLYPHS = str.maketrans("aceopxykmtbh", "асеорхукмтвн")
_MIXED_WORD = re.compile(r"[a-zа-я]*(?:[a-z][а-я]|[а-я][a-z])[a-zа-я]*")
# Russian typed with the English layout on: "ult vjq pfrfp" is "где мой заказ"
_LAYOUT = str.maketrans("qwertyuiop[]asdfghjkl;'zxcvbnm,.`", "йцукенгшщзхъфывапролджэячсмитьбюё")
_LAYOUT_WORD = re.compile(r"[a-z\[\];',.`]*[a-z][a-z\[\];',.`]*")

# Greetings and polite words: stripped before routing, so they never win over the question.
GREETINGS = {
    "ru": [
        "здравствуйте",
        "здра*",  # здраствуйте, здрасьте, здравствуете: as buyers spell it
        "драсте",
        "драсьте",
        "привет*",  # приветик, приветствую
        "прив",
        "доброго времени суток",
        "доброго вечера",
        "добрый",
        "доброе",
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
        "东西",
        "卖家",
        "下单",
        "驿站",
        "自提点",
        "货",
    ),
    "cancel": (
        "отмен",
        "аннул",
        "取消",
        "撤销",
        "撤单",
        "撤回",
        "不要了",
        "不想要",
        "不想买",
        "后悔",
        "передумал",
        "не нужен",
        "не нужна",
        "не нужно",
        "撤",
    ),
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
        "не отменял",
        "я не отменя",
        "сам отмен",
        "нет в наличии",
        "没取消",
        "没有取消",
        "没有操作",
        "缺货",
        "没货",
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
        "поцарап",
        "не то что",
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
        "испорч",
        "не хватает",
        "неполн",
        "некомплект",
        "пятн",
        "обмен",
        "поменять на",
        "маломер",
        "большемер",
        "не по размеру",
        "другую модель",
        "другой цвет",
        "не того",
        "прислали не",
        "少发",
        "漏发",
        "少了",
        "不符",
        "换货",
        "换一个",
        "瑕疵",
        "旧的",
        "脏",
        "洞",
        "压坏",
        "不合适",
        "не включ",
        "не заряж",
        "не горит",
        "подделк",
        "фейк",
        "порван",
        "разбил",
        "треснул",
        "不开机",
        "开不了",
        "假货",
        "假的",
        "不亮",
        "有问题",
        "пуст",
        "дырк",
        "нитк",
        "сколы",
        "сколом",
        "следы",
        "не греет",
        "помят",
        "空的",
        "痕迹",
        "线头",
        "有洞",
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
        "консультант",
        "админ",
        "руковод",
        "начальств",
        "живой",
        "живого",
        "живым",
        "соедин",
        "связать",
        "свяжите",
        "позовите",
        "позвать",
        "роботом",
        "с ботом",
        "не бот",
        "活人",
        "负责人",
        "店家",
        "老板",
        "打电话",
        "转接",
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
        "дата доставки",
        "срок доставки",
        "ожидаемая дата",
        "сорвал",
        "обещан",
        "прошло",
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
    # generic question words: a concept, but no evidence of a support question on their own
    "ask": (
        "где",
        "когда",
        "到哪",
        "在哪",
        "什么时候",
        "啥时候",
        "哪天",
        "多久",
        "什么情况",
        "啥情况",
        "как там",
        "что там",
    ),
    "where": (
        "статус",
        "трек",
        "отслед",
        "отслеж",
        "этап",
        "не пришел",
        "не пришла",
        "не пришло",
        "не пришли",
        "не доставлен",
        "не доставили",
        "не привезли",
        "передан",
        "на одном месте",
        "отправ",
        "что с заказ",
        "что с моим",
        "едет",
        "сборк",
        "висит",
        "поторопи",
        "ускор",
        "物流",
        "发货",
        "状态",
        "进度",
        "动静",
        "催",
        "刷新",
        "发出",
        "位置",
        "追踪",
        "等待包装",
        "备货",
        "查",
        "в пути",
        "движ",
        "новост",
        "провер",
        "застрял",
        "сортиров",
        "собира",
        "寄",
        "原地",
        "消息",
        "没动",
        "придет",
        "прийдет",
        "приедет",
        "получу",
        "привез",
        "отгруз",
        "доставят",
        "доставили ли",
        "到了吗",
        "到没到",
        "发了吗",
        "寄了吗",
        "几天到",
        "运输中",
        "拿到",
        "что с ним",
        "что с ней",
        "передали",
        "发了没",
        "能到",
        "寄出",
        "трек номер",
        "трек-номер",
        "номер отслеж",
        "物流单号",
        "快递单号",
        "运单号",
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
    "unshipped": (
        "пока не",
        "до отправки",
        "еще не отправ",
        "не собран",
        "не отправлен",
        "не отправили",
        "не отгруж",
        "还没发",
        "未发货",
        "没发货",
        "发货前",
        "还没寄",
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
        "в приложении нет",
        "в истории нет",
        "в моих заказах нет",
        "в списке заказов нет",
        "ничего не появ",
        "什么都没有",
        "列表是空",
        "列表里没有",
        "订单里没有",
    ),
    "date": (
        "дата",
        "日期",
        "числа",
        "январ",
        "феврал",
        "марта",
        "апрел",
        "мая",
        "июн",
        "июл",
        "август",
        "сентябр",
        "октябр",
        "ноябр",
        "декабр",
    ),
    "wait": (
        "жду",
        "ждать",
        "ждем",
        "ждал",
        "жди",
        "ожидан",
        "сколько еще",
        "до сих пор",
        "все еще",
        "все никак",
        "никак не",
        "уже неделю",
        "уже месяц",
        "уже две",
        "уже три",
        "等",
        "还没",
        "还是没",
        "一直",
        "这么久",
        "多久",
        "至今",
        "到现在",
    ),
    "pickup": (
        "пункт выдачи",
        "пункте выдачи",
        "пвз",
        "постамат",
        "курьер",
        "при получении",
        "на пункте",
        "привезут",
        "привезли",
        "自提点",
        "驿站",
        "快递员",
        "送来",
        "送到",
        "取件",
        "签收",
        "派送",
    ),
    "hello": (
        "здравств",
        "здраств",
        "здрасте",
        "здрасьте",
        "привет",
        "доброе утро",
        "добрый день",
        "добрый вечер",
        "доброго дня",
        "доброго вечера",
        "хелло",
        "你好",
        "您好",
        "哈喽",
        "在吗",
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
        "функци",
        "что здесь",
        "что можно",
        "что вы можете",
        "как пользоваться",
        "服务",
        "怎么用",
        "старт",
        "варианты",
        "кнопк",
        "главн",
        "в начало",
        "选项",
        "首页",
        "主页",
        "返回",
    ),
}


_TRANSLITS: dict[str, str] = {}


def translit(word: str) -> str:
    """Latin-letter Russian to Cyrillic, roughly ("zakaz" → "заказ", "moy" → "мой"). Buyers repeat
    the same words: remembered (bounded)."""
    found = _TRANSLITS.get(word)
    if found is None:
        found = _translit(word)
        if len(_TRANSLITS) < 50_000:
            _TRANSLITS[word] = found
    return found


def _translit(word: str) -> str:
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
        if ch == "j" and not word.startswith(("ja", "ju"), i):  # "je", "jo": же, жо ("mojet", "doljen")
            out.append("й" if i + 1 == n else "ж")  # "moja", "segodnja", "moj", but "mojno", "jdu"
            i += 1
            continue
        if ch in "iy" and i + 1 == n - 1 and word[i + 1] in "iy" and i > 0 and word[i:] != "ii":  # "novyi": -ый
            out.append("ы" if ch == "y" and word[i - 1] not in "kgh" else "и")
            out.append("й")
            break
        if ch == "i" and i > 0 and word[i - 1] in _VOWELS and (
            (i + 1 == n and word[i - 1] != "i")
            or (i + 2 < n and word[i + 1] not in _VOWELS and (word[i + 2] not in _VOWELS or word[i + 1] == "t"))
        ):  # "moi", "kakoi", "kitaiskiy", "naiti", "zdravstvuite": й
            out.append("й")
            i += 1
            continue
        if ch == "t" and word.startswith("ts", i) and (
            word.endswith(("tsya", "tsja"), i) or (i + 2 < n and word[i + 2] not in _VOWELS)
        ):  # "otkazatsya", "otsledit": тс, not ц
            out.append("т")
            i += 1
            continue
        if ch == "'" and (i == 0 or word[i - 1] in _VOWELS or word[i - 1] == "'"):  # a quote, not ь
            i += 1
            continue
        if ch == "e" and i == 0 and word.startswith(("et", "ek", "el")):  # "eto", "ekran"; but "esli", "edet"
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
    if _MIXED_WORD.search(t):
        t = _MIXED_WORD.sub(lambda m: m.group().translate(_HOMOGLYPHS), t)
    if _DIGITS.search(t):
        t = _LATIN_CH.sub("ch", t)  # "4to", "kho4u": 4 reads as ч
        t = _ORDER_NUMBER.sub(" # ", t)
        t = _DATE.sub(lambda m: " 日期 " if _HAN_RUN.search(m.group()) else " дата ", t)
        t = _DIGITS.sub(" ", t)
    t = _NOT_TEXT.sub(" ", _SOFT_SIGN.sub("'", t))
    t = _REPEATS.sub(r"\1", t)
    if any("a" <= ch <= "z" for ch in t):
        t = _LATIN_WORD.sub(lambda m: translit(m.group()), t)
    return " ".join(t.replace("'", " ").split())


# Buyers spell as they speak: unstressed о written а ("атменить", "пасылка"), е written и, ы written и.
# Concepts match on a text and roots with those vowels folded together.
_VOWEL_FOLD = str.maketrans({"о": "а", "е": "и", "ы": "и"})


def _concept_index() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, ...]]]:
    """Folded root -> its concepts (in CONCEPTS order), and first character -> the roots' lengths:
    a text is scanned once, looking roots up where they may start (a dict lookup per position and
    length; a regular expression per concept cost ~100 µs on a long message)."""
    index: dict[str, list[str]] = {}
    for concept, roots in CONCEPTS.items():
        for root in roots:
            norm = " ".join(unicodedata.normalize("NFKC", root).casefold().replace("ё", "е").replace("-", " ").split())
            concepts = index.setdefault(norm.translate(_VOWEL_FOLD), [])
            if concept not in concepts:
                concepts.append(concept)
    lengths: dict[str, set[int]] = {}
    for root in index:
        lengths.setdefault(root[0], set()).add(len(root))
    return {r: tuple(c) for r, c in index.items()}, {ch: tuple(sorted(ls)) for ch, ls in lengths.items()}


_CONCEPT_INDEX, _ROOT_LENGTHS = _concept_index()
_CONCEPT_ORDER = {c: i for i, c in enumerate(CONCEPTS)}
# Concepts that are no evidence of a support question on their own: the order alone is a topic
# ("заказ"), a question word or waiting alone is anything ("где купить хлеб", "жду лета"); together
# they are a question about the order ("когда будет доставка", "我的东西到哪里了").
_WEAK = frozenset({"k:order", "k:ask", "k:wait"})


def _evidence(counts: Mapping[str, float]) -> bool:
    """Whether a message's concepts show a support question (see _WEAK)."""
    weak = False
    for f in counts:
        if f.startswith("k:"):
            if f not in _WEAK:
                return True
            weak = weak or f != "k:order"
    return weak and "k:order" in counts


def concepts(norm: str) -> list[str]:
    """The concepts of a normalised text, in CONCEPTS order: Russian roots at a word's start,
    Chinese ones anywhere."""
    folded = norm.translate(_VOWEL_FOLD)
    found: set[str] = set()
    lengths, index = _ROOT_LENGTHS, _CONCEPT_INDEX
    prev = " "
    for i, ch in enumerate(folded):
        ls = lengths.get(ch)
        if ls is not None and (prev == " " or ch >= "\u3400"):
            for n in ls:
                hit = index.get(folded[i : i + n])
                if hit is not None:
                    found.update(hit)
        prev = ch
    return sorted(found, key=_CONCEPT_ORDER.__getitem__)


# Typos: a word one edit (a letter missing, extra, wrong or two swapped) from a Russian root of
# FUZZY_MIN letters or more means the root's concepts. Looked up only where a message would
# otherwise lack evidence (route_uncached): deletion variants index the roots (SymSpell's idea).
FUZZY_MIN = 5
REPAIR_MIN = 4  # words this long or longer that no example has are looked up in the examples' words
# Spelling that does not tell words apart: unstressed vowels (as _VOWEL_FOLD), ь and ъ left out, й for
# и ("мои"/"мой", "отменит"/"отменить", "обявление"), э for е.
REPAIR_WRONG_MIN = 7  # a wrong letter, not a neighbour on the keyboard, is repaired in words this long
_KEYBOARD = ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю")
_NEIGHBOURS = {
    a + b
    for rows in (_KEYBOARD,)
    for r, row in enumerate(rows)
    for c, a in enumerate(row)
    for rr in (r - 1, r, r + 1)
    if 0 <= rr < len(rows)
    for cc in (c - 1, c, c + 1)
    if 0 <= cc < len(rows[rr]) and (rr, cc) != (r, c)
    for b in (rows[rr][cc],)
}
_LOOSE = str.maketrans({"о": "а", "е": "и", "ы": "и", "э": "и", "й": "и", "ь": None, "ъ": None})


def _fuzzy_index() -> tuple[dict[str, tuple[str, ...]], tuple[int, ...]]:
    index: dict[str, set[str]] = {}
    for root in _CONCEPT_INDEX:
        if len(root) >= FUZZY_MIN and " " not in root and not _HAN_RUN.search(root):
            for v in {root, *(root[:i] + root[i + 1 :] for i in range(len(root)))}:
                index.setdefault(v, set()).add(root)
    lengths = sorted({len(r) for rs in index.values() for r in rs})
    return {v: tuple(rs) for v, rs in index.items()}, tuple(lengths)


_FUZZY_INDEX, _FUZZY_LENGTHS = _fuzzy_index()


def fuzzy_concepts(norm: str, known: Container[str] = ()) -> list[str]:
    """Concepts of a normalised text's words allowing one typo per root ("вазрат", "возрват"), in
    CONCEPTS order. Words in `known` (features "w:<stem>" the examples have) are no typos."""
    found: set[str] = set()
    index = _FUZZY_INDEX
    for original in _WORD.findall(norm):
        word = original.translate(_VOWEL_FOLD)
        if len(word) < FUZZY_MIN - 1 or concepts(word) or "w:" + stem(original) in known:
            continue  # short, spelt right or a word of the examples
        hits: set[str] = set()
        for n in _FUZZY_LENGTHS:
            if n > len(word) + 1:
                break
            for p in {word[: n - 1], word[:n], word[: n + 1]}:
                if len(p) < n - 1:
                    continue
                for v in (p, *(p[:i] + p[i + 1 :] for i in range(len(p)))):
                    for root in index.get(v, ()):
                        if (
                            abs(len(root) - len(p)) <= 1
                            and OSA.distance(p, root, score_cutoff=1) <= 1
                            and (len(root) > FUZZY_MIN or len(p) != len(root) or sorted(p) == sorted(root))
                        ):  # short roots: a letter missing, extra or swapped, not a wrong one ("русск"/"расск")
                            hits.update(_CONCEPT_INDEX[root])
        if len(hits) == 1:  # one typo from roots of two ideas: neither
            found.update(hits)
    return sorted(found, key=_CONCEPT_ORDER.__getitem__)




def stem(word: str) -> str:
    s = _STEMS.get(word)
    if s is None:
        s = _STEMMER.stemWord(word) if len(word) > 3 else word
        if len(_STEMS) < 100_000:
            _STEMS[word] = s
    return s


_WORD_FEATURES: dict[str, tuple[str, str, tuple[str, ...]]] = {}


def _word_features(word: str) -> tuple[str, str, tuple[str, ...]]:
    """A word's stem, its feature and its character 3-grams' features (remembered, bounded)."""
    found = _WORD_FEATURES.get(word)
    if found is None:
        s = stem(word)
        padded = f" {word} "
        found = (s, "w:" + s, tuple("c:" + padded[i : i + 3] for i in range(len(padded) - 2)))
        if len(_WORD_FEATURES) < 100_000:
            _WORD_FEATURES[word] = found
    return found


def _with_concepts(counts: dict[str, float], more: Iterable[str]) -> dict[str, float]:
    """A text's features with more concepts (and their pairs) added."""
    out = dict(counts)
    found = sorted({*(f[2:] for f in counts if f.startswith("k:")), *more}, key=_CONCEPT_ORDER.__getitem__)
    for i, concept in enumerate(found):
        out["k:" + concept] = CONCEPT_WEIGHT
        for other in found[i + 1 :]:
            out["p:" + concept + "+" + other] = PAIR_WEIGHT
    return out


def features(norm: str) -> dict[str, float]:
    """Counts of the features of a normalised text."""
    out: dict[str, float] = {}
    get = out.get
    for run in _HAN_RUN.findall(norm):
        prev_ch = ""
        for ch in run:
            out[ch] = get(ch, 0.0) + 1.0
            if prev_ch:
                pair = prev_ch + ch
                out[pair] = get(pair, 0.0) + 1.0
            prev_ch = ch
    prev = ""
    for word in _WORD.findall(norm):
        s, f, grams = _word_features(word)
        out[f] = get(f, 0.0) + 1.0
        if prev:
            b = "b:" + prev + "_" + s
            out[b] = get(b, 0.0) + 0.5
        prev = s
        for g in grams:
            out[g] = get(g, 0.0) + 0.5
    if "#" in norm:
        out["n:#"] = 1.0
    found = concepts(norm)
    for i, concept in enumerate(found):
        out["k:" + concept] = CONCEPT_WEIGHT
        for other in found[i + 1 :]:
            out["p:" + concept + "+" + other] = PAIR_WEIGHT
    return out


class _Vectorizer:
    def __init__(self, docs: Sequence[dict[str, float]]) -> None:
        n = len(docs)
        df: dict[str, int] = {}
        for d in docs:
            for f in d:
                df[f] = df.get(f, 0) + 1
        self.df = df
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
        langs: list[str] = []
        norms: list[str] = []
        for flow_id, by_lang in examples.items():
            for lang, texts in by_lang.items():
                for text in texts:
                    norms.append(normalize(str(text)))
                    c = features(norms[-1])
                    if c:
                        langs.append(lang)
                        labels.append(flow_id)
                        counts.append(c)
                        self.texts.append(str(text))
        self._ranges: list[tuple[str, int, int]] = []  # flow, first example, past its last
        for i, label in enumerate(labels):
            if self._ranges and self._ranges[-1][0] == label:
                self._ranges[-1] = (label, self._ranges[-1][1], i + 1)
            else:
                self._ranges.append((label, i, i + 1))
        assert len({r[0] for r in self._ranges}) == len(self._ranges), "examples of a flow must be contiguous"
        self.flows = [r[0] for r in self._ranges]  # in the order of their examples (a flow's index in scores)
        self.suggestable = frozenset(suggestable) or frozenset(f for f in self.flows if f != NONE)
        self._vec = _Vectorizer(counts)
        vectors = [self._vec.vector(c) for c in counts]
        self.labels = labels
        self.vectors = vectors
        # One pass over the examples: per flow an inverted index, feature -> [(example index,
        # weight)], without the features in more than POSTINGS_MAX examples (left to the centroids:
        # they say little about the nearest example, and their long lists were most of the cost of
        # routing a message); and the centroids' sums, one per flow and language (a Chinese message
        # is not compared with the Russian half of a flow), keyed flow index * languages + language
        df = self._vec.df
        self._postings: dict[str, dict[str, list[tuple[int, float]]]] = {flow: {} for flow in self.flows}
        self._range = {flow: (a, b) for flow, a, b in self._ranges}
        self._langs = sorted(set(langs))
        nl = len(self._langs)
        lang_index = {lang: li for li, lang in enumerate(self._langs)}
        sums: dict[int, dict[str, float]] = {}
        for j, (flow, a, b) in enumerate(self._ranges):
            by_feature = self._postings[flow]
            for i in range(a, b):
                s = sums.setdefault(j * nl + lang_index[langs[i]], {})
                get = s.get
                for f, w in vectors[i].items():
                    s[f] = get(f, 0.0) + w
                    if df[f] <= POSTINGS_MAX:
                        by_feature.setdefault(f, []).append((i, w))
        self._centroid: dict[str, list[tuple[int, float]]] = {}
        for k, s in sums.items():
            norm = math.sqrt(sum(x * x for x in s.values())) or 1.0
            for f, w in s.items():
                self._centroid.setdefault(f, []).append((k, w / norm))
        self._vocab, self._repairs = _repair_index(norms)
        self._repaired: dict[str, str] = {}  # word -> its repair, remembered (bounded)
        self._strip = _phrase_pattern([w for d in (GREETINGS, POLITE) for ws in d.values() for w in ws])
        self._greet = _phrase_pattern([w for ws in GREETINGS.values() for w in ws])

    # ---- scoring ----------------------------------------------------------------------------------
    def scores(self, norm: str) -> dict[str, float]:
        """Every flow's score for a normalised text."""
        return self._score(features(norm))

    def _score(self, counts: dict[str, float]) -> dict[str, float]:
        v = self._vec.vector(counts)
        nl = len(self._langs)
        cent = [0.0] * (len(self.flows) * nl)
        centroid = self._centroid
        items: Iterable[tuple[str, float]] = v.items()
        for f, w in items:
            for j, x in centroid.get(f, ()):
                cent[j] += w * x
        k, c = KNN_WEIGHT, 1 - KNN_WEIGHT
        scores = {flow: c * max(cent[j * nl : (j + 1) * nl]) for j, flow in enumerate(self.flows)}
        # the nearest example is looked for in the flows the centroids rank first (and the off-topic
        # examples): the others' examples cannot lift them to the top
        near = sorted(scores, key=scores.__getitem__, reverse=True)[:KNN_FLOWS]
        if NONE in scores and NONE not in near:
            near.append(NONE)
        if len(v) > KNN_FEATURES:  # a long story: its strongest features find the nearest example
            items = sorted(items, key=lambda fw: -fw[1])[:KNN_FEATURES]
        sims = [0.0] * len(self.labels)
        postings = self._postings
        for flow in near:
            by_feature = postings[flow]
            for f, w in items:
                for i, x in by_feature.get(f, ()):
                    sims[i] += w * x
            a, b = self._range[flow]
            # a flow's examples are contiguous: its nearest example is one C-level max over a slice
            scores[flow] += k * max(sims[a:b])
        return scores

    def repair(self, norm: str) -> str:
        """A normalised text with each longer Russian word no example has replaced by the examples'
        word it most likely meant: the same but for spelling that does not tell words apart
        (_LOOSE: "атменит", "пасылку"), else one typo away (a letter missing, extra, wrong or two
        swapped: "зааз", "отпарвку"); the more frequent word when several are. Left as it is when
        none is."""
        vocab = self._vocab
        if all(len(w) < REPAIR_MIN or w in vocab for w in _WORD.findall(norm)):
            return norm
        return _WORD.sub(lambda m: self._repair_word(m.group()), norm)

    def _repair_word(self, word: str) -> str:
        if len(word) < REPAIR_MIN or word in self._vocab or "w:" + stem(word) in self._vec.idf:
            return word  # short, or a form of a word the examples have
        found = self._repaired.get(word)
        if found is not None:
            return found
        loose = word.translate(_LOOSE)
        repairs, vocab = self._repairs, self._vocab
        for i, ch in enumerate(loose):  # Latin "ja", "ju" are жа, жу too ("jalobu", "pojaluista")
            if ch in "яю":
                v = loose[:i] + ("жа" if ch == "я" else "жу") + loose[i + 1 :]
                for cand in repairs.get(v, ()):
                    if cand.translate(_LOOSE) == v:
                        self._repaired[word] = cand
                        return cand
        best, best_key = word, (2, 0)
        for v in (loose, *(loose[:i] + loose[i + 1 :] for i in range(len(loose)))):
            for cand in repairs.get(v, ()):
                other = cand.translate(_LOOSE)
                d = OSA.distance(loose, other, score_cutoff=1)
                key = (d, -vocab[cand])
                if d <= 1 and key < best_key and other[0] == loose[0] and (d == 0 or _plausible(word, cand)):
                    best, best_key = cand, key
        if len(self._repaired) >= 50_000:
            self._repaired.clear()
        self._repaired[word] = best
        return best

    def _known_words(self, norm: str) -> int:
        idf = self._vec.idf
        return sum("w:" + stem(w) in idf for w in _WORD.findall(norm))

    def _unknown_word(self, norm: str) -> bool:
        """Whether a normalised text has a Russian word no example has (a typo, often)."""
        idf = self._vec.idf
        return any(len(w) >= FUZZY_MIN and "w:" + stem(w) not in idf for w in _WORD.findall(norm))

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
        norm = self.repair(normalize(text))
        if _LAYOUT_WORD.search(text.casefold()) and 2 * self._known_words(norm) <= len(_WORD.findall(norm)):
            # half the words unknown: perhaps the English layout was on ("ult vjq pfrfp"); the
            # reading with more words of the examples wins
            swapped = normalize(_LAYOUT_WORD.sub(lambda m: m.group().translate(_LAYOUT), text.casefold()))
            if self._known_words(swapped) > self._known_words(norm):
                norm = self.repair(swapped)
        greeting = bool(self._greet.search(f" {norm} "))
        rest = (
            " ".join(self._strip.sub(" ", f" {norm} ").split()) if greeting or self._strip.search(f" {norm} ") else norm
        )
        keyword, named = self.keywords.find(text) if self.keywords is not None else (None, frozenset[str]())
        if keyword == GREETING_FLOW and rest and rest != norm and self.keywords is not None:
            keyword, named = self.keywords.find(rest)
        if not rest or rest == "#":
            if greeting:
                return Route(GREETING_FLOW, 1.0, ((GREETING_FLOW, 1.0),), keyword, True, norm)
            rest = norm
        counts = features(rest)
        scores = self._score(counts)
        # Evidence of a support question: a concept or a keyword in the text, or a close example.
        # ("заказ" alone is a topic, not a question: it gets the closest flows offered).
        evidence = keyword is not None or _evidence(counts)
        if not evidence or self._unknown_word(rest):  # a typo may hide a concept: look again, allowing one
            more = [k for k in fuzzy_concepts(rest, self._vec.idf) if "k:" + k not in counts]
            if more:
                counts = _with_concepts(counts, more)
                scores, evidence = self._score(counts), _evidence(counts)
        # every flow with a keyword in the text gets the bonus ("拒收" and "不想要了": both flows
        # named; the examples decide between them)
        for f in named:
            if f in scores:
                scores[f] += KEYWORD_BONUS
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


def _plausible(word: str, cand: str) -> bool:
    """Whether a typo (one edit) turns `cand` into `word` as buyers' typos do: a letter missing,
    doubled, extra or two swapped; a wrong letter only if it is the key next to the right one or
    the word is long (two short words a wrong letter apart are often two words: "старт", "стоит")."""
    if len(word) != len(cand) or sorted(word) == sorted(cand):
        return True
    diff = [a + b for a, b in zip(word, cand, strict=True) if a != b]
    return len(word) >= REPAIR_WRONG_MIN or (len(diff) == 1 and diff[0] in _NEIGHBOURS)


def _repair_index(norms: Iterable[str]) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """The examples' Russian words (REPAIR_MIN letters or more) with how many examples have each,
    and their loose spellings and those with a letter left out -> the words (SymSpell's idea)."""
    vocab: dict[str, int] = {w: 1 for ws in (GREETINGS["ru"], POLITE["ru"]) for w in ws if "*" not in w}
    for norm in norms:
        for w in set(_WORD.findall(norm)):
            if len(w) >= REPAIR_MIN:
                vocab[w] = vocab.get(w, 0) + 1
    index: dict[str, set[str]] = {}
    for word in vocab:
        loose = word.translate(_LOOSE)
        for v in {loose, *(loose[:i] + loose[i + 1 :] for i in range(len(loose)))}:
            index.setdefault(v, set()).add(word)
    return vocab, {v: tuple(sorted(ws)) for v, ws in index.items()}


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One pattern for phrases: Russian ones as whole words ("здра*": any word starting so), Chinese
    ones anywhere."""
    words = sorted({normalize(p) + "*" * p.endswith("*") for p in phrases if normalize(p)}, key=len, reverse=True)
    han = [w for w in words if _HAN_RUN.fullmatch(w.replace(" ", ""))]
    other = [w for w in words if w not in han]
    parts = []
    if other:
        alts = (re.escape(w[:-1]) + "[а-я]*" if w.endswith("*") else re.escape(w) for w in other)
        parts.append(r"(?<= )(?:" + "|".join(alts) + r")(?= )")
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
