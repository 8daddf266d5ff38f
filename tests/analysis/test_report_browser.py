"""The report of test_report.py's run, opened in a real headless Chromium: the metrics table
renders, the console has no error, no dialog opened, the hostile title is shown as literal
text with no element carrying a handler, and every image (plots and frames) decoded.

Chromium and its driver are Debian packages (``make system-deps``); without them this test
fails rather than skips, as CI installs them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.analysis.test_report import HOSTILE, RUN_ID, built_report
from tests.browser import opened


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Any:
    with opened(built_report(tmp_path_factory)["path"]) as driver:
        yield driver


def test_the_metrics_table_renders(page: Any):
    from selenium.webdriver.common.by import By

    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for table in page.find_elements(By.TAG_NAME, "table") for r in table.find_elements(By.TAG_NAME, "tr")]
    metric_rows = [r for r in rows if len(r) > 3 and r[0] == RUN_ID and r[1] in ("accuracy", "balanced accuracy",
                                                                               "macro f1")]
    assert [r[1] for r in metric_rows] == ["accuracy", "balanced accuracy", "macro f1"]
    assert all(r[2] and r[3] == "2" for r in metric_rows)  # value [interval] over the 2 labelled items


def test_no_console_error_and_no_dialog(page: Any):
    from selenium.common.exceptions import NoAlertPresentException

    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text  # noqa: B018 (the property raises when no dialog is open)


def test_the_hostile_title_is_literal_text(page: Any):
    from selenium.webdriver.common.by import By

    titles = [e.text for e in page.find_elements(By.CSS_SELECTOR, "section.item .title")]
    assert HOSTILE in titles
    counts = page.execute_script(
        "return [document.querySelectorAll('[onerror]').length, document.scripts.length,"
        " document.querySelectorAll('a[href^=\"javascript\"]').length]")
    assert counts == [0, 0, 0]


def test_every_image_decoded(page: Any):
    images = page.execute_script(
        "return Array.from(document.images).map(i => [i.src.slice(0, 15), i.complete, i.naturalWidth])")
    plots = [i for i in images if i[0] == "data:image/png;"]
    assert len(plots) == 4 and len(images) == 4 + 5  # plots and the frames still in the cache
    assert all(complete and width > 0 for _, complete, width in images)
