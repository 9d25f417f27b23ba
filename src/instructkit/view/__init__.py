"""``instructkit view``: a local, offline viewer for run directories.

* :mod:`rundir`  what a run directory holds (manifest, outputs, sidecar files), checked once;
* :mod:`index`   its JSONL outputs indexed into SQLite + FTS5 (a cache file outside the run dir);
* :mod:`pages`   the data behind each page (overview, records, method pages, compare);
* :mod:`plots`   server-side SVG scatter plots and a numpy projection of texts;
* :mod:`embedmap` the vectors a QDIT run embedded, read back from the embedding cache for its map;
* :mod:`app`     the Starlette app (pages rendered by Jinja2 with autoescape);
* :mod:`report`  ``--html``: one self-contained static report.
"""
