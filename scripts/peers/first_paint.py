"""First contentful paint of hubd's dashboard in Debian's headless Chromium.

Used by `hubd-bench web`. Environment: HUBD_URL, HUBD_TOKEN. Prints one JSON
line: the login page's first paint on a cold browser context, the Home page's
after login (median of 5 fresh page loads with the session cookie), and the
gzip -9 size of the embedded assets as served.
"""

import gzip
import json
import os
import statistics
import urllib.request

from playwright.sync_api import sync_playwright

URL = os.environ["HUBD_URL"]
TOKEN = os.environ["HUBD_TOKEN"]
FCP = "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null"


def fcp(page):
    page.wait_for_function(FCP)
    return page.evaluate(FCP)


def main():
    sizes = 0
    for path in ("/", "/assets/app.js", "/assets/app.css", "/assets/icon.svg"):
        with urllib.request.urlopen(URL + path) as r:
            sizes += len(gzip.compress(r.read(), 9))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless", "--disable-gpu"]
        )
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        page.goto(URL + "/")
        login = fcp(page)
        page.fill("#token", TOKEN)
        page.click("#login-form button")
        page.wait_for_selector("#nav:not([hidden])")
        homes = []
        for _ in range(5):
            page = ctx.new_page()
            page.goto(URL + "/#/home")
            page.wait_for_selector("[data-device]")
            homes.append(fcp(page))
            page.close()
        browser.close()
    print(json.dumps({"login_fcp_ms": login, "home_fcp_ms": statistics.median(homes), "gzip_bytes": sizes}))


if __name__ == "__main__":
    main()
