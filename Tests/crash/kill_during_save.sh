#!/usr/bin/env bash
# Crash safety of checkpoint saves: KILL_RUNS times (50), a process saves checkpoints A and B
# alternately over one that already exists and is SIGKILLed: in odd runs at a random moment,
# in even runs 0-3 ms after a save has created its temporary file (seen with inotify), so that
# many kills land inside a save, while it writes, syncs or renames. Afterwards every file must hold
# A or B exactly and load, never a broken mix, and saving again next to the temporary files the
# kills left must work. Usage: kill_during_save.sh PATH/TO/save-loop
set -uo pipefail
prog=${1:?usage: kill_during_save.sh PATH/TO/save-loop}
runs=${KILL_RUNS:-50}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
saves=0
# The shell reports each killed background job on stderr; those reports are noise here.
exec 3>&2 2>/dev/null
for i in $(seq 1 "$runs"); do
    mkdir "$dir/$i"
    "$prog" save "$dir/$i/model.safetensors" >"$dir/$i/log" 2>&1 &
    pid=$!
    # Wait until the first version exists (the process prints "ready" after saving it).
    for _ in $(seq 1 500); do grep -q ready "$dir/$i/log" 2>/dev/null && break; sleep 0.01; done
    grep -q ready "$dir/$i/log" || { echo "FAILED: run $i never got ready: $(cat "$dir/$i/log")"; exit 1; }
    if [ $((i % 2)) -eq 1 ]; then
        # A random moment within the next 0-99 ms: several saves, or the middle of one.
        sleep "0.0$(printf '%02d' $((RANDOM % 100)))"
    else
        # 0-3 ms after a save has created its temporary file.
        "$prog" kill-in-save "$dir/$i" "$pid" $((RANDOM % 3000)) || { echo "FAILED: run $i: no save seen"; exit 1; }
    fi
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    saves=$((saves + $(grep -c '^[0-9]' "$dir/$i/log")))
done
exec 2>&3
# A kill between creating the temporary file and renaming it leaves the temporary file.
interrupted=$(find "$dir" -name '.model.safetensors.tmp-*' | wc -l)
echo "$runs kills after $saves completed saves; $interrupted kills interrupted a save (temporary file left)"
"$prog" check "$dir"/*/model.safetensors || { echo "FAILED: a killed save left a broken checkpoint"; exit 1; }
[ "$interrupted" -gt 0 ] || { echo "FAILED: no kill landed inside a save, so the test proved nothing; rerun"; exit 1; }
echo "kill during save: ok"
