# Sourced by the tests/cli_*.sh scripts (not a test itself: ctest runs only cli_*.sh): the pass and
# fail counters with ok/bad/check/expect, and test_tmpdir, the test's temporary folder.
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
# check DESCRIPTION command...: passes when the command succeeds
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
# expect RC PATTERN DESCRIPTION -- command...: passes when the command exits RC and its output
# (stdout and stderr) matches the extended regular expression PATTERN, case-insensitively
expect() {
  local rc=$1 pat=$2 what=$3; shift 4
  local out; out=$("$@" 2>&1); local got=$?
  if [ "$got" -eq "$rc" ] && grep -qziE -- "$pat" <<<"$out"; then ok; else bad "$what (rc $got, want $rc; output: ${out:0:400})"; fi
}
# test_tmpdir NAME: a new folder $T under $RN50CL_TEST_TMP (or /tmp), removed on exit. Exits the
# test when it cannot be made: an empty $T would put every path below it under /.
test_tmpdir() {
  mkdir -p "${RN50CL_TEST_TMP:-/tmp}"
  T=$(mktemp -d "${RN50CL_TEST_TMP:-/tmp}/$1.XXXXXX") || exit 1
  trap 'rm -rf "$T"' EXIT
}
