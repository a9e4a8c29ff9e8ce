"""Understanding figures (issue 11): held-out routing accuracy per language, off-topic messages sent
to a flow, typed answers at button steps, routing cost (µs per message), flows + model load time
and the memory the model takes.

Run: `make bench` (or `.venv/bin/python bench/nlu.py`). Targets: top-1 >= 95% per language,
off-topic routed <= 5%, typed answers >= 95%, routing p99 < 300 µs, flows + model load < 500 ms,
RSS growth < 40 MB. The held-out sets (flows/nlu/heldout.yaml, fresh.yaml, fresh2.yaml) are never trained on;
their misses are printed only with --misses. Cross-validation on the flows' own examples is what
the matcher is tuned on.
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    """Current resident set size (Linux /proc), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    rss_start = rss_mb()
    import babel  # noqa: F401  (what the bot imported before understanding existed)
    import pydantic  # noqa: F401
    import yaml  # noqa: F401

    rss_base = rss_mb()
    import rapidfuzz  # noqa: F401  (what understanding adds)
    import snowballstemmer  # noqa: F401

    rss_nlu_deps = rss_mb() - rss_base
    from bot.engine.content import Content, load_checked
    from bot.engine.understanding import Understanding
    from bot.operators import nlu
    from bot.settings import ROOT

    flows_dir, locales_dir = ROOT / "flows", ROOT / "locales"
    rss_imported = rss_mb()
    loads = []
    for _ in range(5):
        gc.collect()
        t0 = time.perf_counter()
        content = Content.of(*load_checked(flows_dir, locales_dir))
        loads.append(time.perf_counter() - t0)
    flows = content.flows
    examples = {f.id: f.triggers.examples for f in flows.flows.values() if f.triggers.examples}
    builds = []
    for _ in range(5):
        t0 = time.perf_counter()
        Understanding(examples, flows.keywords)
        builds.append(time.perf_counter() - t0)
    gc.collect()
    before_model = rss_mb()
    models = [Understanding(examples, flows.keywords) for _ in range(5)]
    gc.collect()
    per_model = (rss_mb() - before_model) / len(models)
    del models

    heldout = nlu.load_heldout(flows_dir)
    e = nlu.evaluate(flows, heldout)
    fresh = nlu.load_heldout(flows_dir, nlu.FRESH)
    ef = nlu.evaluate(flows, fresh)
    fresh2 = nlu.load_heldout(flows_dir, nlu.FRESH2)
    ef2 = nlu.evaluate(flows, fresh2)
    cvs = [nlu.cross_validate(flows, typo=typo, latin=latin)
           for typo, latin in ((False, False), (True, False), (False, True))]
    typed_rate, typed_misses = nlu.evaluate_typed(content, nlu.load_typed_answers(flows_dir))

    texts = [t for h in (heldout, fresh, fresh2) for by in h.values() for ts in by.values() for t in ts]
    texts += [t for by in examples.values() for ts in by.values() for t in ts]
    route = flows.understanding.route_uncached  # every message costs what a new one does
    for t in texts:  # warm the stem cache as a running bot's is
        route(t)
    lat = []
    per_text: list[list[float]] = [[] for _ in texts]
    rss_before_routing = rss_mb()
    gc.disable()  # as the running bot tunes it (bot/runtime.py): no collection inside one measurement
    for _ in range(20):
        for i, t in enumerate(texts):
            t0 = time.perf_counter_ns()
            route(t)
            us = (time.perf_counter_ns() - t0) / 1000
            lat.append(us)
            per_text[i].append(us)
    gc.enable()
    lat.sort()
    medians = sorted(statistics.median(x) for x in per_text)  # each message's own cost, the machine's noise removed
    rss_after_routing = rss_mb()
    n = len(lat)

    print(f"examples: {sum(len(ts) for by in examples.values() for ts in by.values())} in {len(examples)} flows; "
          f"held-out: {sum(e.counts.values())} messages + {e.off_topic_count} off-topic; typed answers: "
          f"{len(nlu.load_typed_answers(flows_dir))}")
    for lang in sorted(e.accuracy):
        print(f"held-out top-1 accuracy {lang}: {e.accuracy[lang]:.1%} of {e.counts[lang]}  (target >= 95%)")
    print(f"off-topic sent to a flow: {e.off_topic_routed:.1%} of {e.off_topic_count}  (target <= 5%)")
    for lang in sorted(ef.accuracy):
        print(f"fresh held-out slice top-1 accuracy {lang}: {ef.accuracy[lang]:.1%} of {ef.counts[lang]}")
    print(f"fresh held-out slice off-topic sent to a flow: {ef.off_topic_routed:.1%} of {ef.off_topic_count}")
    for lang in sorted(ef2.accuracy):
        print(f"fresh2 held-out slice (typos, Latin letters) top-1 accuracy {lang}: "
              f"{ef2.accuracy[lang]:.1%} of {ef2.counts[lang]}")
    print(f"fresh2 held-out slice off-topic sent to a flow: {ef2.off_topic_routed:.1%} of {ef2.off_topic_count}")
    for cv in cvs:
        how = "one typo each" if cv.typo else "Russian in Latin letters" if cv.latin else "as written"
        accs = ", ".join(f"{lang} {acc:.1%}" for lang, acc in sorted(cv.accuracy.items()))
        print(f"cross-validated on the examples ({cv.folds}-fold x{cv.repeats}, {how}): {accs}; "
              f"off-topic sent to a flow {cv.off_topic_routed:.1%}")
    print(f"typed answers at button steps resolved to the right button: {typed_rate:.1%}  (target >= 95%)")
    print(f"routing: p50 {lat[n // 2]:.0f} µs, p99 {lat[int(n * 0.99)]:.0f} µs, max {lat[-1]:.0f} µs, "
          f"mean {statistics.fmean(lat):.0f} µs over {n:,} messages  (target p99 < 300 µs)")
    print(f"routing, each message's median of 20: p50 {medians[len(medians) // 2]:.0f} µs, "
          f"p99 {medians[int(len(medians) * 0.99)]:.0f} µs, max {medians[-1]:.0f} µs over {len(medians)} messages")
    print(f"flows + catalogs + model load: {min(loads) * 1000:.0f} ms (best of 5; median "
          f"{statistics.median(loads) * 1000:.0f} ms); the model alone {min(builds) * 1000:.0f} ms  (target < 500 ms)")
    growth = rss_nlu_deps + per_model + max(0.0, rss_after_routing - rss_before_routing)
    print(f"RSS growth from understanding: {growth:.1f} MB = {rss_nlu_deps:.1f} MB snowballstemmer + rapidfuzz, "
          f"{per_model:.1f} MB the model, {max(0.0, rss_after_routing - rss_before_routing):.1f} MB over "
          f"{n:,} routings (stem cache)  (target < 40 MB)")
    print(f"RSS of the whole process: {rss_start:.0f} MB at start, +{rss_imported - rss_start:.1f} MB imports, "
          f"+{before_model - rss_imported:.1f} MB after 5 loads, model {per_model:.1f} MB each, "
          f"+{rss_after_routing - rss_before_routing:.1f} MB over {n:,} routings; total growth "
          f"{rss_after_routing - rss_start:.1f} MB")
    if "--misses" in sys.argv:  # the held-out texts: read them to fix a flow, never to tune the matcher on
        for name, ev in (("held-out", e), ("fresh", ef), ("fresh2", ef2)):
            for lang, want, text, got in ev.misses:
                print(f"  {name} miss [{lang}] want {want}, got {got or 'not understood'}: {text}")
    for where, text, want, got in typed_misses:
        print(f"  typed-answer miss [{where}] {text!r}: want {want}, got {got or 'nothing'}")


if __name__ == "__main__":
    main()
