"""The dashboard (/sentinel/ui/) end to end: a real Orthanc with Sentinel, and headless Chromium (Debian's
package) driven over the DevTools protocol. It loads the page, sees the alerts, filters them, clicks
acknowledge and dismiss like a person would, and checks through Orthanc's REST that the labels followed.
DICOM values with HTML in them are shown as text and never run. A screenshot of the page is left in
.runtime/dashboard.png (and .runtime/dashboard-report.png, with a report open) for a person to look at."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from integration.orthanc_server import OrthancServer
from pydicom.uid import generate_uid

from realfiles import fresh_copy

websocket = pytest.importorskip("websocket", reason="python3-websocket (scripts/test-packages.txt) is missing")

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT_NAME = "<script>window.pwned=1</script>"
IMG_DESCRIPTION = '<img src=x onerror="window.pwned=2">'
# No network on the test machines: without these Chromium keeps trying to reach Google's services.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic", "--disable-extensions", "--disable-default-apps", "--mute-audio",
                  "--hide-scrollbars", "--window-size=1400,1000"]


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol (a websocket)."""

    def __init__(self) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            pytest.skip("chromium (scripts/test-packages.txt) is not installed")
        self.profile = tempfile.mkdtemp(prefix="sentinel-chromium-")
        self.process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                         "--remote-debugging-port=0", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")

    def send(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while True:
            try:  # a page still loading may have no body yet: an error counts as false until the deadline
                value, error = self.evaluate(expression), None
            except RuntimeError as e:
                value, error = None, e
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}") from error
            time.sleep(0.1)

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def screenshot(self, path: Path, whole_page: bool = True) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=whole_page)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """An Orthanc of its own: the dashboard shows every alert, so no other test's data."""
    if shutil.which("Orthanc") is None:
        pytest.fail("Orthanc is not installed: run the tests with scripts/test (inside the runtime)")
    with OrthancServer() as orthanc:
        yield orthanc
        print(orthanc.log()[-3000:])


@pytest.fixture
def browser():
    chromium = Chromium()
    yield chromium
    chromium.close()


def labels(orthanc, level, resource_id):
    return orthanc.get(f"/{level}/{resource_id}/labels").json()


def row(instance_id: str) -> str:
    return f"document.querySelector('#alerts-body tr[data-id=\"{instance_id}\"]')"


def test_dashboard_lists_filters_and_acts_on_alerts(server, browser):
    # Two suspicious instances (birth after study), one of them with HTML in its DICOM values.
    plain = server.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119",
                                     PatientName="Doe^Jane")).json()
    hostile = server.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119",
                                       PatientName=SCRIPT_NAME, StudyDescription=IMG_DESCRIPTION)).json()
    for stored in (plain, hostile):
        server.report("studies", stored["ParentStudy"])
    assert "sentinel-suspicious" in labels(server, "instances", hostile["ID"])

    browser.navigate(server.url + "/sentinel/ui/")
    browser.wait("document.body.dataset.ready === '1'")
    # Both open alerts are listed, with their patient names once Orthanc answered for the studies.
    assert browser.wait(f"{row(plain['ID'])} && {row(hostile['ID'])} && true")
    hostile_row = row(hostile["ID"])
    browser.wait(f"{hostile_row}.querySelector('.patient').textContent !== '…'")
    assert browser.evaluate(f"{hostile_row}.querySelector('.patient').textContent") == SCRIPT_NAME
    assert browser.evaluate(f"{hostile_row}.querySelector('.study-desc').textContent") == IMG_DESCRIPTION
    assert browser.evaluate(f"{row(plain['ID'])}.querySelector('.patient').textContent") == "Doe^Jane"
    # Shown as text: no element was made from them, and nothing ran.
    assert browser.evaluate("document.querySelectorAll('main script, main img').length") == 0
    assert browser.evaluate("typeof window.pwned") == "undefined"
    assert browser.evaluate(f"{hostile_row}.querySelector('.state-cell').textContent") == "open"
    assert "instance.birth-after-study" in browser.evaluate(f"{hostile_row}.querySelector('.rules').textContent")
    # The analysis progress and the plots are drawn.
    browser.wait("document.getElementById('status-analysed').textContent !== '–'")
    assert browser.evaluate("document.querySelectorAll('#chart-days svg rect.bar').length") >= 1
    assert browser.evaluate("document.querySelectorAll('#chart-rules svg rect.bar').length") >= 1
    # The archive scan, started with its button, shows its progress until done.
    browser.wait("document.getElementById('scan-state').textContent !== '–'")
    browser.evaluate("document.getElementById('scan-start').click()")
    browser.wait("document.getElementById('scan-state').textContent === 'done'", timeout=60)
    series = len(server.get("/series").json())
    assert browser.evaluate("document.getElementById('scan-series').textContent") == f"{series} / {series}"
    assert server.get("/sentinel/scan").json()["state"] == "done"
    assert browser.evaluate("document.getElementById('scan-cancel').disabled") is True
    browser.screenshot(REPO / ".runtime" / "dashboard.png")

    # Acknowledge the plain one with a click.
    browser.evaluate(f"{row(plain['ID'])}.querySelector('input.comment').value = 'looking into it'")
    browser.evaluate(f"{row(plain['ID'])}.querySelector('button[data-action=acknowledge]').click()")
    browser.wait(f"{row(plain['ID'])}.querySelector('.state-cell').textContent === 'acknowledged'")
    [alert] = [a for a in server.get("/sentinel/alerts?state=acknowledged").json()["alerts"] if a["id"] == plain["ID"]]
    assert alert["history"][-1]["comment"] == "looking into it"

    # Filter by state through the form: acknowledged shows the plain one only, open the hostile one only.
    def filter_state(value: str) -> list[str]:
        loads = browser.evaluate("document.body.dataset.loads")
        browser.evaluate(f"(() => {{ const s = document.querySelector('#filters select[name=state]');"
                         f" s.value = '{value}'; s.dispatchEvent(new Event('change')); }})()")
        browser.wait(f"document.body.dataset.loads !== '{loads}'")
        return browser.evaluate("[...document.querySelectorAll('#alerts-body tr')].map(r => r.dataset.id)")

    assert filter_state("acknowledged") == [plain["ID"]]
    assert "state=acknowledged" in browser.evaluate("location.hash")
    assert filter_state("open") == [hostile["ID"]]

    # Dismiss needs a comment: without one, the page says so and nothing changes.
    dismiss = f"{hostile_row}.querySelector('button[data-action=dismiss]').click()"
    browser.evaluate(dismiss)
    browser.wait("!document.getElementById('message').hidden")
    assert "comment" in browser.evaluate("document.getElementById('message').textContent")
    assert "sentinel-suspicious" in labels(server, "instances", hostile["ID"])
    # With a comment: the label changes, in the page and in Orthanc.
    browser.evaluate(f"{hostile_row}.querySelector('input.comment').value = 'test patient, not real'")
    browser.evaluate(dismiss)
    browser.wait(f"{hostile_row}.querySelector('.state-cell').textContent === 'dismissed'")
    server.wait_for(lambda: labels(server, "instances", hostile["ID"]) == ["sentinel-dismissed"], timeout=10)
    assert "sentinel-suspicious" not in labels(server, "studies", hostile["ParentStudy"])
    assert browser.evaluate("typeof window.pwned") == "undefined"

    # The state-changing calls were POSTs with a JSON body and the custom anti-CSRF header.
    posts = [e["params"]["request"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"
             and e["params"]["request"]["method"] == "POST"]
    assert [p["url"].rsplit("/", 1)[-1] for p in posts] == ["scan", "acknowledge", "dismiss"]
    for post in posts:
        headers = {k.lower(): v for k, v in post["headers"].items()}
        assert headers.get("x-requested-with") == "sentinel"
        assert headers.get("content-type") == "application/json"
        body = json.loads(post["postData"])
        assert body == {} if post["url"].endswith("/scan") else body["comment"]

    # The report of the hostile instance, with its finding explained (the rule's description).
    browser.evaluate(f"{hostile_row}.querySelector('a.open-report').click()")
    browser.wait("!document.getElementById('report').hidden && "
                 "document.querySelectorAll('#report-findings tr.finding').length > 0")
    findings = browser.evaluate("[...document.querySelectorAll('#report-findings tr.finding')].map("
                                "r => [r.cells[1].textContent, r.cells[2].textContent, r.cells[3].textContent])")
    birth = [f for f in findings if f[0] == "instance.birth-after-study"]
    assert birth and birth[0][1] and "PatientBirthDate 20300101" in birth[0][2]
    assert browser.evaluate("document.getElementById('report-summary').textContent").count(SCRIPT_NAME) == 1
    # Its alert is no longer among the open ones listed: the page asks for it, to show its history.
    browser.wait("document.getElementById('report-history').textContent.includes('test patient, not real')")
    assert browser.evaluate("document.querySelector('#report-summary .badge.state-dismissed').textContent") == "dismissed"
    assert browser.evaluate("typeof window.pwned") == "undefined"
    browser.screenshot(REPO / ".runtime" / "dashboard-report.png")


def test_series_report_plots_the_slice_spacing_profile(server, browser):
    """A series with a slice missing (z = 0, 5, 10, 20, 25, 30 mm): its report draws the distance between
    neighbouring slices, with the two slices around the gap marked."""
    study_uid, series_uid = generate_uid(), generate_uid()
    stored = [server.upload(fresh_copy("CT_small.dcm", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid,
                                       InstanceNumber=k + 1, ImagePositionPatient=[-158.1, -179.0, z],
                                       ImageOrientationPatient=[1, 0, 0, 0, 1, 0], SliceThickness=5,
                                       PatientName="Gap^Series", SeriesDescription="gap at 15 mm")).json()
              for k, z in enumerate([0, 5, 10, 20, 25, 30])]
    series = stored[0]["ParentSeries"]
    report = server.report("series", series)
    gap = [f for f in report["findings"] if f["rule"] == "series.slice-gap"]
    assert gap, report["findings"]

    browser.navigate(f"{server.url}/sentinel/ui/#state=&report=series/{series}")
    browser.wait("document.querySelectorAll('#report-findings tr.finding').length > 0")
    browser.wait("document.querySelectorAll('#report-plots figure.spacing circle').length === 5")
    assert browser.evaluate("document.querySelectorAll('#report-plots circle.flagged').length") >= 1
    steps = browser.evaluate("[...document.querySelectorAll('#report-plots figure.spacing circle title')]"
                             ".map(t => t.textContent)")
    assert any(s.endswith(": 10.000 mm") for s in steps), steps
    assert "series.slice-gap" in browser.evaluate("document.getElementById('report-findings').textContent")
    browser.evaluate("document.getElementById('report').scrollIntoView()")
    browser.screenshot(REPO / ".runtime" / "dashboard-series.png", whole_page=False)


def test_explorer_links_to_the_dashboard(server, browser):
    """Orthanc Explorer carries the link that explorer.js adds."""
    assert "sentinel-link" in server.get("/plugins/explorer.js").text
    browser.navigate(server.url + "/app/explorer.html")
    href = browser.wait("(document.querySelector('a.sentinel-link') || {}).href", timeout=20)
    assert href == server.url + "/sentinel/ui/"
    assert server.get("/sentinel/ui/").status_code == 200
