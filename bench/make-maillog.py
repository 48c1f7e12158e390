#!/usr/bin/env python3
"""Write a synthetic but realistic Postfix mail.log for benchmarking `rebound maillog`.

What a bulk sending server logs, simulated event by event (a priority queue of
timed events, so lines come out in time order and thousands of messages are in
flight at once, as on a real server):

  * newsletter campaigns (several a day, 30k-150k messages at 40-150 msg/s,
    submitted through pickup or over SMTP) and a trickle of transactional mail,
    VERP senders (bounce+user=example.com@news.example.org) and some plain ones;
  * per message: pickup `uid= from=` or smtpd `client=`, cleanup `message-id=`,
    an opendkim line, qmgr `from=, size=, nrcpt= (queue active)`, one delivery
    attempt per recipient by smtp (relay=, conn_use= on cached connections,
    delay=, delays=a/b/c/d, dsn=, status=), TLS lines on new connections,
    qmgr `removed`;
  * outcomes with each provider's own reply texts (Gmail, Outlook.com and
    Microsoft 365, Yahoo/AOL, T-Online, GMX/web.de, Orange, small Postfix MXes):
    most sent; deferred (rate limits, greylisting, mailbox full, connection
    timeouts, "delivery temporarily suspended", DNS "try again") with retries
    later in the log (backoff 300..4000 s) until sent, bounced or expired
    (maximal_queue_lifetime 1 day: qmgr `status=expired, returned to sender`);
    bounced (user unknown, disabled, host not found, policy blocks); sender
    non-delivery notifications (bounce daemon, a new queue ID from=<> delivered
    to the return-path MX); address-verification probes (status=deliverable /
    undeliverable);
  * a recipient list where an address keeps its domain and its fate across
    campaigns (an unknown user bounces every time it is mailed);
  * noise: postscreen CONNECT/PASS/DNSBL/DISCONNECT, inbound smtpd
    connect/disconnect, NOQUEUE rejects, lmtp deliveries of inbound replies to
    dovecot, anvil and scache statistics, tlsmgr, dovecot imap logins, CRON,
    systemd, a daily logrotate `postfix reload` (new qmgr pid);
  * traditional syslog timestamps ("Dec 31 23:59:59 mx1 postfix/smtp[123]: ...")
    over days, by default crossing Dec 31 -> Jan 1 for a 1 GiB log;
  * short hex queue IDs (4F2A01C3B2) and long ones (enable_long_queue_ids,
    4Xk3Fz1QbNz9sT2) -- a real instance uses one form at a time; here a message
    gets the long form one time in five so that both are exercised all along.

Deterministic: the same --seed and --start give the same bytes, and a smaller
--size gives a prefix of a larger one (the log is cut at the first event that
reaches the size, as log rotation cuts a real log: messages still in flight
there have no ending).

The counts of what was written (lines, messages, delivery lines per status,
the largest number of open queue IDs, ...) are printed to stderr as
`key=value` lines, and to --stats FILE if given.

Usage: bench/make-maillog.py [--size MB|1G] [--seed N] [--start 2025-12-30T00:00:00]
                             [--out FILE] [--stats FILE]
Standard library only.
"""

import argparse
import heapq
import sys
import time
from datetime import datetime, timezone
from random import Random

HOST = "mx1"
MYIP = "192.0.2.10"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

LIFETIME = 86400.0          # maximal_queue_lifetime / bounce_queue_lifetime = 1d (bulk senders shorten it)
MIN_BACKOFF = 300.0         # minimal_backoff_time
MAX_BACKOFF = 4000.0        # maximal_backoff_time
QUEUE_RUN = 300.0           # queue_run_delay

SHORT_CH = "0123456789ABCDEF"
LONG_CH = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"   # Postfix long IDs: no vowels

FIRST = ("jan pieter marie sofie lucas emma noah julie thomas lisa daan sanne luca anna milan eva "
         "lars nina tom laura kevin sarah jeroen femke bram lotte stijn ines wout elise jens fien "
         "max lea paul hannah felix mia jonas lena leon clara louis chloe hugo manon theo camille "
         "arthur alice jules lina nathan ruben tim joke bart an els koen griet dirk katrien").split()
LAST = ("peeters janssens maes jacobs mertens willems claes goossens wouters desmet dubois lambert "
        "dupont martin devries jansen bakker visser smit meijer degroot bos mulder vos muller schmidt "
        "schneider fischer weber meyer wagner becker schulz hoffmann bernard petit durand leroy moreau "
        "simon laurent michel garcia david bertrand roux vincent fournier morel girard andre lefevre "
        "vandamme vermeulen vandenberghe hermans aerts michiels verstraeten smets segers baert").split()
SYLL = ("ab ac ad al am an ar as at be bo br ca ce co cr da de di do el en er fa fe fi fl fo fr ga "
        "ge gr ha he ho in ka ke ko la le li lo lu ma me mi mo na ne no or pa pe pl po pr ra re ri "
        "ro sa se si so st ta te ti to tr un va ve vi vo wa we wi").split()
TLDS = ("be", "be", "be", "nl", "nl", "de", "de", "com", "com", "com", "fr", "eu", "lu")

TRUSTED = ("google", "microsoft", "m365", "yahoo")
PROV_TLS = {"google": "google", "microsoft": "microsoft", "m365": "microsoft", "yahoo": "yahoo"}
TLS_TAIL = {
    "google": "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
              "server-signature ECDSA (P-256) server-digest SHA256",
    "microsoft": "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
    "yahoo": "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 "
             "server-signature RSA-PSS (2048 bits) server-digest SHA256",
    "generic": "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
               "server-signature RSA-PSS (4096 bits) server-digest SHA256",
}


def die(msg, code=2):
    print("make-maillog: " + msg, file=sys.stderr)
    sys.exit(code)


def parse_size(s):
    s = s.strip().upper()
    mult = 1 << 20
    if s.endswith("G") or s.endswith("GB") or s.endswith("GIB"):
        mult = 1 << 30
        s = s.rstrip("IB").rstrip("G")
    elif s.endswith("M") or s.endswith("MB") or s.endswith("MIB"):
        s = s.rstrip("IB").rstrip("M")
    elif s.endswith("K") or s.endswith("KB") or s.endswith("KIB"):
        mult = 1 << 10
        s = s.rstrip("IB").rstrip("K")
    try:
        v = float(s)
    except ValueError:
        die("bad --size: use a number of MiB, or e.g. 1G, 512M, 200K")
    if v <= 0:
        die("bad --size: must be positive")
    return int(v * mult)


def fmt_delay(x):
    """Postfix's delay format: whole seconds from 10 s, one decimal from 1 s, at most
    two decimals below (delay_logging_resolution_limit = 2), trailing zeros dropped."""
    if x >= 9.95:
        return str(int(x + 0.5))
    if x >= 0.995:
        s = "%.1f" % x
    else:
        s = "%.2f" % x
    s = s.rstrip("0").rstrip(".")
    return s or "0"


class Msg:
    __slots__ = ("qid", "sender", "size", "rcpts", "t0", "attempt", "kind", "defer_rcpt")

    def __init__(self, qid, sender, size, rcpts, t0, kind):
        self.qid = qid
        self.sender = sender
        self.size = size
        self.rcpts = rcpts      # list of [address, domain_entry, script, done]
        self.t0 = t0
        self.attempt = 0
        self.kind = kind        # 0 normal, 1 NDR, 2 verify probe
        self.defer_rcpt = None


class Domain:
    """A recipient domain: its MX hosts and which provider's replies it gives."""
    __slots__ = ("name", "mxs", "prov", "dead", "dns")

    def __init__(self, name, mxs, prov, dead=0):
        self.name = name
        self.mxs = mxs          # list of (host, ip)
        self.prov = prov        # google, microsoft, m365, yahoo, tonline, gmx, orange, postfix, exchange
        self.dead = dead        # 0 ok, 1 MX times out, 2 NXDOMAIN (typo), 3 DNS SERVFAIL


class Gen:
    def __init__(self, seed, start, size, out):
        self.R = Random(seed)
        self.rnd = self.R.random
        self.size = size
        self.out = out
        self.base = start.replace(tzinfo=timezone.utc).timestamp()
        self.lines = []
        self.written = 0
        self.heap = []
        self.seq = 0
        self.open = {}
        self.st = dict.fromkeys((
            "lines", "messages", "messages_campaign", "messages_transactional", "ndr_messages",
            "probe_messages", "inbound_messages", "received_pickup", "received_smtpd",
            "rcpt_sent", "rcpt_deferred", "rcpt_bounced", "rcpt_expired", "rcpt_deliverable",
            "rcpt_undeliverable", "expired_messages", "ndr_sent", "lmtp_sent", "deferred_messages", "noqueue_rejects",
            "warnings", "max_open_qids", "open_qids_at_end", "long_qids", "removed"), 0)
        self.deferred_qids = set()
        self.ts_sec = -1
        self.ts = ""
        self.pidc = 1200 + self.R.randrange(3000)
        self.pools = {}
        self.qmgr_pid = self.newpid()
        self.pickup_pid = self.newpid()
        self.master_pid = 1024
        self.dkim_pid = 811
        self.dovecot_sess = 0
        self.build_world()

    # ---- small helpers -------------------------------------------------------
    def newpid(self):
        self.pidc += 1 + int(self.rnd() * 40)
        if self.pidc > 4194000:
            self.pidc = 300
        return self.pidc

    def pid(self, service, n, renew=0.01):
        pool = self.pools.get(service)
        if pool is None:
            pool = self.pools[service] = [self.newpid() for _ in range(n)]
        i = int(self.rnd() * len(pool))
        if self.rnd() < renew:          # max_idle / max_use: a new process takes the slot
            pool[i] = self.newpid()
        return pool[i]

    def stamp(self, t):
        s = int(t)
        if s != self.ts_sec:
            self.ts_sec = s
            d = datetime.fromtimestamp(self.base + s, timezone.utc)
            self.ts = "%s %2d %02d:%02d:%02d %s " % (MONTHS[d.month - 1], d.day, d.hour, d.minute, d.second, HOST)
        return self.ts

    def push(self, t, kind, obj=None):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, obj))

    def new_qid(self, t, remote=False):
        rnd = self.rnd
        open_ = self.open
        while True:
            if rnd() < 0.2:
                # long form: seconds (6 base-52 digits) + microseconds (4) + 'z' + inode (base 51)
                sec = int(self.base + t)
                usec = int(rnd() * 1000000)
                s = []
                for _ in range(6):
                    s.append(LONG_CH[sec % 52])
                    sec //= 52
                s.reverse()
                u = []
                for _ in range(4):
                    u.append(LONG_CH[usec % 52])
                    usec //= 52
                u.reverse()
                ino = 10000 + int(rnd() * 2000000)
                n = []
                while ino:
                    n.append(LONG_CH[ino % 51])
                    ino //= 51
                n.reverse()
                q = "".join(s) + "".join(u) + "z" + "".join(n)
                long_ = 1
            else:
                # short form: microseconds (5 hex digits) + inode number in hex
                q = "%05X%X" % (int(rnd() * 1048576), 0x10000 + int(rnd() * 0x300000))
                long_ = 0
            if remote:
                return q
            if q not in open_:
                self.st["long_qids"] += long_
                return q

    def emit(self, t, text):
        self.lines.append(self.stamp(t) + text + "\n")

    # ---- the world: domains, MX hosts, recipients ----------------------------
    def build_world(self):
        R = self.R
        rnd = self.rnd

        def ip4(a, b):
            return "%d.%d.%d.%d" % (a, b, 1 + int(rnd() * 254), 1 + int(rnd() * 254))

        g = [("gmail-smtp-in.l.google.com", ip4(142, 250))] + \
            [("alt%d.gmail-smtp-in.l.google.com" % i, ip4(142, 251)) for i in range(1, 5)]
        gw = [("aspmx.l.google.com", ip4(142, 250)), ("alt1.aspmx.l.google.com", ip4(209, 85))]
        y = [("mta%d.am0.yahoodns.net" % i, ip4(67, 195)) for i in (5, 6, 7)]
        aol = [("mx-aol.mail.gm0.yahoodns.net", ip4(67, 195))]
        doms = []           # (Domain, weight)

        def ms(label):
            return [("%s.olc.protection.outlook.com" % label, ip4(52, 101)) for _ in range(2)]

        doms += [(Domain("gmail.com", g, "google"), 2600), (Domain("googlemail.com", g, "google"), 60)]
        doms += [(Domain("hotmail.com", ms("hotmail-com"), "microsoft"), 900),
                 (Domain("outlook.com", ms("outlook-com"), "microsoft"), 500),
                 (Domain("live.com", ms("live-com"), "microsoft"), 200),
                 (Domain("hotmail.be", ms("hotmail-be"), "microsoft"), 150),
                 (Domain("msn.com", ms("msn-com"), "microsoft"), 40),
                 (Domain("outlook.be", ms("outlook-be"), "microsoft"), 60)]
        doms += [(Domain("yahoo.com", y, "yahoo"), 450), (Domain("yahoo.fr", y, "yahoo"), 80),
                 (Domain("ymail.com", y, "yahoo"), 20), (Domain("aol.com", aol, "yahoo"), 40)]
        tol = [("mx0%d.t-online.de" % i, "194.25.134.%d" % (8 + i)) for i in range(4)]
        doms += [(Domain("t-online.de", tol, "tonline"), 300),
                 (Domain("gmx.de", [("mx00.emig.gmx.net", ip4(212, 227)), ("mx01.emig.gmx.net", ip4(212, 227))], "gmx"), 260),
                 (Domain("gmx.net", [("mx00.emig.gmx.net", ip4(212, 227))], "gmx"), 60),
                 (Domain("web.de", [("mx-ha03.web.de", ip4(212, 227))], "gmx"), 200),
                 (Domain("orange.fr", [("smtp-in.orange.fr", ip4(80, 12))], "orange"), 150),
                 (Domain("free.fr", [("mx1.free.fr", ip4(212, 27))], "postfix"), 80),
                 (Domain("skynet.be", [("mx.skynet.be", ip4(195, 238))], "postfix"), 220),
                 (Domain("telenet.be", [("mx.telenet-ops.be", ip4(195, 130))], "postfix"), 280),
                 (Domain("ziggo.nl", [("mx.ziggo.nl", ip4(84, 116))], "postfix"), 120),
                 (Domain("kpnmail.nl", [("mx.kpnmail.nl", ip4(195, 121))], "postfix"), 60),
                 (Domain("icloud.com", [("mx01.mail.icloud.com", ip4(17, 57)), ("mx02.mail.icloud.com", ip4(17, 42))], "postfix"), 180)]
        # typo domains: NXDOMAIN, bounced at once
        for d in ("gmial.com", "gmail.con", "hotmial.com", "yaho.com", "outlok.com", "gmail.be", "telnet.be", "skynett.be"):
            doms.append((Domain(d, [], "none", 2), 6))
        # company domains: Microsoft 365, Google Workspace, or their own MX
        used = set(d.name for d, _ in doms)
        for i in range(4000):
            while True:
                n = "".join(R.choice(SYLL) for _ in range(2 + int(rnd() * 2)))
                if rnd() < 0.3:
                    n += "-" + R.choice(("group", "consult", "bouw", "tech", "shop", "media", "logistics", "immo", "care"))
                name = n + "." + R.choice(TLDS)
                if name not in used:
                    used.add(name)
                    break
            r = rnd()
            if r < 0.42:
                mx = [(name.replace(".", "-").replace("--", "-") + ".mail.protection.outlook.com", ip4(52, 101))]
                d = Domain(name, mx, "m365")
            elif r < 0.64:
                d = Domain(name, gw, "google")
            elif r < 0.88:
                d = Domain(name, [("mail." + name, ip4(int(rnd() * 180) + 20, int(rnd() * 250)))], "postfix")
            else:
                d = Domain(name, [("mx1." + name, ip4(int(rnd() * 180) + 20, int(rnd() * 250)))], "exchange")
            q = rnd()
            if q < 0.012:
                d.dead = 1          # the MX does not answer: deferred until expired
            elif q < 0.018:
                d.dead = 3          # broken DNS: "Host not found, try again", then expired
            elif q < 0.026:
                d.dead = 2          # the domain no longer exists: bounced
            doms.append((d, 1.1))
        # a table of 65536 slots for picking a domain by weight from a hash
        total = sum(w for _, w in doms)
        table = []
        acc = 0.0
        for d, w in doms:
            acc += w
            while len(table) < int(acc / total * 65536):
                table.append(d)
        while len(table) < 65536:
            table.append(doms[-1][0])
        self.dom_table = table
        self.brands = [("news.example.org", "bounce+%s=%s@news.example.org"),
                       ("mailing.shop-example.be", "b.%s=%s@mailing.shop-example.be"),
                       ("nieuws.example.be", "bounce-%s=%s@nieuws.example.be")]
        self.ndr_mx = {
            "news.example.org": ("mx.news.example.org", "192.0.2.30"),
            "mailing.shop-example.be": ("bounces.shop-example.be", "198.51.100.25"),
            "nieuws.example.be": ("mx.news.example.org", "192.0.2.30"),
            "shop.example.com": ("mx.shop.example.com", "203.0.113.40"),
        }
        self.list_size = 1500000

    def address(self, idx):
        """The idx-th subscriber: (address, domain, fate class 0..999)."""
        h = (idx * 2654435761 + 12345) & 0xFFFFFFFF
        h2 = ((idx ^ 0x5bd1e995) * 0x9E3779B1) & 0xFFFFFFFF
        d = self.dom_table[h & 0xFFFF]
        f = FIRST[(h >> 16) % len(FIRST)]
        l = LAST[(h >> 22) % len(LAST)]
        s = h2 % 10
        if s < 4:
            lp = f + "." + l
        elif s < 6:
            lp = f + l + str(h2 % 97)
        elif s < 8:
            lp = f[0] + "." + l
        elif s < 9:
            lp = f + "_" + l + str(1950 + h2 % 60)
        else:
            lp = l + "." + f + str(h2 % 1000)
        return lp + "@" + d.name, d, (h2 >> 12) % 1000

    # ---- what a delivery attempt says ----------------------------------------
    def script_for(self, d, fate, campaign):
        """The outcomes of successive attempts for one recipient: a list of codes,
        the last one final.  Codes: 'S' sent, ('D', why), ('B', why); 'X' = defer until expiry."""
        rnd = self.rnd
        if d.dead == 2:
            return [("B", "nxdomain")]
        if d.dead == 1:
            return ["X:timeout"]
        if d.dead == 3:
            return ["X:servfail"]
        p = d.prov
        if fate < 18:                                   # unknown user
            return [("B", "unknown")]
        if fate < 21 and p in ("google", "yahoo"):     # disabled account
            return [("B", "disabled")]
        if fate < 25:                                   # chronic mailbox full
            r = rnd()
            if r < 0.5:
                return ["X:full"]
            if r < 0.75:
                return [("D", "full")] * (1 + int(rnd() * 3)) + [("B", "fullbounce")]
            return [("D", "full")] * (1 + int(rnd() * 4)) + ["S"]
        if fate < 27 and p in ("tonline", "m365", "exchange"):
            return [("B", "policy")]
        r = rnd()
        s = []
        # temporary trouble on the first try(s), then sent
        if p == "google" and r < 0.03 * campaign:
            s = [("D", "ratelimit")] * (1 + int(rnd() * 2))
        elif p == "microsoft" and r < 0.04 * campaign:
            s = [("D", "ratelimit")] * (1 + int(rnd() * 3))
        elif p == "yahoo" and r < 0.06 * campaign:
            s = [("D", "ratelimit")] * (1 + int(rnd() * 3))
        elif p == "postfix" and r < 0.04:
            s = [("D", "greylist")]
        elif r < 0.006:
            s = [("D", "timeout")] * (1 + int(rnd() * 2))
        elif r < 0.008:
            s = [("D", "lost")]
        s.append("S")
        return s

    def said(self, host, ip, text, cmd):
        return "host %s[%s] said: %s (in reply to %s command)" % (host, ip, text, cmd)

    def gsmtp(self):
        return "%x%x-%x%xsi%d%x.%d - gsmtp" % (self.R.getrandbits(32), self.R.getrandbits(16), self.R.getrandbits(24),
                                              self.R.getrandbits(12), int(self.rnd() * 9000000), self.R.getrandbits(8),
                                              int(self.rnd() * 1000))

    def ms_tail(self, t):
        d = datetime.fromtimestamp(self.base + t, timezone.utc)
        return "[AM%dPEPF%08X.eurprd0%d.prod.outlook.com %s.%03dZ 08DD%012X]" % (
            int(self.rnd() * 9) + 1, self.R.getrandbits(32), int(self.rnd() * 7) + 1,
            d.strftime("%Y-%m-%dT%H:%M:%S"), int(self.rnd() * 1000), self.R.getrandbits(48))

    def reply(self, code, why, d, host, ip, addr, msg, t):
        """(dsn, status text in parentheses) for a finished attempt."""
        p = d.prov
        if code == "S":
            if p == "google":
                return "2.0.0", "250 2.0.0 OK  %d %s" % (int(self.base + t), self.gsmtp())
            if p in ("microsoft", "m365"):
                return "2.6.0", ("250 2.6.0 <%s> [InternalId=%d, Hostname=%s] %d bytes in %.3f, %.3f KB/sec "
                                 "Queued mail for delivery%s") % (
                    msg, self.R.getrandbits(44), "PAXP%dMB%04d.EURP%d.PROD.OUTLOOK.COM" % (
                        180 + int(self.rnd() * 20), int(self.rnd() * 9999), 180 + int(self.rnd() * 20)),
                    self.cur_size, 0.05 + self.rnd() * 0.4, 50 + self.rnd() * 400,
                    " -> 250 2.1.5" if p == "microsoft" else "")
            if p == "yahoo":
                return "2.0.0", "250 ok dirdel"
            if p == "tonline":
                return "2.0.0", "250 2.0.0 Message accepted."
            if p == "gmx":
                return "2.0.0", "250 Requested mail action okay, completed: id=%s" % (
                    "%08X-%08X" % (self.R.getrandbits(32), self.R.getrandbits(32)))
            if p == "orange":
                return "2.0.0", "250 2.0.0 %s mail accepted for delivery" % ("%x" % self.R.getrandbits(40))
            if p == "exchange":
                return "2.6.0", "250 2.6.0 <%s> Queued mail for delivery" % msg
            return "2.0.0", "250 2.0.0 Ok: queued as %s" % self.new_qid(t, True)
        if why == "unknown":
            if p == "google":
                return "5.1.1", self.said(host, ip, "550-5.1.1 The email account that you tried to reach does not exist. "
                                          "Please try 550-5.1.1 double-checking the recipient's email address for typos or "
                                          "550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  "
                                          "https://support.google.com/mail/?p=NoSuchUser " + self.gsmtp(), "RCPT TO")
            if p == "microsoft":
                return "5.5.0", self.said(host, ip, "550 5.5.0 Requested action not taken: mailbox unavailable "
                                          "(S2017062302). " + self.ms_tail(t), "RCPT TO")
            if p == "m365":
                return "5.4.1", self.said(host, ip, "550 5.4.1 Recipient address rejected: Access denied. For more "
                                          "information see https://aka.ms/EXOSmtpErrors " + self.ms_tail(t), "RCPT TO")
            if p == "yahoo":
                return "5.0.0", self.said(host, ip, "554 delivery error: dd This user doesn't have a %s account (%s) "
                                          "[0] - mta%d.mail.ir2.yahoo.com" % (d.name, addr, 1000 + int(self.rnd() * 8000)),
                                          "end of DATA")
            if p == "tonline":
                return "5.1.1", self.said(host, ip, "550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr,
                                          "RCPT TO")
            if p == "gmx":
                return "5.1.1", self.said(host, ip, "550 Requested action not taken: mailbox unavailable", "RCPT TO")
            if p == "orange":
                return "5.1.1", self.said(host, ip, "550 5.1.1 <%s>: Recipient address rejected: "
                                          "Adresse d'au moins un destinataire invalide. Invalid recipient. OFR_416" % addr,
                                          "RCPT TO")
            if p == "exchange":
                return "5.1.10", self.said(host, ip, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found "
                                           "by SMTP address lookup", "RCPT TO")
            return "5.1.1", self.said(host, ip, "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual "
                                      "mailbox table" % addr, "RCPT TO")
        if why == "disabled":
            if p == "google":
                return "5.2.1", self.said(host, ip, "550-5.2.1 The email account that you tried to reach is inactive. "
                                          "For more 550-5.2.1 information, go to 550 5.2.1  "
                                          "https://support.google.com/mail/?p=DisabledUser " + self.gsmtp(), "RCPT TO")
            return "5.0.0", self.said(host, ip, "554 delivery error: dd Sorry your message to %s cannot be delivered. "
                                      "This mailbox is disabled (554.30). - mta%d.mail.bf1.yahoo.com" % (
                                          addr, 1000 + int(self.rnd() * 8000)), "end of DATA")
        if why == "full":
            if p == "google":
                return "4.2.2", self.said(host, ip, "452-4.2.2 The recipient's inbox is out of storage space. Please "
                                          "direct the 452-4.2.2 recipient to 452 4.2.2  "
                                          "https://support.google.com/mail/?p=OverQuotaTemp " + self.gsmtp(), "RCPT TO")
            if p == "microsoft":
                return "4.2.2", self.said(host, ip, "452 4.2.2 The recipient's mailbox is full and can't accept messages "
                                          "now. Please try resending this message later, or contact the recipient "
                                          "directly. " + self.ms_tail(t), "RCPT TO")
            return "4.2.2", self.said(host, ip, "452 4.2.2 <%s>: Recipient address rejected: mailbox full" % addr, "RCPT TO")
        if why == "fullbounce":
            return "5.2.2", self.said(host, ip, "552 5.2.2 <%s>: Recipient address rejected: Mailbox quota exceeded" % addr,
                                      "RCPT TO")
        if why == "ratelimit":
            if p == "google":
                return "4.7.28", self.said(host, ip, "421-4.7.28 [%s      15] Our system has detected an unusual rate of "
                                           "421-4.7.28 unsolicited mail originating from your IP address. To protect "
                                           "our 421-4.7.28 users from spam, mail sent from your IP address has been "
                                           "temporarily 421-4.7.28 rate limited. For more information, go to 421 4.7.28  "
                                           "https://support.google.com/mail/?p=UnsolicitedRateLimitError "
                                           % MYIP + self.gsmtp(), "end of DATA")
            if p == "microsoft":
                return "4.7.650", self.said(host, ip, "451 4.7.650 The mail server [%s] has been temporarily rate "
                                            "limited due to IP reputation. For e-mail delivery information, see "
                                            "https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA]"
                                            "[MxId=11B%013X] %s" % (MYIP, self.R.getrandbits(52), self.ms_tail(t)),
                                            "MAIL FROM")
            return "4.7.0", self.said(host, ip, "421 4.7.0 [TSS04] Messages from %s temporarily deferred due to "
                                      "unexpected volume or user complaints - 4.16.55.1; see "
                                      "https://postmaster.yahooinc.com/error-codes" % MYIP, "MAIL FROM")
        if why == "greylist":
            return "4.2.0", self.said(host, ip, "450 4.2.0 <%s>: Recipient address rejected: Greylisted, see "
                                      "http://postgrey.schweikert.ch/help/%s.html" % (addr, d.name), "RCPT TO")
        if why == "policy":
            if p == "tonline":
                return "5.0.0", self.said(host, ip, "554 IP=%s - A problem occurred. (Ask your postmaster for help or "
                                          "to contact tosa@rx.t-online.de to clarify.)" % MYIP, "MAIL FROM")
            if p == "m365":
                return "5.7.1", self.said(host, ip, "550 5.7.1 Service unavailable, Client host [%s] blocked using "
                                          "Spamhaus. To request removal from this list see "
                                          "https://www.spamhaus.org/query/ip/%s AS(1450) %s" % (
                                              MYIP, MYIP, self.ms_tail(t)), "RCPT TO")
            return "5.7.1", self.said(host, ip, "550 5.7.1 Message rejected as spam by Content Filtering.", "end of DATA")
        if why == "lost":
            return "4.4.2", "lost connection with %s[%s] while sending end of data -- message may be sent more than once" % (
                host, ip)
        raise AssertionError(why)

    # ---- one delivery attempt of a message -----------------------------------
    def attempt(self, t, m):
        """Try every pending recipient once; then retry later, expire, or remove."""
        rnd = self.rnd
        st = self.st
        emit = self.emit
        qid = m.qid
        m.attempt += 1
        age = t - m.t0
        if m.attempt > 1:
            emit(t, "postfix/qmgr[%d]: %s: from=<%s>, size=%d, nrcpt=%d (queue active)" % (
                self.qmgr_pid, qid, m.sender, m.size, len(m.rcpts)))
        self.cur_size = m.size
        pending = 0
        failed = 0
        tt = t
        for r in m.rcpts:
            if r[3]:
                continue
            addr, d, script = r[0], r[1], r[2]
            step = script[min(m.attempt, len(script)) - 1]
            if step.__class__ is str:
                if step == "S":
                    code, why = "S", ""
                else:                   # "X:why": deferred on every attempt, until expiry
                    code, why = "D", step[2:]
            else:
                code, why = step
            tt += 0.02 + rnd() * 0.3
            pid = self.pid("smtp", 100)
            # delays=a/b/c/d: before the queue manager (incl. the deferred queue), in it, connection setup, transmission
            if m.attempt == 1:
                a = 0.01 + rnd() * 0.08
                b = max(0.0, age - a)
            else:
                a = age
                b = rnd() * 0.02
            if d.dead == 2 or why == "servfail":
                dsn = "5.4.4" if d.dead == 2 else "4.4.3"
                txt = "Host or domain name not found. Name service error for name=%s type=MX: Host not found%s" % (
                    d.name, "" if d.dead == 2 else ", try again")
                relay = "none"
                c, x = 0.05 + rnd() * 0.5, 0.0
            elif why == "timeout":
                host, ip = d.mxs[int(rnd() * len(d.mxs))]
                relay = "none"
                if m.attempt > 1 and rnd() < 0.6:
                    txt = "delivery temporarily suspended: connect to %s[%s]:25: Connection timed out" % (host, ip)
                    c, x = 0.0, 0.0
                else:
                    emit(tt, "postfix/smtp[%d]: connect to %s[%s]:25: Connection timed out" % (pid, host, ip))
                    txt = "connect to %s[%s]:25: Connection timed out" % (host, ip)
                    c, x = 30.0 + rnd() * 0.1, 0.0
                dsn = "4.4.1"
            else:
                host, ip = d.mxs[int(rnd() * len(d.mxs))]
                relay = "%s[%s]:25" % (host, ip)
                if rnd() < 0.45:        # a new connection (TLS logged); else a cached one (conn_use=)
                    p = d.prov
                    emit(tt, "postfix/smtp[%d]: %s TLS connection established to %s[%s]:25: %s" % (
                        pid, "Trusted" if p in TRUSTED else "Untrusted", host, ip, TLS_TAIL[PROV_TLS.get(p, "generic")]))
                    c = 0.1 + rnd() * 0.4
                else:
                    relay += ", conn_use=%d" % (2 + int(rnd() * 60))
                    c = 0.0
                dsn, txt = self.reply(code, why, d, host, ip, addr, r[4] if len(r) > 4 else "", t)
                x = 0.1 + rnd() * (1.5 if code == "S" else 0.4)
            if m.kind == 2:             # verify probe
                status = "deliverable" if code == "S" else "undeliverable"
                st["rcpt_" + status] += 1
                r[3] = 1
            elif code == "S":
                status = "sent"
                st["rcpt_sent"] += 1
                if m.kind == 1:
                    st["ndr_sent"] += 1
                r[3] = 1
            elif code == "B":
                status = "bounced"
                st["rcpt_bounced"] += 1
                failed += 1
                r[3] = 1
            else:
                status = "deferred"
                st["rcpt_deferred"] += 1
                if qid not in self.deferred_qids:
                    self.deferred_qids.add(qid)
                    st["deferred_messages"] += 1
                pending += 1
            emit(tt, "postfix/smtp[%d]: %s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)" % (
                pid, qid, addr, relay, fmt_delay(a + b + c + x), fmt_delay(a), fmt_delay(b),
                fmt_delay(c), fmt_delay(x), dsn, status, txt))
        if pending:
            if age < LIFETIME:
                back = min(MAX_BACKOFF, MIN_BACKOFF * (2 ** (m.attempt - 1)))
                self.push(t + back + rnd() * QUEUE_RUN, 1, m)
                return
            # failed temporarily once more after maximal_queue_lifetime: returned to sender
            emit(tt, "postfix/qmgr[%d]: %s: from=<%s>, status=expired, returned to sender" % (
                self.qmgr_pid, qid, m.sender))
            st["rcpt_expired"] += pending
            st["expired_messages"] += 1
            failed += pending
        if failed and m.kind == 0 and m.sender:
            self.ndr(tt, m)
        emit(tt + 0.001, "postfix/qmgr[%d]: %s: removed" % (self.qmgr_pid, qid))
        st["removed"] += 1
        self.deferred_qids.discard(qid)
        del self.open[qid]

    def first_wait(self, d):
        p = d.prov
        w = {"google": 2.0, "microsoft": 12.0, "m365": 4.0, "yahoo": 25.0}.get(p, 1.5)
        return self.R.expovariate(1.0 / (w * self.busy)) if self.busy > 0 else self.R.expovariate(1.0 / 0.4)

    def ndr(self, t, m):
        """The bounce daemon's non-delivery notification to the (VERP) sender."""
        nq = self.new_qid(t)
        st = self.st
        st["ndr_messages"] += 1
        dom = m.sender.rsplit("@", 1)[1]
        host, ip = self.ndr_mx.get(dom, ("mx." + dom, "192.0.2.30"))
        d = Domain(dom, [(host, ip)], "postfix")
        self.emit(t, "postfix/cleanup[%d]: %s: message-id=<%s.%s@%s.example.org>" % (
            self.pid("cleanup", 6), nq, self.datestr(t), nq, HOST))
        self.emit(t, "postfix/bounce[%d]: %s: sender non-delivery notification: %s" % (self.pid("bounce", 3), m.qid, nq))
        size = 2800 + int(self.rnd() * 3000)
        self.emit(t, "postfix/qmgr[%d]: %s: from=<>, size=%d, nrcpt=1 (queue active)" % (self.qmgr_pid, nq, size))
        n = Msg(nq, "", size, [[m.sender, d, ["S"], 0]], t, 1)
        self.open[nq] = n
        self.push(t + 0.3 + self.rnd() * 2, 1, n)

    def datestr(self, t):
        d = datetime.fromtimestamp(self.base + t, timezone.utc)
        return d.strftime("%Y%m%d%H%M%S")

    # ---- message arrival -----------------------------------------------------
    def arrive(self, t, camp):
        rnd = self.rnd
        st = self.st
        emit = self.emit
        qid = self.new_qid(t)
        st["messages"] += 1
        if camp is not None:
            st["messages_campaign"] += 1
            idx = int(rnd() * self.list_size)
            addr, d, fate = self.address(idx)
            lp, dn = addr.split("@")
            brand, fmt = camp["brand"]
            sender = fmt % (lp, dn) if camp["verp"] else "newsletter@" + brand
            size = camp["size"] + int(rnd() * 2000)
            msgid = "%s.%d.%d@%s" % (camp["id"], idx, int(self.base + t), brand)
            rcpts = [[addr, d, self.script_for(d, fate, 1.0), 0, msgid]]
            via = camp["via"]
            kind = 0
        else:
            r = rnd()
            if r < 0.04:                # address verification probe (list hygiene, sendmail -bv)
                while True:
                    idx = int(rnd() * self.list_size)
                    addr, d, fate = self.address(idx)
                    if not d.dead:
                        break
                sender = "double-bounce@%s.example.org" % HOST
                size = 250 + int(rnd() * 80)
                msgid = "%s.%s@%s.example.org" % (self.datestr(t), qid, HOST)
                last = self.script_for(d, fate, 0.0)[-1]
                rcpts = [[addr, d, [last if last.__class__ is tuple and last[0] == "B" else "S"], 0, msgid]]
                via = "verify"
                kind = 2
                st["probe_messages"] += 1
            else:                       # transactional: order confirmations, password resets
                st["messages_transactional"] += 1
                n = 1 if rnd() < 0.9 else 2 + int(rnd() * 3)
                rcpts = []
                msgid = "%x.%x@shop.example.com" % (self.R.getrandbits(48), self.R.getrandbits(24))
                for _ in range(n):
                    idx = int(rnd() * self.list_size)
                    addr, d, fate = self.address(idx)
                    if any(x[0] == addr for x in rcpts):
                        continue
                    rcpts.append([addr, d, self.script_for(d, fate, 0.2), 0, msgid])
                if rnd() < 0.5:
                    lp, dn = rcpts[0][0].split("@")
                    sender = "bounces+%s=%s@shop.example.com" % (lp, dn)
                else:
                    sender = "noreply@shop.example.com"
                size = 6000 + int(rnd() * 40000)
                via = "smtpd"
                kind = 0
        m = Msg(qid, sender, size, rcpts, t, kind)
        self.open[qid] = m
        if len(self.open) > st["max_open_qids"]:
            st["max_open_qids"] = len(self.open)
        if via == "pickup":
            emit(t, "postfix/pickup[%d]: %s: uid=1001 from=<%s>" % (self.pickup_pid, qid, sender))
            st["received_pickup"] += 1
        elif via == "smtpd":
            s = self.sub
            if s[1] == 0:
                s[0] = self.pid("smtpd", 20, 0.2)
                emit(t, "postfix/smtpd[%d]: connect from app1.example.com[10.0.0.11]" % s[0])
            emit(t, "postfix/smtpd[%d]: %s: client=app1.example.com[10.0.0.11], sasl_method=PLAIN, "
                    "sasl_username=mailer@shop.example.com" % (s[0], qid))
            st["received_smtpd"] += 1
            s[1] += 1
            if s[1] >= s[2]:
                n = s[1]
                self.push(t + 0.5 + rnd(), 5, (s[0], n))
                s[1] = 0
                s[2] = 1 + int(rnd() * 30)
        emit(t, "postfix/cleanup[%d]: %s: message-id=<%s>" % (self.pid("cleanup", 6), qid, msgid))
        if kind == 0:
            emit(t, "opendkim[%d]: %s: DKIM-Signature field added (s=s2025, d=%s)" % (
                self.dkim_pid, qid, sender.rsplit("@", 1)[1]))
        emit(t, "postfix/qmgr[%d]: %s: from=<%s>, size=%d, nrcpt=%d (queue active)" % (
            self.qmgr_pid, qid, sender, size, len(rcpts)))
        self.push(t + self.first_wait(rcpts[0][1]), 1, m)

    # ---- noise ---------------------------------------------------------------
    def noise(self, t, kind, obj):
        rnd = self.rnd
        emit = self.emit
        st = self.st
        if kind == 5:                   # disconnect of the submission connection
            pid, n = obj
            emit(t, "postfix/smtpd[%d]: disconnect from app1.example.com[10.0.0.11] ehlo=2 starttls=1 auth=1 "
                    "mail=%d rcpt=%d data=%d rset=%d quit=1 commands=%d" % (pid, n, n, n, n - 1, 4 + 4 * n))
            return
        if kind == 10:                  # inbound connection (bounces, replies, spam) through postscreen
            self.push(t + self.R.expovariate(0.25), 10)
            cip = "%d.%d.%d.%d" % (20 + int(rnd() * 200), int(rnd() * 256), int(rnd() * 256), 1 + int(rnd() * 254))
            port = 1024 + int(rnd() * 64000)
            pp = self.pid("postscreen", 1, 0.0005)
            emit(t, "postfix/postscreen[%d]: CONNECT from [%s]:%d to [%s]:25" % (pp, cip, port, MYIP))
            r = rnd()
            if r < 0.12:
                emit(t + 0.3, "postfix/dnsblog[%d]: addr %s listed by domain zen.spamhaus.org as 127.0.0.%d" % (
                    self.pid("dnsblog", 3), cip, 2 + int(rnd() * 3)))
                emit(t + 6, "postfix/postscreen[%d]: DNSBL rank 3 for [%s]:%d" % (pp, cip, port))
                emit(t + 6, "postfix/postscreen[%d]: NOQUEUE: reject: RCPT from [%s]:%d: 550 5.7.1 Service unavailable; "
                            "client [%s] blocked using zen.spamhaus.org; from=<%s@%s>, to=<info@news.example.org>, "
                            "proto=ESMTP, helo=<%s>" % (pp, cip, port, cip, R_WORD(rnd), "mail.ru", "ylmf-pc"))
                emit(t + 6.1, "postfix/postscreen[%d]: DISCONNECT [%s]:%d" % (pp, cip, port))
                st["noqueue_rejects"] += 1
                return
            if r < 0.2:
                emit(t + 0.4, "postfix/postscreen[%d]: PREGREET 11 after 0.14 from [%s]:%d: EHLO User\\r\\n" % (pp, cip, port))
                emit(t + 0.5, "postfix/postscreen[%d]: DISCONNECT [%s]:%d" % (pp, cip, port))
                return
            emit(t + 0.01, "postfix/postscreen[%d]: PASS %s [%s]:%d" % (pp, "OLD" if r < 0.8 else "NEW", cip, port))
            sp = self.pid("smtpd", 20, 0.2)
            name = "unknown" if rnd() < 0.3 else "mail-%s.outbound.example.net" % cip.replace(".", "-")
            emit(t + 0.02, "postfix/smtpd[%d]: connect from %s[%s]" % (sp, name, cip))
            r2 = rnd()
            if r2 < 0.35:               # a bounce or reply for the return-path mailbox
                q = self.new_qid(t)
                st["inbound_messages"] += 1
                st["received_smtpd"] += 1
                emit(t + 0.3, "postfix/smtpd[%d]: %s: client=%s[%s]" % (sp, q, name, cip))
                emit(t + 0.4, "postfix/cleanup[%d]: %s: message-id=<%x@%s>" % (
                    self.pid("cleanup", 6), q, self.R.getrandbits(64), "outbound.example.net"))
                emit(t + 0.4, "postfix/qmgr[%d]: %s: from=<>, size=%d, nrcpt=1 (queue active)" % (
                    self.qmgr_pid, q, 3000 + int(rnd() * 30000)))
                emit(t + 0.5, "postfix/smtpd[%d]: disconnect from %s[%s] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 "
                              "commands=7" % (sp, name, cip))
                emit(t + 0.6, "postfix/lmtp[%d]: %s: to=<bounces@news.example.org>, relay=mail.example.org"
                              "[private/dovecot-lmtp], delay=0.22, delays=0.12/0.01/0.01/0.08, dsn=2.0.0, status=sent "
                              "(250 2.0.0 <bounces@news.example.org> %s Saved)" % (
                                  self.pid("lmtp", 4), q, "%x" % self.R.getrandbits(80)))
                emit(t + 0.6, "postfix/qmgr[%d]: %s: removed" % (self.qmgr_pid, q))
                st["lmtp_sent"] += 1
                st["removed"] += 1
            elif r2 < 0.6:
                emit(t + 0.5, "postfix/smtpd[%d]: NOQUEUE: reject: RCPT from %s[%s]: 554 5.7.1 <%s@example.net>: "
                              "Relay access denied; from=<%s@%s> to=<%s@example.net> proto=ESMTP helo=<%s>" % (
                                  sp, name, cip, R_WORD(rnd), R_WORD(rnd), "example.com", R_WORD(rnd), name))
                st["noqueue_rejects"] += 1
                emit(t + 0.6, "postfix/smtpd[%d]: disconnect from %s[%s] ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 "
                              "commands=4/5" % (sp, name, cip))
            elif r2 < 0.7:
                emit(t + 0.1, "postfix/smtpd[%d]: warning: hostname %s does not resolve to address %s: Name or "
                              "service not known" % (sp, name, cip))
                st["warnings"] += 1
                emit(t + 0.4, "postfix/smtpd[%d]: lost connection after EHLO from %s[%s]" % (sp, name, cip))
                emit(t + 0.4, "postfix/smtpd[%d]: disconnect from %s[%s] ehlo=1 commands=1" % (sp, name, cip))
            else:
                emit(t + 0.7, "postfix/smtpd[%d]: disconnect from %s[%s] ehlo=1 starttls=1 quit=1 commands=3" % (
                    sp, name, cip))
            return
        if kind == 11:                  # anvil statistics (every anvil_status_update_time = 600 s)
            self.push(t + 600, 11)
            a = self.pid("anvil", 1, 0.3)
            when = self.stamp(t - 300)[:15]
            cip = "%d.%d.%d.%d" % (20 + int(rnd() * 200), int(rnd() * 256), int(rnd() * 256), 1 + int(rnd() * 254))
            emit(t, "postfix/anvil[%d]: statistics: max connection rate %d/60s for (smtp:%s) at %s" % (
                a, 1 + int(rnd() * 6), cip, when))
            emit(t, "postfix/anvil[%d]: statistics: max connection count %d for (smtp:%s) at %s" % (
                a, 1 + int(rnd() * 3), cip, when))
            emit(t, "postfix/anvil[%d]: statistics: max cache size %d at %s" % (a, 1 + int(rnd() * 20), when))
            self.stamp(t)
            return
        if kind == 12:                  # scache statistics (connection cache of the smtp clients)
            self.push(t + 300, 12)
            sc = self.pid("scache", 1, 0.2)
            emit(t, "postfix/scache[%d]: statistics: start interval %s" % (sc, self.stamp(t - 300)[:15]))
            self.stamp(t)
            emit(t, "postfix/scache[%d]: statistics: domain lookup hits=%d miss=%d success=%d%%" % (
                sc, int(rnd() * 9000), int(rnd() * 800), 80 + int(rnd() * 19)))
            emit(t, "postfix/scache[%d]: statistics: address lookup hits=%d miss=%d success=%d%%" % (
                sc, int(rnd() * 900), int(rnd() * 9000), int(rnd() * 20)))
            emit(t, "postfix/scache[%d]: statistics: max simultaneous domains=%d addresses=%d connection=%d" % (
                sc, 1 + int(rnd() * 30), 1 + int(rnd() * 60), 1 + int(rnd() * 90)))
            return
        if kind == 13:                  # CRON every 5 minutes, the bounce-mailbox poller over IMAP
            self.push(t + 300, 13)
            cp = self.newpid()
            emit(t, "CRON[%d]: (mailer) CMD (/usr/local/bin/fetch-bounces --quiet)" % cp)
            self.dovecot_sess += 1
            sess = "%x" % self.R.getrandbits(64)
            mp = self.newpid()
            emit(t + 0.2, "dovecot: imap-login: Login: user=<bounces@news.example.org>, method=PLAIN, rip=127.0.0.1, "
                          "lip=127.0.0.1, mpid=%d, secured, session=<%s>" % (mp, sess))
            emit(t + 1.1, "dovecot: imap(bounces@news.example.org)<%d><%s>: Disconnected: Logged out in=%d out=%d "
                          "deleted=%d expunged=%d trashed=0 hdr_count=0 hdr_bytes=0 body_count=%d body_bytes=%d" % (
                              mp, sess, 200 + int(rnd() * 300), 800 + int(rnd() * 90000), int(rnd() * 40),
                              int(rnd() * 40), int(rnd() * 40), int(rnd() * 900000)))
            if rnd() < 0.1:
                emit(t + 1.2, "postfix/tlsmgr[%d]: warning: request to update table btree:/var/lib/postfix/"
                              "smtp_scache in non-postfix directory /var/lib/postfix" % self.pid("tlsmgr", 1, 0.01))
                st["warnings"] += 1
            return
        if kind == 14:                  # daily: logrotate reloads postfix; systemd timers
            self.push(t + 86400, 14)
            emit(t, "CRON[%d]: (root) CMD (test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; })" %
                 self.newpid())
            emit(t + 2, "systemd[1]: Starting logrotate.service - Rotate log files...")
            emit(t + 3, "postfix/postfix-script[%d]: refreshing the Postfix mail system" % self.newpid())
            emit(t + 3, "postfix/master[%d]: reload -- version 3.7.11, configuration /etc/postfix" % self.master_pid)
            self.qmgr_pid = self.newpid()
            self.pickup_pid = self.newpid()
            emit(t + 3, "systemd[1]: logrotate.service: Deactivated successfully.")
            emit(t + 3, "systemd[1]: Finished logrotate.service - Rotate log files.")
            return
        if kind == 15:                  # tlsmgr / systemd odds and ends, hourly
            self.push(t + 3600, 15)
            emit(t, "systemd[1]: Starting phpsessionclean.service - Clean php session files...")
            emit(t + 1, "systemd[1]: phpsessionclean.service: Deactivated successfully.")
            emit(t + 1, "systemd[1]: Finished phpsessionclean.service - Clean php session files.")
            return

    # ---- campaigns -----------------------------------------------------------
    def plan_day(self, day):
        """The campaigns of one day, as (start, count, rate, campaign) sorted by start."""
        R = self.R
        out = []
        for h in (6.0, 9.5, 12.5, 16.0, 19.5):
            if R.random() < 0.15:
                continue
            start = day * 86400 + (h + R.uniform(-0.6, 0.6)) * 3600
            n = R.randrange(30000, 150000)
            rate = R.uniform(40, 150)
            bi = R.randrange(len(self.brands))
            camp = {"id": "c%d%02d" % (day, int(h)), "brand": self.brands[bi], "verp": R.random() < 0.85,
                    "size": R.randrange(14000, 90000), "via": "pickup" if R.random() < 0.6 else "smtpd"}
            out.append([start, n, rate, camp])
        return out

    def run(self):
        rnd = self.rnd
        expo = self.R.expovariate
        heap = self.heap
        heappop = heapq.heappop
        self.sub = [0, 0, 5]            # submission connection: pid, messages so far, messages before disconnect
        self.busy = 0.0
        trans_rate = 0.25
        day = 0
        plan = self.plan_day(0)
        camp = None                     # [start, remaining, rate, info] while a campaign runs
        t = 0.0
        next_arr = expo(trans_rate)
        for k, first in ((10, 1.0), (11, 600.0), (12, 300.0), (13, 120.0), (14, 6.4 * 3600), (15, 1800.0)):
            self.push(first + rnd() * 60, k)
        out = self.out
        size = self.size
        lines = self.lines
        n = 0
        tail = size < (2 << 20)         # near the end: write after every event, to stop close to the size
        while True:
            # the next thing to happen: an arrival, or the earliest queued event
            if heap and heap[0][0] < next_arr:
                t, _, kind, obj = heappop(heap)
                if kind == 1:
                    self.attempt(t, obj)
                else:
                    self.noise(t, kind, obj)
            else:
                t = next_arr
                if camp is not None:
                    self.arrive(t, camp[3])
                    camp[1] -= 1
                    if camp[1] <= 0:
                        camp = None
                        self.busy = 0.0
                else:
                    self.arrive(t, None)
                # campaign bookkeeping
                if camp is None:
                    while plan and plan[0][0] <= t:
                        camp = plan.pop(0)
                        self.busy = camp[2] / 60.0
                        break
                    if not plan and t >= (day + 1) * 86400 - 7200:
                        day += 1
                        plan = self.plan_day(day)
                rate = trans_rate + (camp[2] if camp else 0.0)
                next_arr = t + expo(rate)
                if camp is None and plan and next_arr > plan[0][0]:
                    next_arr = plan[0][0]
            n += 1
            if tail or n >= 4000:
                n = 0
                data = "".join(lines).encode()
                lines.clear()
                self.st["lines"] += data.count(b"\n")
                out.write(data)
                self.written += len(data)
                if self.written >= size:
                    break
                tail = size - self.written < (2 << 20)
        self.st["open_qids_at_end"] = len(self.open)
        self.st["seconds_simulated"] = int(t)
        self.st["first_day"] = self.stamp(0)[:6]
        self.st["last_stamp"] = self.stamp(t)[:15]
        self.st["bytes"] = self.written
        return self.st


def R_WORD(rnd):
    return FIRST[int(rnd() * len(FIRST))] + str(int(rnd() * 100))


def main():
    ap = argparse.ArgumentParser(description="Write a synthetic, realistic Postfix log (see the file's docstring).")
    ap.add_argument("--size", default="1G", help="size in MiB, or with a unit: 1G, 256M, 500K (default 1G)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--start", default="2025-12-30T00:00:00",
                    help="time of the first line, UTC, ISO 8601 (default 2025-12-30T00:00:00: a 1 GiB log "
                         "crosses Dec 31 -> Jan 1)")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--stats", help="also write the key=value counts to this file")
    a = ap.parse_args()
    size = parse_size(a.size) if not a.size.replace(".", "", 1).isdigit() else int(float(a.size) * (1 << 20))
    if size <= 0:
        die("bad --size")
    try:
        start = datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        die("bad --start: use YYYY-MM-DDTHH:MM:SS")
    t0 = time.monotonic()
    try:
        if a.out == "-":
            out = sys.stdout.buffer
        else:
            out = open(a.out, "wb", buffering=1 << 22)
        g = Gen(a.seed, start, size, out)
        st = g.run()
        if a.out != "-":
            out.close()
    except OSError as e:
        die("cannot write %s: %s" % (a.out, e.strerror), 1)
    st["generator_seconds"] = round(time.monotonic() - t0, 1)
    st["seed"] = a.seed
    text = "".join("%s=%s\n" % (k, v) for k, v in st.items())
    sys.stderr.write("".join("make-maillog: " + l + "\n" for l in text.splitlines()))
    if a.stats:
        with open(a.stats, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
