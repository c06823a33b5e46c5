#!/usr/bin/env python3
"""Feed a FIFO microphone (scripts/alsa/fifo-mic) in real time.

Writes FLOAT_LE, 48 kHz, stereo (the format asoundrc.in declares) in whole
periods of --period frames, paced by the monotonic clock: silence, then each
--say sentence (espeak-ng + sox) or --wav file, separated by --gap seconds of
silence, then silence until interrupted (or --tail seconds). The FIFO is opened
read-write, so opening never waits for the reader and the reader closing and
reopening it (cpal probes the device before streaming) never breaks the pipe.
No third-party modules.
"""
import argparse, os, subprocess, sys, tempfile, time

RATE, CH, BYTES = 48000, 2, 4


def render(text=None, wav=None):
    with tempfile.TemporaryDirectory() as d:
        if text is not None:
            wav = os.path.join(d, "say.wav")
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", wav, text], check=True)
        raw = os.path.join(d, "out.raw")
        subprocess.run(["sox", wav, "-t", "raw", "-r", str(RATE), "-c", str(CH),
                        "-e", "floating-point", "-b", "32", "-L", raw], check=True)
        with open(raw, "rb") as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("fifo")
    ap.add_argument("--period", type=int, default=960, help="frames per write (the reader's period)")
    ap.add_argument("--say", action="append", default=[])
    ap.add_argument("--wav", action="append", default=[])
    ap.add_argument("--lead", type=float, default=1.0)
    ap.add_argument("--gap", type=float, default=2.0)
    ap.add_argument("--tail", type=float, default=None, help="stop after this much trailing silence")
    a = ap.parse_args()
    clips = [render(text=t) for t in a.say] + [render(wav=w) for w in a.wav]
    period = a.period * CH * BYTES
    sec = RATE * CH * BYTES
    timeline = bytearray(int(a.lead * sec) // period * period)
    for c in clips:
        timeline += c + bytes((-len(c)) % period)
        timeline += bytes(int(a.gap * sec) // period * period)
    silence = bytes(period)
    f = None
    pos, t0, n = 0, None, 0
    while True:
        if f is None:
            f = open(a.fifo, "r+b", buffering=0)  # O_RDWR: never blocks
            t0, n = time.monotonic(), 0
        chunk = timeline[pos:pos + period] if pos < len(timeline) else silence
        try:
            f.write(chunk)
        except BrokenPipeError:
            f.close()
            f = None
            continue
        pos += period
        n += 1
        if a.tail is not None and pos >= len(timeline) + a.tail * sec:
            break
        delay = t0 + n * a.period / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
