"""The example site in a real browser: sign up, connect SeeClickFix on the emulator's own sign-in
and approve pages, see the reported issues the Celery worker synced, act as the user, disconnect.

Everything runs as in ``scripts/demo``: separate processes for the emulator, the web servers and
the worker, talking over HTTP and the broker. Screenshots: ``artifacts/browser/<flow>/``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.stack import ElmCityStack, Site
from tests.browser.steps import Steps
from tests.workers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "a-long-Elm-city-password-7"
BACKGROUND = 30_000  # ms a background job (sync, comment, report) may take to show


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def main_button(page: Any, name: str) -> Any:
    return page.locator("main").get_by_role("button", name=name, exact=True)


def sign_up(page: Any, site: Site) -> str:
    email = f"{site.flow}-{uuid.uuid4().hex[:8]}@elmcity.example"
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    main_button(page, "Sign Up").click()
    expect(page).to_have_url(f"{site.url}/dashboard/")
    return email


def start_connect(page: Any, stack: ElmCityStack, button: Any) -> None:
    button.click()
    expect(page).to_have_url(re.compile(re.escape(stack.emulator_url) + "/"))


def sign_in_on_seeclickfix(page: Any, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in to SeeClickFix")).to_be_visible()
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()


def approve(page: Any) -> None:
    expect(page.get_by_text("Elm City Fixes").first).to_be_visible()  # the app's name is shown
    page.get_by_role("button", name="Authorize").click()


def reload_until_visible(page: Any, selector: str, timeout: float = BACKGROUND / 1000) -> None:
    """For pages that do not refresh themselves: look again until ``selector`` shows."""
    deadline = time.monotonic() + timeout
    while not page.locator(selector).first.is_visible():
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} did not appear within {timeout:.0f} s")
        page.wait_for_timeout(500)
        page.reload()


def emulator_saw(stack: ElmCityStack, method: str, path: str, status: int) -> bool:
    return any(
        entry["status"] == status and entry["path"] == path
        for entry in stack.emulator.requests(path, method=method)
    )


def wait_for_emulator(stack: ElmCityStack, method: str, path: str, status: int) -> None:
    wait_for(
        lambda: emulator_saw(stack, method, path, status),
        timeout=BACKGROUND / 1000,
        interval=0.2,
        what=f"the emulator to answer {method} {path} with {status}",
    )


def test_code_flow(elmcity: ElmCityStack, page: Any, steps: Callable[[str], Steps]) -> None:
    site = elmcity.sites["code"]
    step = steps("code-flow")

    with step("home page"):
        page.goto(f"{site.url}/")
        expect(page.get_by_role("heading", name="Fix your street, together.")).to_be_visible()

    with step("sign up"):
        sign_up(page, site)
        expect(page.locator("#seeclickfix")).to_contain_text("Connect the SeeClickFix account")

    with step("connect opens SeeClickFix sign-in"):
        start_connect(page, elmcity, main_button(page, "Connect SeeClickFix"))
        sign_in_on_seeclickfix(page, "rita@example.com", "rita-demo-password")

    with step("SeeClickFix asks to approve Elm City Fixes"):
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()

    with step("approved: back on the site, connected"):
        approve(page)
        expect(page).to_have_url(f"{site.url}/dashboard/")
        expect(page.locator("#scf-name")).to_have_text("Rita Resident")
        expect(page.locator("#link-status")).to_have_text("Active")

    with step("reported issues appear after the background sync"):
        # The dashboard reloads itself until the worker's first sync is in.
        expect(page.locator("#issue-list li")).to_have_count(10, timeout=BACKGROUND)
        expect(page.locator("#reports")).to_contain_text("(30 issues)")

    with step("open an issue and comment"):
        page.locator("#issue-list li a").first.click()
        issue_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        page.fill("textarea[name=comment]", "Still there this morning, and deeper.")
        main_button(page, "Post comment").click()
        expect(page.locator("#sent [data-status=succeeded]")).to_be_visible(timeout=BACKGROUND)
        wait_for_emulator(elmcity, "POST", f"/api/v2/issues/{issue_id}/comments", 201)

    with step("a moderated comment is shown as held"):
        elmcity.emulator.configure(moderate_comments=True)
        try:
            page.fill("textarea[name=comment]", "The city crew came by but left.")
            main_button(page, "Post comment").click()
            held = page.locator("#sent [data-status=moderated]")
            expect(held).to_be_visible(timeout=BACKGROUND)
            expect(held).to_contain_text("holds it for review")
            wait_for_emulator(elmcity, "POST", f"/api/v2/issues/{issue_id}/comments", 202)
        finally:
            elmcity.emulator.configure(moderate_comments=False)

    with step("access revoked on SeeClickFix: the site asks to reconnect"):
        assert elmcity.emulator.deauthorize("rita@example.com", client_id=site.client_id) >= 1
        page.goto(f"{site.url}/dashboard/")
        main_button(page, "Sync now").click()
        reload_until_visible(page, "#reconnect-banner")
        expect(page.locator("#link-status")).to_have_text("Needs reconnecting")

    with step("reconnect"):
        start_connect(page, elmcity, page.locator("#reconnect-banner button"))
        if page.get_by_role("button", name="Sign in").is_visible():
            sign_in_on_seeclickfix(page, "rita@example.com", "rita-demo-password")
        approve(page)
        expect(page).to_have_url(f"{site.url}/dashboard/")
        expect(page.locator("#reconnect-banner")).to_have_count(0)
        expect(page.locator("#link-status")).to_have_text("Active")

    with step("disconnect"):
        main_button(page, "Disconnect SeeClickFix").click()
        expect(page.locator(".messages")).to_contain_text("SeeClickFix is disconnected")
        expect(main_button(page, "Connect SeeClickFix")).to_be_visible()
        expect(page.locator("#issue-list")).to_have_count(0)
        wait_for_emulator(elmcity, "POST", "/oauth/revoke", 200)


def test_implicit_flow(elmcity: ElmCityStack, page: Any, steps: Callable[[str], Steps]) -> None:
    site = elmcity.sites["implicit"]
    step = steps("implicit-flow")
    since = max((e["seq"] for e in elmcity.emulator.requests("/oauth/authorize")), default=0)

    with step("sign up"):
        sign_up(page, site)

    with step("connect opens SeeClickFix sign-in"):
        start_connect(page, elmcity, main_button(page, "Connect SeeClickFix"))
        sign_in_on_seeclickfix(page, "ada.alvarez@example.com", "ada-demo-password")

    with step("approved: the relay page hands the token to the site"):
        approve(page)
        expect(page).to_have_url(f"{site.url}/dashboard/")
        expect(page.locator("#scf-name")).to_have_text("Ada Alvarez")
        authorizations = elmcity.emulator.requests("/oauth/authorize", method="GET", since=since)
        assert authorizations, "the site never sent the browser to SeeClickFix's authorize page"
        assert {e["query"].get("response_type") for e in authorizations} == {"token"}

    with step("reported issues appear after the background sync"):
        expect(page.locator("#issue-list li")).to_have_count(10, timeout=BACKGROUND)
        expect(page.locator("#reports")).to_contain_text("(23 issues)")

    with step("report an issue: where and what"):
        page.locator("#seeclickfix").get_by_role("link", name="Report an issue").click()
        page.select_option("select[name=spot]", "wooster")
        page.select_option("select[name=request_type]", label="Pothole")
        main_button(page, "Next").click()

    with step("report an issue: details, sent by the worker"):
        page.select_option("select[name=q__q_depth]", "Deep")
        page.fill("textarea[name=description]", "Deep pothole by the Wooster Square fountain.")
        main_button(page, "Send to SeeClickFix").click()
        expect(page).to_have_url(re.compile(re.escape(f"{site.url}/dashboard/")))
        sent = page.locator("#sent [data-status=succeeded]")
        expect(sent).to_be_visible(timeout=BACKGROUND)
        expect(sent).to_contain_text(re.compile(r"New report #\d+"))
        wait_for_emulator(elmcity, "POST", "/api/v2/issues", 201)

    with step("sync now brings the new issue in"):
        main_button(page, "Sync now").click()
        reload_until_visible(page, "#reports:has-text('(24 issues)')")
        expect(page.locator("#issue-list li").first).to_contain_text("600 Chapel St")

    with step("disconnect"):
        main_button(page, "Disconnect SeeClickFix").click()
        expect(page.locator(".messages")).to_contain_text("SeeClickFix is disconnected")
        expect(main_button(page, "Connect SeeClickFix")).to_be_visible()
