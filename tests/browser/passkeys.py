"""Registers a passkey and signs in with it alone, in headless Chromium with its
virtual authenticator (a platform authenticator that keeps discoverable
credentials and verifies its user), on the page authd serves at /ui/passkeys.

Usage: passkeys.py BASE_URL LOGIN PASSWORD  (BASE_URL as http://localhost:PORT)
Prints one JSON line: what the page said at each step, and the authenticator's
credentials. Exits non-zero when a step does not happen.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

base, login, password = sys.argv[1:4]

options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
said = {}
try:
    authenticator = VirtualAuthenticatorOptions()
    authenticator.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    authenticator.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    authenticator.has_resident_key = True
    authenticator.has_user_verification = True
    authenticator.is_user_verified = True
    driver.add_virtual_authenticator(authenticator)

    wait = WebDriverWait(driver, 20)
    status = (By.ID, "status")

    def after(click, text):
        driver.find_element(By.ID, click).click()
        wait.until(expected_conditions.text_to_be_present_in_element(status, text))
        return driver.find_element(*status).text

    driver.get(base + "/ui/passkeys")
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    said["password"] = after("login-button", "Signed in as")
    said["register"] = after("register-button", "added")
    credentials = driver.get_credentials()
    said["credentials"] = [
        {"resident": c.is_resident_credential, "rp_id": c.rp_id} for c in credentials
    ]
    said["forget"] = after("logout-button", "Not signed in")
    said["passkey"] = after("passkey-button", "Signed in as")
finally:
    print(json.dumps(said))
    driver.quit()
