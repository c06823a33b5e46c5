#!/usr/bin/env python3
"""Number-word tables for hubd's sentence templates, one JSON file a language.

Home Assistant's matcher (hassil) spells the numbers of range lists with
unicode-rbnf (CLDR spellout rules), so "set the brightness to fifty percent"
matches `{brightness}`. hubd reads the same words from a table instead of
running RBNF itself: `scripts/setup` runs this once per venv and writes
`<out>/<lang>.json` = {"language", "numbers": {str(n): [words...] | null}}
for every language that home-assistant-intents ships. Besides the numbers the
language's own range lists need, 0..100 is always included so that custom
sentences with percentage ranges get words too.

usage: number_words.py --out DIR [--lang L ...]
"""

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import hassil_parity as hp  # noqa: E402


def table(lang):
    from hassil.numbers import get_rbnf_engine

    intents = hp.load_intents(lang, [])
    try:
        engine = get_rbnf_engine(lang)
    except ValueError:
        return {"language": lang, "numbers": {}}
    wanted = []
    for sl in hp.range_lists(intents):
        if sl.words:
            wanted.extend(sl.get_numbers())
    wanted.extend(range(0, 101))
    numbers = {}
    for n in wanted:
        key = str(n)
        if key in numbers:
            continue
        try:
            words = []
            for w in engine.format_number(n).text_by_ruleset.values():
                if w not in words:
                    words.append(w)
            numbers[key] = words
        except ValueError:
            numbers[key] = None
    return {"language": lang, "numbers": numbers}


def main():
    logging.disable(logging.WARNING)
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--lang", action="append", default=[])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    langs = args.lang or sorted(p.stem for p in hp.DATA_DIR.glob("*.json"))
    for lang in langs:
        t = table(lang)
        tmp = out / f".{lang}.json.tmp"
        tmp.write_text(json.dumps(t, ensure_ascii=False), encoding="utf-8")
        tmp.replace(out / f"{lang}.json")
    print(f"number words: {len(langs)} languages -> {out}")


if __name__ == "__main__":
    main()
