"""Walks the hosted pages and the admin console in headless Chromium, as a
person would: sign up, verify the email (the link read from the test mail
server), sign in, end another session, set up an authenticator, sign out and in
with a code, forget the password and reset it, sign in with a recovery code;
then an admin locks the user in the console, and the login says so. On the way
it runs axe-core in each page, takes the README's screenshots, and collects the
browser's console errors (a CSP violation is one).

Usage: pages.py CONFIG_JSON   (base, admin, admin_token, mails, shots, axe,
server_unix, username, email, password)
Prints one JSON line: the steps done, axe's serious or critical violations by
page, the console errors. Exits non-zero when a step does not happen.
"""
import json
import os
import sys
import time
import urllib.request

import pyotp
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

cfg = json.loads(sys.argv[1])
base, admin = cfg["base"], cfg["admin"]
user, email, password = cfg["username"], cfg["email"], cfg["password"]
os.makedirs(cfg["shots"], exist_ok=True)
axe_source = open(cfg["axe"]).read()

options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             "--disable-sync", "--window-size=1100,900"):
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)
said = {"steps": [], "axe": {}, "console": [], "checked": []}


def step(name):
    said["steps"].append(name)


def at(path_prefix):
    wait.until(lambda d: d.current_url.split("://", 1)[1].split("/", 1)[1].startswith(path_prefix.lstrip("/")))


def fill(field_id, value):
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def submit(form_action):
    driver.find_element(By.CSS_SELECTOR, f'form[action="{form_action}"] button[type=submit]').click()


def axe(page):
    """axe-core's serious and critical violations on this page."""
    driver.execute_script(axe_source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', nodes: String(e)}]));")
    said["axe"][page] = [v for v in result if v["impact"] in ("serious", "critical")]
    said["checked"].append(page)


def shot(name):
    driver.save_screenshot(os.path.join(cfg["shots"], name + ".png"))


def mail_to(subject, after=0):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            lines = open(cfg["mails"]).read().splitlines()
        except FileNotFoundError:
            lines = []
        mails = [json.loads(l) for l in lines]
        found = [m for m in mails if m["to"] == [email] and m["subject"] == subject]
        if len(found) > after:
            return found[after]
        time.sleep(0.1)
    raise RuntimeError(f"no mail {subject!r} to {email}")


def link_in(mail):
    text = mail["text"]
    start = text.index(base + "/ui/")
    end = min(i for i in (text.find(c, start) for c in "\r\n ") if i != -1)
    return text[start:end]


def code(offset_steps):
    return pyotp.TOTP(secret).at(cfg["server_unix"] + 30 * offset_steps)


try:
    # Sign up; the address must be verified first.
    driver.get(base + "/ui/signup")
    axe("signup")
    fill("username", user)
    fill("email", email)
    fill("password", password)
    submit("/ui/signup")
    at("/ui/login")
    assert "We sent you a mail" in driver.page_source
    step("signed up")

    # The mail's link: its token in the fragment, put into the form by the script.
    link = link_in(mail_to("Confirm your email address"))
    assert "#token=" in link, link
    driver.get(link)
    wait.until(lambda d: d.find_element(By.ID, "token").get_attribute("value"))
    assert "#" not in driver.current_url, "the fragment is dropped from the address bar"
    axe("verify")
    submit("/ui/verify-email")
    at("/ui/login")
    assert "Your email is verified" in driver.page_source
    step("verified")

    # Sign in.
    axe("login")
    fill("login", user)
    fill("password", password)
    submit("/ui/login")
    at("/ui/account")
    assert email in driver.page_source
    step("signed in")

    # Another session (an API client elsewhere), ended from the account page.
    body = json.dumps({"login": user, "password": password}).encode()
    request = urllib.request.Request(base + "/auth/login", body, {"content-type": "application/json", "user-agent": "other-device"})
    urllib.request.urlopen(request).read()
    driver.refresh()
    sessions = driver.find_elements(By.CSS_SELECTOR, "#sessions > li")
    assert len(sessions) == 2, len(sessions)
    axe("account")
    shot("account")
    submit("/ui/account/sessions/end")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "The session is ended"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#sessions > li")) == 1
    step("ended another session")

    # An authenticator app: the key, its first code, the recovery codes.
    submit("/ui/account/totp")
    wait.until(ec.presence_of_element_located((By.ID, "secret")))
    secret = driver.find_element(By.ID, "secret").text
    axe("enrol")
    fill("code", code(0))
    submit("/ui/account/totp/confirm")
    wait.until(ec.presence_of_element_located((By.ID, "recovery-codes")))
    recovery = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    assert len(recovery) == 10, recovery
    axe("codes")
    shot("recovery-codes")
    driver.find_element(By.CSS_SELECTOR, "a.button").click()
    at("/ui/account")
    assert driver.find_element(By.ID, "totp-status").text == "on"
    step("authenticator set up")

    # Sign out, and in with the password and a code.
    submit("/ui/logout")
    at("/ui/login")
    shot("login")
    fill("login", user)
    fill("password", password)
    submit("/ui/login")
    at("/ui/login/mfa")
    axe("mfa")
    shot("mfa")
    fill("code", code(1))
    submit("/ui/login/mfa")
    at("/ui/account")
    step("signed in with a code")

    # Forgotten password: the mail's link, a new password, every session ended.
    submit("/ui/logout")
    at("/ui/login")
    driver.find_element(By.LINK_TEXT, "Forgot your password?").click()
    at("/ui/forgot-password")
    axe("forgot")
    fill("email", email)
    submit("/ui/forgot-password")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "a mail with a link is on its way"))
    driver.get(link_in(mail_to("Reset your password")))
    wait.until(lambda d: d.find_element(By.ID, "token").get_attribute("value"))
    axe("reset")
    new_password = password + " renewed"
    fill("password", new_password)
    submit("/ui/reset-password")
    at("/ui/login")
    assert "Your password is changed" in driver.page_source
    fill("login", email)
    fill("password", new_password)
    submit("/ui/login")
    at("/ui/login/mfa")
    driver.find_element(By.TAG_NAME, "summary").click()
    fill("recovery_code", recovery[0])
    driver.find_elements(By.CSS_SELECTOR, 'form[action="/ui/login/mfa"] button[type=submit]')[1].click()
    at("/ui/account")
    step("reset the password, signed in with a recovery code")

    # At phone width.
    driver.set_window_size(390, 844)
    submit("/ui/logout")
    at("/ui/login")
    axe("login-phone")
    shot("login-phone")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"no sideways scrolling at phone width: {width}"
    driver.set_window_size(1100, 900)

    # The admin console: sign in with the token, find the user, lock.
    driver.get(admin + "/admin/ui/")
    axe("admin-login")
    fill("token", cfg["admin_token"])
    submit("/admin/ui/login")
    wait.until(ec.presence_of_element_located((By.ID, "users")))
    fill("q", user[:4])
    driver.find_element(By.CSS_SELECTOR, 'form[role=search] button').click()
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, user)))
    axe("admin-users")
    driver.find_element(By.LINK_TEXT, user).click()
    wait.until(ec.presence_of_element_located((By.ID, "user-state")))
    submit(driver.current_url.split(admin, 1)[1] + "/lock")
    wait.until(ec.text_to_be_present_in_element((By.ID, "user-state"), "locked"))
    axe("admin-user")
    shot("admin-user")
    step("admin locked the user")
    # Up to here every page answered 2xx or 3xx: any console error is a fault
    # (a CSP violation, a script error). The locked login answers 403 by design.
    said["console"] = [
        entry["message"] for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]

    driver.get(base + "/ui/login")
    fill("login", user)
    fill("password", new_password)
    submit("/ui/login")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".problem"), "This account is locked"))
    step("the locked user is refused")

finally:
    print(json.dumps(said))
    driver.quit()
