#!/usr/bin/env python3
"""Reference peer for hubd's Whisper: faster-whisper 1.2.1 (CTranslate2) on
the same model directory and the same 16 kHz PCM.

Run with the project's venv, offline:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/peers/whisper_peer.py MODE ...

Modes
  mel IN.f32 OUT.f32           log-mel of raw little-endian f32 16 kHz PCM with
                               faster_whisper.feature_extractor.FeatureExtractor
                               (default padding 160); prints {"n_mels","frames"}.
  transcribe --model DIR [--compute-type T] [--beam N] [--threads N]
             [--fallback] [--repeat N] WAV...
                               one JSON line per WAV: text, tokens,
                               no_speech_prob, avg_logprob, and wall-clock
                               seconds per call (best of --repeat after one
                               warm-up call per process).

WAV input must be PCM (any bit depth the `wave` module reads: 8/16/32-bit
int); it is mixed to mono and must already be 16 kHz, so both sides decode
identical samples (no resampler in the comparison).
"""
import argparse
import json
import os
import sys
import time
import wave

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402


def read_wav_16k(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != 16000:
            raise SystemExit(f"{path}: {w.getframerate()} Hz, the peer needs 16 kHz")
        ch, width, n = w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise SystemExit(f"{path}: {8 * width}-bit samples not supported by the peer")
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1).astype(np.float32)
    return x


def cmd_mel(a):
    from faster_whisper.feature_extractor import FeatureExtractor

    pcm = np.fromfile(a.inp, dtype="<f4")
    fe = FeatureExtractor(feature_size=a.n_mels)
    mel = fe(pcm).astype("<f4")
    mel.tofile(a.out)
    print(json.dumps({"n_mels": int(mel.shape[0]), "frames": int(mel.shape[1])}))


def cmd_transcribe(a):
    from faster_whisper import WhisperModel

    model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type, cpu_threads=a.threads)
    temps = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if a.fallback else [0.0]

    def run(pcm):
        segs, _info = model.transcribe(
            pcm,
            language="en",
            beam_size=a.beam,
            temperature=temps,
            without_timestamps=True,
            vad_filter=False,
            initial_prompt=a.prompt,
        )
        return list(segs)

    warmed = False
    for path in a.wavs:
        pcm = read_wav_16k(path)
        if not warmed:
            run(pcm)
            warmed = True
        best = None
        for _ in range(max(1, a.repeat)):
            t0 = time.perf_counter()
            segs = run(pcm)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(
            json.dumps(
                {
                    "path": path,
                    "text": "".join(s.text for s in segs).strip(),
                    "tokens": [t for s in segs for t in s.tokens],
                    "no_speech_prob": max([s.no_speech_prob for s in segs], default=None),
                    "avg_logprob": segs[0].avg_logprob if segs else None,
                    "duration_s": len(pcm) / 16000.0,
                    "seconds": best,
                }
            ),
            flush=True,
        )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("mel")
    m.add_argument("inp")
    m.add_argument("out")
    m.add_argument("--n-mels", type=int, default=80)
    t = sub.add_parser("transcribe")
    t.add_argument("--model", required=True)
    t.add_argument("--compute-type", default="default")
    t.add_argument("--beam", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--fallback", action="store_true")
    t.add_argument("--prompt", default=None)
    t.add_argument("--repeat", type=int, default=1)
    t.add_argument("wavs", nargs="+")
    a = p.parse_args()
    {"mel": cmd_mel, "transcribe": cmd_transcribe}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
