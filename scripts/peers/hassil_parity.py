#!/usr/bin/env python3
"""Reference side of the hubd <-> hassil sentence-template parity test and bench.

Loads home_assistant_intents' data/<lang>.json with hassil, builds the slot
lists exactly as Home Assistant's default conversation agent does from a hubd
registry (JSON: floors/areas/devices; names and aliases -> `name` with
domain/device_class context, areas + aliases -> `area`, floors + aliases ->
`floor`), and recognizes with `recognize_best(..., best_metadata_key=
"hass_custom_sentence", best_slot_name="name")`, the call HA makes.

generate: sample sentences from the templates (every expansion of small
          templates, a seeded random sample of large ones, plus sentences from
          wildcard templates), recognize each, write JSON lines
          {"lang","text","area","intent","slots"}.
bench:    time recognition of the sentences in a JSON-lines file (one run),
          print {"sentences", "seconds", "per_second", "load_seconds"}.
"""

import argparse
import itertools
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import yaml  # noqa: E402
from hassil.expression import (  # noqa: E402
    Alternative,
    ListReference,
    Permutation,
    RuleReference,
    Sequence,
    TextChunk,
)
from hassil.intents import (  # noqa: E402
    Intents,
    RangeSlotList,
    TextSlotList,
    WildcardSlotList,
)
from hassil.recognize import recognize_best  # noqa: E402
from hassil.sample import sample_sentence  # noqa: E402
from hassil.util import check_excluded_context, check_required_context, merge_dict, normalize_whitespace  # noqa: E402
import home_assistant_intents  # noqa: E402

DATA_DIR = Path(home_assistant_intents.__file__).parent / "data"
WORDS_ENGINE = []  # [RbnfEngine] of the language being sampled
WILDCARD_FILL = ["milk", "pizza", "dinner is ready", "the news", "eggs and bread", "jazz"]


def fix_range_trie_cache():
    """hassil 3.12.1 caches number-word tries per language by (start, stop,
    step, fractions) and ignores the multiplier, so whichever range list of
    that shape is used first in the process decides the sign for all others
    (en: "volume down by twenty" -> +20; zh-CN: every 0-100 word negative).
    For parity we compare against the intended behaviour: one trie per list
    shape *including* the multiplier. (The bench runs hassil unpatched.)"""
    import functools

    from hassil import string_matcher as sm

    class NoCache(dict):
        def get(self, key, default=None):
            return None

        def __setitem__(self, key, value):
            pass

    class PerLanguage(dict):
        def __missing__(self, key):
            return NoCache()

    build = sm._build_range_trie

    @functools.lru_cache(maxsize=None)
    def cached(language, start, stop, step, fraction_type, multiplier, digits, words):
        return build(language, RangeSlotList(name=None, start=start, stop=stop, step=step, fraction_type=fraction_type, multiplier=multiplier, digits=digits, words=words))

    sm._RANGE_TRIE_CACHE = PerLanguage()
    sm._build_range_trie = lambda language, rl: cached(language, rl.start, rl.stop, rl.step, rl.fraction_type, rl.multiplier, rl.digits, rl.words)


def load_intents(lang, custom_files):
    with open(DATA_DIR / f"{lang}.json", encoding="utf-8") as f:
        doc = json.load(f)
    for path in custom_files:
        with open(path, encoding="utf-8") as f:
            custom = yaml.safe_load(f)
        # As Home Assistant does for custom_sentences/<lang>/*.yaml
        for intent_dict in custom.get("intents", {}).values():
            for data in intent_dict.get("data", []):
                meta = data.get("metadata", {})
                meta["hass_custom_sentence"] = True
                meta["hass_custom_file"] = str(path)
                data["metadata"] = meta
        custom.pop("language", None)
        merge_dict(doc, custom)
    return Intents.from_dict(doc)


def slot_lists(reg):
    names = []
    for d in reg["devices"]:
        kind = d["kind"]
        ctx = {"domain": kind}
        if d.get("device_class"):
            ctx["device_class"] = d["device_class"]
        for alias in d.get("aliases", []) or []:
            alias = alias.strip()
            if alias:
                names.append((alias, alias, ctx))
        names.append((d["name"], d["name"], ctx))
    areas = []
    for a in reg["areas"]:
        areas.append((a["name"], a["name"]))
        for alias in a.get("aliases", []) or []:
            alias = alias.strip()
            if alias:
                areas.append((alias, alias))
    floors = []
    for fl in reg["floors"]:
        floors.append((fl["name"], fl["name"]))
        for alias in fl.get("aliases", []) or []:
            alias = alias.strip()
            if alias:
                floors.append((alias, fl["name"]))
    return {
        "area": TextSlotList.from_tuples(areas, allow_template=False),
        "name": TextSlotList.from_tuples(names, allow_template=False),
        "floor": TextSlotList.from_tuples(floors, allow_template=False),
    }


def count_expansions(exp, lists, rules, depth=0):
    if depth > 40:
        return 10**9
    if isinstance(exp, TextChunk):
        return 1
    if isinstance(exp, Alternative):
        return sum(count_expansions(i, lists, rules, depth + 1) for i in exp.items)
    if isinstance(exp, Permutation):
        n = 1
        for i in exp.items:
            n *= count_expansions(i, lists, rules, depth + 1)
        for k in range(2, len(exp.items) + 1):
            n *= k
        return n
    if isinstance(exp, Sequence):
        n = 1
        for i in exp.items:
            n *= count_expansions(i, lists, rules, depth + 1)
            if n > 10**9:
                return n
        return n
    if isinstance(exp, ListReference):
        sl = lists.get(exp.list_name)
        if isinstance(sl, TextSlotList):
            return sum(count_expansions(v.text_in, lists, rules, depth + 1) for v in sl.values)
        if isinstance(sl, RangeSlotList):
            return len(list(sl.get_numbers()))
        if sl is None and exp.is_inline_range:
            a, b, s = exp.get_inline_range()
            return len(range(a, b + 1, s))
        return 1
    if isinstance(exp, RuleReference):
        return count_expansions(rules[exp.rule_name].expression, lists, rules, depth + 1)
    return 1


def random_expansion(exp, lists, rules, rng):
    if isinstance(exp, TextChunk):
        return exp.original_text
    if isinstance(exp, Alternative):
        return random_expansion(rng.choice(exp.items), lists, rules, rng)
    if isinstance(exp, Permutation):
        items = list(exp.items)
        rng.shuffle(items)
        return normalize_whitespace("".join(random_expansion(i, lists, rules, rng) for i in items)).strip()
    if isinstance(exp, Sequence):
        return normalize_whitespace("".join(random_expansion(i, lists, rules, rng) for i in exp.items))
    if isinstance(exp, ListReference):
        sl = lists.get(exp.list_name)
        if isinstance(sl, TextSlotList):
            return random_expansion(rng.choice(sl.values).text_in, lists, rules, rng)
        if isinstance(sl, RangeSlotList):
            n = rng.choice(list(sl.get_numbers()))
            if WORDS_ENGINE and sl.words and rng.random() < 0.3:
                try:
                    return rng.choice(sorted(set(WORDS_ENGINE[0].format_number(n).text_by_ruleset.values())))
                except ValueError:
                    pass
            return str(n)
        if isinstance(sl, WildcardSlotList):
            return rng.choice(WILDCARD_FILL)
        if sl is None and exp.is_inline_range:
            a, b, s = exp.get_inline_range()
            return str(rng.choice(range(a, b + 1, s)))
        raise KeyError(exp.list_name)
    if isinstance(exp, RuleReference):
        return random_expansion(rules[exp.rule_name].expression, lists, rules, rng)
    raise ValueError(exp)


def has_wildcard(sentence, data, rules):
    return any(n in data.wildcard_list_names for n in sentence.list_names(rules))


def generate(intents, lists, lang, rng, per_template, total, wildcard_share):
    plain, wild = [], []
    all_lists = {**intents.slot_lists, **lists}
    for intent in intents.intents.values():
        for data in intent.data:
            rules = {**intents.expansion_rules, **data.expansion_rules}
            dlists = {**all_lists, **data.slot_lists}
            # Offer only list values the block accepts (as the matcher filters
            # them), so most samples are meant to match.
            for name, sl in list(dlists.items()):
                if isinstance(sl, TextSlotList) and any(v.context for v in sl.values):
                    dlists[name] = TextSlotList(
                        name=sl.name,
                        values=[
                            v
                            for v in sl.values
                            if check_required_context(data.requires_context, v.context, allow_missing_keys=True)
                            and check_excluded_context(data.excludes_context, v.context)
                        ],
                    )
            for sentence in data.sentences:
                try:
                    if has_wildcard(sentence, data, rules):
                        for _ in range(2):
                            wild.append(random_expansion(sentence.expression, dlists, rules, rng))
                        continue
                    n = count_expansions(sentence.expression, dlists, rules)
                    if n <= per_template:
                        # Every expansion (digits for ranges; no number words).
                        texts = list(itertools.islice(sample_sentence(sentence, dlists, rules, language=None), per_template))
                    else:
                        texts = [random_expansion(sentence.expression, dlists, rules, rng) for _ in range(per_template)]
                except (IndexError, KeyError):
                    # A list with no values this block accepts.
                    continue
                plain.extend(texts)
    plain = sorted(set(t.strip() for t in plain if t.strip()))
    wild = sorted(set(t.strip() for t in wild if t.strip()))
    rng.shuffle(plain)
    rng.shuffle(wild)
    n_wild = min(len(wild), int(total * wildcard_share))
    return plain[: total - n_wild] + wild[:n_wild]


def recognize(text, intents, lists, lang, area):
    ctx = {"area": {"value": area, "text": area}} if area else None
    result = recognize_best(
        text,
        intents,
        slot_lists=lists,
        intent_context=ctx,
        language=lang,
        best_metadata_key="hass_custom_sentence",
        best_slot_name="name",
    )
    if result is None:
        return None, {}
    slots = {}
    for e in result.entities_list:
        slots[e.name] = e.value
    return result.intent.name, slots


def range_lists(intents):
    """Every range list of the language data (global, per block, inline)."""
    found = [sl for sl in intents.slot_lists.values() if isinstance(sl, RangeSlotList)]
    for intent in intents.intents.values():
        for data in intent.data:
            found.extend(sl for sl in data.slot_lists.values() if isinstance(sl, RangeSlotList))
            rules = {**intents.expansion_rules, **data.expansion_rules}
            for sentence in data.sentences:
                for ref in sentence.expression.list_references(rules):
                    if ref.is_inline_range and ref.list_name not in intents.slot_lists:
                        a, b, st = ref.get_inline_range()
                        found.append(RangeSlotList(name=ref.list_name, start=a, stop=b, step=st))
    return found


def number_words(lang):
    """Number words as hassil's range lists use them: the same table
    `scripts/setup` derives for the daemon (scripts/number_words.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import number_words as nw

    return nw.table(lang)


def main():
    logging.disable(logging.WARNING)  # hassil's sampler warns per empty list
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["generate", "bench", "numbers"])
    ap.add_argument("--registry", help="hubd registry as JSON (generate, bench)")
    ap.add_argument("--lang", action="append", required=True)
    ap.add_argument("--custom", action="append", default=[], help="custom sentences YAML (first --lang only)")
    ap.add_argument("--total", type=int, default=2500, help="sentences per language")
    ap.add_argument("--per-template", type=int, default=24)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--area-every", type=int, default=4, help="every Nth sentence gets a satellite area")
    ap.add_argument("--sentences", help="bench: JSON lines with lang/text/area")
    ap.add_argument("--out", help="generate: output JSON lines (default stdout)")
    ap.add_argument("--no-recognize", action="store_true", help="generate: sentences only (intent/slots null)")
    args = ap.parse_args()

    if args.mode == "numbers":
        print(json.dumps(number_words(args.lang[0]), ensure_ascii=False))
        return

    with open(args.registry, encoding="utf-8") as f:
        reg = json.load(f)
    lists = slot_lists(reg)
    areas = [a["name"] for a in reg["areas"]]

    if args.mode == "generate":
        fix_range_trie_cache()
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
        for li, lang in enumerate(args.lang):
            intents = load_intents(lang, args.custom if li == 0 else [])
            rng = random.Random(f"{args.seed}-{lang}")
            WORDS_ENGINE.clear()
            try:
                from hassil.numbers import get_rbnf_engine

                WORDS_ENGINE.append(get_rbnf_engine(lang))
            except ValueError:
                pass
            texts = generate(intents, lists, lang, rng, args.per_template, args.total, 0.08)
            for i, text in enumerate(texts):
                area = areas[i % len(areas)] if (args.area_every and i % args.area_every == 0 and areas) else None
                intent, slots = (None, {}) if args.no_recognize else recognize(text, intents, lists, lang, area)
                out.write(json.dumps({"lang": lang, "text": text, "area": area, "intent": intent, "slots": slots}, ensure_ascii=False) + "\n")
        out.flush()
        return

    # bench
    items = []
    with open(args.sentences, encoding="utf-8") as f:
        for line in f:
            items.append(json.loads(line))
    t0 = time.perf_counter()
    intents = {lang: load_intents(lang, []) for lang in args.lang}
    load_s = time.perf_counter() - t0
    items = [it for it in items if it["lang"] in intents]
    t0 = time.perf_counter()
    matched = 0
    for it in items:
        intent, _ = recognize(it["text"], intents[it["lang"]], lists, it["lang"], it.get("area"))
        matched += intent is not None
    dt = time.perf_counter() - t0
    rss_kb = 0
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    print(json.dumps({"sentences": len(items), "matched": matched, "seconds": dt, "per_second": len(items) / dt, "load_seconds": load_s, "rss_kb": rss_kb}))


if __name__ == "__main__":
    main()
