#!/usr/bin/env python3
"""HF transformers as the peer for the GGUF decoders (SmolLM2, Gemma 3): parity + bench.

transformers 5.x loads the GGUF with `from_pretrained(dir, gguf_file=...)`
(dequantised to an fp32 LlamaForCausalLM, tokenizer rebuilt from the GGUF
vocabulary and merges).

Usage:
  llm_gguf.py parity GGUF_PATH IN_JSON OUT_DIR
      IN_JSON: {"texts": [str...], "chats": [[{"role","content"}...]...],
                "greedy_tokens": 32, "tokenize": [str...]}
      Writes OUT_DIR/logits.safetensors (ids_<i> i64 [1, n], logits_<i> f32 [n, vocab]
      for every prompt: texts first, then chats rendered with the GGUF's chat
      template) and OUT_DIR/peer.json (prompts, ids, greedy continuations,
      rendered chats, tokenizations, module/dtype info).
  llm_gguf.py dequant GGUF_PATH OUT_SAFETENSORS NAME...
      The named tensors dequantised by the `gguf` package (what transformers
      uses), f32 in storage order, flattened.
  llm_gguf.py bench GGUF_PATH PROMPT_TOKENS NEW_TOKENS
      Prints one JSON line: load_s, prefill_tok_s, decode_tok_s, peak_rss_mb.
Threads: torch.set_num_threads(2). Offline only.
"""
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402


def load(gguf_path):
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    return tok, model


def share_gguf_reader():
    """transformers parses the GGUF once for the tokenizer, once for the
    config and once for the weights; gguf-py's parse of Gemma 3's 262k-token
    vocabulary takes about 18 s in Python each time. The parity run shares
    one read-only (memory-mapped) reader; the bench keeps stock loading, so
    its load_s is what a transformers user waits."""
    import functools

    import gguf

    gguf.GGUFReader = functools.lru_cache(maxsize=None)(gguf.GGUFReader)


def parity(gguf_path, in_json, out_dir):
    with open(in_json) as fh:
        spec = json.load(fh)
    os.makedirs(out_dir, exist_ok=True)
    share_gguf_reader()
    tok, model = load(gguf_path)
    n_greedy = int(spec.get("greedy_tokens", 32))
    prompts = list(spec.get("texts", []))
    rendered = []
    for chat in spec.get("chats", []):
        r = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        rendered.append(r)
        prompts.append(r)
    tensors = {}
    out = {"prompts": prompts, "rendered_chats": rendered, "ids": [], "greedy": [], "tokenize": {}}
    with torch.no_grad():
        for i, p in enumerate(prompts):
            ids = tok(p, return_tensors="pt", add_special_tokens=False).input_ids
            logits = model(input_ids=ids).logits[0].float().contiguous()
            tensors[f"ids_{i}"] = ids.contiguous()
            tensors[f"logits_{i}"] = logits
            # An explicit all-ones mask: without it generate() infers one from
            # `ids != pad_token_id`, and SmolLM2's pad is <|im_end|> (id 2), so a
            # chat prompt would have its own <|im_end|> tokens masked out.
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_greedy,
                                 min_new_tokens=n_greedy, do_sample=False,
                                 eos_token_id=None, pad_token_id=tok.pad_token_id or 0)
            out["ids"].append(ids[0].tolist())
            out["greedy"].append(gen[0, ids.shape[1]:].tolist())
    for s in spec.get("tokenize", []):
        out["tokenize"][s] = tok(s, add_special_tokens=False).input_ids
    lin = model.model.layers[0].self_attn.q_proj
    out["q_proj_type"] = type(lin).__name__
    out["dtype"] = str(next(model.parameters()).dtype)
    save_file(tensors, os.path.join(out_dir, "logits.safetensors"))
    with open(os.path.join(out_dir, "peer.json"), "w") as fh:
        json.dump(out, fh)
    print("ok")


class Stamps(BaseStreamer):
    def __init__(self):
        self.t = []

    def put(self, value):
        self.t.append(time.perf_counter())

    def end(self):
        pass


def bench(gguf_path, prompt_tokens, new_tokens):
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    tok, model = load(gguf_path)
    load_s = time.perf_counter() - t0
    text = "The smart home hub listens to the kitchen, the hallway and the garden. " * 64
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids[:, :prompt_tokens]
    with torch.no_grad():
        # Warm-up (allocator, kernels), like the Rust side.
        model.generate(ids[:, :16], attention_mask=torch.ones_like(ids[:, :16]), max_new_tokens=4, min_new_tokens=4,
                       do_sample=False, eos_token_id=None, pad_token_id=0)
        s = Stamps()
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                       min_new_tokens=new_tokens, do_sample=False, eos_token_id=None, pad_token_id=0, streamer=s)
    # put() #0: the prompt (before prefill); #1: first new token (after prefill).
    prefill = s.t[1] - s.t[0]
    decode = s.t[-1] - s.t[1]
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "load_s": load_s,
        "prompt_tokens": int(ids.shape[1]),
        "new_tokens": len(s.t) - 1,
        "prefill_tok_s": ids.shape[1] / prefill,
        "decode_tok_s": (len(s.t) - 2) / decode,
        "peak_rss_mb": rss_kb / 1024.0,
        "torch": torch.__version__,
    }))


def dequant(gguf_path, out, names):
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(gguf_path)
    by_name = {t.name: t for t in reader.tensors}
    tensors = {}
    for name in names:
        t = by_name[name]
        data = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        tensors[name] = torch.from_numpy(np.ascontiguousarray(data))
        tensors[name + ".type"] = torch.tensor([int(t.tensor_type)], dtype=torch.int64)
    save_file(tensors, out)
    print("ok")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "parity":
        parity(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 5 and sys.argv[1] == "dequant":
        dequant(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
