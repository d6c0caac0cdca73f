"""Errors of the e-book builders.

Every error raised on purpose by ``engine.artifacts`` derives from :class:`ArtifactError`;
errors from ebooklib, the file system or the converter process are translated into one of
these with ``raise ... from e``, so callers only need to catch ``ArtifactError``.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Root of every error raised by the e-book builders."""


class InvalidBook(ArtifactError):
    """The book cannot be built as given; `field` names the offending input (a dotted path
    such as ``volumes[0].chapters[2].images``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownFormat(ArtifactError):
    """The format is not one of the fourteen this package knows."""


class BuildFailed(ArtifactError):
    """A native builder could not write its file (a full disk, a missing directory)."""


class ConverterMissing(ArtifactError):
    """Calibre's ``ebook-convert`` is not installed (or not on ``PATH``)."""


class ConversionFailed(ArtifactError):
    """``ebook-convert`` exited with an error or wrote no file; `output` is the tail of what
    it printed (stdout and stderr together), `returncode` its exit status (None if killed)."""

    def __init__(self, message: str, *, output: str, returncode: int | None) -> None:
        super().__init__(f"{message}\n{output}" if output else message)
        self.output = output
        self.returncode = returncode


class ConversionTimedOut(ConversionFailed):
    """``ebook-convert`` ran past its timeout; its process group was killed."""


class BuildCanceled(ArtifactError):
    """The caller's cancel event was set; a running converter's process group was killed."""
