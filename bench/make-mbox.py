#!/usr/bin/env python3
"""Build a large mbox of bounce messages for benchmarking `rebound analyze`.

Reads every *.eml of a corpus folder once, then writes them round-robin
(sorted by name) until N messages have been written, as an mboxrd file:

  * each message is preceded by a postmark line
        From MAILER-DAEMON Mon Jan  1 00:00:00 2024
    (a leading "From " line already present in a sample is replaced by it);
  * every line of a message that matches ^>*From  gets one more '>'
    (mboxrd escaping, reversible), so no message line can be taken for a
    separator: one sample file is always exactly one message, as it is when
    read as a Maildir file (a few samples quote a whole bounce with its own
    "From " line, e.g. rhost-cox-01.eml; those lines are escaped too);
  * each message ends with a newline and is followed by one empty line.

Message bytes are otherwise kept as they are (CRLF samples stay CRLF).

Corpus: --corpus DIR, else ../shared/corpus/maildir/bsd beside the repository,
else the repository's own samples/ folder.  Standard library only.

Usage: bench/make-mbox.py [-n N] [--corpus DIR] OUTPUT.mbox
"""

import argparse
import os
import re
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CORPUS = os.path.join(REPO, "..", "shared", "corpus", "maildir", "bsd")
OWN_SAMPLES = os.path.join(REPO, "samples")

# mboxrd: a line that, after any number of '>', starts with "From ".
FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
# A postmark line a sample may already start with (and its line end).
LEADING_POSTMARK = re.compile(rb"\AFrom [^\n]*\n")

BASE_TIME = 1704067200  # 2024-01-01 00:00:00 UTC


def die(msg, code=2):
    print("make-mbox: " + msg, file=sys.stderr)
    sys.exit(code)


def pick_corpus(explicit):
    """Return (folder, label). An explicit --corpus never falls back."""
    if explicit is not None:
        if not os.path.isdir(explicit):
            die("corpus folder %s does not exist" % explicit)
        return explicit, "--corpus"
    if os.path.isdir(SHARED_CORPUS):
        return os.path.normpath(SHARED_CORPUS), "shared corpus"
    if os.path.isdir(OWN_SAMPLES):
        return OWN_SAMPLES, "project samples (../shared/corpus not found)"
    die("no corpus: neither %s nor %s exists; pass --corpus DIR (a folder of "
        "*.eml bounce messages)" % (os.path.normpath(SHARED_CORPUS), OWN_SAMPLES))


def load(folder):
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith(".eml") and os.path.isfile(os.path.join(folder, n)))
    out = []
    for n in names:
        with open(os.path.join(folder, n), "rb") as f:
            data = f.read()
        data = LEADING_POSTMARK.sub(b"", data, count=1)
        if not data.strip():
            continue  # an empty sample would make an empty message
        data = FROM_LINE.sub(rb">\1", data)
        if not data.endswith(b"\n"):
            data += b"\n"
        out.append(data + b"\n")  # the empty line that ends an mbox message
    return names, out


def postmark(i):
    # asctime form, one second apart, so the separators are all valid and varied
    t = time.gmtime(BASE_TIME + i)
    return ("From MAILER-DAEMON %s\n" % time.strftime("%a %b %e %H:%M:%S %Y", t)
            ).encode("ascii")


def main():
    ap = argparse.ArgumentParser(
        description="Build an mboxrd file of N bounce messages by repeating a corpus.")
    ap.add_argument("output", help="mbox file to write ('-' for standard output)")
    ap.add_argument("-n", "--messages", type=int, default=50000,
                    help="number of messages to write (default 50000)")
    ap.add_argument("--corpus", default=None,
                    help="folder of *.eml files (default ../shared/corpus/maildir/bsd "
                         "beside the repository, else samples/)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = ap.parse_args()

    if args.messages < 1:
        die("--messages must be at least 1")
    folder, label = pick_corpus(args.corpus)
    names, msgs = load(folder)
    if not msgs:
        die("corpus folder %s holds no non-empty *.eml file; add bounce samples "
            "there or pass --corpus DIR" % folder)

    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    total = 0
    try:
        buf = []
        size = 0
        k = len(msgs)
        for i in range(args.messages):
            pm = postmark(i)
            m = msgs[i % k]
            buf.append(pm)
            buf.append(m)
            size += len(pm) + len(m)
            if size >= 1 << 20:
                out.write(b"".join(buf))
                total += size
                buf, size = [], 0
        out.write(b"".join(buf))
        total += size
    finally:
        if out is not sys.stdout.buffer:
            out.close()

    if not args.quiet:
        print("make-mbox: wrote %d messages (cycling %d samples, %s: %s), "
              "%.1f MiB to %s" % (args.messages, len(msgs), label, folder,
                                  total / 1048576.0, args.output), file=sys.stderr)


if __name__ == "__main__":
    main()
