#!/usr/bin/env python3
"""Drives a real headless Chromium over the DevTools protocol (--remote-debugging-pipe, so no
websocket library is needed) for Berth's web UI tests (Tests/BerthIntegrationTests/UI*Tests.swift).

Reads a JSON plan on stdin: {"chromium": PATH, "steps": [STEP, ...]}, where a STEP is one of
  {"goto": URL}                      load a page and wait for its load event
  {"viewport": [W, H], "mobile": B}  set the window size (before the next screenshot)
  {"fill": {SELECTOR: VALUE, ...}}   set form fields
  {"click": SELECTOR}                click an element and wait for the page it loads
  {"key": NAME}                      press a key (Tab, Enter) as the keyboard would
  {"screenshot": PATH}               save a PNG of the current page
  {"eval": JS}                       evaluate an expression, its value in the step's result
and a step may ask for "dom": true (the page's HTML in its result). Prints one JSON object:
{"steps": [{"url", "status", "dom"?, "value"?}], "problems": [console errors, exceptions, failed loads]}.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, chromium):
        r_in, self.w_in = os.pipe()
        self.r_out, w_out = os.pipe()

        def child_fds():
            # Chromium reads commands on fd 3 and writes answers on fd 4.
            os.dup2(r_in, 20)
            os.dup2(w_out, 21)
            os.dup2(20, 3)
            os.dup2(21, 4)

        self.profile = tempfile.mkdtemp(prefix="berth-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--password-store=basic", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_in)
        os.close(w_out)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.problems = []
        self.statuses = {}
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", {}, session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method, params, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.w_in, json.dumps(message).encode() + b"\0")
        return self.next_id

    def read(self, timeout):
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.r_out], [], [], timeout)
            if not ready:
                raise TimeoutError("no message from chromium")
            chunk = os.read(self.r_out, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.observe(message)
        return message

    def observe(self, event):
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.problems.append("console." + params["type"] + ": " + text)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.problems.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            entry = params["entry"]
            self.problems.append("log." + entry["level"] + ": " + entry.get("text", "") + " " + entry.get("url", ""))
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            self.statuses[response.get("url")] = response.get("status")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.problems.append("load failed: " + params.get("errorText", ""))
        self.events.append(event)

    def call(self, method, params=None, session=True, timeout=20):
        wanted = self.send(method, params or {}, session=session)
        deadline = time.time() + timeout
        while True:
            message = self.read(max(0.1, deadline - time.time()))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(method + ": " + json.dumps(message["error"]))
                return message.get("result", {})

    def wait_event(self, name, timeout=20):
        deadline = time.time() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == name:
                    del self.events[: i + 1]
                    return event
            self.events.clear()
            self.read(max(0.1, deadline - time.time()))

    def open(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")
        # The copy buttons write to the clipboard, which a page may only do when allowed.
        self.call("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
                  session=False)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError("evaluate failed: " + json.dumps(result["exceptionDetails"])[:500])
        return result.get("result", {}).get("value")

    def until_loaded(self, action):
        self.events.clear()
        action()
        self.wait_event("Page.loadEventFired")


def main():
    plan = json.load(sys.stdin)
    browser = Browser(plan["chromium"])
    results = []
    try:
        browser.open()
        for step in plan["steps"]:
            result = {}
            if "viewport" in step:
                width, height = step["viewport"]
                browser.call("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": step.get("mobile", False)})
            if "goto" in step:
                browser.until_loaded(lambda: browser.call("Page.navigate", {"url": step["goto"]}))
            if "fill" in step:
                for selector, value in step["fill"].items():
                    browser.evaluate("document.querySelector(%s).value = %s" % (json.dumps(selector), json.dumps(value)))
            if "click" in step:
                selector = json.dumps(step["click"])
                browser.until_loaded(lambda: browser.evaluate("document.querySelector(%s).click()" % selector))
            if "key" in step:
                codes = {"Tab": 9, "Enter": 13}
                for kind in ("rawKeyDown", "keyUp"):
                    browser.call("Input.dispatchKeyEvent", {"type": kind, "key": step["key"], "code": step["key"],
                                                            "windowsVirtualKeyCode": codes.get(step["key"], 0)})
            if "eval" in step:
                result["value"] = browser.evaluate(step["eval"])
            if "screenshot" in step:
                shot = browser.call("Page.captureScreenshot", {"format": "png"})
                with open(step["screenshot"], "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
            url = browser.evaluate("location.href")
            result["url"] = url
            result["status"] = browser.statuses.get(url)
            if step.get("dom"):
                result["dom"] = browser.evaluate("document.documentElement.outerHTML")
            results.append(result)
    except Exception as error:  # reported, so the test shows what went wrong
        results.append({"error": "%s: %s" % (type(error).__name__, error)})
    finally:
        browser.close()
    json.dump({"steps": results, "problems": browser.problems}, sys.stdout)


if __name__ == "__main__":
    main()
