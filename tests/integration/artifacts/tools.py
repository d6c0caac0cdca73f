"""Real tools for the e-book tests: Calibre reads files back, epubcheck validates epubs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.artifacts import calibre

needs_calibre = pytest.mark.skipif(
    not calibre.available(),
    reason="Calibre's ebook-convert is not installed (apt-get install calibre)",
)

_EPUBCHECK = shutil.which("epubcheck")
_JAVA = shutil.which("java")
needs_epubcheck = pytest.mark.skipif(
    _EPUBCHECK is None or _JAVA is None,
    reason="epubcheck (and a Java runtime) is not installed (apt-get install epubcheck)",
)


def read_back(book_file: Path, workdir: Path) -> str:
    """The text Calibre reads from `book_file` (``ebook-convert FILE out.txt``)."""
    out = workdir / f"read-{book_file.suffix.lstrip('.')}.txt"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        ["ebook-convert", str(book_file), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out.read_text(encoding="utf-8")


def epubcheck(epub: Path) -> tuple[int, str]:
    """epubcheck's exit status and report for `epub`. Debian's ``/usr/bin/epubcheck`` is the
    jar itself (run through binfmt, which containers may lack), so it runs under java."""
    assert _EPUBCHECK is not None and _JAVA is not None
    jar = str(Path(_EPUBCHECK).resolve())
    # C1 only: epubcheck is a short run, and the JIT's second tier doubles its CPU time.
    args = [_JAVA, "-XX:TieredStopAtLevel=1", "-jar", jar, str(epub)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=110, check=False)
    return done.returncode, done.stdout + done.stderr


def assert_valid_epub(epub: Path) -> None:
    status, report = epubcheck(epub)
    assert status == 0, report
    assert "0 fatals / 0 errors" in report, report


def has_cjk_font() -> bool:
    """Whether fontconfig knows a font for Japanese (PDF output draws text with one)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    done = subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True)
    return bool(done.stdout.strip())
