"""E-book builders: a `Book` in, one file per format out.

epub, json, txt and tcr are written natively; pdf, mobi, docx, rtf, fb2, azw3, lit, lrf,
pdb and rb are converted from the epub by Calibre's ``ebook-convert``. The package imports
nothing from the rest of jobstream but ``engine.model`` (the format names) and keeps no
global state; callers import from the submodules (``formats.build``, ``book.Book``, ...).
"""
