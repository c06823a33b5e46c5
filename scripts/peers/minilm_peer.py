#!/usr/bin/env python3
"""HF transformers as the peer for hubd's MiniLM sentence encoder (parity + bench).

The reference is what sentence-transformers runs for all-MiniLM-L6-v2
(modules.json: Transformer -> Pooling(mean) -> Normalize), written out with
transformers alone: AutoTokenizer(truncation at max_seq_length=256,
padding to the longest), AutoModel, mean pooling over the attention mask
(sum / clamp(count, 1e-9)), F.normalize(p=2, dim=1).

Usage:
  minilm_peer.py parity MODEL_DIR IN_JSON OUT_JSON
      IN_JSON: {"sentences": [str...]}
      Writes OUT_JSON: {"ids": [[int...]...] (unpadded, per sentence),
                        "offsets": [[[start, end]...]...] (character offsets),
                        "embeddings": [[float...]...] (one batch, padded)}
  minilm_peer.py bench MODEL_DIR IN_JSON
      IN_JSON: {"sentences": [str...], "iterations": int, "threads": int (default 2)}
      Runs each sentence at batch 1 (tokenise + forward + pool + normalise),
      cycling through the sentences; prints one JSON line with load_s,
      p50_ms, p99_ms, iterations.
Threads: torch.set_num_threads(threads). Offline only.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402


def load(model_dir):
    with open(os.path.join(model_dir, "sentence_bert_config.json")) as fh:
        max_len = int(json.load(fh)["max_seq_length"])
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    return tok, model, max_len


def embed(tok, model, max_len, sentences):
    batch = tok(sentences, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    pooled = (states * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


def parity(model_dir, in_json, out_json):
    with open(in_json) as fh:
        sentences = json.load(fh)["sentences"]
    tok, model, max_len = load(model_dir)
    ids, offsets = [], []
    for s in sentences:
        e = tok(s, truncation=True, max_length=max_len, return_offsets_mapping=True)
        ids.append(list(e["input_ids"]))
        offsets.append([list(o) for o in e["offset_mapping"]])
    emb = embed(tok, model, max_len, sentences)
    with open(out_json, "w") as fh:
        json.dump({"ids": ids, "offsets": offsets, "embeddings": emb.tolist(), "max_len": max_len}, fh)


def bench(model_dir, in_json):
    with open(in_json) as fh:
        spec = json.load(fh)
    torch.set_num_threads(int(spec.get("threads", 2)))
    sentences, iterations = spec["sentences"], int(spec["iterations"])
    t0 = time.perf_counter()
    tok, model, max_len = load(model_dir)
    load_s = time.perf_counter() - t0
    for s in sentences:  # warm-up
        embed(tok, model, max_len, [s])
    times = []
    for i in range(iterations):
        s = sentences[i % len(sentences)]
        t = time.perf_counter()
        embed(tok, model, max_len, [s])
        times.append(time.perf_counter() - t)
    times.sort()
    # Same percentile as hubd-bench's linkbench::percentile.
    pick = lambda q: times[min(len(times) - 1, int(round((len(times) - 1) * q)))] * 1000.0  # noqa: E731
    print(json.dumps({"load_s": load_s, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "iterations": iterations,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "parity":
        parity(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 4 and sys.argv[1] == "bench":
        bench(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
