"""report.html renders in headless Chromium with its charts visible."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import candidate, correct, run_dirs, write_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
REGRESSION_RED = (0xC6, 0x28, 0x28)  # the outcome chart's colour for a regression
PASS_GREEN = (0x2E, 0x7D, 0x32)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return found


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width = 8, b"", 0
    height = channels = 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and interlace == 0 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    pixels: list[tuple[int, int, int]] = []
    previous = bytearray(stride)
    position = 0
    for _ in range(height):
        kind = raw[position]
        line = bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + predictor) & 0xFF
        pixels.extend(tuple(line[i : i + 3]) for i in range(0, stride, channels))  # type: ignore[misc]
        previous = line
    return width, height, pixels


def test_report_html_renders_with_its_charts_in_chromium(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = chromium()
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-key-123456")
    with ScriptedServer(
        {"good": correct(delay=0.01), "cand": candidate(wrong={"c003", "c009"}, delay=0.03)}
    ) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=30)
        result = invoke(cli, "run", "dep", "--today", "2026-11-26", "--no-progress", cwd=root)
    assert result.exit_code in (1, 3), result.output
    verdict = {1: "FAIL", 3: "INCONCLUSIVE"}[result.exit_code]
    assert result.stdout.startswith(f"{verdict}: dep (30 cases, 1 sample; "), result.stdout
    report = run_dirs(root)[0] / "report.html"
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html  # no script at all, so nothing to execute
    for external in ('src="http', "src='http", 'href="http', "<link", "@import", "url("):
        assert external not in html  # self-contained: no external asset
    shot = tmp_path / "report.png"
    completed = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), completed.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2400)
    colours = set(pixels)
    assert REGRESSION_RED in colours  # the outcome chart drew the two regressions
    assert PASS_GREEN in colours
    assert sum(1 for p in pixels if p == REGRESSION_RED) > 100
