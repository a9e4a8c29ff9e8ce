"""The operators' view of understanding: how a message is routed and why (`ozonbot nlu explain`),
the held-out measurements (bench/nlu.py, tests/test_nlu.py), and collisions between flows' examples
(`flows check` warns)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.engine.content import Content
from bot.engine.flowset import FlowSet
from bot.engine.nodes.choice import match_option
from bot.engine.understanding import NONE, Route, Understanding, features, normalize

HELDOUT = Path("nlu") / "heldout.yaml"
# a second held-out slice, written later in phrasing of its own, before the tuning that followed
FRESH = Path("nlu") / "fresh.yaml"
# a third, written before the tuning of Dec 2's second session: typos, Latin letters, mixed scripts
FRESH2 = Path("nlu") / "fresh2.yaml"
HELDOUT_SETS = {"held-out": HELDOUT, "fresh held-out": FRESH, "fresh2 held-out": FRESH2}
TYPED_ANSWERS = Path("nlu") / "typed_answers.yaml"


def load_heldout(flows_dir: str | Path, which: Path = HELDOUT) -> dict[str, dict[str, list[str]]]:
    """flow id (or "none") -> language -> messages, from flows/nlu/heldout.yaml (or `which`)."""
    data = yaml.safe_load((Path(flows_dir) / which).read_text(encoding="utf-8")) or {}
    return {
        str(f): {str(lang): [str(t) for t in texts or []] for lang, texts in by_lang.items()}
        for f, by_lang in (data.get("heldout") or {}).items()
    }


@dataclass
class Evaluation:
    accuracy: dict[str, float]  # language -> top-1 accuracy on held-out flow messages
    counts: dict[str, int]
    off_topic_routed: float  # share of off-topic messages started a flow
    off_topic_count: int
    misses: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # (lang, want, text, got)


def evaluate(flowset: FlowSet, heldout: dict[str, dict[str, list[str]]]) -> Evaluation:
    ok: dict[str, int] = {}
    n: dict[str, int] = {}
    off = off_n = 0
    misses: list[tuple[str, str, str, str | None]] = []
    for want, by_lang in heldout.items():
        for lang, texts in by_lang.items():
            for text in texts:
                got = flowset.route(text).flow
                if want == "none":
                    off_n += 1
                    off += got is not None
                    if got is not None:
                        misses.append((lang, "none", text, got))
                    continue
                n[lang] = n.get(lang, 0) + 1
                ok[lang] = ok.get(lang, 0) + (got == want)
                if got != want:
                    misses.append((lang, want, text, got))
    return Evaluation({lang: ok.get(lang, 0) / c for lang, c in n.items()}, n, off / max(1, off_n), off_n, misses)


def load_typed_answers(flows_dir: str | Path) -> list[tuple[str, str, str, str]]:
    """(flow, node, typed text, option id) from flows/nlu/typed_answers.yaml."""
    data = yaml.safe_load((Path(flows_dir) / TYPED_ANSWERS).read_text(encoding="utf-8")) or {}
    return [
        (str(g["flow"]), str(g["node"]), str(text), str(option))
        for g in data.get("typed_answers") or []
        for text, option in (g.get("cases") or {}).items()
    ]


def evaluate_typed(
    content: Content, cases: list[tuple[str, str, str, str]]
) -> tuple[float, list[tuple[str, str, str, str | None]]]:
    """Share of typed answers resolved to the right button (all of a node's options shown)."""
    ok = 0
    misses = []
    for flow_id, node_id, text, want in cases:
        options = getattr(content.flows[flow_id].nodes[node_id], "options", None)
        assert options, f"{flow_id}:{node_id} shows no buttons"
        got = match_option(content.labels, list(options), text)
        ok += got is not None and got.id == want
        if got is None or got.id != want:
            misses.append((f"{flow_id}:{node_id}", text, want, got.id if got else None))
    return ok / max(1, len(cases)), misses


def explain(flowset: FlowSet, text: str, *, top: int = 5) -> list[str]:
    """How a message is routed, in lines an operator reads."""
    u = flowset.understanding
    r: Route = flowset.route(text)
    lines = [f"text:        {text}", f"normalised:  {normalize(text)}"]
    if r.greeting:
        lines.append(f"greeting stripped, routing: {r.text or '(nothing left: the greeting itself)'}")
    concepts = sorted(f[2:] for f in features(r.text or normalize(text)) if f.startswith("k:"))
    lines.append(f"concepts:    {', '.join(concepts) or '-'}")
    lines.append(f"keyword:     {r.keyword or '-'}")
    verdict = r.flow or "NOT UNDERSTOOD"
    lines.append(f"routed to:   {verdict}  (confidence {r.confidence:.2f}, threshold {u.threshold:.2f})")
    if r.suggestions:
        lines.append(f"did you mean: {', '.join(r.suggestions)}")
    lines.append("scores:")
    for flow_id, score in r.scores[:top]:
        label = "off-topic examples" if flow_id == NONE else flow_id
        lines.append(f"  {score:5.2f}  {label}")
    return lines


def collisions(flowset: FlowSet, *, threshold: float = 0.85) -> list[str]:
    """Examples of two different flows that are (nearly) the same message: warnings for `flows check`."""
    u = flowset.understanding
    out: list[str] = []
    seen: dict[str, str] = {}
    for flow in flowset.flows.values():
        for lang, texts in flow.triggers.examples.items():
            for text in texts:
                norm = normalize(text)
                if norm in seen and seen[norm] != flow.id:
                    out.append(f"{flow.file}: example '{text}' ({lang}) is also an example of flow '{seen[norm]}'")
                seen.setdefault(norm, flow.id)
    labels, vectors = u.labels, u.vectors
    for i in range(len(vectors)):
        vi = vectors[i]
        for j in range(i + 1, len(vectors)):
            if labels[i] == labels[j]:
                continue
            vj = vectors[j]
            small, big = (vi, vj) if len(vi) < len(vj) else (vj, vi)
            sim = sum(w * big.get(f, 0.0) for f, w in small.items())
            if sim >= threshold:
                out.append(
                    f"examples of '{labels[i]}' and '{labels[j]}' nearly collide ({sim:.2f}): "
                    f"'{u.texts[i]}' / '{u.texts[j]}'"
                )
    return out


def as_dict(e: Evaluation) -> dict[str, Any]:
    return {"accuracy": e.accuracy, "counts": e.counts, "off_topic_routed": e.off_topic_routed}


@dataclass
class CrossValidation:
    accuracy: dict[str, float]  # language -> top-1 accuracy on the examples left out
    off_topic_routed: float  # share of left-out off-topic examples that started a flow
    folds: int
    repeats: int
    typo: bool
    latin: bool = False


def _typo(text: str, rnd: random.Random) -> str:
    """The text with one typo (a letter dropped, wrong, swapped or added) in one longer Russian word."""
    words = [m for m in _RU_WORD.finditer(text)]
    if not words:
        return text
    m = rnd.choice(words)
    w, i = m.group(), rnd.randrange(1, len(m.group()) - 1)
    op = rnd.choice("dsti")
    if op == "d":
        w = w[:i] + w[i + 1 :]
    elif op == "s":
        w = w[:i] + rnd.choice("абвгдеиклмнопрст") + w[i + 1 :]
    elif op == "t":
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    else:
        w = w[:i] + rnd.choice("аеиоу") + w[i:]
    return text[: m.start()] + w + text[m.end() :]


_RU_WORD = re.compile(r"[а-яё]{5,}")
# Russian typed in Latin letters, two ways buyers do it ("pochemu", "po4emu"; "zh", "j")
_LATIN = str.maketrans({"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
                        "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
                        "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh",
                        "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"})
_LATIN_CHAT = str.maketrans({"ж": "j", "х": "kh", "й": "i", "ь": "'", "ю": "ju", "я": "ja", "ч": "4", "ц": "c",
                             "ы": "i"})


def _latin(text: str, rnd: random.Random) -> str:
    """The text typed in Latin letters, one of two common ways."""
    low = text.lower()
    if rnd.random() < 0.5:
        low = low.translate(_LATIN_CHAT)
    return low.translate(_LATIN)


def cross_validate(
    flowset: FlowSet, *, folds: int = 5, repeats: int = 3, typo: bool = False, latin: bool = False
) -> CrossValidation:
    """k-fold cross-validation over the flows' own examples (the held-out sets untouched): each
    example is routed by a model trained without its fold, keywords kept. What to tune the matcher
    on; `typo` puts one random typo into each left-out Russian message, `latin` types the Russian
    ones in Latin letters (and leaves the Chinese out)."""
    examples = {f.id: f.triggers.examples for f in flowset.flows.values() if f.triggers.examples}
    ok: dict[str, int] = {}
    n: dict[str, int] = {}
    off = off_n = 0
    for seed in range(repeats):
        rnd = random.Random(seed)
        fold_of: dict[tuple[str, str, int], int] = {}
        for fid, by_lang in examples.items():
            for lang, texts in by_lang.items():
                order = list(range(len(texts)))
                rnd.shuffle(order)
                for pos, i in enumerate(order):
                    fold_of[(fid, lang, i)] = pos % folds
        for fold in range(folds):
            train = {
                fid: {lang: [t for i, t in enumerate(ts) if fold_of[(fid, lang, i)] != fold] for lang, ts in by.items()}
                for fid, by in examples.items()
            }
            model = Understanding(train, flowset.keywords)
            for fid, by_lang in examples.items():
                for lang, texts in by_lang.items():
                    for i, text in enumerate(texts):
                        if fold_of[(fid, lang, i)] != fold:
                            continue
                        if latin and lang != "ru":
                            continue
                        text = _typo(text, rnd) if typo else text
                        got = model.route_uncached(_latin(text, rnd) if latin else text).flow
                        if fid == NONE:
                            off_n += 1
                            off += got is not None
                        else:
                            n[lang] = n.get(lang, 0) + 1
                            ok[lang] = ok.get(lang, 0) + (got == fid)
    accuracy = {lang: ok.get(lang, 0) / c for lang, c in n.items()}
    return CrossValidation(accuracy, off / max(1, off_n), folds, repeats, typo, latin)
