#!/usr/bin/env bash
# `meson install` of this build into a temporary DESTDIR: librebound shared
# and static, rebound.pc, the public headers (each compiles on its own with
# only pkg-config's flags: no internal header is reachable) and the bash
# completion; then docs/example/classify.c is built against that installed
# copy with pkg-config -- once on the shared library (run with
# LD_LIBRARY_PATH), once on the static one -- and run on an RFC 3464 DSN for
# a 5.1.1 user unknown written here.
# Arguments: MESON BUILD_ROOT CC [B_SANITIZE]
set -uo pipefail
MESON=${1:?meson} BUILD=${2:?build root} SAN=${4:-none}
read -ra CC <<< "${3:?compiler}"   # may be "ccache cc"
SRC=${REBOUND_SRCDIR:?}
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

if ! command -v pkg-config >/dev/null; then
  echo "SKIP: pkg-config is not installed (Debian package pkgconf)"
  [ "${CI:-}" = true ] && { echo "0 passed, 1 failed"; exit 1; }
  exit 77
fi

work=$(mktemp -d /tmp/rebound-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT
cd "$work" || exit 1
unset LD_LIBRARY_PATH   # meson test points it at the build tree's librebound.so
DD=$work/dest

# a sanitized build's library needs the sanitizer runtime in what links it
cflags=()
[ -n "$SAN" ] && [ "$SAN" != none ] && cflags=(-fsanitize="$SAN")

if "$MESON" install -C "$BUILD" --no-rebuild --destdir "$DD" >install.log 2>&1; then ok
else cat install.log; bad "meson install --destdir"; finish; fi

# ---- what got installed
pc=$(find "$DD" -name rebound.pc -path '*/pkgconfig/*' | head -1)
check "rebound.pc installed" [ -n "$pc" ]
[ -n "$pc" ] || finish
reqs=$(grep '^Requires.private:' "$pc")
for p in gmime-3.0 sqlite3 libpq jansson libpcre2-8 zlib; do
  case "$reqs, " in *" $p,"*) ok;; *) bad "rebound.pc: Requires.private lacks $p: $reqs";; esac
done
# The DESTDIR copy is relocated: prefix (and an absolute libdir/includedir)
# moved under $DD, as in a packager's staging area.
mkdir pc
sed -E "s|^(prefix\|libdir\|includedir)=/|\1=$DD/|" "$pc" > pc/rebound.pc
export PKG_CONFIG_PATH=$work/pc
libdir=$(pkg-config --variable=libdir rebound)
incdir=$(pkg-config --variable=includedir rebound)/rebound
check "libdir $libdir is under DESTDIR" [ -d "$libdir" ]
check "shared library installed" [ -e "$libdir/librebound.so" ]
check "shared library has soname librebound.so.0" \
  bash -c "[ -e '$libdir/librebound.so.0' ] && readelf -d '$libdir/librebound.so' | grep -q 'SONAME.*\[librebound\.so\.0\]'"
check "shared library exports rb_analyze_message" \
  bash -c "nm -D --defined-only '$libdir/librebound.so' | grep -q ' T rb_analyze_message$'"
check "static library installed" [ -f "$libdir/librebound.a" ]
check "static library holds rb_analyze_message" \
  bash -c "nm -g '$libdir/librebound.a' 2>/dev/null | grep -q ' T rb_analyze_message$'"
for h in rebound.h rebound_store.h rebound_input.h rebound_maillog.h rebound_guard.h rebound_api.h; do
  check "header $h installed" [ -f "$incdir/$h" ]
done
for h in rb_internal.h store_impl.h message.h rebound_report.h; do
  check "internal header $h not installed" [ ! -e "$incdir/$h" ]
done
# every installed header compiles alone, with nothing but pkg-config's flags
# (an #include of an internal header would not be found)
for h in "$incdir"/*.h; do
  if printf '#include <%s>\nint main(void) { return 0; }\n' "${h##*/}" |
       "${CC[@]}" -std=c99 -Wall -Wextra -Werror -fsyntax-only -x c - $(pkg-config --cflags rebound) 2>hdr.err; then ok
  else bad "installed ${h##*/} does not compile on its own: $(head -3 hdr.err)"; fi
done
comp=$(find "$DD" -path '*/bash-completion/completions/rebound' | head -1)
check "bash completion installed" [ -n "$comp" ]
check "the installed completion is contrib/bash-completion/rebound" cmp -s "$comp" "$SRC/contrib/bash-completion/rebound"
rules=$(find "$DD" -path '*/share/rebound/rules.conf' | head -1)
check "rules installed" [ -n "$rules" ]
datadir=$(dirname "$rules")

# ---- a bounce: RFC 3464, 5.1.1 user unknown; and a message that is none
cat > dsn.eml <<'MAIL'
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: news@example.com
Subject: Undelivered Mail Returned to Sender
Date: Tue, 04 Mar 2025 10:15:02 +0000
Message-ID: <20250304101502.ABC12@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="=_dsn_boundary"

--=_dsn_boundary
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<no-such-user@example.org>: host mail.example.org[192.0.2.25] said:
    550 5.1.1 <no-such-user@example.org>: Recipient address rejected: User
    unknown in local recipient table (in reply to RCPT TO command)

--=_dsn_boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 04 Mar 2025 10:15:00 +0000

Final-Recipient: rfc822; no-such-user@example.org
Original-Recipient: rfc822; no-such-user@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <no-such-user@example.org>: Recipient address
    rejected: User unknown in local recipient table

--=_dsn_boundary
Content-Type: text/rfc822-headers

From: news@example.com
To: no-such-user@example.org
Subject: March newsletter
Message-ID: <newsletter-2025-03.42@example.com>

--=_dsn_boundary--
MAIL
printf 'From: a@example.com\nTo: b@example.org\nSubject: lunch\n\nsee you at noon\n' > plain.eml

expect_bounce() {  # $1 what, $2 output file
  if [ "$(cat "$2")" = "$(printf 'no-such-user@example.org\tuserunknown\thard\t5.1.1')" ]; then ok
  else bad "$1: expected 'no-such-user@example.org userunknown hard 5.1.1', got: $(cat "$2")"; fi
}

# ---- the example on the shared library
if "${CC[@]}" "${cflags[@]}" -Wall -Werror -o classify-shared "$SRC/docs/example/classify.c" \
     $(pkg-config --cflags --libs rebound) 2>cc.err; then
  ok
  check "classify-shared needs librebound.so.0" bash -c "readelf -d classify-shared | grep -q 'NEEDED.*\[librebound\.so\.0\]'"
  check "classify-shared loads the installed librebound" \
    bash -c "LD_LIBRARY_PATH='$libdir' ldd classify-shared | grep -q 'librebound\.so\.0 => $libdir/'"
  LD_LIBRARY_PATH=$libdir ./classify-shared dsn.eml "$datadir" > out-shared 2>err-shared; rc=$?
  check "classify-shared: exit 0 on a bounce (got $rc: $(cat err-shared))" [ "$rc" -eq 0 ]
  expect_bounce "classify-shared" out-shared
  LD_LIBRARY_PATH=$libdir ./classify-shared plain.eml "$datadir" > out-plain 2>&1; rc=$?
  check "classify-shared: exit 1 on a message that is no bounce (got $rc)" [ "$rc" -eq 1 ]
  check "classify-shared says 'not a bounce'" grep -q '^not a bounce' out-plain
  LD_LIBRARY_PATH=$libdir ./classify-shared dsn.eml "$work/no-such-dir" > /dev/null 2>err-nodata; rc=$?
  check "classify-shared: exit 2 without its rules (got $rc)" [ "$rc" -eq 2 ]
  check "classify-shared: the error names the missing rules file ($(cat err-nodata))" grep -q "no-such-dir/rules.conf" err-nodata
else
  bad "building classify.c against the installed shared library: $(head -5 cc.err)"
fi

# ---- the example on the static library
# `pkg-config --static --libs rebound` must resolve (every Requires.private
# package is there) and name the libraries librebound.a needs.  The link
# takes librebound.a and the shared system libraries of Requires.private
# (--static would also want the static libraries of everything under GMime,
# gpgme's and GLib's: not what a Debian system has).
if slibs=$(pkg-config --static --libs rebound 2>pc.err); then
  ok
  for l in -lrebound -lgmime-3.0 -lsqlite3 -lpq -ljansson -lpcre2-8 -lz; do
    case " $slibs " in *" $l "*) ok;; *) bad "pkg-config --static --libs rebound lacks $l: $slibs";; esac
  done
else
  bad "pkg-config --static --libs rebound: $(cat pc.err)"
fi
libs="-L$libdir -l:librebound.a $(pkg-config --libs $(pkg-config --print-requires-private rebound)) $(sed -n 's/^Libs.private: *//p' pc/rebound.pc)"
if "${CC[@]}" "${cflags[@]}" -Wall -Werror -o classify-static "$SRC/docs/example/classify.c" \
     $(pkg-config --cflags rebound) $libs 2>cc.err; then
  ok
  check "classify-static does not need librebound.so" bash -c "! readelf -d classify-static | grep -q 'NEEDED.*librebound'"
  ./classify-static dsn.eml "$datadir" > out-static 2>err-static; rc=$?
  check "classify-static: exit 0 on a bounce (got $rc: $(cat err-static))" [ "$rc" -eq 0 ]
  expect_bounce "classify-static" out-static
else
  bad "building classify.c against the installed static library: $(head -5 cc.err)"
fi

finish
