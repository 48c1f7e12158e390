#!/usr/bin/env python3
"""make-apply-input.py -- contacts and bounce records for bench/apply.sh.

    bench/make-apply-input.py --contacts 1000000 --records 1000000 \\
        --contacts-out contacts.csv --records-out records.jsonl [--format csv]

Writes, deterministically (the same --seed and sizes give the same bytes):

* a contacts CSV (header `email,source`) of N distinct addresses over a
  realistic spread of domains; the source is one of a few list names,
  'Test' and 'MailTester' among them (the names `queue rebuild` is usually
  told to exclude); one address in 50 has capitals in its local part (the
  records name it in lower case, as bounces often do);
* M bounce records, dated over --days days (default 90) up to --end, sorted
  by date, as the JSONL that `rebound analyze --format jsonl` writes (the
  same keys, in the same order), or its CSV with --format csv.

The mix (of the records):
  ~45 % hard:     userunknown 5.1.1 (Postfix) and 5.1.10 (Microsoft 365),
                  hostunknown, mailboxfull
  ~35 % soft:     networkerror, expired, systemerror; they come in bursts of
                  1 to 5 for one contact within ~28 days, so that some
                  contacts reach the threshold (3 in 30 days) and are
                  quarantined, and some bounce again during the quarantine
  ~15 % blocked:  blocked (DNSBL), spamdetected, policyviolation
   ~2 % feedback: ARF abuse complaints
   ~3 %           addresses that are not in the contact list (any type)
Every record has its own original_message_id and date, so every record has
its own dedup key: applying the file twice must find all of them the second
time.  Contacts are picked uniformly at random, so a contact may get a hard
bounce, then a block, and so on, as in real traffic.

Standard library only.  A summary of what was written goes to stderr.
"""
import argparse
import csv
import datetime as dt
import json
import random
import sys

FIRST = ("jan", "piet", "marie", "anna", "lotte", "sophie", "lucas", "noah", "emma", "julia", "thomas",
         "sarah", "daan", "sem", "lisa", "eva", "tom", "kevin", "laura", "nina", "pieter", "joris",
         "elise", "fleur", "bram", "ruben", "ines", "hugo", "louis", "camille", "lea", "max",
         "paul", "claire", "david", "olivia", "mila", "finn", "tess", "koen")
LAST = ("peeters", "janssens", "maes", "jacobs", "mertens", "willems", "claes", "goossens", "wouters",
        "de.vries", "jansen", "de.jong", "bakker", "visser", "smit", "meijer", "mulder", "bos", "vos",
        "dubois", "lambert", "martin", "leroy", "muller", "schmidt", "schneider", "fischer", "weber",
        "smith", "brown", "wilson", "taylor", "evans", "thomas", "roberts", "walker")

# domain, weight, provider (as analyze's provider guess names it), MX host
DOMAINS = (
    ("gmail.com", 24, "google", "gmail-smtp-in.l.google.com"),
    ("outlook.com", 8, "microsoft", "outlook-com.olc.protection.outlook.com"),
    ("hotmail.com", 8, "microsoft", "hotmail-com.olc.protection.outlook.com"),
    ("yahoo.com", 5, "yahoo", "mta7.am0.yahoodns.net"),
    ("icloud.com", 3, "apple", "mx01.mail.icloud.com"),
    ("telenet.be", 6, "", "mx.telenet-ops.be"),
    ("skynet.be", 4, "", "mx.skynet.be"),
    ("ziggo.nl", 5, "", "mx.ziggo.nl"),
    ("kpnmail.nl", 3, "", "mx.kpnmail.nl"),
    ("web.de", 3, "", "mx-ha03.web.de"),
    ("gmx.de", 3, "", "mx00.emig.gmx.net"),
    ("orange.fr", 3, "", "smtp-in.orange.fr"),
    ("free.fr", 2, "", "mx1.free.fr"),
)
N_COMPANY = 5000           # company{k}.example: the rest (business addresses, Microsoft 365 hosted)
COMPANY_WEIGHT = 23

SOURCES = (("Newsletter", 40), ("Webshop", 22), ("Events", 10), ("FacebookAdsJsonCSV", 8),
           ("Import2023", 8), ("Partners", 5), ("Test", 5), ("MailTester", 2))


def cumulative(pairs):
    out, acc = [], 0
    for item, w in pairs:
        acc += w
        out.append((acc, item))
    return out, acc


DOM_CUM, DOM_TOT = cumulative([((d, p, mx), w) for d, w, p, mx in DOMAINS] + [(None, COMPANY_WEIGHT)])
SRC_CUM, SRC_TOT = cumulative(SOURCES)


def mix(j, salt):
    """A fixed pseudo-random 32-bit number for contact j (no state)."""
    x = (j * 2654435761 + salt * 40503) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 2246822519) & 0xFFFFFFFF
    x ^= x >> 13
    return x


def pick(cum, tot, h):
    r = h % tot
    for acc, item in cum:
        if r < acc:
            return item
    return cum[-1][1]


def domain_of(j):
    """(domain, provider, mx host) of contact j."""
    d = pick(DOM_CUM, DOM_TOT, mix(j, 1))
    if d is None:
        k = mix(j, 2) % N_COMPANY
        return ("company%d.example" % k, "microsoft" if k % 3 == 0 else "",
                "company%d-example.mail.protection.outlook.com" % k if k % 3 == 0 else "mx.company%d.example" % k)
    return d


def local_of(j, prefix=""):
    h = mix(j, 3)
    return "%s%s.%s.%x" % (prefix, FIRST[h % len(FIRST)], LAST[(h >> 8) % len(LAST)], j)


def email_of(j):
    return local_of(j) + "@" + domain_of(j)[0]


def source_of(j):
    return pick(SRC_CUM, SRC_TOT, mix(j, 4))


def unknown_email(j):
    """An address that is not in the contact list (local parts start with 'x.')."""
    return local_of(j, "x.") + "@" + domain_of(j)[0]


# ---- record templates ---------------------------------------------------------
# kind: (reason, bounce_type, action, status, reply_code, dsn_action, decoded_by, smtp_command)
KINDS = {
    "uu511": ("userunknown", "hard", "disable", "5.1.1", "550", "failed", "postfix", "RCPT"),
    "uu5110": ("userunknown", "hard", "disable", "5.1.10", "550", "failed", "rfc3464", ""),
    "hostunknown": ("hostunknown", "hard", "disable", "5.4.4", "", "failed", "postfix", ""),
    "mailboxfull": ("mailboxfull", "hard", "disable", "5.2.2", "552", "failed", "exim", "RCPT"),
    "networkerror": ("networkerror", "soft", "count", "4.4.1", "", "failed", "postfix", ""),
    "expired": ("expired", "soft", "count", "4.4.7", "", "failed", "rfc3464", ""),
    "systemerror": ("systemerror", "soft", "count", "4.3.0", "451", "failed", "postfix", "DATA"),
    "blocked": ("blocked", "blocked", "record", "5.7.1", "554", "failed", "postfix", "RCPT"),
    "spamdetected": ("spamdetected", "blocked", "record", "5.7.1", "550", "failed", "googleworkspace", ""),
    "policyviolation": ("policyviolation", "blocked", "record", "5.7.1", "550", "failed", "postfix", "DATA"),
    "feedback": ("feedback", "complaint", "disable", "", "", "", "arf", ""),
}
# share of all records, per kind, in percent (sums to 97; the other 3 % go to
# unknown addresses)
HARD = (("uu511", 20), ("uu5110", 12), ("hostunknown", 6), ("mailboxfull", 7))          # 45
SOFT = (("networkerror", 14), ("expired", 12), ("systemerror", 9))                     # 35
BLOCKED = (("blocked", 6), ("spamdetected", 5), ("policyviolation", 4))                # 15
FEEDBACK = (("feedback", 2),)                                                          # 2
UNKNOWN_PCT = 3
# soft bursts: records per burst -> weight (mean 2.15)
BURST = ((1, 40), (2, 25), (3, 20), (4, 10), (5, 5))
KIND_LIST = list(KINDS)
KIND_IDX = {k: i for i, k in enumerate(KIND_LIST)}

OUR_IP = "203.0.113.9"
REPORTING = "mail.sender.example"


def diagnostic(kind, email, dom, mx, rng):
    local = email.split("@", 1)[0]
    if kind == "uu511":
        return ("host %s[198.51.100.%d] said: 550 5.1.1 <%s>: Recipient address rejected: "
                "User unknown in virtual mailbox table (in reply to RCPT TO command)" % (mx, rng.randrange(1, 255), email))
    if kind == "uu5110":
        return "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    if kind == "hostunknown":
        return "Host or domain name not found. Name service error for name=%s type=MX: Host not found" % dom
    if kind == "mailboxfull":
        return ("host %s [198.51.100.%d] SMTP error from remote mail server after RCPT TO:<%s>: "
                "552 5.2.2 Quota exceeded (mailbox for user %s is full)" % (mx, rng.randrange(1, 255), email, local))
    if kind == "networkerror":
        return "connect to %s[198.51.100.%d]:25: Connection timed out" % (mx, rng.randrange(1, 255))
    if kind == "expired":
        return "Delivery time expired: the message could not be delivered to %s within 5 days" % mx
    if kind == "systemerror":
        return "host %s said: 451 4.3.0 Temporary system problem, try again later (in reply to end of DATA command)" % mx
    if kind == "blocked":
        return ("host %s said: 554 5.7.1 Service unavailable; Client host [%s] blocked using zen.spamhaus.org "
                "(in reply to RCPT TO command)" % (mx, OUR_IP))
    if kind == "spamdetected":
        return ("550-5.7.1 [%s] Our system has detected that this message is likely unsolicited mail. "
                "To reduce the amount of spam sent to %s, this message has been blocked." % (OUR_IP, dom))
    if kind == "policyviolation":
        return "host %s said: 550 5.7.1 Message rejected due to local policy (in reply to end of DATA command)" % mx
    if kind == "feedback":
        return ("This is an email abuse report for an email message received from IP %s. "
                "For more information about this format please see http://www.mipassoc.org/arf/." % OUR_IP)
    raise ValueError(kind)


SUBJECTS = ("Our November newsletter", "Weekly update", "Your order has shipped", "Last chance: 20% off",
            "Invitation: spring event", "News from the shop", "Your account summary")


def main():
    ap = argparse.ArgumentParser(description="contacts CSV + bounce records for bench/apply.sh")
    ap.add_argument("--contacts", type=int, default=1000000, help="contacts (default 1000000)")
    ap.add_argument("--records", type=int, default=1000000, help="bounce records (default 1000000)")
    ap.add_argument("--contacts-out", help="contacts CSV to write (omit: none)")
    ap.add_argument("--records-out", help="records file to write (omit: none)")
    ap.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="records format (default jsonl)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--end", default="2026-11-23T00:00:00Z",
                    help="latest record date, ISO 8601 UTC (default 2026-11-23T00:00:00Z)")
    ap.add_argument("--days", type=int, default=90, help="records are dated over this many days (default 90)")
    a = ap.parse_args()
    if a.contacts < 1 or a.records < 0 or a.days < 30:
        ap.error("--contacts must be >= 1, --records >= 0, --days >= 30")
    if not a.contacts_out and not a.records_out:
        ap.error("nothing to do: give --contacts-out and/or --records-out")
    try:
        end = dt.datetime.strptime(a.end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        ap.error("--end: use YYYY-MM-DDTHH:MM:SSZ")
    end_ts = int(end.timestamp())
    span = a.days * 86400
    start_ts = end_ts - span

    if a.contacts_out:
        by_src = {}
        with open(a.contacts_out, "w", newline="") as f:
            f.write("email,source\n")
            out = []
            for j in range(a.contacts):
                e = email_of(j)
                if j % 50 == 7:
                    e = e[0].upper() + e[1:]
                s = source_of(j)
                by_src[s] = by_src.get(s, 0) + 1
                out.append("%s,%s\n" % (e, s))
                if len(out) == 10000:
                    f.write("".join(out))
                    out = []
            f.write("".join(out))
        print("make-apply-input: %s: %d contacts (%s)" % (
            a.contacts_out, a.contacts, ", ".join("%s %d" % kv for kv in sorted(by_src.items()))), file=sys.stderr)

    if not a.records_out:
        return 0

    rng = random.Random(a.seed)
    M = a.records
    # records per group, exact
    n_unknown = M * UNKNOWN_PCT // 100
    share = [(k, w) for grp in (HARD, SOFT, BLOCKED, FEEDBACK) for k, w in grp]
    tot_w = sum(w for _, w in share)
    rest = M - n_unknown
    want = {k: rest * w // tot_w for k, w in share}
    want["uu511"] += rest - sum(want.values())        # rounding
    # (time, contact index or -1-unknown index, kind index); soft kinds in bursts
    recs = []
    for k, n in want.items():
        ki = KIND_IDX[k]
        if KINDS[k][2] != "count":
            for _ in range(n):
                recs.append((start_ts + rng.randrange(span), rng.randrange(a.contacts), ki))
            continue
        left = n
        bcum, btot = cumulative(BURST)
        while left > 0:
            size = min(left, pick(bcum, btot, rng.randrange(btot)))
            j = rng.randrange(a.contacts)
            t0 = start_ts + rng.randrange(span - 28 * 86400)
            for t in sorted(t0 + rng.randrange(28 * 86400) for _ in range(size)):
                # a burst mixes the soft reasons a little, as real ones do
                kk = ki if rng.random() < 0.7 else KIND_IDX[rng.choice(SOFT)[0]]
                recs.append((t, j, kk))
            left -= size
    all_kinds = [k for k, _ in share]
    for u in range(n_unknown):
        recs.append((start_ts + rng.randrange(span), -1 - u, KIND_IDX[rng.choice(all_kinds)]))
    recs.sort()

    counts = {}
    fields = ("source", "recipient", "reason", "status", "reply_code", "bounce_type", "action", "diagnostic",
              "remote_mta", "reporting_mta", "provider", "feedback_type", "addresser", "original_message_id",
              "original_subject", "date", "decoded_by", "smtp_command", "dsn_action")
    mbox = "bounces-%s.mbox" % end.strftime("%Y-%m")
    with open(a.records_out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n") if a.format == "csv" else None
        if w:
            w.writerow(fields)
        buf = []
        for i, (t, j, ki) in enumerate(recs):
            kind = KIND_LIST[ki]
            reason, btype, action, status, code, dsn_action, decoded_by, smtp_cmd = KINDS[kind]
            if j >= 0:
                email = email_of(j)
                dom, provider, mx = domain_of(j)
                counts[kind] = counts.get(kind, 0) + 1
            else:
                email = unknown_email(-1 - j)
                dom, provider, mx = domain_of(-1 - j)
                counts["not-in-list"] = counts.get("not-in-list", 0) + 1
            if kind == "uu5110":
                remote = ""
                reporting = "DB9PR0%dMB%04d.eurprd0%d.prod.outlook.com" % (i % 9 + 1, i % 9973, i % 7 + 1)
            elif kind == "hostunknown":
                remote, reporting = "", REPORTING
            elif kind == "feedback":
                remote, reporting = "", "feedback.%s" % dom
            else:
                remote, reporting = mx, REPORTING
            day = dt.datetime.fromtimestamp(t, dt.timezone.utc)
            rec = {
                "source": "%s#%d" % (mbox, i + 1),
                "recipient": email,
                "reason": reason,
                "status": status,
                "reply_code": code,
                "bounce_type": btype,
                "action": action,
                "diagnostic": diagnostic(kind, email, dom, mx, rng),
                "remote_mta": remote,
                "reporting_mta": reporting,
                "provider": provider,
                "feedback_type": "abuse" if kind == "feedback" else "",
                "addresser": "newsletter@sender.example",
                "original_message_id": "nl-%s-%07d.%x@sender.example" % (day.strftime("%Y%m%d"), i, rng.getrandbits(32)),
                "original_subject": SUBJECTS[(t // 86400) % len(SUBJECTS)],
                "date": day.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "decoded_by": decoded_by,
                "smtp_command": smtp_cmd,
                "dsn_action": dsn_action,
            }
            if w:
                w.writerow([rec[k] for k in fields])
            else:
                buf.append(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
                if len(buf) == 10000:
                    f.write("\n".join(buf) + "\n")
                    buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    pct = lambda n: 100.0 * n / M if M else 0.0
    order = [k for k, _ in share] + ["not-in-list"]
    print("make-apply-input: %s: %d records (%s), %s to %s" % (
        a.records_out, M, a.format, dt.datetime.fromtimestamp(start_ts, dt.timezone.utc).strftime("%Y-%m-%d"),
        end.strftime("%Y-%m-%d")), file=sys.stderr)
    print("make-apply-input:   " + ", ".join("%s %.1f%%" % (k, pct(counts.get(k, 0))) for k in order),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
