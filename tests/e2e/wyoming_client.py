"""Home Assistant's side of hubd's Wyoming server, played with the official
`wyoming` package (1.10) as the client, one connection per request as Home
Assistant opens them.

Usage: wyoming_client.py PORT SCENARIO
  full     describe; STT of an espeak-ng recording (16 kHz 16-bit mono
           chunks, converted with wyoming's own AudioChunkConverter);
           handle a transcript with a conversation id and satellite id;
           recognize; synthesize, then send the speech back through asr;
           an unknown event, a malformed header, an oversize payload and a
           client that leaves mid-audio, each followed by a describe.
  no_tts   describe, then synthesize (expects an error event).
  busy     holds two connections open and opens a third.

Prints one JSON object with what it saw; the Rust test makes the checks.
"""

import asyncio
import json
import subprocess
import sys
import tempfile
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.intent import Intent, NotRecognized, Recognize
from wyoming.tts import Synthesize, SynthesizeVoice

HOST = "127.0.0.1"
TIMEOUT = 120


def espeak(text):
    """Speech as (rate, width, channels, pcm) from espeak-ng's WAV."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", f.name, text], check=True)
        with wave.open(f.name, "rb") as w:
            return w.getframerate(), w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())


async def read_until(client, kinds):
    """Events up to and including the first of `kinds` (or an error)."""
    seen = []
    while True:
        ev = await asyncio.wait_for(client.read_event(), TIMEOUT)
        if ev is None:
            seen.append(None)
            return seen
        seen.append(ev)
        if ev.type in kinds or Error.is_type(ev.type):
            return seen


async def describe(port):
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Describe().event())
        evs = await read_until(c, {"info"})
    ev = evs[-1]
    if ev is None or not Info.is_type(ev.type):
        return {"error": repr(ev)}
    info = Info.from_event(ev)  # the package's own parser accepts hubd's shapes
    return {
        "data": ev.data,
        "parsed": {
            "asr": [p.name for p in info.asr],
            "handle": [p.name for p in info.handle],
            "intent": [p.name for p in info.intent],
            "tts": [p.name for p in info.tts],
            "voices": len(info.tts[0].voices) if info.tts else 0,
            "home_control": bool(info.handle and info.handle[0].supports_home_control),
        },
    }


async def stt(port, rate, width, channels, pcm):
    """Home Assistant's STT sequence: 16 kHz 16-bit mono chunks."""
    conv = AudioChunkConverter(rate=16000, width=2, channels=1)
    chunk = conv.convert(AudioChunk(rate=rate, width=width, channels=channels, audio=pcm))
    audio = chunk.audio
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Transcribe(language="en").event())
        await c.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for i in range(0, len(audio), 2048):
            part = audio[i : i + 2048]
            await c.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=part).event())
        await c.write_event(AudioStop().event())
        evs = await read_until(c, {"transcript"})
    last = evs[-1]
    return {
        "kinds": [e.type if e else None for e in evs],
        "text": Transcript.from_event(last).text if last and Transcript.is_type(last.type) else None,
        "chunks": [e.data.get("text") for e in evs if e and e.type == "transcript-chunk"],
        "error": last.data if last and Error.is_type(last.type) else None,
    }


async def handle(port, text):
    async with AsyncTcpClient(HOST, port) as c:
        ctx = {"conversation_id": "conv-e2e-1", "satellite_id": "kitchen-satellite"}
        await c.write_event(Transcript(text=text, context=ctx, language="en").event())
        evs = await read_until(c, {"handled", "not-handled"})
    last = evs[-1]
    if last is not None and Handled.is_type(last.type):
        h = Handled.from_event(last)
        return {"kind": "handled", "text": h.text, "context": h.context}
    if last is not None and NotHandled.is_type(last.type):
        h = NotHandled.from_event(last)
        return {"kind": "not-handled", "text": h.text, "context": h.context}
    return {"kind": repr(last)}


async def recognize(port, text):
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Recognize(text=text).event())
        evs = await read_until(c, {"intent", "not-recognized"})
    last = evs[-1]
    if last is not None and Intent.is_type(last.type):
        i = Intent.from_event(last)
        return {"kind": "intent", "name": i.name, "entities": {e.name: e.value for e in i.entities}}
    if last is not None and NotRecognized.is_type(last.type):
        return {"kind": "not-recognized", "text": NotRecognized.from_event(last).text}
    return {"kind": repr(last)}


async def synthesize(port, text, voice=None):
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Synthesize(text=text, voice=voice).event())
        evs = await read_until(c, {"audio-stop"})
    start = next((e for e in evs if e and AudioStart.is_type(e.type)), None)
    chunks = [AudioChunk.from_event(e) for e in evs if e and AudioChunk.is_type(e.type)]
    last = evs[-1]
    return {
        "kinds": sorted({e.type if e else "closed" for e in evs}),
        "format": [start.data["rate"], start.data["width"], start.data["channels"]] if start else None,
        "chunks": len(chunks),
        "pcm": b"".join(c.audio for c in chunks),
        "error": last.data if last and Error.is_type(last.type) else None,
    }


async def raw(port, data):
    """Send raw bytes; return the first event back and whether the server then closed."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(data)
    await writer.drain()
    ev = await asyncio.wait_for(async_read_event(reader), TIMEOUT)
    rest = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    return {"kind": ev.type if ev else None, "data": ev.data if ev else None, "closed": rest == b""}


async def full(port):
    out = {"describe": await describe(port)}
    rate, width, channels, pcm = espeak("turn on the kitchen light")
    out["stt"] = await stt(port, rate, width, channels, pcm)
    out["handle"] = await handle(port, "turn on the kitchen light")
    out["not_handled"] = await handle(port, "blorp the frobnicator quietly")
    out["intent"] = await recognize(port, "turn off the hall light")
    out["not_recognized"] = await recognize(port, "blorp the frobnicator quietly")
    tts = await synthesize(port, "the kitchen light is on", SynthesizeVoice(name="en-us"))
    pcm = tts.pop("pcm")
    tts["bytes"] = len(pcm)
    out["tts"] = tts
    if tts["format"]:
        out["tts_stt"] = await stt(port, *tts["format"], pcm)
    # An unknown event is answered and the connection stays usable.
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Event(type="frobnicate", data={"x": 1}))
        first = await read_until(c, {"error"})
        await c.write_event(Describe().event())
        second = await read_until(c, {"info"})
    out["unknown"] = {"first": first[-1].data if first[-1] else None, "then": second[-1].type if second[-1] else None}
    out["malformed"] = await raw(port, b"this is not json\n")
    out["oversize"] = await raw(port, b'{"type": "audio-chunk", "payload_length": 999999999999}\n')
    # A client that leaves mid-audio.
    reader, writer = await asyncio.open_connection(HOST, port)
    for ev in [Transcribe().event(), AudioStart(rate=16000, width=2, channels=1).event()]:
        await async_write_event(ev, writer)
    await async_write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(3200)).event(), writer)
    writer.write(b'{"type": "audio-chunk", "payload_length": 3200}\n' + bytes(100))
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.5)
    out["after"] = (await describe(port)).get("parsed")
    return out


async def no_tts(port):
    out = {"describe": (await describe(port)).get("parsed")}
    tts = await synthesize(port, "hello there")
    tts.pop("pcm")
    out["tts"] = tts
    return out


async def busy(port):
    """With `max_connections = 2`: two held connections are served, a third is refused."""
    held = []
    for _ in range(2):
        c = await AsyncTcpClient(HOST, port).__aenter__()
        await c.write_event(Describe().event())
        held.append((c, (await read_until(c, {"info"}))[-1]))
    third = await raw(port, b"")
    for c, _ in held:
        await c.disconnect()
    # The server frees the slots when it sees the clients leave.
    after = None
    for _ in range(50):
        after = (await describe(port)).get("parsed")
        if after:
            break
        await asyncio.sleep(0.1)
    return {"held": [ev.type if ev else None for _, ev in held], "third": third, "after": after}


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    run = {"full": full, "no_tts": no_tts, "busy": busy}[scenario]
    print(json.dumps(asyncio.run(run(port))))


if __name__ == "__main__":
    main()
