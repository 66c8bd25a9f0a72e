"""The report in a real browser: headless Chromium (Debian's chromium + chromium-driver) opens the page from
file://, with no console error, no network request beyond the file itself, the leaderboard rows and CI
cells present, sorting by a header click, and a screenshot saved. CI installs the browser (.ci/run); the
test is not skipped when it is missing: it fails."""

from __future__ import annotations

import re

import selenium  # noqa: F401  (a missing selenium fails the test, it is not skipped)

from pjbench.reports import build_report
from test_reports_multi import intphys_items, make_qa_run, make_run


def test_report_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By

    from pjbench.reports.browser import chromium, console_errors, requested_urls

    r = tmp_path / "runs"
    runs = [
        make_run(r, "i-a", "alpha <b>α</b>", 0.75, items=intphys_items(40, 30)),
        make_run(r, "i-b", "beta", 0.55, items=intphys_items(40, 22)),
        make_run(r, "i-p", "pixel-copy-last", 0.6, baseline=True, items=intphys_items(40, 24)),
        make_qa_run(r, "m-a", "alpha <b>α</b>", "mvpbench", p_right=0.9, seed=1),
        make_qa_run(r, "m-b", "beta", "mvpbench", p_right=0.95, seed=2),
        # 300 questions: 20 per type x difficulty stratum, so no bootstrap resample lacks a stratum (CI defined)
        make_qa_run(r, "c-a", "alpha <b>α</b>", "causalvqa", p_right=0.8, seed=3, n_pairs=300),
    ]
    html = build_report(runs, tmp_path / "report.html", n_boot=200)
    url = html.resolve().as_uri()
    with chromium(width=1200, height=900) as driver:
        driver.get("about:blank")
        requested_urls(driver)  # drain what the browser's own start page loaded
        driver.get(url)
        assert driver.title.startswith("pjbench report")
        table = driver.find_element(By.ID, "leaderboard")
        rows = table.find_elements(By.CSS_SELECTOR, "tbody.measured tr")
        names = [row.find_element(By.CSS_SELECTOR, ".name").text for row in rows]
        assert sorted(names) == sorted(["alpha <b>α</b>", "beta", "pixel-copy-last"])  # escaped, shown literally
        ci_cells = table.find_elements(By.CSS_SELECTOR, "tbody.measured td.num .ci")
        assert len(ci_cells) >= 6 and all(re.fullmatch(r"≈? ?\[\d+\.\d, \d+\.\d\]", c.text) for c in ci_cells), [c.text for c in ci_cells]
        assert table.find_elements(By.CSS_SELECTOR, "tbody.published tr.published")
        # Sorting: the script turned headers into buttons; click MVPBench twice (descending, ascending).
        button = table.find_element(By.CSS_SELECTOR, 'th[data-col="2"] button.sort')
        button.click()
        th = table.find_element(By.CSS_SELECTOR, 'th[data-col="2"]')
        assert th.get_attribute("aria-sort") == "descending"

        def column(col):
            out = []
            for row in table.find_elements(By.CSS_SELECTOR, "tbody.measured tr"):
                v = row.find_elements(By.TAG_NAME, "td")[col].get_attribute("data-v")
                out.append(float(v) if v else None)
            return out

        values = column(2)
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=True) and values[-1] is None  # no run: last
        assert table.find_elements(By.CSS_SELECTOR, "tbody.measured tr")[0].find_element(
            By.CSS_SELECTOR, ".name").text == "beta"
        button.click()
        assert th.get_attribute("aria-sort") == "ascending"
        present = [v for v in column(2) if v is not None]
        assert present == sorted(present) and column(2)[-1] is None
        # Model column sorts by text.
        table.find_element(By.CSS_SELECTOR, 'th[data-col="0"] button.sort').click()
        names = [row.find_element(By.CSS_SELECTOR, ".name").text.lower()
                 for row in table.find_elements(By.CSS_SELECTOR, "tbody.measured tr")]
        assert names == sorted(names, reverse=True)
        # Charts rendered with their text alternatives.
        assert driver.find_elements(By.CSS_SELECTOR, "svg.forest title")
        assert driver.execute_script("return document.querySelectorAll('svg polyline').length") > 0
        driver.save_screenshot(str(tmp_path / "report.png"))
        errors = console_errors(driver)
        urls = requested_urls(driver)
    assert errors == []
    # Only the document itself; chrome:// pages are the browser's own UI, never the network.
    assert [u for u in urls if not u.startswith("chrome://")] == [url], urls
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_works_without_javascript(tmp_path):
    """With scripts disabled the page is complete: rows in rank order, no sort buttons, no errors."""
    from selenium.webdriver.common.by import By

    from pjbench.reports.browser import chromium, console_errors

    runs = [make_run(tmp_path, "a", "a-model", 0.7, items=intphys_items(20, 14)),
            make_run(tmp_path, "b", "b-model", 0.6, items=intphys_items(20, 12))]
    html = build_report(runs, tmp_path / "report.html", n_boot=100)
    with chromium() as driver:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        driver.get(html.resolve().as_uri())
        table = driver.find_element(By.ID, "leaderboard")
        assert not table.find_elements(By.CSS_SELECTOR, "button.sort")
        names = [e.text for e in table.find_elements(By.CSS_SELECTOR, "tbody.measured .name")]
        assert names == ["a-model", "b-model"]
        assert console_errors(driver) == []


def test_tables_fit_a_1280_px_window(tmp_path):
    """At a 1280-px window no table scrolls sideways: the page and every table container are as wide as their
    content. The probe run carries its video-blind control and difference rows, the widest leaderboard."""
    import json

    from pjbench.reports.browser import chromium

    r = tmp_path / "runs"
    probe = make_qa_run(r, "m-a", "dinov2-tiny-random", "mvpbench", p_right=0.9, seed=1)
    data = json.loads((probe / "results.json").read_text())
    head = next(m for m in data["metrics"] if m["subset"] == "all")
    # The rows a probe run writes (benchmarks/probe_runner.py): its metrics, the video-blind control's, the difference.
    names = ("single_accuracy", "pair_accuracy_pooled", "single_accuracy_pooled",
             *(f"control_video_blind/{n}" for n in ("pair_accuracy", "single_accuracy", "pair_accuracy_pooled",
                                                   "single_accuracy_pooled")),
             "probe_minus_video_blind/pair_accuracy")
    data["metrics"] += [{**head, "name": n} for n in names]
    (probe / "results.json").write_text(json.dumps(data))
    runs = [make_run(r, "i-a", "a-rather-long-model-name-with-a-checkpoint-suffix", 0.75, items=intphys_items(40, 30)),
            make_run(r, "i-p", "pixel-copy-last", 0.6, baseline=True, items=intphys_items(40, 24)),
            probe, make_qa_run(r, "c-a", "dinov2-tiny-random", "causalvqa", p_right=0.8, seed=3)]
    html = build_report(runs, tmp_path / "report.html", n_boot=100)
    with chromium(width=1280, height=900) as driver:
        driver.get(html.resolve().as_uri())
        assert driver.execute_script("return window.innerWidth") == 1280
        width = driver.execute_script("return document.documentElement.scrollWidth")
        wide = driver.execute_script(
            "return Array.from(document.querySelectorAll('.scroll, table')).filter("
            "e => e.scrollWidth > e.clientWidth + 1).map(e => (e.className || e.tagName) + ' ' + e.scrollWidth)")
    assert width <= 1280 and wide == []
