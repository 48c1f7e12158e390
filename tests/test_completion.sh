#!/usr/bin/env bash
# contrib/bash-completion/rebound: sourced here, _rebound run with
# COMP_WORDS/COMP_CWORD set as bash sets them, against the built rebound
# (and a stand-in rebound with other help texts: the words come from --help
# at completion time, nothing is a fixed list).
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:?}
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

work=$(mktemp -d /tmp/rebound-completion-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# shellcheck source=/dev/null
. "$SRC/contrib/bash-completion/rebound" || { echo "cannot source the completion"; exit 1; }
[[ $(complete -p rebound 2>&1) == *"-F _rebound"*rebound ]] && ok || bad "complete -p rebound: $(complete -p rebound 2>&1)"

# comp BIN WORD...: the completions of the last WORD, sorted, one line
comp() {
  local bin=$1; shift
  COMP_WORDS=("$bin" "$@"); COMP_CWORD=$#
  COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _rebound "$bin" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
is()       { local want=$1; shift; local got; got=$(comp "$@"); [ "$got" = "$want" ] && ok || bad "rebound ${*:2}<TAB>: want '$want', got '$got'"; }
has()      { local want=$1; shift; local got; got=$(comp "$@"); [[ " $got " == *" $want "* ]] && ok || bad "rebound ${*:2}<TAB>: '$want' missing from '$got'"; }
lacks()    { local not=$1; shift; local got; got=$(comp "$@"); [[ " $got " != *" $not "* ]] && ok || bad "rebound ${*:2}<TAB>: '$not' should not be in '$got'"; }

is apply "$R" ap
is --commit "$R" apply --co
for o in --since --until --provider --format --html --db; do has "$o" "$R" report --; done
lacks --commit "$R" report --
is "--help --version" "$R" --
for c in analyze apply init explain contacts keys maillog notify pipe postfix-config queue report serve verp; do
  has "$c" "$R" ""
done
# every word offered as a command is one: its --help succeeds
for c in $(comp "$R" ""); do
  "$R" "$c" --help >/dev/null 2>&1 && ok || bad "'$c' is offered as a command but 'rebound $c --help' fails"
done
is "postfix-config" "$R" pos
is "add export list revoke" "$R" keys ""
is "revoke" "$R" keys re
is "rebuild" "$R" queue reb
is "decode encode sign verify" "$R" verp ""
is "csv jsonl table" "$R" analyze --format ""
is "csv json table" "$R" report --format ""
is "epoll poll" "$R" serve --event-loop ""
# a quoted other command's option is not offered ("as `rebound apply --commit` would")
is "--check" "$R" pipe --c
has --verp-secret-file "$R" pipe --v
has --verbose "$R" notify --v
# after the command and its options, the command's options again
is --commit "$R" apply --db x.db --co
# a plain word after the command: nothing offered, bash completes file names
is "" "$R" analyze sam
is "" "$R" apply --db ""

# the words come from the help of the rebound being completed, found on PATH
mkdir "$work/bin"
cat > "$work/bin/rebound" <<'SH'
#!/bin/sh
case "$1" in
  --help) printf 'usage: rebound COMMAND\n\nCommands:\n  frobnicate   turn knobs\n  analyze      read\n\nmore text\n';;
  frobnicate) printf 'usage: rebound frobnicate [--zap] [--level low|high]\n\n  --zap     zap it\n  --level L how much\n';;
  *) exit 64;;
esac
SH
chmod +x "$work/bin/rebound"
PATH=$work/bin:$PATH
is "analyze frobnicate" rebound ""
is "--help --level --zap" rebound frobnicate --
is "high low" rebound frobnicate --level ""
# no rebound at all: nothing, and no error
PATH=/usr/bin:/bin
if ! command -v rebound >/dev/null; then
  is "" rebound ap
  is "" "$work/missing/rebound" ap
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
