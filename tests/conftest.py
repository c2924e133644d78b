import os

# Tests run on 2 shared cores: keep every library single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def chromium():
    """A headless Chromium driven by Playwright, closed after the test.

    Needs Debian's chromium at /usr/bin/chromium (``.ci/install-browser.sh``) and the ``playwright`` Python
    package (the test extra); without either the test is skipped with the reason.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run .ci/install-browser.sh (apt-get install chromium) to run this test")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the 'playwright' package is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
