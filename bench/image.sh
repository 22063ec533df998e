# Sourced by bench/compose-test.sh and bench/swarm-test.sh: the static binary (built outside docker:
# no image can be pulled here, so there is no rust image to build in) and the FROM-scratch image
# surge:local from a staged context holding only what the Dockerfile copies.
#
#   build_surge_image NAME     # sets $bin; SURGE_BIN=path skips the build; NAME prefixes messages
build_surge_image() {
  local who="$1" triple=x86_64-unknown-linux-gnu
  local target_dir="${CARGO_TARGET_DIR:-$repo/target}"
  if [ -n "${SURGE_BIN:-}" ]; then
    bin="$SURGE_BIN"
    printf '%s: using the static binary %s (SURGE_BIN)\n' "$who" "$bin"
  else
    printf '%s: building the static binary\n' "$who"
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$triple" -p surge-cli
    bin="$target_dir/$triple/release/surge"
  fi
  if readelf -d "$bin" 2>/dev/null | grep -q NEEDED; then
    printf '%s: FAILED: %s is dynamically linked\n' "$who" "$bin"
    return 1
  fi
  local ctx
  ctx="$(mktemp -d)"
  mkdir -p "$ctx/target/$triple/release" "$ctx/deploy/docker"
  cp "$bin" "$ctx/target/$triple/release/surge"
  cp -r "$repo/profiles" "$ctx/profiles"
  cp -r "$repo/deploy/docker/etc" "$ctx/deploy/docker/etc"
  cp "$repo/Dockerfile" "$ctx/Dockerfile"
  printf '%s: building image surge:local\n' "$who"
  local rc=0
  docker build --quiet -t surge:local "$ctx" >/dev/null || rc=$?
  rm -rf "$ctx"
  return $rc
}
