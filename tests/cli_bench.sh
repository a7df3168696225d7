#!/usr/bin/env bash
# Drives bench/cl_bench: --quick --json on the PoCL device (every section present, every figure
# finite and positive; timings themselves are never asserted), the peak kernel's FLOP count
# re-derived from bench/peak.cl against the one cl_bench uses, `compare`, `ab`, and bad input.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
SRC=${RN50CL_SOURCE_DIR:?RN50CL_SOURCE_DIR not set}
PY=${RN50CL_PYTHON:-python3}
CLB=${CL_BENCH_BIN:-$(dirname "$BIN")/bench/cl_bench}
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
[ -x "$CLB" ] || { echo "FAIL: $CLB not built"; exit 1; }
tmp=$(mktemp -d "${RN50CL_TEST_TMP:-/tmp}/cli_bench.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The PoCL device when there is one (its platform is "Portable Computing Language").
dev=0
if "$CLB" --list-devices | grep -q "Portable"; then dev=Portable; fi
check "--list-devices prints a table" bash -c "'$CLB' --list-devices | grep -qE 'CPU|GPU|ACCEL'"

out=$("$CLB" --quick --device "$dev" --json "$tmp/a.json" 2>&1); rc=$?
check "cl_bench --quick exits 0 (rc $rc): ${out: -600}" [ "$rc" -eq 0 ]
for s in "1. device peak" "2. GEMM" "3. rn50cl kernels" "4. whole model" "5. start-up"; do
  check "the printed output has section '$s'" grep -qF "== $s" <<<"$out"
done

# JSON: environment complete, every section present, every number finite and positive.
check "JSON parses and every figure is finite and positive" "$PY" - "$tmp/a.json" <<'EOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["tool"] == "cl_bench" and len(d["runs"]) == 1, "one run"
run = d["runs"][0]
env = run["environment"]
for k in ("device", "driver", "opencl_version", "clblast_version", "rn50cl_version", "date"):
    assert isinstance(env[k], str) and env[k], k
assert env["batch"] == 16 and env["quick"] is True and isinstance(env["tuned_gemm"], bool)
# the own kernels' work-groups: PoCL's (a CPU not vectorising across work-items) 8 per unit
tg = env["tile_groups"]
assert isinstance(tg, int) and tg >= 0 and (tg == 8 or not env["platform"].startswith("Portable")), env
bad = []
def walk(path, v):
    if isinstance(v, dict):
        if not v: bad.append(path + " (empty)")
        for k, x in v.items(): walk(path + "." + k, x)
    elif isinstance(v, bool) or isinstance(v, str): pass
    elif isinstance(v, (int, float)):
        if not (math.isfinite(v) and v > 0): bad.append(f"{path} = {v}")
    else: bad.append(f"{path} = {v!r}")
for sec in ("peak", "gemm", "kernels", "model", "startup"):
    assert sec in run, "section " + sec
    walk(sec, run[sec])
assert not bad, bad
g = run["gemm"]
assert set(g["square"]) == {"256", "512"}, g["square"].keys()
# distinct: the shapes the rows run (a row that runs as another shape prints that one)
shapes = {(r["ta"], r["tb"], r["M"], r["N"], r["K"]) for r in g["training_shapes"].values()}
assert g["step_total"]["distinct_shapes"] == len(shapes) >= 50, (g["step_total"], len(shapes))
assert sum(s["count_per_step"] for s in g["training_shapes"].values()) == g["step_total"]["calls"]
m = run["model"]
assert abs(m["train_gflop_per_image"] - 0.423) < 0.01, m["train_gflop_per_image"]
assert 0.3 < m["inference_gflop_per_image"] / m["train_gflop_per_image"] < 0.36
assert m["profiled_step"]["gemm_ms"] < m["profiled_step"]["kernel_ms"]
ps = m["profiled_step"]
share = 100 - ps["gemm_share_pct"]  # the median step's, within the range of all 3
assert ps["steps"] == 3 and ps["other_share_min_pct"] - 1e-3 <= share <= ps["other_share_max_pct"] + 1e-3, ps
pl, ms = m["memory"]["planned"], m["memory"]["measured"]
assert abs(sum(v for k, v in pl.items() if k != "total_mib") - pl["total_mib"]) < 0.01, pl
assert ms["peak_mib"] > ms["baseline_mib"] and pl["activations_mib"] > 0, ms
# eval's model: no training state, so it plans less than half of training's
io = m["inference_only"]
assert 0 < 2 * io["planned_mib"] < pl["total_mib"] and io["peak_mib"] > ms["baseline_mib"], io
assert m["process_peak_mib"] >= max(ms["peak_mib"], io["peak_mib"]), m["process_peak_mib"]
assert len(run["kernels"]) >= 15
assert set(run["startup"]) == {"cold", "rn50cl_cold_pocl_warm", "warm"}
EOF

# The peak formula: flops per work-item = 2 · width · (mad/fma statements in PEAK_MAD_BLOCK) ·
# PEAK_ITERS, all read from the kernel source, must equal what cl_bench used and reported.
cat > "$tmp/peakcheck.py" <<'EOF'
import json, re, sys
def derive(src):
    iters = int(re.search(r"^#define PEAK_ITERS (\d+)\s*$", src, re.M).group(1))
    lines, block = src.splitlines(), None
    for i, l in enumerate(lines):
        if l.startswith("#define PEAK_MAD_BLOCK"):
            block = []
            j = i
            while lines[j].rstrip().endswith("\\"):
                j += 1
                block.append(lines[j])
            break
    mads = sum(len(re.findall(r"\b(?:mad|fma)\s*\(", l)) for l in block)
    kernel = src[src.index("#define PEAK_KERNEL"):]
    kernel = kernel[:kernel.index("\n\n")]
    # the kernel runs the block exactly once per iteration of one PEAK_ITERS loop, nothing else
    assert kernel.count("PEAK_MAD_BLOCK") == 1 and kernel.count("PEAK_ITERS") == 1, "loop shape"
    assert not re.search(r"\b(?:mad|fma)\s*\(", kernel), "mad outside PEAK_MAD_BLOCK"
    widths = {t: int(w or 1) for t, w in
              re.findall(r"^PEAK_KERNEL\(peak_mad_\w+, (float(\d*))\)", src, re.M)}
    return iters, mads, {t: 2 * w * mads * iters for t, w in widths.items()}
src = open(sys.argv[1]).read()
peak = json.load(open(sys.argv[2]))["runs"][0]["peak"]
iters, mads, fpi = derive(src)
assert (iters, mads) == (peak["iterations"], peak["mad_per_iteration"]), (iters, mads, peak)
assert fpi == peak["flops_per_work_item"], (fpi, peak["flops_per_work_item"])
assert set(fpi) == set(peak["fp32_gflops"]) - {"best"}
# and the check itself notices a changed kernel: one more mad in the block changes the formula
changed = src.replace("    y3 = mad(x3, y3, x3);", "    y3 = mad(x3, y3, x3);  \\\n    y3 = mad(x3, y3, x3);", 1)
assert derive(changed)[2] != peak["flops_per_work_item"], "a changed kernel went unnoticed"
EOF
check "peak.cl's FLOP count matches cl_bench's (and a changed kernel is caught)" \
  "$PY" "$tmp/peakcheck.py" "$SRC/bench/peak.cl" "$tmp/a.json"

# compare: B is A with every run figure doubled, so each shared ratio must read 2.00.
"$PY" - "$tmp/a.json" "$tmp/b.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def dbl(v):
    if isinstance(v, dict): return {k: dbl(x) for k, x in v.items()}
    if isinstance(v, (int, float)) and not isinstance(v, bool): return 2 * v
    return v
run = d["runs"][0]
d["runs"][0] = {k: (v if k == "environment" else dbl(v)) for k, v in run.items()}
json.dump(d, open(sys.argv[2], "w"))
EOF
cmp_out=$("$CLB" compare "$tmp/a.json" "$tmp/b.json" 2>&1); rc=$?
check "compare exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "compare shows the best fp32 rate with ratio 2.00" \
  grep -qE '^peak\.fp32_gflops\.best +[0-9.e+]+ +[0-9.e+]+ +2\.00$' <<<"$cmp_out"
check "compare shows the training step's images/s" grep -q '^model\.train_step\.images_per_s ' <<<"$cmp_out"
check "every compared ratio is 2.00" "$PY" -c '
import sys
rows = [l.split() for l in sys.stdin.read().split("\n\n")[1].splitlines()[1:]]
assert len(rows) > 100 and all(r[-1] == "2.00" for r in rows), rows[:3]' <<<"$cmp_out"

# one file holding both runs (as --device all writes them) compares the same way
"$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a["runs"] += b["runs"]
json.dump(a, open(sys.argv[3], "w"))' "$tmp/a.json" "$tmp/b.json" "$tmp/ab.json"
one_out=$("$CLB" compare "$tmp/ab.json" 2>&1); rc=$?
check "compare of one file with two runs exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "one file with two runs gives the two files' table" \
  [ "$(sed -n '/^figure/,$p' <<<"$one_out")" = "$(sed -n '/^figure/,$p' <<<"$cmp_out")" ]
one_out=$("$CLB" compare "$tmp/a.json" 2>&1); rc=$?
check "compare of a single run exits 2 with a sentence (rc $rc)" \
  [ "$rc" -eq 2 ] && grep -q "at least two runs" <<<"$one_out"

# ab: a stored choice (a short search at batch 2) against itself, in one process
RN50CL_CACHE_DIR="$tmp/cache" "$BIN" tune --device "$dev" --batch-size 2 --budget 12 >/dev/null 2>&1
tuned=$(ls "$tmp"/cache/tuning/*.txt 2>/dev/null | head -1)
check "a short rn50cl tune stored a file for ab ($tuned)" [ -f "$tuned" ]
ab_out=$("$CLB" ab "$tuned" "$tuned" --device "$dev" --batch-size 2 --repeats 3 2>&1); rc=$?
check "ab of a file against itself exits 0 (rc $rc): ${ab_out: -300}" [ "$rc" -eq 0 ]
check "ab prints the time-weighted line with B/A" \
  grep -qE '^time-weighted over the step.s calls: A [0-9.]+ GFLOP/s .* B/A [0-9.]+$' <<<"$ab_out"
check "ab's per-shape rows name the same choice for A and B" "$PY" -c '
import sys
rows = [r for r in map(str.split, sys.stdin.read().splitlines()) if len(r) == 16 and r[7][0] == "t"]
assert rows and all(r[7:10] == r[11:14] for r in rows), rows[:2]' <<<"$ab_out"
ab_out=$("$CLB" ab "$tuned" "$tuned" --device "$dev" --batch-size 2 --repeats 1 --groups 0,3 2>&1); rc=$?
check "ab with --groups 0,3 exits 0 (rc $rc): ${ab_out: -300}" [ "$rc" -eq 0 ]
check "ab's header names each side's work-groups" \
  grep -q "^A: .*, own kernels in work-groups the runtime chooses$" <<<"$ab_out" &&
  grep -q "^B: .*, own kernels in 3 work-groups per compute unit$" <<<"$ab_out"
for bad in 8 8,x -1,2 1,2,3 2000,1; do
  ab_out=$("$CLB" ab "$tuned" "$tuned" --device "$dev" --groups "$bad" 2>&1); rc=$?
  check "ab --groups $bad exits 2 with a sentence (rc $rc)" [ "$rc" -eq 2 ] &&
    grep -q "needs two integers from 0 to 1024" <<<"$ab_out"
done
ab_out=$("$CLB" ab "$tuned" 2>&1); rc=$?
check "ab with one file exits 2 with a sentence (rc $rc)" [ "$rc" -eq 2 ] && grep -q "two tuning files" <<<"$ab_out"
ab_out=$("$CLB" ab "$tuned" "$tmp/none.txt" --device "$dev" 2>&1); rc=$?
check "ab with a missing file exits 2 naming it (rc $rc)" [ "$rc" -eq 2 ] && grep -q "none.txt cannot be used" <<<"$ab_out"

# a conv's products that the step runs with its columns gathered in the product are timed so and
# marked: layer1's 3x3 forward (64 x 2·8·8 x 576 at batch 2) on the 8x16 tile and its weight
# gradient (64 x 576 x 128) on the dot tile, every other shape as the short search left it; its
# input gradient then runs as the forward's product on flipped weights
mkdir -p "$tmp/gcache/tuning"
own='Own ta=0 tb=0 M=64 N=128 K=576 lda=576 ldb=128 ldc=128 beta=0 tile=0 m_fast=1 kc=576'
wown='Own ta=0 tb=1 M=64 N=576 K=128 lda=128 ldb=128 ldc=576 beta=0 tile=2 m_fast=0 kc=64'
grep -v ' M=64 N=128 K=576 \| M=64 N=576 K=128 ' "$tuned" | sed "s/^end\$/$own\n$wown\nend/" \
  >"$tmp/gcache/tuning/$(basename "$tuned")"
g_out=$(RN50CL_CACHE_DIR="$tmp/gcache" "$CLB" --device "$dev" --only gemm --batch-size 2 --repeats 1 \
  --json "$tmp/g.json" 2>&1); rc=$?
check "cl_bench --only gemm with a gathering choice exits 0 (rc $rc): ${g_out: -300}" [ "$rc" -eq 0 ]
check "layer1's 3x3 forward is printed as gathered" \
  grep -qE '^layer1.0.conv2 fwd +NN +64 +128 +576 +3 .* rn50cl, gathered$' <<<"$g_out"
check "its input gradient is printed as that product, gathered" \
  grep -qE '^layer1.0.conv2 dgrad +NN +64 +128 +576 +3 .* rn50cl, gathered$' <<<"$g_out"
check "its weight gradient is printed as gathered" \
  grep -qE '^layer1.0.conv2 wgrad +NT +64 +576 +128 +3 .* rn50cl, gathered$' <<<"$g_out"
check "no explicit product is printed for that input gradient" \
  bash -c '! grep -qE "^layer1.0.conv2 dgrad +TN" <<<"$1"' _ "$g_out"
check "layer1's rows are gathered in the JSON (other gathered rows: layer2's 4x4 3x3s)" "$PY" - "$tmp/g.json" <<'EOF2'
import json, sys
gemm = json.load(open(sys.argv[1]))["runs"][0]["gemm"]
rows = gemm["training_shapes"]
g = {k.split(" ", 1)[1]: r for k, r in rows.items() if r["gathered"]}
assert {"layer1.0.conv2 fwd", "layer1.0.conv2 dgrad", "layer1.0.conv2 wgrad"} <= set(g), sorted(g)
assert set(g) <= {"layer1.0.conv2 fwd", "layer1.0.conv2 dgrad", "layer1.0.conv2 wgrad",
                  "layer2.1.conv2 fwd", "layer2.1.conv2 dgrad", "layer2.0.conv2 wgrad",
                  "conv1 fwd", "conv1 wgrad"}, sorted(g)
for k, r in g.items():
    wgrad = k.endswith("wgrad")
    assert r["backend"] == "rn50cl" and r["ms"]["median"] > 0 and not r["ta"], r
    assert r["tb"] == wgrad and (r["tile"] == 2 or not wgrad), r
    if k.startswith("layer1") and not wgrad:
        assert r["tile"] == 0 and (r["M"], r["N"], r["K"], r["count_per_step"]) == (64, 128, 576, 3), r
    if k.startswith("layer1") and wgrad:
        assert (r["M"], r["N"], r["K"], r["count_per_step"]) == (64, 576, 128, 3), r
# the step's calls stay 158; the rows run as many distinct shapes as the closing line says
assert gemm["step_total"]["calls"] == 158, gemm["step_total"]
assert sum(r["count_per_step"] for r in rows.values()) == 158
shapes = {(r["ta"], r["tb"], r["M"], r["N"], r["K"]) for r in rows.values()}
assert gemm["step_total"]["distinct_shapes"] == len(shapes), (gemm["step_total"], len(shapes))
EOF2
gfile="$tmp/gcache/tuning/$(basename "$tuned")"
ab_out=$("$CLB" ab "$gfile" "$gfile" --device "$dev" --batch-size 2 --repeats 1 2>&1); rc=$?
check "ab of the gathering choice exits 0 (rc $rc): ${ab_out: -300}" [ "$rc" -eq 0 ]
check "ab times layer1's 3x3 forward as the step runs it, its 3 calls gathering" \
  grep -qE '^layer1.0.conv2 +fwd +NN +64 +128 +576 +3 +t0 m1 kc576 g3 .* t0 m1 kc576 g3 ' <<<"$ab_out"
check "and its input gradient as that product (whatever the file holds for its own shape)" \
  grep -qE '^layer1.0.conv2 +dgrad +TN +576 +128 +64 +3 +t0 m1 kc576 g3 .* t0 m1 kc576 g3 ' <<<"$ab_out"
check "and its weight gradient gathering too" \
  grep -qE '^layer1.0.conv2 +wgrad +NT +64 +576 +128 +3 +t2 m0 kc64 g3 .* t2 m0 kc64 g3 ' <<<"$ab_out"

# bad input: exit 2 with a sentence
echo '{"tool": "cl_bench", "runs": [' > "$tmp/broken.json"
"$CLB" compare "$tmp/a.json" "$tmp/broken.json" >/dev/null 2>&1; rc=$?
check "compare refuses a broken file with 2 (rc $rc)" [ "$rc" -eq 2 ]
"$CLB" --bogus >/dev/null 2>&1; rc=$?
check "unknown option exits 2 (rc $rc)" [ "$rc" -eq 2 ]
"$CLB" --device 99 --only peak >/dev/null 2>&1; rc=$?
check "--device 99 exits 2 (rc $rc)" [ "$rc" -eq 2 ]
"$CLB" --only nosuch >/dev/null 2>&1; rc=$?
check "--only with an unknown section exits 2 (rc $rc)" [ "$rc" -eq 2 ]

echo "cli_bench: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
