#!/usr/bin/env bash
# Runs training recipes side by side on the real CIFAR-10 and prints a markdown table of test
# accuracy per epoch, so a change of defaults is decided by measurement (see bench/README.md,
# "Recipe search"). Each candidate is one line of `rn50cl train` options after its name.
#   bench/recipe_search.sh [--epochs N] [--data DIR] [--out DIR] CANDIDATES.txt
# CANDIDATES.txt: `name  --lr 0.05 --warmup-epochs 0.25 ...` per line ('#' starts a comment).
set -euo pipefail
BIN=${RN50CL_BIN:-$(dirname "$0")/../build/rn50cl}
EPOCHS=5 DATA=../shared/data/cifar-10-batches-bin OUT=recipe-search
while [ $# -gt 1 ]; do
  case $1 in
    --epochs) EPOCHS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "recipe_search: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] && [ -r "$1" ] || { echo "usage: $0 [--epochs N] [--data DIR] [--out DIR] CANDIDATES.txt" >&2; exit 2; }
mkdir -p "$OUT"
grep -v '^\s*\(#\|$\)' "$1" | while read -r name opts; do
  [ -s "$OUT/$name.jsonl" ] && grep -q "\"epoch\": $EPOCHS," "$OUT/$name.jsonl" && continue # done before
  # shellcheck disable=SC2086 # opts are words on purpose
  "$BIN" train --data "$DATA" --epochs "$EPOCHS" $opts --out "$OUT/$name" --log "$OUT/$name.jsonl" \
    > "$OUT/$name.out" 2>&1 || echo "recipe_search: $name ended with status $? (see $OUT/$name.out)" >&2
done
python3 - "$OUT" "$1" <<'P'
import json, os, sys
out, cands = sys.argv[1], [l.split(None, 1) for l in open(sys.argv[2]) if l.strip() and not l.lstrip().startswith("#")]
print("| candidate | options | test accuracy per epoch | best |\n|---|---|---|---|")
for c in cands:
    name, opts = c[0], (c[1].strip() if len(c) > 1 else "")
    f = os.path.join(out, name + ".jsonl")
    ep = [json.loads(l) for l in open(f) if '"type": "epoch"' in l] if os.path.exists(f) else []
    accs = ["%.2f" % (100 * e["test_accuracy"]) for e in ep]
    best = max((100 * e["test_accuracy"] for e in ep), default=float("nan"))
    print("| %s | `%s` | %s | %.2f %% |" % (name, opts or "(defaults)", " / ".join(accs) or "not run", best))
P
