#!/usr/bin/env bash
# Runs every test project and ends with one line: "N passed, N failed[, N skipped]".
# Installs the real clients the integration tests drive when they are missing (with CI=true a tool that is
# still missing fails those tests instead of skipping them).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/install-test-tools.sh ]; then
  scripts/install-test-tools.sh || { [ "${CI:-}" = "true" ] && { echo "installing test tools failed"; echo "0 passed, 1 failed"; exit 1; }; }
fi

configuration=${CONFIGURATION:-Release}
if ! dotnet build Blkmq.slnx -c "$configuration" -nologo -v quiet; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

results=$(mktemp -d)
status=0

# The checks in an emulated guest (the kernel's NBD client, ublk) need one CPU of this 2-core machine for about six
# minutes, so they run in the background, after Coyote, while fuzzing and crash consistency use the other CPU; their
# output follows those. The CLI they run is published once for both (BLKMQ_GUEST_PUB). The kvm-guest folder is found as
# the checks find it: KVM_GUEST_DIR, else ../shared/kvm-guest beside the checkout, else /work/shared/kvm-guest.
# (Publishing beside the test projects and running Coyote beside the guest was tried: each slowed the other, and
# the run took longer.)
guest_dir=${KVM_GUEST_DIR:-../shared/kvm-guest}
[ -n "${KVM_GUEST_DIR:-}" ] || [ -x "$guest_dir/run-in-guest.sh" ] || guest_dir=/work/shared/kvm-guest
[ -x "$guest_dir/run-in-guest.sh" ] || guest_dir=
guest_wanted=
[ "$guest_dir" ] && { [ "${BLKMQ_SKIP_KERNEL_NBD:-}" != 1 ] || [ "${BLKMQ_SKIP_UBLK:-}" != 1 ]; } && guest_wanted=1
guest_tmp=$(mktemp -d)

for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  dll="tests/$name/bin/$configuration/net10.0/$name.dll"
  echo "== $name"
  # xunit v3 test projects are executables with an in-process runner; -result-xml gives the counts to sum.
  # -longRunning names any test still running after 120 s, so that a hang in CI says where it is.
  timeout 900 dotnet "$dll" -result-xml "$results/$name.xml" -noColor -longRunning 120 || status=1
done

# Systematic concurrency testing: Coyote rewrites the core and the concurrency tests, then explores
# interleavings of End, End and the timeout scan (the plain run above skips that test).
export PATH="$PATH:$HOME/.dotnet/tools"
if ! command -v coyote >/dev/null 2>&1; then
  dotnet tool install --global Microsoft.Coyote.CLI >/dev/null 2>&1 || true
fi
if command -v coyote >/dev/null 2>&1; then
  echo "== Blkmq.Concurrency.Tests (Coyote)"
  (cd tests/Blkmq.Concurrency.Tests \
    && dotnet build -nologo -v quiet \
    && DOTNET_ROLL_FORWARD=Major coyote rewrite coyote-rewrite.json >/dev/null \
    && timeout 600 dotnet bin/Debug/net10.0/coyote/Blkmq.Concurrency.Tests.dll -class 'Blkmq.Concurrency.Tests.CoyoteEndRaceTests' -result-xml "$results/coyote.xml" -noColor) || status=1
elif [ "${CI:-}" = "true" ]; then
  echo "coyote (dotnet tool Microsoft.Coyote.CLI) is missing and could not be installed"
  status=1
fi

# guest_check NAME SKIP_VARIABLE COMMAND...: runs one check in the guest (exit 0 passed, 2 no kvm-guest folder, else
# failed; skipped when SKIP_VARIABLE is 1) and records it as the one-test assembly NAME.
guest_check() {
  local name=$1 skip=$2 passed=0 failed=0 skipped=0
  shift 2
  if [ "${!skip:-}" = 1 ]; then
    echo "skipped ($skip=1)"
    skipped=1
  else
    "$@"
    case $? in
      0) passed=1 ;;
      2) echo "skipped: no kvm-guest folder"; skipped=1 ;;
      *) failed=1 ;;
    esac
  fi
  printf '<assemblies><assembly name="%s" passed="%s" failed="%s" skipped="%s"/></assemblies>\n' "$name" "$passed" "$failed" "$skipped" >"$results/$name.xml"
}

guest_checks() {
  # The kernel's own NBD client (a real /dev/nbd0 with ext4) against blkmq serve, in a throwaway QEMU guest
  # (scripts/kernel-nbd-check.sh, about a minute). It needs the kvm-guest folder beside the checkout
  # (../shared/kvm-guest, or KVM_GUEST_DIR): the machine's own kernel has no nbd module. Without it, or with
  # BLKMQ_SKIP_KERNEL_NBD=1, the check counts as skipped.
  echo "== kernel NBD client (scripts/kernel-nbd-check.sh)"
  guest_check kernel-nbd-check BLKMQ_SKIP_KERNEL_NBD scripts/kernel-nbd-check.sh

  # The ublk front end (a real /dev/ublkbN with ext4, fio verify, discard, SIGKILL, recovery, both copy modes, zoned,
  # unprivileged) in another such guest (scripts/ublk-check.sh, 4-10 minutes under TCG). Here the main checks (ext4, fio
  # verify, discard) run with USER_COPY only; recovery runs in both copy modes (UBLK_CHECK_ONLY= runs every section).
  # Skipped without the kvm-guest folder or with BLKMQ_SKIP_UBLK=1.
  echo "== ublk front end (scripts/ublk-check.sh)"
  guest_check ublk-check BLKMQ_SKIP_UBLK \
    env UBLK_CHECK_ONLY="${UBLK_CHECK_ONLY-kill recovery-on main-on recovery-off zoned unprivileged}" scripts/ublk-check.sh
}
{
  if [ "$guest_wanted" ]; then
    echo "== publishing the CLI for the guest (scripts/publish-guest-cli.sh)"
    # On failure each check publishes again, and fails with the log's end.
    scripts/publish-guest-cli.sh "$guest_tmp/pub" && export BLKMQ_GUEST_PUB=$guest_tmp/pub
  fi
  guest_checks
} >"$guest_tmp/log" 2>&1 &
guest_pid=$!
# Beside the guest, fuzzing and crash consistency run under nice 19 (the guest's QEMU runs under nice 10): the guest,
# one emulated CPU, is the longer path, and its timed steps should not wait for them.
fuzz_jobs=3
side=()
if [ "$guest_wanted" ]; then
  fuzz_jobs=1
  side=(nice -n 19)
  echo "== kernel NBD client and ublk front end: in an emulated guest, in the background (output after crash consistency)"
fi

# Fuzzing (scripts/fuzz.sh, docs/fuzzing.md): every parser's harness under afl-fuzz from its seed corpus for
# BLKMQ_FUZZ_SECONDS each (default 60, the "about a minute" of issue 15; 0 skips the step): one at a time on the CPU
# the guest leaves (six minutes), else three at a time on both (two minutes, two thirds of a CPU each). A crash or a
# hang counts as a failed test.
echo "== fuzz (scripts/fuzz.sh)"
if [ "${BLKMQ_FUZZ_SECONDS:-60}" = 0 ]; then
  echo "skipped (BLKMQ_FUZZ_SECONDS=0)"
  printf '<assemblies><assembly name="fuzz" passed="0" failed="0" skipped="1"/></assemblies>\n' >"$results/fuzz.xml"
else
  "${side[@]}" scripts/fuzz.sh --no-build -t "${BLKMQ_FUZZ_SECONDS:-60}" -j "$fuzz_jobs" --result-xml "$results/fuzz.xml"
  [ -f "$results/fuzz.xml" ] || status=1
fi

# Crash consistency (scripts/crashtest.sh, docs/crash-testing.md): ext4 and SQLite in WAL mode over memory|log-writes,
# through FUSE + loop, replayed at 24 flush points and the end, and one random crash state right after each (replay
# --crash): every state clean and every committed transaction present; then replay --broken must report an unclean
# point, and crash states of ext4 mounted with barrier=0 (no flushes) must be caught. Three results, about 50 s. Needs root, /dev/fuse, loop
# devices and e2fsprogs + sqlite3: skipped without them (failed with CI=true), or with BLKMQ_SKIP_CRASHTEST=1.
echo "== crash consistency (scripts/crashtest.sh)"
crash_result() {
  printf '<assemblies><assembly name="crashtest" passed="%s" failed="%s" skipped="%s"/></assemblies>\n' "$1" "$2" "$3" >"$results/crashtest.xml"
}
crash_missing=""
[ "$(id -u)" = 0 ] || crash_missing="root"
for need in /dev/fuse /dev/loop-control; do [ -e "$need" ] || crash_missing="$crash_missing $need"; done
for tool in losetup mount mkfs.ext4 e2fsck debugfs sqlite3; do command -v "$tool" >/dev/null || crash_missing="$crash_missing $tool"; done
if [ "${BLKMQ_SKIP_CRASHTEST:-}" = 1 ]; then
  echo "skipped (BLKMQ_SKIP_CRASHTEST=1)"
  crash_result 0 0 3
elif [ -n "$crash_missing" ]; then
  if [ "${CI:-}" = "true" ]; then echo "failed: needs${crash_missing}"; crash_result 0 3 0
  else echo "skipped: needs${crash_missing}"; crash_result 0 0 3; fi
else
  crash_cli="$PWD/src/Blkmq.Cli/bin/$configuration/net10.0/Blkmq.Cli.dll"
  crash_passed=0 crash_failed=0
  # (a) a correct replay: exit 0, every checked point and crash state clean.
  BLKMQ="$crash_cli" timeout 300 "${side[@]}" scripts/crashtest.sh --sqlite 10 --max-points 24 --explore 1
  if [ $? = 0 ]; then echo "correct replay: passed"; crash_passed=$((crash_passed + 1))
  else echo "correct replay: FAILED"; crash_failed=$((crash_failed + 1)); fi
  # (b) the checker can fail: with replay --broken it must exit 1 and name unclean points.
  crash_out=$(BLKMQ="$crash_cli" timeout 300 "${side[@]}" scripts/crashtest.sh --sqlite 10 --max-points 8 --broken 2>&1)
  crash_rc=$?
  echo "$crash_out"
  if [ "$crash_rc" = 1 ] && grep -q '^unclean: ' <<<"$crash_out"; then echo "broken replay caught: passed"; crash_passed=$((crash_passed + 1))
  else echo "broken replay caught: FAILED (exit $crash_rc)"; crash_failed=$((crash_failed + 1)); fi
  # (c) crash states can fail: ext4 mounted with barrier=0 sends no flush after mkfs, so a power cut may keep any
  # subset of its writes; among 8 such states at least one must be unclean.
  crash_out=$(BLKMQ="$crash_cli" timeout 300 "${side[@]}" scripts/crashtest.sh --sqlite 3 --explore 8 --mount-options barrier=0 2>&1)
  crash_rc=$?
  echo "$crash_out" | tail -4
  if [ "$crash_rc" = 1 ] && grep -q '^unclean: .* crash ' <<<"$crash_out"; then echo "barrier=0 caught by crash states: passed"; crash_passed=$((crash_passed + 1))
  else echo "barrier=0 caught by crash states: FAILED (exit $crash_rc)"; crash_failed=$((crash_failed + 1)); fi
  crash_result "$crash_passed" "$crash_failed" 0
fi

wait "$guest_pid"
cat "$guest_tmp/log"
rm -rf "$guest_tmp"

python3 - "$results" "$status" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
failures = []  # named again just above the summary line, so that the tail of a long log says what failed
for path in glob.glob(sys.argv[1] + "/*.xml"):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        failed += 1
        continue
    for test in root.iter("test"):
        if test.get("result") == "Fail":
            message = (test.findtext("failure/message") or "").strip().splitlines()
            failures.append(f"FAILED: {test.get('name')}" + (f": {message[0][:300]}" if message else ""))
    for assembly in root.iter("assembly"):
        passed += int(assembly.get("passed", 0))
        assembly_failed = int(assembly.get("failed", 0)) + int(assembly.get("errors", 0) or 0)
        failed += assembly_failed
        if assembly_failed and not any(test.get("result") == "Fail" for test in assembly.iter("test")):
            failures.append(f"FAILED: {assembly.get('name')}: {assembly_failed} (its FAIL lines are in its section above)")
        skipped += int(assembly.get("skipped", 0)) + int(assembly.get("not-run", 0) or 0)
if sys.argv[2] != "0" and failed == 0:
    failed = 1  # a runner crashed or timed out without reporting a failure
for failure in failures:
    print(failure)
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
PY
