"""``restora audit``: checks of reference (clean) image sets before they are trusted for training or scoring.

One job per file: :mod:`findings` (the finding record and the check codes), :mod:`image_checks` (checks of
one image), :mod:`pair_checks` (checks of a noisy/clean pair), :mod:`index` (duplicates and leaks through a
feature index), :mod:`runner` (walks the folders), :mod:`report` (JSON and Markdown/HTML), :mod:`cli` (the
command).
"""
