#!/usr/bin/env bash
# Real-terminal test of the live UI: runs `STAMPEDE run SCENARIO [ARGS...]`
# in a detached tmux pane (120x40), waits for the Overview to show a non-zero
# RPS, presses `q`, waits for the process to exit, then checks that the
# end-of-test summary was printed and that the terminal left the alternate
# screen.
#
# Usage: crates/tui/tests/tmux.sh STAMPEDE_BIN SCENARIO [ARGS for `stampede run`...]
# Env:   TUI_TEST_TIMEOUT  seconds to wait for load, and again for the exit (default 60)
#        TUI_TEST_SUMMARY  text the summary must contain (default "TOTAL RESULTS")
# Needs: tmux (Debian: apt-get install tmux). Exits 0 on success, 1 on failure.
set -euo pipefail

fail() {
  echo "tmux.sh: FAIL: $*" >&2
  exit 1
}

[[ $# -ge 2 ]] || fail "usage: $0 STAMPEDE_BIN SCENARIO [ARGS for 'stampede run'...]"
bin=$1
scenario=$2
shift 2
timeout=${TUI_TEST_TIMEOUT:-60}
summary=${TUI_TEST_SUMMARY:-TOTAL RESULTS}

command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (Debian: apt-get install tmux)"
[[ -x $bin ]] || fail "$bin is not an executable (build it first: cargo build -p stampede)"
[[ -f $scenario ]] || fail "scenario file $scenario does not exist"
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac

# A private tmux server: nothing of the user's sessions is touched, and
# killing it at exit ends the pane's process if the test gave up on it.
socket="stampede-tui-test-$$"
t() { tmux -L "$socket" -f /dev/null "$@"; }
cleanup() { t kill-server >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The pane must outlive the process (remain-on-exit) so its last screen, its
# exit status and its alternate-screen flag can be read: start a shell, set
# the option, then replace the shell with the run.
t new-session -d -s ui -x 120 -y 40 "sleep 600"
t set-option -g remain-on-exit on
t set-option -g history-limit 10000
t resize-window -t ui -x 120 -y 40 >/dev/null 2>&1 || true
t respawn-pane -k -t ui -c "$PWD" -- env TERM=xterm-256color "$bin" run "$scenario" "$@"

pane() { t capture-pane -p -t ui; }
pane_all() { t capture-pane -p -J -S - -E - -t ui; }
dead() { [[ $(t display -p -t ui '#{pane_dead}') == 1 ]]; }
status() { t display -p -t ui '#{pane_dead_status}'; }
show() {
  echo "---- $1 ----" >&2
  "$2" >&2 || true
  echo "---- end ----" >&2
}

# 1. The Overview shows load: a header with the view tabs and an RPS figure
#    other than zero.
deadline=$((SECONDS + timeout))
rps=""
while :; do
  screen=$(pane)
  if grep -q "1 Overview" <<<"$screen"; then
    rps=$(grep -oE 'RPS [0-9]+(\.[0-9]+)?[kM]?' <<<"$screen" | head -n1 || true)
    [[ $rps =~ [1-9] ]] && break
  fi
  if dead; then
    show "pane after the process exited" pane_all
    fail "stampede exited (status $(status)) before the live UI showed a non-zero RPS"
  fi
  if ((SECONDS >= deadline)); then
    show "pane after ${timeout}s" pane
    fail "no Overview with a non-zero RPS within ${timeout}s (last seen: '${rps:-no RPS figure}')"
  fi
  sleep 0.5
done
echo "tmux.sh: the Overview shows load ($rps)"
[[ $(t display -p -t ui '#{alternate_on}') == 1 ]] || fail "the UI is drawn but not on the alternate screen"

# 2. `q` asks for a graceful stop; the header says so while the run drains.
t send-keys -t ui q
deadline=$((SECONDS + timeout))
saw_stopping=no
while ! dead; do
  if [[ $saw_stopping == no ]] && pane | grep -q "STOPPING"; then
    saw_stopping=yes
  fi
  if ((SECONDS >= deadline)); then
    show "pane ${timeout}s after q" pane
    fail "stampede still runs ${timeout}s after 'q'"
  fi
  sleep 0.2
done
echo "tmux.sh: stampede exited with status $(status) after q (header showed STOPPING: $saw_stopping)"

# 3. The terminal is back to normal and the summary is on it.
alt=$(t display -p -t ui '#{alternate_on}')
if [[ $alt != 0 ]]; then
  show "pane" pane_all
  fail "the terminal was left on the alternate screen (alternate_on=$alt)"
fi
if ! pane_all | grep -qF "$summary"; then
  show "pane" pane_all
  fail "the summary ('$summary') is not on the terminal after the UI closed"
fi
if pane_all | grep -q "1 Overview│"; then
  show "pane" pane_all
  fail "UI frames were drawn on the normal screen"
fi
echo "tmux.sh: ok: the terminal was restored and shows '$summary'"
