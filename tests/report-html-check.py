#!/usr/bin/env python3
"""Open rebound report's HTML page in a real headless Chromium and check it
through the DevTools protocol (a minimal websocket client, standard library
only): no console message of level error or warning, no exception, no
network request but the file itself, every chart present and non-empty, the
page as wide as a phone's screen at 390 px, a dark scheme, and every number
on the page (elements with data-k / data-v) equal to `report --format json`.
Writes a full-page screenshot.

usage: report-html-check.py CHROMIUM PAGE.html REPORT.json SCREENSHOT.png
Exit 0 when all holds; 1 with the failures listed; 77 if Chromium cannot start.
"""
import base64, json, os, re, select, socket, struct, subprocess, sys, tempfile, time, urllib.request, shutil

chrome, page, jpath, shot = sys.argv[1:5]
page = os.path.abspath(page)
data = json.load(open(jpath))
fails = []

profile = tempfile.mkdtemp(prefix="rebound-chromium.")
proc = subprocess.Popen([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                         "--user-data-dir=" + profile, "--remote-debugging-address=127.0.0.1",
                         "--remote-debugging-port=0", "about:blank"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cleanup():
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(profile, ignore_errors=True)


port = None
deadline = time.time() + 30
buf = b""
while time.time() < deadline and port is None:
    r, _, _ = select.select([proc.stderr], [], [], 1)
    if r:
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", buf)
        if m:
            port = int(m.group(1))
if port is None:
    sys.stderr.write("chromium did not start: %s\n" % buf.decode(errors="replace")[-2000:])
    cleanup()
    sys.exit(77)

targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
wsurl = [t for t in targets if t.get("type") == "page"][0]["webSocketDebuggerUrl"]
path = "/" + wsurl.split("/", 3)[3]


class WS:
    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit("websocket handshake failed: %r" % head)
        self.rest = b""

    def _read(self, n):
        while len(self.rest) < n:
            c = self.s.recv(1 << 20)
            if not c:
                raise EOFError
            self.rest += c
        d, self.rest = self.rest[:n], self.rest[n:]
        return d

    def send(self, text):
        p = text.encode()
        hdr = bytearray([0x81])
        if len(p) < 126:
            hdr.append(0x80 | len(p))
        elif len(p) < 65536:
            hdr.append(0x80 | 126); hdr += struct.pack(">H", len(p))
        else:
            hdr.append(0x80 | 127); hdr += struct.pack(">Q", len(p))
        mask = os.urandom(4)
        hdr += mask
        self.s.sendall(bytes(hdr) + bytes(b ^ mask[i % 4] for i, b in enumerate(p)))

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0f
            if op == 8:
                raise EOFError
            if op in (0, 1, 2):
                msg += payload
                if b0 & 0x80:
                    return msg.decode()


ws = WS(port, path)
events = []
seq = [0]


def call(method, **params):
    seq[0] += 1
    mid = seq[0]
    ws.send(json.dumps({"id": mid, "method": method, "params": params}))
    while True:
        m = json.loads(ws.recv())
        if m.get("id") == mid:
            if "error" in m:
                raise SystemExit("%s: %s" % (method, m["error"]))
            return m.get("result", {})
        events.append(m)


def wait_event(name, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for e in events:
            if e.get("method") == name:
                return e
        events.append(json.loads(ws.recv()))
    raise SystemExit("no %s" % name)


try:
    for d in ("Page", "Network", "Runtime", "Log"):
        call(d + ".enable")
    call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    url = "file://" + page
    call("Page.navigate", url=url)
    wait_event("Page.loadEventFired")
    time.sleep(0.5)
    res = call("Runtime.evaluate", returnByValue=True, expression="""(() => {
      const nums = [...document.querySelectorAll('[data-k]')].map(e => [e.dataset.k, e.dataset.v, e.textContent]);
      const charts = [...document.querySelectorAll('svg.chart')].map(s => {
        const r = s.getBoundingClientRect();
        const marks = [...s.querySelectorAll('rect.bar, path.line')].filter(m => {
          const b = m.getBBox(); return b.width > 0 && b.height > 0; }).length;
        return {id: s.id, w: r.width, h: r.height, marks: marks,
                ticks: s.querySelectorAll('text.tick').length, titles: s.querySelectorAll('text.axis-title').length,
                legend: s.parentElement.querySelectorAll('ul.legend li').length};
      });
      return {nums, charts, bg: getComputedStyle(document.body).backgroundColor};
    })()""")["result"]["value"]
    png = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    open(shot, "wb").write(base64.b64decode(png))
    # a phone: nothing wider than the screen but the scrolling table boxes
    call("Emulation.setDeviceMetricsOverride", width=390, height=800, deviceScaleFactor=2, mobile=True)
    time.sleep(0.3)
    phone = call("Runtime.evaluate", returnByValue=True,
                 expression="document.documentElement.scrollWidth")["result"]["value"]
    call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    time.sleep(0.2)
    dark = call("Runtime.evaluate", returnByValue=True,
                expression="getComputedStyle(document.body).backgroundColor")["result"]["value"]
    call("Emulation.setEmulatedMedia", media="print")
    printed = call("Runtime.evaluate", returnByValue=True,
                   expression="getComputedStyle(document.body).backgroundColor")["result"]["value"]
    time.sleep(0.2)
    # drain what is left
    ws.s.settimeout(0.5)
    try:
        while True:
            events.append(json.loads(ws.recv()))
    except (socket.timeout, EOFError):
        pass
finally:
    cleanup()

# ---- the checks ----
for e in events:
    m, p = e.get("method"), e.get("params", {})
    if m == "Network.requestWillBeSent" and p["request"]["url"] != url and not p["request"]["url"].startswith("data:"):
        fails.append("network request: " + p["request"]["url"])
    if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
        fails.append("console %s: %s" % (p["type"], p.get("args")))
    if m == "Runtime.exceptionThrown":
        fails.append("exception: %s" % p.get("exceptionDetails"))
    if m == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
        fails.append("log %s: %s" % (p["entry"]["level"], p["entry"].get("text")))

want = {"chart-sends", "chart-bounces", "chart-providers", "chart-dead", "chart-soft"}
got = {c["id"] for c in res["charts"]}
if want - got:
    fails.append("charts missing: %s" % sorted(want - got))
for c in res["charts"]:
    if c["w"] < 100 or c["h"] < 50 or c["marks"] < 1 or c["ticks"] < 3 or c["titles"] < 1 or c["legend"] < 1:
        fails.append("chart %s empty or without axes/legend: %s" % (c["id"], c))


def lookup(path):
    v = data
    for k in path.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    return v


checked = 0
for k, v, text in res["nums"]:
    try:
        jv = lookup(k)
    except (KeyError, IndexError, ValueError):
        fails.append("%s: on the page, not in the JSON" % k)
        continue
    checked += 1
    if jv is None:
        if v != "" or text.strip() != "-":
            fails.append("%s: JSON null, page %r" % (k, text))
    elif isinstance(jv, bool) or not isinstance(jv, (int, float)):
        fails.append("%s: not a number in the JSON: %r" % (k, jv))
    elif isinstance(jv, int):
        if v != str(jv) or text.strip() != str(jv):
            fails.append("%s: JSON %s, page %r / %r" % (k, jv, v, text))
    else:
        if abs(float(v) - jv) > 1e-6 or text.strip() != "%.1f%%" % (jv * 100):
            fails.append("%s: JSON %s, page %r / %r" % (k, jv, v, text))
if checked < 20:
    fails.append("only %d numbers on the page" % checked)
for k in ("sends", "bounces", "hard", "soft", "blocked", "complaint", "dead_in_queue", "accepted_then_ndr"):
    if not any(n[0] == "totals." + k for n in res["nums"]):
        fails.append("totals.%s not on the page" % k)
for i in range(len(data["providers"])):
    if not any(n[0] == "providers.%d.dead_in_queue" % i for n in res["nums"]):
        fails.append("providers.%d not on the page" % i)
if phone > 392:
    fails.append("wider than a phone: %d px at 390" % phone)
if dark == res["bg"]:
    fails.append("no dark scheme: background %s in both" % dark)
if printed != "rgb(255, 255, 255)":
    fails.append("print background is %s" % printed)
if not os.path.getsize(shot) > 10000:
    fails.append("screenshot too small")
for f in fails:
    print("FAIL:", f)
print("checked %d numbers, %d charts, %d events; screenshot %s" % (checked, len(res["charts"]), len(events), shot))
sys.exit(1 if fails else 0)
