"""The demo: a small bundled set processed concurrently against the embedded emulator.

Its insights are synthetic: the emulator makes up plausible content from the input
(nothing is sent to Symbl), and the demo says so, with the command for the real service.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TextIO

from symbl_async.client._client import SymblClient
from symbl_async.client._conversations import DEFAULT_INCLUDE
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._text import TextMessage
from symbl_async.emulator import Emulator
from symbl_async.models._models import ConversationInsights

__all__ = ["DEMO_DATA", "run_demo"]

DEMO_DATA = Path(__file__).parent.parent / "demo_data"
DEMO_URL = "https://media.example.com/recordings/quarterly-sales-review.wav"
DEMO_TEXT = [
    TextMessage(
        content="Hi Maria, thanks for joining. Shall we go over the renewal proposal?",
        speaker_name="John",
        user_id="john@example.com",
    ),
    TextMessage(
        content="Sure. The pricing looks good, but what is the timeline for onboarding?",
        speaker_name="Maria",
        user_id="maria@example.com",
    ),
    TextMessage(
        content="We can start next Monday. I will send you the contract by Friday.",
        speaker_name="John",
        user_id="john@example.com",
    ),
    TextMessage(
        content="Great. Let's schedule a follow up call with our finance team next week.",
        speaker_name="Maria",
        user_id="maria@example.com",
    ),
    TextMessage(
        content="Perfect, I'll follow up with an invite and the onboarding plan.",
        speaker_name="John",
        user_id="john@example.com",
    ),
]
INCLUDE = (*DEFAULT_INCLUDE, "entities", "summary")
SYNTHETIC_NOTE = (
    "Note: these insights are synthetic. They come from the local emulator bundled with\n"
    "symbl_async (made-up content; nothing was sent to Symbl). To process your own\n"
    "recordings with the real service, set your Symbl credentials and run:\n"
    "  SYMBL_APP_ID=<app id> SYMBL_APP_SECRET=<app secret> "
    "symbl-async process <files, folders or URLs> --out <folder>"
)


def _summary(title: str, insights: ConversationInsights) -> str:
    lines = [f"== {title} (conversation {insights.conversation_id}) =="]

    def section(label: str, texts: list[str]) -> None:
        lines.append(f"  {label} ({len(texts)}):")
        lines.extend(f"    - {text}" for text in texts[:5])
        if len(texts) > 5:
            lines.append(f"    ... and {len(texts) - 5} more")

    lines.append(f"  messages: {len(insights.messages or ())}")
    section("topics", [t.text for t in insights.topics or ()])
    section("questions", [q.text for q in insights.questions or ()])
    section("action items", [a.text for a in insights.action_items or ()])
    section("follow-ups", [f.text for f in insights.follow_ups or ()])
    lines.append("  talk time:")
    for member in insights.analytics.members if insights.analytics else ():
        talk = member.talk_time
        seconds = talk.seconds if talk and talk.seconds is not None else 0.0
        share = talk.percentage if talk and talk.percentage is not None else 0.0
        lines.append(f"    {member.name or member.id}: {seconds:.1f} s ({share:.1f} %)")
    return "\n".join(lines)


def _write_all(out_dir: Path, results: dict[str, ConversationInsights]) -> None:
    for key, insights in results.items():
        text = json.dumps(insights.to_json(), indent=2, ensure_ascii=False)
        (out_dir / f"{key}.json").write_text(text + "\n", encoding="utf-8")


async def run_demo(out_dir: Path, *, time_scale: float = 500.0, out: TextIO) -> int:
    """Process the bundled set on an in-process emulator; write one JSON file per item.

    Args:
        out_dir: folder for the insights JSON files (created if needed).
        time_scale: how much faster than the real service the emulator runs.
        out: where the readable summary goes.

    Returns:
        The number of conversations processed.
    """
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    print("Demo: processing a bundled sample set on the local emulator (synthetic insights)\n",
          file=out)
    started = time.monotonic()
    async with (
        Emulator(time_scale=time_scale) as emu,
        SymblClient(
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            base_url=emu.url,
            poll=PollSchedule(time_scale=time_scale),
        ) as client,
    ):
        work: dict[str, Awaitable[ConversationInsights]] = {
            "audio-file": client.process_audio_file(
                DEMO_DATA / "meeting.wav",
                options=ProcessingOptions(name="Demo: WAV upload", detect_phrases=True),
                include=INCLUDE,
            ),
            "video-file": client.process_video_file(
                DEMO_DATA / "meeting.mp4",
                options=ProcessingOptions(name="Demo: MP4 upload"),
                include=INCLUDE,
            ),
            "audio-url": client.process_audio_url(
                DEMO_URL,
                options=ProcessingOptions(name="Demo: audio URL", enable_summary=True),
                include=INCLUDE,
            ),
            "text": client.process_text(
                DEMO_TEXT,
                options=ProcessingOptions(name="Demo: text conversation", enable_summary=True),
                include=INCLUDE,
            ),
        }
        results = await asyncio.gather(*work.values())
    for key, insights in zip(work, results, strict=True):
        print(_summary(key, insights), file=out)
    await asyncio.to_thread(_write_all, out_dir, dict(zip(work, results, strict=True)))
    elapsed = time.monotonic() - started
    print(
        f"\nProcessed {len(results)} conversations in {elapsed:.1f} s; "
        f"full insights written to {out_dir}/",
        file=out,
    )
    print(f"\n{SYNTHETIC_NOTE}", file=out)
    return len(results)
