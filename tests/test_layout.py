#!/usr/bin/env python3
"""lib/'s stages call only the stages below them (docs/ARCHITECTURE.md).

Reads the library's object files with nm: every symbol an object of stage S
uses and another object defines must come from a lower stage.  classify and
store sit side by side and must not call each other.  Exits 1 naming each
call that goes up or sideways."""
import glob, os, subprocess, sys

RANK = {"base": 0, "ingest": 1, "store": 2, "classify": 2, "analyze": 3, "decide": 4, "share": 5}
build = sys.argv[1]
objs = [o for o in glob.glob(os.path.join(build, "lib", "*.p", "*.o"))]
if not objs:
    print("FAIL: no object files of librebound under %s/lib" % build)
    sys.exit(1)
defs, uses = {}, {}
for o in objs:
    name = os.path.basename(o)
    stage = name.split("_")[0]
    if stage not in RANK:
        print("FAIL: %s: not in a stage folder (%s)" % (name, ", ".join(RANK)))
        sys.exit(1)
    out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBR":
            defs[p[2]] = (stage, name)
        elif len(p) == 2 and p[0] == "U":
            uses.setdefault((stage, name), set()).add(p[1])
bad = 0
for (stage, name), syms in sorted(uses.items()):
    for s in sorted(syms):
        if s in defs and defs[s][0] != stage and RANK[defs[s][0]] >= RANK[stage]:
            print("FAIL: %s (%s) calls %s of %s (%s): not a lower stage" % (name, stage, s, defs[s][1], defs[s][0]))
            bad += 1
n = sum(len(v) for v in uses.values())
print("%d objects, %d stages, %d calls between objects checked, %d going up or sideways" %
      (len(objs), len(set(k[0] for k in uses)), n, bad))
sys.exit(1 if bad else 0)
