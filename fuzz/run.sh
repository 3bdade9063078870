#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each; SECONDS_PER_TARGET=N to
# change), starting from the seed corpus in fuzz/corpus/<target>. Needs the nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash stops the run and leaves
# its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
per_target="${SECONDS_PER_TARGET:-60}"
for target in dns_respond config_parse admin_request; do
  echo "== $target: ${per_target}s"
  # A copy of the seeds, so a run's findings do not pile up in the repository.
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp -r "corpus/$target/." "$work/"
  cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$per_target" -print_final_stats=1
  rm -rf "$work"
  trap - EXIT
done
