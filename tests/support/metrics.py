"""Scraping a Prometheus endpoint the way Prometheus does, parsed by prometheus-client's
own text-format parser (a malformed exposition fails the test there)."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def fetch(url: str, auth: tuple[str, str] | None = None, timeout: float = 30.0) -> tuple[int, str]:
    """(HTTP status, body) of a GET; no redirects are followed."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def parse(text: str) -> Samples:
    """Every sample by (name, sorted labels); families must carry HELP and TYPE."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, f"{family.name} has no HELP"
        assert family.type != "unknown", f"{family.name} has no TYPE"
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(url: str, auth: tuple[str, str] | None = None, timeout: float = 30.0) -> Samples:
    """Parsed samples of ``url``, retrying until the endpoint answers 200 (it may still be
    starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = fetch(url, auth)
            if status == 200:
                return parse(body)
            error = f"HTTP {status}: {body[:200]}"
        except OSError as exc:
            error = str(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer: {error}")
        time.sleep(0.2)


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; KeyError naming what there is when it is missing."""
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        near = sorted({n for n, _ in samples if n.startswith(name.split("_total")[0][:20])})
        raise KeyError(f"{name}{labels} not exposed; similar: {near}")
    return samples[key]
