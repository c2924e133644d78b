"""The API's own documentation: /docs (Swagger UI) and /redoc work offline, every asset served by us."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_nothing_from_elsewhere(client, page):
    r = client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
    urls += re.findall(r"""url:\s*["']([^"']+)["']""", r.text)  # the OpenAPI document Swagger UI fetches
    assert urls, r.text
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    assert "googleapis" not in r.text and "cdn" not in r.text.lower()


def test_openapi_document_describes_the_job_life_cycle(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result"} <= set(paths)
    assert "post" in paths["/api/jobs"] and "get" in paths["/api/jobs/{job_id}"]
