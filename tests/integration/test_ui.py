"""The gateway's /ui page as a user sees it: served over real HTTP on loopback, loaded in headless
Chromium (Debian's chromium + chromium-driver, driven by selenium), hostile node values included.

Skipped only when chromium is absent and ZKINFER_REQUIRE_BROWSER is unset; CI sets it, so there a
missing browser fails. The screenshot lands in tests/artifacts/ui.png.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until
from zkinfer.network.ui import EvidenceRow, NodeRow, render

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)

# A node's name, URL and an evidence kind that would run script, break out of an attribute or
# rewrite the page if any of them reached the HTML unescaped.
HOSTILE_NAME = "mallory\"'><script>document.title='pwned';window.__pwned=1</script>"
HOSTILE_KIND = 'kind-<img src=x onerror="window.__pwned=2">&amp;\'"'
TITLE = "zkinfer gateway: test network"
PK = "a1" * 48


def _nodes() -> list[NodeRow]:
    return [
        NodeRow("alpha", "http://127.0.0.1:8001", PK, 0.97, 97, 3, 0, 96, 0, 0, 12.3, 41.75),
        NodeRow("bravo", "http://127.0.0.1:8002", "b2" * 48, 0.62, 60, 20, 20, 58, 2, 2, 15.0, 88.0),
        NodeRow(HOSTILE_NAME, "http://127.0.0.1:8003/<script>", "c3" * 48, 0.05, 1, 9, 0, 0, 0, 3, None, None),
    ]


def _evidence() -> list[EvidenceRow]:
    return [
        EvidenceRow("contradiction", HOSTILE_NAME, 1_790_000_100.0),
        EvidenceRow(HOSTILE_KIND, "bravo", 1_790_000_200.0),
    ]


# --- the HTML itself (no browser) ----------------------------------------------------------------


def test_every_hostile_value_is_escaped_in_the_html() -> None:
    page = render(_nodes(), _evidence(), title=TITLE + "<script>")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert 'onerror="' not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;&amp;amp;" in page
    assert "<a " not in page  # the public page links to nothing: evidence documents need a tenant's key


def test_absurd_numbers_render_as_dashes_not_errors() -> None:
    row = NodeRow("n", "u", "k", float("nan"), 0, 0, 0, 0, 0, 0, float("inf"), None)
    page = render([row], [EvidenceRow("equivocation", "n", float("nan")), EvidenceRow("unproven", "n", 1e300)])
    assert 'class="reputation"><span class="value">-</span>' in page
    assert 'class="latency-p50 num">-<' in page
    assert 'class="agreement" title="no requests yet">-<' in page
    assert page.count('class="at">-<') == 2


# --- in Chromium ---------------------------------------------------------------------------------


class _Page:
    """A loopback HTTP server answering GET / with a fixed page (anything else: 404)."""

    def __init__(self, body: str) -> None:
        data = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path == "/"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                payload = data if ok else b"not found"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def browser_available() -> bool:
    return (
        os.access(CHROMIUM, os.X_OK)
        and os.access(CHROMEDRIVER, os.X_OK)
        and importlib.util.find_spec("selenium") is not None
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium under chromedriver, with a fresh profile and no network beyond loopback."""
    if not browser_available():
        reason = (
            f"the /ui browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}) "
            "and selenium: apt-get install chromium chromium-driver; pip install -e '.[dev]'"
        )
        if os.environ.get("ZKINFER_REQUIRE_BROWSER"):
            pytest.fail(reason + "; ZKINFER_REQUIRE_BROWSER is set, so this fails rather than skips")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: Any, name: str) -> Path:
    """A full-page screenshot (the window grown to the page's height) under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    # headless window sizes do not reach the viewport reliably: set the viewport itself
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": max(height, 400), "deviceScaleFactor": 1, "mobile": False},
    )
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"chromium wrote no screenshot to {path}"
    assert path.stat().st_size > 10_000, "the screenshot is too small to show the page"
    return path


def test_ui_page_in_chromium_shows_nodes_and_evidence(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    server = _Page(render(_nodes(), _evidence(), title=TITLE))
    try:
        browser.get(server.url)
        # the hostile values ran nothing: the title is ours and no script set its flag
        assert browser.title == TITLE
        assert browser.execute_script("return window.__pwned === undefined") is True
        assert browser.find_elements(By.TAG_NAME, "script") == []
        assert browser.find_elements(By.TAG_NAME, "img") == []

        rows = browser.find_elements(By.CSS_SELECTOR, "table#nodes tbody tr[data-node]")
        assert [r.get_attribute("data-node") for r in rows] == ["alpha", "bravo", HOSTILE_NAME]

        def cell(node: str, css: str) -> str:
            text: str = browser.find_element(By.CSS_SELECTOR, f'table#nodes tr[data-node="{node}"] td.{css}').text
            return text

        assert cell("alpha", "reputation").startswith("0.97")
        assert cell("alpha", "agreement").startswith("97.0%")
        assert cell("alpha", "latency-p50") == "12.3 ms"
        assert cell("alpha", "latency-p99") == "41.8 ms"
        assert cell("bravo", "agreement").startswith("60.0%")
        assert "20 timeouts" in cell("bravo", "agreement")
        assert cell("bravo", "receipts") == "58 valid\n2 invalid"
        assert cell("bravo", "evidence") == "2"
        # the hostile name is shown as the text it is
        mallory = rows[2]
        assert mallory.find_element(By.CSS_SELECTOR, "td.name strong").text == HOSTILE_NAME
        assert mallory.find_element(By.CSS_SELECTOR, "td.latency-p99").text == "-"
        assert mallory.find_element(By.CSS_SELECTOR, "td.reputation").text.startswith("0.05")

        evidence = browser.find_elements(By.CSS_SELECTOR, "table#evidence tbody tr[data-accused]")
        assert [e.get_attribute("data-accused") for e in evidence] == [HOSTILE_NAME, "bravo"]
        assert [e.find_element(By.CSS_SELECTOR, "td.kind").text for e in evidence] == ["contradiction", HOSTILE_KIND]
        assert evidence[0].find_element(By.CSS_SELECTOR, "td.node").text == HOSTILE_NAME
        assert evidence[0].find_element(By.CSS_SELECTOR, "td.at").text == "2026-09-21 14:15:00 UTC"
        assert (
            browser.find_elements(By.TAG_NAME, "a") == []
            and browser.find_elements(By.CSS_SELECTOR, "table#certificates") == []
        )

        # no resource the page asked for failed or was refused (it asks for none)
        problems = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
        assert problems == [], problems

        _screenshot(browser, "ui.png")
    finally:
        server.close()


def test_ui_page_in_chromium_before_any_traffic(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    server = _Page(render([], []))
    try:
        browser.get(server.url)
        assert browser.title == "zkinfer gateway"
        for table, text in (("nodes", "no nodes pinned"), ("evidence", "no evidence recorded")):
            assert browser.find_element(By.CSS_SELECTOR, f"table#{table} tr.empty").text == text
    finally:
        server.close()


# --- the page a real gateway serves ----------------------------------------------------------------


def _poll(what: str, probe: Any, timeout_s: float, log: Path) -> Any:
    """`probe()` until it returns something truthy; fail naming `what` (and the gateway's log tail)."""
    return wait_until(probe, what=what, timeout_s=timeout_s, interval_s=0.3, detail=lambda: log.read_text()[-3000:])


@pytest.mark.e2e
def test_ui_of_a_real_gateway_over_two_honest_nodes_and_a_liar(
    browser: Any, small_circuit: Path, tmp_path: Path
) -> None:
    """Two `zkinfer serve` nodes and a liar that signs a wrong output and never proves it (its
    promise falls due in 3 s) behind `zkinfer gateway`: after one request, /ui shows the nodes'
    standing, the valid receipts of the honest nodes and the evidence against the liar (kind, node,
    time), and nothing of the request: the tenant who sent it reads the evidence with its key."""
    from selenium.webdriver.common.by import By

    from tests.gateway_harness import GATEWAY_KEY, OTHER_GATEWAY_KEY, node_entry, pinned_toml, start_gateway
    from tests.liar import RunningLiar, start_liar
    from tests.node_harness import SAMPLE, RunningNode, copy_circuits, start_node

    circuits = copy_circuits(small_circuit, tmp_path / "circuits")
    with ThreadPoolExecutor(3) as pool:
        node_starts = [
            pool.submit(start_node, circuits, tmp_path / name, "--worker-priority", "nice")
            for name in ("alpha", "beta")
        ]
        liar_start = pool.submit(start_liar, small_circuit, tmp_path / "liar", "wrong-output", "--prove-within", "3")
    running: list[RunningNode | RunningLiar] = [f.result() for f in node_starts if f.exception() is None]
    running += [liar_start.result()] if liar_start.exception() is None else []
    gateway = None
    try:
        nodes = [
            f.result() for f in node_starts
        ]  # one that did not start fails the test here, the others stopped below
        liar = liar_start.result()
        entries = [node_entry("alpha", nodes[0]), node_entry("beta", nodes[1]), ("liar", liar.url, liar.key)]
        gateway = start_gateway(tmp_path / "gateway", pinned_toml(entries, threshold=2, timeout_ms=10_000))
        answer = gateway.infer(SAMPLE, request_id="ui-e2e-1")
        assert answer.status_code == 200, answer.text
        assert sorted(answer.json()["parameters"]["zkinfer_signers"]) == ["alpha", "beta"]

        def settled() -> dict[str, dict[str, Any]] | None:
            rows = gateway.nodes()
            done = rows["liar"]["evidence"] >= 1 and all(rows[n]["receipts_valid"] >= 1 for n in ("alpha", "beta"))
            return rows if done else None

        rows = _poll("evidence against the liar and the honest nodes' valid receipts", settled, 300, gateway.log)
        (listed,) = gateway.get("/v1/evidence", GATEWAY_KEY).json()["evidence"]  # the tenant who sent the request
        assert listed["request_id"] == answer.json()["parameters"]["request_id"] and listed["node"] == "liar"
        (public,) = gateway.get("/v1/evidence").json()["evidence"]  # a visitor: who is accused of what, when
        assert public == {k: listed[k] for k in ("kind", "accused", "node", "observed_at")}
        assert gateway.get("/v1/evidence", OTHER_GATEWAY_KEY).json() == {
            "evidence": []
        }  # another tenant: none about its requests
        assert (
            gateway.get(listed["url"], OTHER_GATEWAY_KEY).status_code == 404
            and gateway.get(listed["url"]).status_code == 401
        )

        served = gateway.get("/ui")
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in served.headers["content-security-policy"]
        assert "ui-e2e-1" not in served.text and listed["id"] not in served.text  # no request id, no evidence id

        browser.get_log("browser")  # drop what pages of earlier tests logged: only this page's errors count
        browser.get(f"{gateway.url}/ui")
        assert browser.title == "zkinfer gateway"
        node_rows = browser.find_elements(By.CSS_SELECTOR, "table#nodes tbody tr[data-node]")
        assert [r.get_attribute("data-node") for r in node_rows] == ["alpha", "beta", "liar"]

        def cell(node: str, css: str) -> str:
            text: str = browser.find_element(By.CSS_SELECTOR, f'table#nodes tr[data-node="{node}"] td.{css}').text
            return text

        for name in ("alpha", "beta"):
            assert cell(name, "agreement").startswith("100.0%")
            assert cell(name, "receipts").startswith(f"{rows[name]['receipts_valid']} valid") and "invalid" not in cell(
                name, "receipts"
            )
            assert cell(name, "evidence") == "0"
            assert cell(name, "latency-p50").endswith(" ms")
            assert float(cell(name, "reputation").split()[0]) == pytest.approx(rows[name]["reputation"], abs=0.005)
        assert cell("liar", "agreement").startswith("0.0%") and "1 dissented" in cell("liar", "agreement")
        assert cell("liar", "evidence") == str(rows["liar"]["evidence"])
        assert float(cell("liar", "reputation").split()[0]) < min(
            float(cell(n, "reputation").split()[0]) for n in ("alpha", "beta")
        )

        assert browser.find_elements(By.CSS_SELECTOR, "table#certificates") == []
        (row,) = browser.find_elements(By.CSS_SELECTOR, "table#evidence tbody tr[data-accused]")
        assert [row.find_element(By.CSS_SELECTOR, f"td.{c}").text for c in ("kind", "node")] == [listed["kind"], "liar"]
        assert row.find_element(By.CSS_SELECTOR, "td.at").text.endswith(" UTC")
        problems = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
        assert problems == [], problems
        _screenshot(browser, "ui-gateway.png")

        # the tenant's key opens the document itself, which accuses the liar's key for that request
        document = json.loads(gateway.get(listed["url"], GATEWAY_KEY).text)
        assert (
            document["schema"] == "zkinfer.evidence/1"
            and document["accused"] == liar.public_key
            and document["request_id"] == listed["request_id"]
        )
    finally:
        if gateway is not None:
            gateway.stop()
        for process in running:
            process.stop()
