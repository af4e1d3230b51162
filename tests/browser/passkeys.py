"""Adds a passkey on the account page and signs in with it alone, in headless
Chromium with its virtual authenticator (a platform authenticator that keeps
discoverable credentials and verifies its user), on the pages authd serves.

Usage: passkeys.py BASE_URL LOGIN PASSWORD  (BASE_URL as http://localhost:PORT)
Prints one JSON line: what each step showed, and the authenticator's
credentials. Exits non-zero when a step does not happen.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

base, login, password = sys.argv[1:4]

options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--no-first-run"):
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

    # The password first, to the account page.
    driver.get(base + "/ui/login")
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, 'form[action="/ui/login"] button').click()
    wait.until(ec.presence_of_element_located((By.ID, "passkey-add")))
    said["password"] = driver.find_element(By.ID, "profile-h").text

    # A passkey: the first factor, so its recovery codes are shown once.
    driver.find_element(By.ID, "passkey-name").send_keys("laptop")
    driver.find_element(By.ID, "passkey-add").click()
    wait.until(ec.visibility_of_element_located((By.ID, "passkey-codes")))
    said["recovery_codes"] = len(driver.find_elements(By.CSS_SELECTOR, "#passkey-codes li"))
    driver.find_element(By.CSS_SELECTOR, "#passkey-codes + a").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "passkey is added"))
    said["register"] = driver.find_element(By.ID, "passkeys").text
    credentials = driver.get_credentials()
    said["credentials"] = [
        {"resident": c.is_resident_credential, "rp_id": c.rp_id} for c in credentials
    ]

    # Signed out, then in with the passkey alone: no username, no password.
    driver.find_element(By.CSS_SELECTOR, 'form[action="/ui/logout"] button').click()
    wait.until(ec.element_to_be_clickable((By.ID, "passkey-login")))
    said["forget"] = driver.find_element(By.CSS_SELECTOR, ".notice").text
    driver.find_element(By.ID, "passkey-login").click()
    wait.until(ec.presence_of_element_located((By.ID, "sessions")))
    said["passkey"] = driver.find_element(By.ID, "username").get_attribute("value")
finally:
    print(json.dumps(said))
    driver.quit()
