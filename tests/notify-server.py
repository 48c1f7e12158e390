#!/usr/bin/env python3
"""notify-server.py -- a stand-in for a contact server's status API (seed 000,
"Impex status API"), for tests/test_notify.sh.

    notify-server.py --port-file F --log F [--port N] [--control F] [--key K]

Serves POST /contact/api/email-status/ as the seed's curl call uses it:
form-encoded email, status, bounce_type, status_code, status_message,
provider, provider_source and the header X-Contact-Provider-Key.  A repeat of
the contact's current state is answered 200 "unchanged" (the API is
idempotent).  HTTP/1.1 with keep-alive, one thread per connection.

Every request is appended to the --log file as one JSON line: what arrived
(fields, the client's port, which tells connections apart), what the server
did ("event": accepted, 500, hang, 401, 400, or a status code forced by the
control file) -- so the test can count what arrived and how often.

Behaviour is read from the --control file (JSON) at each request, so the
test can change it while the server runs:
    {"mode": "ok"}                   answer normally (also when the file is absent)
    {"mode": "fail"}                 500 for everything
    {"mode": "hang", "hang": 30}     accept, never answer (sleep, then drop)
    {"mode": "slow", "delay": 0.5}   answer normally after a delay
    {"codes": {"x@example.com": 400}}  this status for these addresses
    {"echo_key": true}               ... with the request's headers (the key) in the answer
    {"retry_after": 600}             ... with a Retry-After header
"Refused" is the server not running: the test stops it, and starts it again
on the same --port to recover.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATH = "/contact/api/email-status/"
FIELDS = ("email", "status", "bounce_type", "status_code", "status_message", "provider", "provider_source")
STATUSES = {"bounced", "blocked", "deferred", "complaint", "unsubscribed", "active"}


class State:
    def __init__(self, log_path, control_path, key):
        self.lock = threading.Lock()
        self.contacts = {}
        self.seq = 0
        self.log = open(log_path, "a", encoding="utf-8")
        self.control_path = control_path
        self.key = key

    def control(self):
        if not self.control_path:
            return {}
        try:
            with open(self.control_path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["n"] = self.seq
            entry["t"] = round(time.time(), 3)
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out as separate writes
    server_version = "notify-test-server/1"

    def log_message(self, fmt, *args):  # quiet: the JSON log says it all
        pass

    def reply(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        if urlsplit(self.path).path == "/_state":
            with st.lock:
                self.reply(200, st.contacts)
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if urlsplit(self.path).path != PATH:
            self.reply(404, {"error": "not found"})
            return
        ctl = st.control()
        port = self.client_address[1]
        entry = {"port": port, "content_type": self.headers.get("Content-Type", "")}
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError) as e:
            entry.update(event="400", error=str(e))
            st.record(entry)
            self.reply(400, {"error": "body: %s" % e})
            return
        fields = {k: v[-1] for k, v in form.items()}
        entry["fields"] = fields
        if self.headers.get("X-Contact-Provider-Key") != st.key:
            entry["event"] = "401"
            st.record(entry)
            self.reply(401, {"error": "X-Contact-Provider-Key: wrong or missing key"})
            return
        mode = ctl.get("mode", "ok")
        if mode == "fail":
            entry["event"] = "500"
            st.record(entry)
            self.reply(500, {"error": "internal error (test server told to fail)"})
            return
        if mode == "hang":
            entry["event"] = "hang"
            st.record(entry)
            time.sleep(float(ctl.get("hang", 30)))
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(float(ctl.get("delay", 0.5)))
        forced = ctl.get("codes", {}).get(fields.get("email", ""))
        if forced:
            entry["event"] = str(forced)
            st.record(entry)
            err = {"error": "forced %s for this address" % forced}
            if ctl.get("echo_key"):  # a careless server repeating the request's headers
                err["headers"] = dict(self.headers)
            extra = {"Retry-After": str(ctl["retry_after"])} if ctl.get("retry_after") else None
            self.reply(int(forced), err, extra)
            return
        for f in ("email", "status"):
            if not fields.get(f):
                entry.update(event="400", error="missing " + f)
                st.record(entry)
                self.reply(400, {"error": "missing field", "field": f})
                return
        if fields["status"] not in STATUSES:
            entry.update(event="400", error="status")
            st.record(entry)
            self.reply(400, {"error": "unknown status", "field": "status"})
            return
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            entry.update(event="400", error="unknown fields %s" % unknown)
            st.record(entry)
            self.reply(400, {"error": "unknown field", "field": unknown[0]})
            return
        state = {f: fields.get(f, "") for f in FIELDS}
        with st.lock:
            result = "unchanged" if st.contacts.get(state["email"]) == state else "updated"
            st.contacts[state["email"]] = state
        entry.update(event="accepted", result=result)
        st.record(entry)
        self.reply(200, {"email": state["email"], "status": state["status"], "result": result})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--control")
    ap.add_argument("--key", default="test-key")
    a = ap.parse_args()
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.state = State(a.log, a.control, a.key)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
