"""The dashboard in a real browser (headless Chromium) against `turnout up --demo`: sign-in,
the demo route, moving weights and seeing the gateway serve the split, a bad release's rollout
rolled back live, a rollback by hand, a viewer without buttons (and refused by the API), the
stale-revision message, and registry text shown as text. Screenshots of each page, light and
dark, go to a temporary folder (and `TURNOUT_UI_SHOTS` when set).

One `turnout up` and one browser serve the whole module; the tests run in file order.
"""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.browser import browser_missing, start_browser
from tests.conftest import ADMIN_TOKENS
from tests.e2e.dashboard_stack import Shots, Stack, fresh_profile, until

missing = browser_missing()
pytestmark = pytest.mark.skipif(missing is not None, reason=f"no browser: {missing}")

MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("up") / "data")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    profile = fresh_profile()
    browser = start_browser(profile)
    browser.set_script_timeout(10)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(tmp_path_factory.mktemp("screenshots"))


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def sign_in(driver: Any, stack: Stack, role: str) -> None:
    driver.get(stack.ui)
    driver.execute_script("sessionStorage.clear()")
    driver.get(stack.ui + "#/routes")
    until(lambda: css(driver, "#token"), what="sign-in form")
    css(driver, "#token").send_keys(ADMIN_TOKENS[role][1])
    css(driver, ".signin button[type=submit]").click()
    name = ADMIN_TOKENS[role][0]
    until(lambda: css(driver, "#who").text == f"{name} · {role}", what="signed in")


def open_route(driver: Any, stack: Stack) -> None:
    driver.get(stack.ui + "#/routes/demo")
    until(lambda: css(driver, "#summary h1").text == "demo", what="route page")


def revision_shown(driver: Any) -> int:
    return int(css(driver, "#summary [data-role=revision]").get_attribute("textContent"))


def dialog(driver: Any, name: str) -> Any:
    return until(lambda: css(driver, f"dialog[data-dialog='{name}'][open]"), what=f"{name} dialog")


def fill(box: Any, field: str, value: str) -> None:
    element = css(box, f"[name='{field}']")
    element.clear()
    element.send_keys(value)


def set_weights(driver: Any, weights: dict[str, float], reason: str) -> Any:
    css(driver, "[data-action=weights]").click()
    box = dialog(driver, "weights")
    for release, weight in weights.items():
        fill(box, f"w_{release}", str(weight))
    fill(box, "reason", reason)
    return box


def route_now(stack: Stack) -> Any:
    return stack.ok("GET", "/admin/routes/demo", role="viewer")


def test_sign_in_and_see_the_demo_route(driver, stack, shots):
    driver.get(stack.ui)
    until(lambda: css(driver, "#token"), what="sign-in form")
    shots.take(driver, "signin")
    css(driver, "#token").send_keys("not-a-token-of-anyone")
    css(driver, ".signin button[type=submit]").click()
    until(lambda: "not accepted" in css(driver, "#signin-error").text, what="refusal shown")
    assert driver.execute_script("return sessionStorage.getItem('turnout.token')") is None
    sign_in(driver, stack, "operator")
    # the token is kept for this tab only, never in the address
    assert ADMIN_TOKENS["operator"][1] not in driver.current_url
    row = until(lambda: css(driver, "tr[data-route=demo] .weights"), what="demo row")
    assert row.get_attribute("aria-label") == "Weights of demo: r1 100%"
    assert css(driver, "tr[data-route=demo]").text.split()[:2] == ["demo", "r1"]
    open_route(driver, stack)
    assert revision_shown(driver) == route_now(stack)["revision"]
    releases = [e.get_attribute("data-release") for e in all_css(driver, "#releases article")]
    assert releases == ["r2", "r1"]
    diff = css(driver, "article[data-release=r2] [data-role=prompt-diff]").text
    assert "\N{MINUS SIGN} [system] You are a helpful support agent." in diff
    assert "+ [system] You are a concise, friendly support agent." in diff
    until(lambda: css(driver, "#live").text == "Live", what="live stream")
    theme = css(driver, "#theme")
    theme.click()
    assert driver.execute_script("return document.documentElement.dataset.theme") == "light"
    theme.click()
    assert driver.execute_script("return document.documentElement.dataset.theme") == "dark"
    theme.click()  # back to following the system
    assert driver.execute_script("return document.documentElement.dataset.theme") is None


def test_move_weights_and_the_gateway_serves_the_new_split(driver, stack, shots):
    sign_in(driver, stack, "operator")
    open_route(driver, stack)
    before = revision_shown(driver)
    box = set_weights(driver, {"r1": 50, "r2": 50}, "half and half")
    assert css(box, "[data-role=sum]").text.startswith("Total 100%")
    css(box, "button[type=submit]").click()
    until(lambda: revision_shown(driver) == before + 1, what="new revision shown")
    bar = css(driver, "#summary [data-role=weights] .weights").get_attribute("aria-label")
    assert bar == "Weights of demo: r1 50%, r2 50%"
    served = stack.split(400, "split")
    assert set(served) == {"r1", "r2"}
    assert 140 <= served["r2"] <= 260  # 50% of 400, well within 6 standard deviations
    last = stack.ok("GET", "/admin/audit?route=demo&limit=5", role="viewer")[-1]
    assert (last["action"], last["actor"]) == ("route.flip", "olga")
    assert last["reason"] == "half and half"
    until(lambda: "half and half" in css(driver, "#audit").text, what="audit entry shown")
    stack.ok("POST", "/admin/routes/demo/rollback", {"reason": "reset"}, role="operator")
    until(lambda: revision_shown(driver) == before + 2, what="live update without reload")


def test_a_bad_release_is_rolled_back_live(driver, stack, shots):
    model = {"provider": "sim", "upstream_model": "sim-bad"}
    stack.ok("POST", "/admin/models/sim-bad/versions", model)
    prompt = {"system": f"{MARKUP} Answer <b>briefly</b>."}
    ref = stack.ok("POST", "/admin/prompts/support/versions", prompt)["ref"]
    release = {"model": "sim-bad@1", "prompt": ref, "note": f"note {MARKUP}"}
    candidate = stack.ok("POST", "/admin/routes/demo/releases", release, role="operator")
    assert candidate["release"]["id"] == "r3"
    stack.behave("sim-bad", error_rate=0.5)
    sign_in(driver, stack, "operator")
    open_route(driver, stack)
    css(driver, "[data-action=start-rollout]").click()
    box = dialog(driver, "start-rollout")
    assert css(box, "[name=release]").get_attribute("value") == "r3"
    fill(box, "steps", "20, 100")
    fill(box, "min_bake_s", "60")
    css(box, "[name=skip_gate]").click()
    fill(box, "reason", f"try r3 {MARKUP}")

    def shown() -> str:
        return str(css(driver, "#rollout [data-role=rollout-status]").get_attribute("textContent"))

    with stack.traffic(rate=60):
        css(box, "button[type=submit]").click()
        until(lambda: shown() == "running", what="rollout running")
        until(lambda: shown() == "rolled_back", timeout_s=25, what="rolled back, without a reload")
    reason = css(driver, "#rollout [data-role=status-reason]").text
    assert "error_rate" in reason, reason
    assert until(lambda: css(driver, "#rollout [data-guard=error_rate]"), what="evidence shown")
    assert until(lambda: "r1 100%" in css(driver, "#summary .weights").get_attribute("aria-label"))
    rollout = stack.ok("GET", "/admin/routes/demo/rollouts", role="viewer")["rollout"]
    assert rollout["status"] == "rolled_back"
    until(lambda: all_css(driver, "#rollout figure[data-chart^=evidence-]"), what="evidence chart")
    shots.take(driver, "rollout", element="#rollout")
    driver.execute_script("window.scrollTo(0, 0)")
    shots.take(driver, "route")


def test_registry_text_is_shown_as_text(driver, stack):
    sign_in(driver, stack, "viewer")
    open_route(driver, stack)
    card = until(lambda: css(driver, "article[data-release=r3]"), what="r3 shown")
    assert MARKUP in css(card, "[data-role=prompt-diff]").text
    assert f"note {MARKUP}" in card.text
    until(lambda: f"try r3 {MARKUP}" in css(driver, "#rollout").text, what="reason shown")
    assert f"try r3 {MARKUP}" in css(driver, "#audit").text
    assert driver.execute_script("return window.__pwned === undefined")
    assert all_css(driver, "main img") == [] and all_css(driver, "main script") == []
    assert all_css(driver, "main b") == []


def test_roll_back_by_hand(driver, stack, shots):
    sign_in(driver, stack, "operator")
    revision = route_now(stack)["revision"]
    body = {"weights": {"r1": 80, "r2": 20}, "expected_revision": revision, "reason": "canary"}
    stack.ok("PUT", "/admin/routes/demo/weights", body, role="operator")
    open_route(driver, stack)
    until(lambda: "r2 20%" in css(driver, "#summary .weights").get_attribute("aria-label"))
    css(driver, "[data-action=rollback]").click()
    box = dialog(driver, "rollback")
    css(box, "button[type=submit]").click()  # no reason: the form refuses, nothing is sent
    missing = "return document.querySelector('dialog[open] [name=reason]').validity.valueMissing"
    assert driver.execute_script(missing)
    assert route_now(stack)["revision"] == revision + 1
    fill(box, "reason", "thumbs-down spike")
    css(box, "button[type=submit]").click()
    bar = "#summary .weights"
    until(lambda: css(driver, bar).get_attribute("aria-label").endswith(": r1 100%"))
    after = route_now(stack)
    assert after["weights"]["r1"] == 100 and after["revision"] == revision + 2
    last = stack.ok("GET", "/admin/audit?route=demo&limit=1", role="viewer")[-1]
    assert [last[k] for k in ("action", "actor", "reason")] == [
        "route.rollback",
        "olga",
        "thumbs-down spike",
    ]
    driver.get(stack.ui + "#/routes")
    until(lambda: css(driver, "tr[data-route=demo] .spark"), what="sparklines")
    shots.take(driver, "routes")
    driver.get(stack.ui + "#/routes/demo/timeline")
    until(lambda: "Loading" not in css(driver, "[data-role=timeline]").text, what="timeline")
    shots.take(driver, "timeline")


def test_a_viewer_has_no_buttons_and_the_api_refuses_it(driver, stack):
    sign_in(driver, stack, "viewer")
    open_route(driver, stack)
    until(lambda: all_css(driver, "#releases article"), what="releases")
    until(lambda: css(driver, "#rollout h2"), what="rollout panel")
    assert all_css(driver, "[data-action]") == []
    assert [b.text for b in all_css(driver, "main button") if not b.get_attribute("data-window")
            and b.text != "Impact (2 h)"] == []  # fmt: skip
    revision = route_now(stack)["revision"]
    status = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/admin/routes/demo/weights', {method: 'PUT', headers: {
          'Authorization': 'Bearer ' + sessionStorage.getItem('turnout.token'),
          'Content-Type': 'application/json'},
          body: JSON.stringify({weights: {r1: 0, r2: 100}, expected_revision: arguments[0],
                                reason: 'viewer'})}).then(r => done(r.status));""",
        revision,
    )
    assert status == 403
    assert route_now(stack)["revision"] == revision


def test_a_cross_site_form_cannot_act(driver, stack):
    """A form on another origin posts without the header (browsers add no token): refused."""
    revision = route_now(stack)["revision"]
    page = (
        "data:text/html,<form method=post action="
        f"'{stack.admin}/admin/routes/demo/rollback'><input name=reason value=x>"
        "<button>go</button></form>"
    )
    driver.get(page)
    css(driver, "button").click()
    until(lambda: "unauthorized" in driver.page_source, what="refusal")
    assert route_now(stack)["revision"] == revision


def test_a_stale_revision_shows_the_conflict(driver, stack, shots):
    sign_in(driver, stack, "operator")
    open_route(driver, stack)
    revision = revision_shown(driver)
    box = set_weights(driver, {"r1": 90, "r2": 10}, "my canary")
    assert f"revision {revision}" in css(box, "[data-role=revision]").text.lower()
    # someone else changes the route while the dialog is open
    body = {"weights": {"r1": 95, "r2": 5}, "expected_revision": revision, "reason": "theirs"}
    stack.ok("PUT", "/admin/routes/demo/weights", body, role="admin")
    until(lambda: "changed while you were editing" in css(box, "[data-role=notice]").text)
    css(box, "button[type=submit]").click()
    message = until(lambda: css(box, "[data-role=error]").text, what="conflict message")
    assert message.startswith("Someone else changed this route first")
    assert f"now at revision {revision + 1}" in message and f"revision {revision}." in message
    assert "Nothing was changed" in message
    shots.take(driver, "conflict", element="dialog[open]")
    now = route_now(stack)
    assert now["weights"]["r2"] == 5 and now["revision"] == revision + 1


def press(driver: Any, element: Any) -> None:
    """Click, with the element in the middle of the window (never under the sticky bar)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_freeze_emergency_kill_switch_and_review(driver, stack, shots):
    """Release operations as the dashboard shows them: a freeze on the route refuses a flip
    (the dialog names the window), an emergency flip goes through and leaves a review item,
    which is acknowledged with a note; the kill switch is engaged and lifted."""
    if stack.api("GET", "/admin/windows", role="viewer")[0] in (404, 405):
        pytest.skip("this build has no release operations (windows, kill switch, reviews) yet")
    freeze = {"name": "holiday", "reason": "holiday <i>freeze</i>", "route": "demo"}
    stack.ok("PUT", "/admin/freeze", freeze, role="operator")
    sign_in(driver, stack, "operator")
    open_route(driver, stack)
    until(lambda: "frozen: holiday" in css(driver, "#summary").text, what="freeze badge")
    until(lambda: "holiday <i>freeze</i>" in css(driver, "#windows").text, what="window listed")
    revision = revision_shown(driver)
    box = set_weights(driver, {"r1": 90, "r2": 10}, "canary in a freeze")
    css(box, "button[type=submit]").click()
    refused = until(lambda: css(box, "[data-role=error]").text, what="freeze refusal")
    assert "holiday" in refused, refused
    assert route_now(stack)["revision"] == revision
    css(box, "[name=emergency]").click()
    css(box, "button[type=submit]").click()
    until(lambda: revision_shown(driver) == revision + 1, what="emergency flip")
    item = until(lambda: css(driver, "#reviews [data-review]"), what="review item")
    assert "canary in a freeze" in item.text
    press(driver, css(item, "[data-action=ack]"))
    ack = dialog(driver, "ack")
    fill(ack, "note", "checked the canary")
    css(ack, "button[type=submit]").click()
    until(lambda: not all_css(driver, "#reviews [data-review]"), what="acknowledged")
    assert stack.ok("GET", "/admin/routes/demo/reviews?status=open", role="viewer") == []
    press(driver, css(driver, "[data-action=kill]"))
    kill = dialog(driver, "kill")
    css(kill, "[name=release]").send_keys("r1")
    fill(kill, "reason", "incident 42")
    css(kill, "button[type=submit]").click()
    until(lambda: "kill switch: r1" in css(driver, "#summary").text, what="kill switch shown")
    assert {stack.chat(f"k-{i}")[1] for i in range(20)} == {"r1"}
    shots.take(driver, "operations")
    press(driver, css(driver, "[data-action=unkill]"))
    lift = dialog(driver, "unkill")
    fill(lift, "reason", "over")
    css(lift, "button[type=submit]").click()
    until(lambda: all_css(driver, "[data-action=kill]"), what="kill switch lifted")
    assert route_now(stack)["kill_switch"] is None
    stack.ok("DELETE", "/admin/windows/holiday?reason=over", role="operator")


def test_screenshots_were_saved(shots):
    names = sorted(Path(p).name for p in shots.saved)
    for page in ("signin", "route", "rollout", "routes", "timeline", "conflict"):
        for theme in ("light", "dark"):
            assert f"{page}-{theme}.png" in names
    assert all(Path(p).stat().st_size > 3000 for p in shots.saved)


CONTRAST = (Path(__file__).parent / "contrast.js").read_text()

LABELS = """
return [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.getClientRects().length)
  .filter(el => el.tagName === 'BUTTON'
    ? !(el.textContent.trim() || el.getAttribute('aria-label'))
    : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML.slice(0, 80));
"""


def test_keyboard_labels_and_contrast(driver, stack):
    from selenium.webdriver.common.keys import Keys

    sign_in(driver, stack, "operator")
    open_route(driver, stack)
    until(lambda: all_css(driver, "#releases article"), what="releases")
    until(lambda: all_css(driver, "#audit tr"), what="audit")
    for theme in ("light", "dark"):
        driver.execute_script("document.documentElement.dataset.theme = arguments[0]", theme)
        checked, worst = driver.execute_script(CONTRAST, 1)
        assert checked > 150 and worst == [], (theme, worst)
        assert driver.execute_script(CONTRAST, 3)[1]  # the check can fail: a stricter rule does
    assert driver.execute_script(LABELS) == []
    # keyboard only: the action opens its dialog, focus moves into it, Escape closes it
    driver.execute_script("document.querySelector('[data-action=weights]').focus()")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    box = dialog(driver, "weights")
    assert driver.execute_script("return document.activeElement.closest('dialog') !== null")
    assert driver.execute_script(LABELS) == []
    for theme in ("light", "dark"):
        driver.execute_script("document.documentElement.dataset.theme = arguments[0]", theme)
        assert driver.execute_script(CONTRAST, 1)[1] == [], theme
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    until(lambda: not all_css(driver, "dialog[open]"), what="dialog closed by Escape")
    assert box is not None
    driver.execute_script("delete document.documentElement.dataset.theme")


def test_no_script_error_or_policy_violation_in_the_whole_session(driver):
    """Every page the tests opened, in this browser: no uncaught error, no CSP refusal (the
    expected 401/403/404/409 answers of the admin API are network entries, not errors)."""
    driver.execute_script("setTimeout(() => { throw new Error('probe-1234') })")
    time.sleep(0.2)
    entries = driver.get_log("browser")
    problems = [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]
    assert len(problems) == 1 and "probe-1234" in problems[0]  # the log does see errors
    assert not [e for e in entries if "Content Security Policy" in e["message"]]
