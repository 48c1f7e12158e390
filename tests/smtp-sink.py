#!/usr/bin/env python3
"""smtp-sink.py -- a scripted SMTP server for the Postfix end-to-end tests.

    smtp-sink.py PORT [--host ADDR] [--log FILE] [--port-file FILE] [--max-seconds N]

Listens on ADDR:PORT (default 127.0.0.1; PORT 0 lets the kernel choose, and
--port-file receives the port actually bound) and answers RCPT TO by the
recipient's local part, so that a real Postfix sees every kind of answer a
newsletter run meets:

    unknown*  550 5.1.1 <addr>: Recipient address rejected: User unknown
    full*     452 4.2.2 Mailbox full
    block*    554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org
    ms*       250 2.1.5, then DATA answered the way Microsoft 365 does:
              250 2.6.0 <message-id> [InternalId=1] Queued mail for delivery
    anything  250 2.1.5 Ok; DATA 250 2.0.0 Ok: queued as <ID>

Every command and answer is appended to the log (one line each, flushed), and
each message accepted is summarised as "message ID from=<..> to=<..> size=N
subject=..." so a test can see what arrived.  The server stops by itself after
--max-seconds (default 1800) so a test that dies cannot leave it running, and
on SIGTERM.  Python standard library only.
"""
import argparse
import itertools
import os
import re
import signal
import socketserver
import sys
import threading
import time

MAX_LINE = 4096              # longer command lines get 500, as RFC 5321 allows
MAX_MESSAGE = 20 * 1024 * 1024

_ids = itertools.count(1)
_log_lock = threading.Lock()
_log = None


def log(line):
    with _log_lock:
        _log.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))
        _log.flush()


def rcpt_answer(addr):
    local = addr.split("@", 1)[0].lower()
    if local.startswith("unknown"):
        return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr
    if local.startswith("full"):
        return "452 4.2.2 Mailbox full"
    if local.startswith("block"):
        return "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org"
    return "250 2.1.5 Ok"


def path_of(arg, keyword):
    """The address in 'FROM:<addr> SIZE=...' (keyword FROM or TO), or None."""
    m = re.match(r"\s*%s:\s*<([^>]*)>" % keyword, arg, re.I)
    if m:
        return m.group(1)
    m = re.match(r"\s*%s:\s*(\S+)" % keyword, arg, re.I)
    return m.group(1) if m else None


class Session(socketserver.StreamRequestHandler):
    timeout = 120

    def send(self, text):
        log("%s > %s" % (self.peer, text.replace("\r\n", " | ")))
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(MAX_LINE + 2)
        if not line:
            return None
        if not line.endswith(b"\n") and len(line) > MAX_LINE:
            # drain the rest of the overlong line
            while True:
                more = self.rfile.readline(MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
            return b"\x00TOO-LONG"
        return line.rstrip(b"\r\n")

    def handle(self):
        self.peer = "%s:%d" % self.client_address[:2]
        self.send("220 sink.test ESMTP rebound test sink")
        sender, rcpts = None, []
        while True:
            raw = self.readline()
            if raw is None:
                log("%s disconnected" % self.peer)
                return
            if raw == b"\x00TOO-LONG":
                self.send("500 5.5.2 Line too long")
                continue
            line = raw.decode("utf-8", "replace")
            log("%s < %s" % (self.peer, line))
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                if verb == "EHLO":
                    self.send("250-sink.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
                else:
                    self.send("250 sink.test")
                sender, rcpts = None, []
            elif verb == "MAIL":
                sender = path_of(arg, "FROM")
                rcpts = []
                self.send("250 2.1.0 Ok" if sender is not None else "501 5.5.4 Syntax: MAIL FROM:<address>")
            elif verb == "RCPT":
                addr = path_of(arg, "TO")
                if sender is None:
                    self.send("503 5.5.1 Error: need MAIL command")
                elif not addr:
                    self.send("501 5.5.4 Syntax: RCPT TO:<address>")
                else:
                    ans = rcpt_answer(addr)
                    if ans.startswith("250"):
                        rcpts.append(addr)
                    self.send(ans)
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 Error: no valid recipients")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                body, size, too_big = [], 0, False
                while True:
                    raw = self.rfile.readline(MAX_LINE * 4)
                    if not raw:
                        log("%s disconnected in DATA" % self.peer)
                        return
                    if raw.rstrip(b"\r\n") == b".":
                        break
                    if raw.startswith(b".."):
                        raw = raw[1:]
                    size += len(raw)
                    if size > MAX_MESSAGE:
                        too_big = True
                    elif len(body) < 200:
                        body.append(raw)
                if too_big:
                    self.send("552 5.3.4 Message too big")
                    sender, rcpts = None, []
                    continue
                head = b"".join(body).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
                subj = re.search(r"^Subject:[ \t]*(.*)$", head, re.M | re.I)
                mid = re.search(r"^Message-ID:[ \t]*(<[^>]*>)", head, re.M | re.I)
                qid = "SINK%06d" % next(_ids)
                log("message %s from=<%s> to=<%s> size=%d subject=%s" % (
                    qid, sender, ",".join(rcpts), size, subj.group(1).strip() if subj else ""))
                if any(r.split("@", 1)[0].lower().startswith("ms") for r in rcpts):
                    msgid = mid.group(1) if mid else "<%s@sink.test>" % qid
                    self.send("250 2.6.0 %s [InternalId=1] Queued mail for delivery" % msgid)
                else:
                    self.send("250 2.0.0 Ok: queued as %s" % qid)
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global _log
    ap = argparse.ArgumentParser(description="scripted SMTP sink for the Postfix tests")
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", default="-")
    ap.add_argument("--port-file")
    ap.add_argument("--max-seconds", type=float, default=1800)
    a = ap.parse_args()
    _log = sys.stdout if a.log == "-" else open(a.log, "a", encoding="utf-8")
    srv = Server((a.host, a.port), Session)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    log("listening on %s:%d (pid %d)" % (a.host, port, os.getpid()))

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = threading.Timer(a.max_seconds, stop)
    timer.daemon = True
    timer.start()
    srv.serve_forever(poll_interval=0.2)
    log("stopped")


if __name__ == "__main__":
    main()
