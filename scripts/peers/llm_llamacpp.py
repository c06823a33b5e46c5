#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python, built from source by scripts/setup-llamacpp) as the decode peer.

Usage:
  llm_llamacpp.py bench GGUF_PATH IDS_JSON NEW_TOKENS
      IDS_JSON: the prompt's token ids (hubd's tokenisation of the same GGUF, so
      both engines run the very same prompt). Greedy decoding of NEW_TOKENS
      tokens (EOS not stopping), 2 threads, the GGUF's own quantised kernels.
      Prints one JSON line: load_s, prefill_tok_s, decode_tok_s, peak_rss_mb.
"""
import json
import resource
import sys
import time

import numpy as np
from llama_cpp import Llama, __version__


def bench(gguf_path, ids, new_tokens):
    t0 = time.perf_counter()
    llm = Llama(model_path=gguf_path, n_ctx=len(ids) + new_tokens + 16, n_batch=512, n_threads=2,
                n_threads_batch=2, logits_all=False, verbose=False)
    load_s = time.perf_counter() - t0
    n_vocab = llm.n_vocab()

    def last_argmax():
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
        return int(np.argmax(logits))

    # Warm-up, like the Rust side: 16 prompt tokens and 4 new ones.
    llm.reset()
    llm.eval(ids[:16])
    for _ in range(4):
        llm.eval([last_argmax()])
    llm.reset()
    t_start = time.perf_counter()
    llm.eval(ids)
    tok = last_argmax()
    t_first = time.perf_counter()
    out = [tok]
    while len(out) < new_tokens:
        llm.eval([tok])
        tok = last_argmax()
        out.append(tok)
    t_end = time.perf_counter()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "load_s": load_s,
        "prompt_tokens": len(ids),
        "new_tokens": len(out),
        "prefill_tok_s": len(ids) / (t_first - t_start),
        "decode_tok_s": (len(out) - 1) / (t_end - t_first),
        "peak_rss_mb": rss_kb / 1024.0,
        "llama_cpp_python": __version__,
    }))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "bench":
        with open(sys.argv[3]) as fh:
            ids = [int(i) for i in json.load(fh)]
        bench(sys.argv[2], ids, int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
