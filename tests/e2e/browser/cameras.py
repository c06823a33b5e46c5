"""The dashboard's Cameras and Automations pages in Debian's headless Chromium (Playwright).

Run by tests/e2e/camera.rs against a live hubd with a camera that has just
made a person event. Environment: HUBD_URL, HUBD_ARTIFACTS. Loopback reads
need no login. Prints one JSON line of findings; exits non-zero on failure.
"""

import json
import os

from playwright.sync_api import expect, sync_playwright

URL = os.environ["HUBD_URL"]
OUT = os.environ["HUBD_ARTIFACTS"]

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless", "--disable-gpu"]
    )
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.goto(URL + "/#/cameras")
    event = page.locator("#cams li", has_text="person on door")
    expect(event.first).to_be_visible(timeout=20_000)
    snap = event.first.locator("img.snap")
    expect(snap).to_be_visible()
    page.wait_for_load_state("networkidle")
    loaded = snap.evaluate("img => img.complete && img.naturalWidth > 0")
    frame_ok = page.locator("#cams article img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    os.makedirs(OUT, exist_ok=True)
    page.screenshot(path=os.path.join(OUT, "dashboard-cameras.png"), full_page=True)
    # The Automations page: the rule the person triggered, its last run and its trace.
    page.goto(URL + "/#/automations")
    rule = page.locator("#autos li", has_text="porch_light_at_night")
    expect(rule.first).to_contain_text("finished (event)", timeout=10_000)
    rule.first.get_by_role("button", name="Runs").click()
    summary = rule.first.locator("details summary").first
    expect(summary).to_contain_text("finished")
    summary.click()
    trace = rule.first.locator("details ol").first.text_content()
    page.screenshot(path=os.path.join(OUT, "dashboard-automations.png"), full_page=True)
    found = {
        "automation_trace": trace,
        "event": event.first.text_content(),
        "snapshot_loaded": loaded,
        "latest_loaded": frame_ok,
        "errors": errors,
    }
    browser.close()
    print(json.dumps(found))
