#!/usr/bin/env python3
"""Make tiny random GLM-4.1V (Glm4vForConditionalGeneration) checkpoints and
reference outputs from transformers, for the Rust parity tests
(model/tests/glm4v_parity.rs).

Usage: glm_make_tiny.py OUT_DIR

Writes, with a fixed seed:
  OUT_DIR/glm4v/            single-file save (model.safetensors + config.json)
  OUT_DIR/glm4v_sharded/    the same weights, sharded (model.safetensors.index.json + shards)
  OUT_DIR/ref.safetensors   inputs and transformers' outputs:
      image_<i>          uint8 [H, W, 3] raw RGB test images
      pixel_values       f32 [patches, C*tp*p*p] (Glm4vImageProcessor when torchvision is present,
                         else our own patchify of the same normalised image; see `pixel_source`)
      image_grid_thw     i64 [n_images, 3]
      vision_hidden      f32 vision tower output before the merger (after downsample)
      vision_out         f32 merged image features [image_tokens, text_hidden]
      input_ids          i64 [1, seq]   text + <|begin_of_image|><|image|>*n<|end_of_image|> per image
      position_ids       i64 [3, 1, seq] M-RoPE ids from get_rope_index
      logits             f32 [1, seq, vocab]
      text_input_ids     i64 [1, seq_t] text-only prompt
      text_logits        f32 [1, seq_t, vocab]
  OUT_DIR/glm4/             tiny GLM-4-0414 text model (Glm4ForCausalLM, single file), and
  OUT_DIR/ref_glm4.safetensors  input_ids i64 [1, seq], logits f32 [1, seq, vocab] (for the decoder's tests)
Run with the project's .venv python, HF_HUB_OFFLINE=1.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import Glm4vConfig, Glm4vForConditionalGeneration  # noqa: E402

VOCAB = 300
IMAGE_START, IMAGE_END, IMAGE_TOKEN = 290, 291, 292
VIDEO_START, VIDEO_END, VIDEO_TOKEN = 293, 294, 295
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def tiny_config():
    # Shapes follow GLM-4.1V-9B-Thinking scaled down: head_dim 32 with partial
    # rotary 0.5 -> 16 rotary dims -> 8 frequencies split [2, 3, 3] (t, h, w),
    # as [8, 12, 12] splits 32 in the real model.
    return Glm4vConfig(
        text_config=dict(
            vocab_size=VOCAB,
            hidden_size=128,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-5,
            max_position_embeddings=512,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
                "mrope_section": [2, 3, 3],
            },
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            num_heads=4,
            image_size=56,
            patch_size=14,
            temporal_patch_size=2,
            spatial_merge_size=2,
            intermediate_size=48,
            out_hidden_size=128,
            rms_norm_eps=1e-5,
        ),
        image_token_id=IMAGE_TOKEN,
        image_start_token_id=IMAGE_START,
        image_end_token_id=IMAGE_END,
        video_token_id=VIDEO_TOKEN,
        video_start_token_id=VIDEO_START,
        video_end_token_id=VIDEO_END,
    )


def randomise(model, gen):
    # HF init (std 0.02, norms = 1) makes near-constant outputs; use larger,
    # seeded weights so a wrong op really changes the logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif "position_embedding" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(0.08 * noise)


def test_image(h, w, seed):
    # A smooth colour gradient plus seeded noise: resize-sensitive, deterministic.
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(xx / 7.0 + seed)
    g = 127 + 100 * np.cos(yy / 5.0)
    b = 127 + 60 * np.sin((xx + yy) / 9.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def smart_resize(height, width, factor=28, min_pixels=112 * 112, max_pixels=28 * 28 * 15000, t=2):
    from transformers.models.glm4v.image_processing_glm4v import smart_resize as sr

    return sr(num_frames=t, height=height, width=width, temporal_factor=t, factor=factor,
              min_pixels=min_pixels, max_pixels=max_pixels)


def preprocess(images):
    """pixel_values / grid via transformers' Glm4vImageProcessor when it can run here."""
    try:
        from transformers import Glm4vImageProcessor

        proc = Glm4vImageProcessor()
        out = proc(images=[torch.from_numpy(im).permute(2, 0, 1).contiguous() for im in images], return_tensors="pt")
        return out["pixel_values"].float(), out["image_grid_thw"].long(), "Glm4vImageProcessor"
    except ImportError:
        pass
    # Fallback without torchvision: the same steps with torch ops (bicubic
    # antialiased resize, fused rescale+normalise, Glm4vImageProcessor.patchify).
    import torch.nn.functional as F

    pv, grids = [], []
    for im in images:
        h, w = im.shape[:2]
        rh, rw = smart_resize(h, w)
        x = torch.from_numpy(im).permute(2, 0, 1).unsqueeze(0).float()
        x = F.interpolate(x, size=(rh, rw), mode="bicubic", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255)
        mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(STD).view(1, 3, 1, 1) * 255.0
        x = (x - mean) / std
        gh, gw = rh // 14, rw // 14
        p = x.reshape(1, 3, gh // 2, 2, 14, gw // 2, 2, 14).permute(0, 2, 5, 3, 6, 1, 4, 7)
        p = p.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, 2, -1, -1).reshape(gh * gw, 3 * 2 * 14 * 14)
        pv.append(p)
        grids.append([1, gh, gw])
    return torch.cat(pv, 0), torch.tensor(grids, dtype=torch.long), "torch-fallback"


def make_glm4(out, gen):
    from transformers import Glm4Config, Glm4ForCausalLM

    cfg = Glm4Config(
        vocab_size=VOCAB,
        hidden_size=128,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        attention_bias=True,
        pad_token_id=0,
        eos_token_id=[1],
        bos_token_id=None,
        max_position_embeddings=512,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
    )
    model = Glm4ForCausalLM(cfg).eval().float()
    randomise(model, gen)
    model.save_pretrained(os.path.join(out, "glm4"), safe_serialization=True)
    ids = torch.tensor([np.random.default_rng(11).integers(0, VOCAB, size=13).tolist()], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    save_file({"input_ids": ids, "logits": logits.float().contiguous()}, os.path.join(out, "ref_glm4.safetensors"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    cfg = tiny_config()
    model = Glm4vForConditionalGeneration(cfg).eval().float()
    randomise(model, gen)
    model.save_pretrained(os.path.join(out, "glm4v"), safe_serialization=True)
    model.save_pretrained(os.path.join(out, "glm4v_sharded"), safe_serialization=True, max_shard_size="100KB")

    images = [test_image(100, 150, 1), test_image(60, 45, 2)]
    pixel_values, grid, source = preprocess(images)
    merge = cfg.vision_config.spatial_merge_size
    n_tokens = [int(g.prod()) // (merge * merge) for g in grid]

    rng = np.random.default_rng(7)
    text = lambda n: rng.integers(0, 280, size=n).tolist()  # noqa: E731
    ids = text(5)
    for n in n_tokens:
        ids += [IMAGE_START] + [IMAGE_TOKEN] * n + [IMAGE_END] + text(3)
    ids += text(4)
    input_ids = torch.tensor([ids], dtype=torch.long)
    mm_types = (input_ids == IMAGE_TOKEN).int()

    with torch.no_grad():
        vis = model.model.visual(pixel_values, grid_thw=grid)
        position_ids, _ = model.model.get_rope_index(input_ids, mm_token_type_ids=mm_types, image_grid_thw=grid)
        logits = model(
            input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grid, mm_token_type_ids=mm_types
        ).logits
        text_ids = torch.tensor([text(11)], dtype=torch.long)
        text_logits = model(input_ids=text_ids).logits

    ref = {
        "pixel_values": pixel_values.contiguous(),
        "image_grid_thw": grid.contiguous(),
        "vision_hidden": vis.last_hidden_state.float().contiguous(),
        "vision_out": vis.pooler_output.float().contiguous(),
        "input_ids": input_ids,
        "position_ids": position_ids.long().contiguous(),
        "logits": logits.float().contiguous(),
        "text_input_ids": text_ids,
        "text_logits": text_logits.float().contiguous(),
    }
    for i, im in enumerate(images):
        ref[f"image_{i}"] = torch.from_numpy(np.ascontiguousarray(im))
    save_file(ref, os.path.join(out, "ref.safetensors"), metadata={"pixel_source": source})
    with open(os.path.join(out, "ref.json"), "w") as f:
        json.dump({"pixel_source": source, "n_tokens": n_tokens, "seq": len(ids)}, f)
    if "--no-glm4" not in sys.argv:
        make_glm4(out, gen)
    print(json.dumps({"out": out, "pixel_source": source, "seq": len(ids), "n_image_tokens": n_tokens}))


if __name__ == "__main__":
    main()
