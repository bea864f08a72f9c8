"""Generate ``screenshots/*.svg`` (and PNGs) from the real ``wg-tui`` app.

    .venv/bin/python scripts/export_screenshots.py            # SVG + PNG
    .venv/bin/python scripts/export_screenshots.py --no-png   # SVG only

Each picture is the real ``WgApp`` driven by Pilot inside ``run_test()`` and saved with
``app.save_screenshot()``, over a memory backend filled through wg's public API with
realistic data (the TUI tests' fixture plus a busy hour's worth of jobs) and a fixed
clock, so the pictures only change when the app does. Never edit the files by hand.

PNGs need ``cairosvg`` (``pip install cairosvg``; it needs libcairo) and the Fira Code
font (Debian: ``fonts-firacode``), which the SVGs name. Rich lays text out on a grid of
0.61 em cells and relies on ``textLength``, which cairosvg ignores; cairo advances each
glyph by its own (pixel-rounded) width instead, so long runs drift off the grid and box
borders break. The script measures the advance cairo really uses (the ink width of a
row of full blocks) and gives each run the ``letter-spacing`` that puts it back on the
grid (a hairline seam may show between the blocks of thick borders; stretching the runs
with a transform instead is not laid out consistently by cairosvg).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fixture lives with the tests

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from tests.tui.data import NOW, TRAFFIC, FakeClock, populate, traffic_step  # noqa: E402
from wg_core import Client, JobOptions, JobSpec, MemoryBackend  # noqa: E402
from wg_tui.app import WgApp  # noqa: E402
from wg_tui.dialogs import ConfirmScreen  # noqa: E402

SIZE = (120, 36)
WIDE: dict[str, tuple[int, int]] = {"queues": (150, 36)}
"""Scenes shown on a wider terminal: the queues tab's limit column follows its trends
(on 120 columns it is reached by scrolling right)."""
_CALIBRATION_CHARS = 200

Scene = Callable[[WgApp, Pilot[None]], Awaitable[None]]


def _id(label: str) -> str:
    digest = hashlib.sha256(f"wg-screenshot-{label}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


async def build_client(clock: FakeClock) -> Client:
    """A memory backend holding a realistic mix of jobs, workers and counters."""
    client = Client(MemoryBackend("shop", clock=clock), clock=clock)
    await populate(client, clock)
    # A backlog: the queues have grown over the last three minutes; each job name has
    # its queue, and one in ten jobs is urgent.
    clock.now = NOW - 200
    names = ("send_email", "resize_image", "sync_inventory", "charge_card")
    for batch in range(6):
        await client.enqueue_many(
            [
                JobSpec(
                    payload={"batch": batch, "item": k},
                    job_name=names[(batch + k) % len(names)],
                    job_id=_id(f"q{batch}-{k}"),
                    queue=QUEUE_OF[names[(batch + k) % len(names)]],
                    priority=10 if k % 10 == 0 else 0,
                )
                for k in range(200 + 13 * batch)
            ]
        )
        clock.advance(30)
    await client.enqueue_many(
        [
            JobSpec(
                payload={"customer": 4000 + k, "kind": "renewal"},
                job_name="charge_card",
                job_id=_id(f"s{k}"),
                delay=600 + 97 * k,
                queue="billing",
                options=JobOptions(max_retries=5),
            )
            for k in range(37)
        ]
    )
    clock.now = NOW
    return client


QUEUE_OF = {
    "send_email": "emails",
    "resize_image": "default",
    "sync_inventory": "inventory",
    "charge_card": "billing",
}
"""The queue each job name of the backlog goes to."""


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def keys(*pressed: str) -> Scene:
    async def scene(app: WgApp, pilot: Pilot[None]) -> None:
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return scene


async def overview(app: WgApp, pilot: Pilot[None]) -> None:
    clock = app.settings.clock
    assert isinstance(clock, FakeClock)
    for step, (processed, failed) in enumerate(TRAFFIC * 3):
        await traffic_step(app.settings.client, clock, step, processed=processed * 3, failed=failed)
        app.dashboard.refresh_data()
        await settle(pilot)


async def confirm_retry_all(app: WgApp, pilot: Pilot[None]) -> None:
    await keys("4")(app, pilot)
    field = app.dashboard.query_one("#filter-error", Input)
    field.value = "timeout"
    field.focus()
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("A")
    while not isinstance(app.screen, ConfirmScreen):
        await pilot.pause(0.01)
    await pilot.pause()


async def confirm_cancel(app: WgApp, pilot: Pilot[None]) -> None:
    """Cancelling the running job asks first, saying what happens to a running job."""
    await keys("5")(app, pilot)
    await pilot.press("c")
    while not isinstance(app.screen, ConfirmScreen):
        await pilot.pause(0.01)
    await pilot.pause()


async def queues(app: WgApp, pilot: Pilot[None]) -> None:
    """The queues tab after ten refreshes of uneven work in every queue (the trend
    columns fill); inventory paused; limits on three queues."""
    clock = app.settings.clock
    assert isinstance(clock, FakeClock)
    backend = app.settings.client.backend
    await keys("0")(app, pilot)
    for step in range(10):
        for queue, done in (("billing", 9), ("emails", 31), ("default", 18), ("inventory", 4)):
            attempts = await backend.claim(
                limit=done + (step * 7) % 11,
                lease=30,
                worker_id="web-1:4242:a1b2c3",
                queues=(queue,),
            )
            await backend.complete(attempts)
        clock.advance(2)
        app.dashboard.refresh_data()
        await settle(pilot)
    # Limits with their use (issue 20): three emails running of four, a per-key limit
    # on billing, one ahead of its jobs on reports.
    client = app.settings.client
    await client.set_limit("emails", concurrency=4, rate=600, per=60)
    await client.set_limit("billing", concurrency=1, per_key=True)
    await client.set_limit("reports", rate=10, per=1)
    await backend.claim(limit=3, lease=30, worker_id="web-1:4242:a1b2c3", queues=("emails",))
    app.dashboard.refresh_data()
    await settle(pilot)
    await keys("down", "down", "down", "p")(app, pilot)


SCENES: dict[str, Scene] = {
    "overview": overview,
    "queued": keys("2"),
    "retry": keys("4"),
    "dead": keys("6", "space"),
    "dead-grouped": keys("6", "g"),
    "job-detail": keys("6", "enter"),
    "running": keys("5"),
    "completed": keys("7"),
    "completed-detail": keys("7", "down", "down", "enter"),
    "confirm-cancel": confirm_cancel,
    "workers": keys("9"),
    "queues": queues,
    "confirm-retry-all": confirm_retry_all,
}


async def export(name: str, scene: Scene, out: Path) -> Path:
    clock = FakeClock()
    client = await build_client(clock)
    app = WgApp(client, refresh_every=None, clock=clock, cursor_blink=False, url="sqlite:wg.db")
    async with app.run_test(size=WIDE.get(name, SIZE)) as pilot:
        await settle(pilot)
        await scene(app, pilot)
        app.title = f"wg-tui — {name}"
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
    return path


_TEXT_RUN = re.compile(
    r'(<text\b[^>]*?\btextLength="(?P<length>[\d.]+)"[^>]*?)(>)(?P<body>[^<]*)(</text>)'
)
_FONT_SIZE = re.compile(r"font-size:\s*(?P<size>[\d.]+)px")


def _rendered_advance(font_size: float) -> float:
    """The advance, in px, cairo gives a glyph of the screenshots' font at ``font_size``."""
    import io

    import cairosvg  # type: ignore[import-untyped]
    from PIL import Image

    width = int(font_size * _CALIBRATION_CHARS)
    row = "\u2588" * _CALIBRATION_CHARS
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{font_size * 2}">'
        f'<text x="0" y="{font_size}" style="font-family: Fira Code, monospace; '
        f'font-size: {font_size}px" fill="black">{row}</text></svg>'
    )
    png = cairosvg.svg2png(bytestring=svg.encode())
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    box = image.getchannel("A").getbbox()
    if box is None:
        raise RuntimeError("cairosvg drew nothing: is a monospace font installed?")
    return (box[2] - box[0]) / _CALIBRATION_CHARS


def to_png(svg_path: Path) -> Path:
    """Convert one screenshot to PNG with cairosvg, glyphs kept on the terminal grid."""
    import cairosvg

    svg = svg_path.read_text(encoding="utf-8")
    size_match = _FONT_SIZE.search(svg)
    advance = _rendered_advance(float(size_match["size"]) if size_match else 20.0)

    def fit(match: re.Match[str]) -> str:
        chars = len(html.unescape(match["body"]))
        if chars == 0:
            return match.group(0)
        spacing = float(match["length"]) / chars - advance
        return f'{match.group(1)} letter-spacing="{spacing:.4f}">{match["body"]}</text>'

    png_path = svg_path.with_suffix(".png")
    cairosvg.svg2png(bytestring=_TEXT_RUN.sub(fit, svg).encode(), write_to=str(png_path))
    return png_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--no-png", action="store_true", help="write the SVGs only")
    parser.add_argument("names", nargs="*", help=f"scenes (default all): {', '.join(SCENES)}")
    args = parser.parse_args()
    unknown = set(args.names) - SCENES.keys()
    if unknown:
        parser.error(f"unknown scene(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or SCENES:
        svg = asyncio.run(export(name, SCENES[name], args.out))
        print(svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg)
        if not args.no_png:
            print(to_png(svg).relative_to(ROOT) if svg.is_relative_to(ROOT) else svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
