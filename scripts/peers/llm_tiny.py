#!/usr/bin/env python3
"""Tiny random decoder checkpoints + transformers reference logits, for the
decoder parity tests (model/tests/decoder_parity.rs).

Usage: llm_tiny.py OUT_DIR

Writes (fixed seeds, fp32):
  OUT_DIR/glm4/        Glm4ForCausalLM (GLM-4-0414 layout: sandwich norms, partial
                       interleaved rotary, q/k/v bias, fused gate_up_proj, GQA),
                       saved *sharded* (model.safetensors.index.json + shards)
  OUT_DIR/llama/       LlamaForCausalLM (GQA, untied head), single model.safetensors
  OUT_DIR/gemma3/      Gemma3ForCausalLM (gemma3_text: 1 + w norms, q/k norms, scaled
                       embeddings, tanh GeGLU, a sliding window of 8 over the 13 positions
                       on six of seven layers, query_pre_attn_scalar != head_dim, tied head)
  OUT_DIR/<name>/ref.safetensors   input_ids i64 [2, seq], logits f32 [2, seq, vocab]
  OUT_DIR/<name>/greedy.json       {"prompt": [...], "tokens": [...]} greedy continuation (16)
Run with the project's .venv python; no network.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    Glm4Config,
    Glm4ForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
)

VOCAB = 211
SEQ = 13


def spread(model, std, norm_base=1.0):
    # Larger-than-default init so logits are far from uniform and a wrong
    # rotary layout or norm placement changes them visibly.
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                # Gemma's norms scale by 1 + w: its base is 0.
                p.copy_(norm_base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def build(name):
    if name == "glm4":
        cfg = Glm4Config(
            vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
            max_position_embeddings=256, attention_bias=True, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
            eos_token_id=[VOCAB - 1], pad_token_id=0,
        )
        model = Glm4ForCausalLM(cfg)
    elif name == "llama":
        cfg = LlamaConfig(
            vocab_size=VOCAB, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
            num_attention_heads=6, num_key_value_heads=2, rms_norm_eps=1e-5,
            max_position_embeddings=256, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 50000.0},
            eos_token_id=VOCAB - 1, bos_token_id=1, pad_token_id=0,
        )
        model = LlamaForCausalLM(cfg)
    elif name == "gemma3":
        cfg = Gemma3TextConfig(
            vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=7,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=32,
            sliding_window=8, max_position_embeddings=256, rms_norm_eps=1e-6,
            eos_token_id=VOCAB - 1, bos_token_id=1, pad_token_id=0,
        )
        cfg._attn_implementation = "eager"
        model = Gemma3ForCausalLM(cfg)
    else:
        raise SystemExit(f"unknown model {name}")
    spread(model, 0.15, 0.0 if name == "gemma3" else 1.0)
    return model.eval()


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    for name in ("glm4", "llama", "gemma3"):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        model = build(name)
        if name == "glm4":
            model.save_pretrained(d, safe_serialization=True, max_shard_size="60KB")
        else:
            model.save_pretrained(d, safe_serialization=True)
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(1, VOCAB - 1, (2, SEQ), generator=g)
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float().contiguous()
            gen = model.generate(ids[:1], max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0)
        save_file({"input_ids": ids.contiguous(), "logits": logits}, os.path.join(d, "ref.safetensors"))
        with open(os.path.join(d, "greedy.json"), "w") as f:
            json.dump({"prompt": ids[0].tolist(), "tokens": gen[0, SEQ:].tolist()}, f)
    print("ok")


if __name__ == "__main__":
    main()
