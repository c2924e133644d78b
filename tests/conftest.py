import os

# Tests run on 2 shared cores: keep every library single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    """Every test that drives the browser is marked ``browser`` (and ``slow``): ``-m "not browser"`` leaves them out."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def chromium():
    """A headless Chromium driven by Playwright, closed after the test.

    Needs Debian's chromium at /usr/bin/chromium (``.ci/install-browser.sh``) and the ``playwright`` Python
    package (the test extra); without either the test is skipped with the reason.
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: run .ci/install-browser.sh (apt-get install chromium) to run this test"
        )
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


def _tiny_allinone_net():
    from restora.models.allinone import AllInOneNet

    torch.manual_seed(0)
    return AllInOneNet(
        width=8,
        enc_blocks=(1, 1, 1),
        dec_blocks=(1, 1, 1),
        bottom_dilations=(1,),
        embed_dim=16,
        encoder_widths=(8, 8, 8, 8),
    )


@pytest.fixture(scope="session")
def tiny_allinone_net():
    """Factory: ``tiny_allinone_net() -> AllInOneNet``, a small network as it is initialised (seed 0)."""
    return _tiny_allinone_net


@pytest.fixture(scope="session")
def tiny_allinone(tmp_path_factory):
    """Factory: ``tiny_allinone(favour=None) -> Path`` of a small randomly initialised AllInOneNet model file
    (seeded). Its zero-initialised heads, FiLM and tone curve are made non-zero so its output depends on the
    whole-image embedding; ``favour``: a task whose classifier bias is raised so it is detected in any image."""
    from restora.models.modelfile import save_model
    from restora.models.allinone import TASKS

    made = {}

    def make(favour: str | None = None):
        if favour not in made:
            net = _tiny_allinone_net()
            with torch.no_grad():
                for p in net.parameters():
                    if not p.any():
                        p.normal_(0.0, 0.05)
                if favour is not None:
                    net.classify.weight.zero_()
                    net.classify.bias.copy_(torch.tensor([4.0 if t == favour else 0.0 for t in TASKS]))
            path = tmp_path_factory.mktemp("models") / f"tiny-allinone-{favour or 'random'}.safetensors"
            save_model(net, path, {"tasks": list(TASKS), "summary": "tiny all-in-one test model"})
            made[favour] = path
        return made[favour]

    return make


@pytest.fixture
def invoke_cli():
    """``invoke_cli("denoise", "a.png", "-o", "b.png")``: run the real CLI in-process and return typer's result;
    a Python traceback (anything but a clean exit) fails the test with the command's output."""
    from typer.testing import CliRunner

    from restora.cli import _register_commands, app

    _register_commands()
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"command raised {result.exception!r}\n{result.stdout}\n{result.stderr}"
            ) from result.exception
        return result

    return invoke
