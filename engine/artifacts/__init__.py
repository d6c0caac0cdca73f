"""E-book builders: a `Book` in, one file per format out.

epub, json, txt and tcr are written natively; pdf, mobi, docx, rtf, fb2, azw3, lit, lrf,
pdb and rb are converted from the epub by Calibre's ``ebook-convert``. A leaf package: it
imports nothing from the rest of jobstream (its format table names the formats of
``engine.domain.model.ALL_FORMATS``, which a test holds it to) and keeps no global state; callers
import from the submodules (``formats.build``, ``book.Book``, ...).
"""
