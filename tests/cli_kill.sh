#!/usr/bin/env bash
# Nothing is lost when rn50cl is killed (SIGKILL) at a random moment: while `train` writes its
# checkpoints, resnet50-best/last.safetensors are each the old or the new complete file (bit for
# bit) and --resume from what is left ends exactly as an uninterrupted run; while `tune` runs, the
# tuning file is absent or complete and applied; while the kernel cache is filled, no partial entry
# is ever loaded (the next start rebuilds it, the one after loads everything). The temporary files
# a killed writer leaves are removed by the next write of the same file.
# RN50CL_KILL_TRIALS (default 20) sets the train trials; tune and cache get half as many each.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
SRC=${RN50CL_SOURCE_DIR:?}
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir cli_kill
TRIALS=${RN50CL_KILL_TRIALS:-20}
sum() { sha256sum "$1" 2>/dev/null | cut -c1-64; }
rnd_ms() { echo $((RANDOM % $1)); } # 0 .. $1-1 (up to 32 s)
ms_sleep() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }
PY=${RN50CL_PYTHON:-python3}
"$PY" "$SRC/tests/make_cifar.py" "$T/data" 16 8 || { echo "cannot make data"; exit 1; }
TRAIN=(train --data "$T/data" --no-augment --batch-size 8 --lr 0.005 --seed 5 --test-limit 8)

# Old files: one epoch. New files: the second epoch of the same run, uninterrupted.
"$BIN" "${TRAIN[@]}" --epochs 1 --out "$T/old" > "$T/old.out" 2>&1 || { cat "$T/old.out"; exit 1; }
cp -r "$T/old" "$T/new"
"$BIN" "${TRAIN[@]}" --epochs 2 --out "$T/new" --resume "$T/new/resnet50-last.safetensors" > "$T/new.out" 2>&1 ||
  { cat "$T/new.out"; exit 1; }
for f in best last; do
  eval "old_$f=\$(sum \"\$T/old/resnet50-$f.safetensors\")"
  eval "new_$f=\$(sum \"\$T/new/resnet50-$f.safetensors\")"
done
check "the second epoch changes the last checkpoint" [ "$old_last" != "$new_last" ]

# Each trial resumes the old state for its second epoch and is killed once a checkpoint write has
# begun (a temporary file appears), after a further random 0-299 ms.
during=0
for i in $(seq 1 "$TRIALS"); do
  d="$T/t$i"
  cp -r "$T/old" "$d"
  "$BIN" "${TRAIN[@]}" --epochs 2 --out "$d" --resume "$d/resnet50-last.safetensors" > "$d.out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && ! compgen -G "$d/*.tmp.*" >/dev/null; do sleep 0.01; done
  ms_sleep "$(rnd_ms 300)"
  compgen -G "$d/*.tmp.*" >/dev/null && during=$((during+1))
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  b=$(sum "$d/resnet50-best.safetensors"); l=$(sum "$d/resnet50-last.safetensors")
  echo "train trial $i: best $([ "$b" = "$new_best" ] && echo new || echo old/other)," \
       "last $([ "$l" = "$new_last" ] && echo new || echo old/other)"
  check "trial $i: best is the old or the new file" [ "$b" = "$old_best" -o "$b" = "$new_best" ]
  check "trial $i: last is the old or the new file" [ "$l" = "$old_last" -o "$l" = "$new_last" ]
  if [ "$l" = "$old_last" ]; then # the epoch was lost: resuming redoes it exactly
    "$BIN" "${TRAIN[@]}" --epochs 2 --out "$d" --resume "$d/resnet50-last.safetensors" > "$d.resume" 2>&1
    check "trial $i: --resume after the kill exits 0" [ $? -eq 0 ]
    check "trial $i: --resume ends with the uninterrupted run's files" \
      [ "$(sum "$d/resnet50-last.safetensors")" = "$new_last" -a "$(sum "$d/resnet50-best.safetensors")" = "$new_best" ]
    check "trial $i: the resumed run removed the killed run's temporary files" \
      [ -z "$(compgen -G "$d/*.tmp.*")" ]
  fi
  rm -rf "$d"
done
echo "train: $TRIALS trials killed, $during while a checkpoint was being written"
check "at least one train trial was killed while a checkpoint was being written ($during)" [ "$during" -gt 0 ]

# tune: a file from a finished run, then runs killed at random moments within the time one takes.
export RN50CL_CACHE_DIR="$T/cache"
TUNE=(tune --budget 1 --batch-size 8)
start=$(date +%s%N)
"$BIN" "${TUNE[@]}" > "$T/tune.out" 2>&1 || { cat "$T/tune.out"; exit 1; }
tune_ms=$(( ($(date +%s%N) - start) / 1000000 ))
tfile=$(ls "$T"/cache/tuning/*.txt)
for i in $(seq 1 $(( (TRIALS + 1) / 2 ))); do
  "$BIN" "${TUNE[@]}" > /dev/null 2>&1 &
  pid=$!
  ms_sleep "$(rnd_ms "$tune_ms")"
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  check "tune trial $i: the tuning file is complete" [ "$(tail -n1 "$tfile")" = "end" ]
  out=$("$BIN" info 2>&1)
  check "tune trial $i: the next start does not ignore the tuning file" [ $? -eq 0 -a -z "$(grep ignored <<<"$out")" ]
done
"$BIN" "${TUNE[@]}" > /dev/null 2>&1
check "a finished tune removed the killed runs' temporary files" [ -z "$(compgen -G "$T/cache/tuning/*.tmp.*")" ]

# kernel cache: starts killed at random moments while the programs are built and stored.
export RN50CL_CACHE_DIR="$T/kcache"
start=$(date +%s%N)
"$BIN" info > /dev/null 2>&1
info_ms=$(( ($(date +%s%N) - start) / 1000000 ))
for i in $(seq 1 $(( (TRIALS + 1) / 2 ))); do
  rm -rf "$T/kcache"
  "$BIN" info > /dev/null 2>&1 &
  pid=$!
  ms_sleep "$(rnd_ms "$info_ms")"
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  # a stray partial entry, as an older version or a full disk might leave one
  for f in "$T"/kcache/programs/*.bin; do [ -f "$f" ] && truncate -s $(( $(stat -c %s "$f") / 2 )) "$f" && break; done
  out=$("$BIN" info 2>&1)
  check "cache trial $i: the start after the kill succeeds" grep -q "^programs: " <<<"$out"
  out=$("$BIN" info 2>&1)
  check "cache trial $i: the start after that loads every program from the cache ($(grep programs: <<<"$out"))" \
    grep -qE "^programs: ([0-9]+) \(\1 from cache, 0 built\)" <<<"$out"
  check "cache trial $i: no temporary file is left in the cache" [ -z "$(compgen -G "$T/kcache/programs/*.tmp.*")" ]
done
echo "cli_kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
