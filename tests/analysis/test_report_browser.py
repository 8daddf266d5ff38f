"""The report of test_report.py's run, opened in a real headless Chromium: the metrics table
renders, the console has no error, no dialog opened, the hostile title is shown as literal
text with no element carrying a handler, and every image (plots and frames) decoded. Then
`m2t report` of test_film_report.py's real film run: the film exam section and its tables on
screen, with a screenshot kept for a person to look at.

Chromium and its driver are Debian packages (``make system-deps``); without them this test
fails rather than skips, as CI installs them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.analysis.test_film_report import HOSTILE as HOSTILE_FILM
from tests.analysis.test_film_report import built_film_report
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


# --- the film exam: `m2t report` on a real film run (test_film_report.py makes it once) ---------

SCREENSHOT_DIR = "film-report-screenshots"


@pytest.fixture(scope="module")
def film_page(tmp_path_factory) -> Any:

    with opened(built_film_report(tmp_path_factory)["path"]) as driver:
        yield driver


@pytest.mark.slow  # the real film run behind it (test_film_report.py)
@pytest.mark.timeout(1800)
def test_the_film_exam_section_and_its_tables_are_visible(film_page: Any, tmp_path_factory):
    """The exam section is on screen: its heading, the metrics table with a row per student and
    metric, the marks and audit tables, and per clip the answers and the shot grid; a
    screenshot of it is kept (its path printed) for a person to look at."""
    from selenium.webdriver.common.by import By

    section = film_page.find_element(By.ID, "exam")
    film_page.execute_script("arguments[0].scrollIntoView()", section)
    assert section.is_displayed() and section.text == "Film exam"
    tables = {name: film_page.find_element(By.CSS_SELECTOR, f"table.{name}")
              for name in ("exam-metrics", "exam-marks", "exam-audit", "exam-answers", "exam-shots")}
    assert all(t.is_displayed() and t.size["height"] > 20 for t in tables.values())
    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in tables["exam-metrics"].find_elements(By.TAG_NAME, "tr")][1:]
    students = {r[1] for r in rows}
    assert {"text", "vlm", "(measurement)"} <= students
    budget = [r for r in rows if r[0] == "budget accuracy"]
    assert len(budget) == 2 and all("[" in r[2] and "small n" in r[2] and r[3] == "2" and "[" in r[4] for r in budget)
    assert len(film_page.find_elements(By.CSS_SELECTOR, "section.clip")) == 2
    assert HOSTILE_FILM in [e.text for e in film_page.find_elements(By.CSS_SELECTOR, "section.clip .title")]
    assert film_page.execute_script("return [document.scripts.length, document.querySelectorAll('[onerror]').length]"
                                    ) == [0, 0]
    assert [e for e in film_page.get_log("browser") if e["level"] == "SEVERE"] == []
    images = film_page.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert any(alt.startswith("film exam metrics") and done and width > 0 for alt, done, width in images)

    height = film_page.execute_script("return document.body.scrollHeight")
    film_page.set_window_size(1280, min(int(height) + 100, 8000))
    film_page.execute_script("arguments[0].scrollIntoView()", section)
    shot = tmp_path_factory.mktemp(SCREENSHOT_DIR) / "film-exam.png"
    assert film_page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
