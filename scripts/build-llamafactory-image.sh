#!/usr/bin/env bash
# Builds the CPU image of the real trainer, flux-train/llamafactory-cpu:0.9.5, with no container registry:
# Debian trixie (whose python3-torch 2.6.0 is built without CUDA, so no CUDA wheel is pulled in) made by
# mmdebstrap, LLaMA-Factory from PyPI in a venv on top, piped into `docker import`.
#   usage: scripts/build-llamafactory-image.sh [--force]
# Pins: docker/llamafactory/requirements.txt (Python, the one list the CUDA Dockerfile reads too) and
# docker/llamafactory/debian-packages.txt (Debian). What was installed is recorded in
# docker/llamafactory/debian-installed.lock and pip-freeze.lock; a difference is printed after a build.
# Cached twice over: the image is labelled with a hash of its recipe and a build is skipped when a present
# image has that label; else `docker save | zstd` in ~/.cache/flux-train is loaded (~30 s, vs ~4-5 min).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=flux-train/llamafactory-cpu:0.9.5
SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DIR=docker/llamafactory
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/flux-train
FORCE=0
[ "${1:-}" = --force ] && FORCE=1
log() { echo "build-llamafactory-image: $*" >&2; }

pins() { grep -vE '^\s*(#|$)' "$1"; }
# the recipe: what goes into the image; its hash labels the image and names the saved archive
recipe=$( { cat "$0"; pins "$DIR/requirements.txt"; pins "$DIR/debian-packages.txt"; } | sha256sum | cut -c1-16)
archive=$CACHE/llamafactory-cpu-0.9.5-$recipe.tar.zst
label() { docker image inspect -f '{{index .Config.Labels "flux-train.recipe"}}' "$IMAGE" 2>/dev/null || true; }

if [ $FORCE = 0 ] && [ "$(label)" = "$recipe" ]; then
  log "$IMAGE is present (recipe $recipe)"; exit 0
fi
if [ $FORCE = 0 ] && [ -s "$archive" ]; then
  t0=$SECONDS
  zstd -dc "$archive" | docker load -q >/dev/null
  if [ "$(label)" = "$recipe" ]; then log "$IMAGE loaded from $archive in $((SECONDS - t0)) s"; exit 0; fi
  log "$archive did not hold recipe $recipe; building"
fi

# what the build needs on a fresh (Debian) machine
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v zstd >/dev/null || need+=(zstd)
[ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# pip inside the chroot must trust what the host trusts (HTTPS may be re-signed by a CA only the host's
# Debian bundle knows); the bundle is copied in for the pip step only and removed before the image is taken
HOST_CA=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$HOST_CA" ] || { log "no CA bundle at $HOST_CA (apt-get install ca-certificates, or set HOST_CA_BUNDLE)"; exit 4; }

t0=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$HOST_CA" "$work/host-ca.crt"
pins "$DIR/requirements.txt" > "$work/requirements.txt"
include=$(pins "$DIR/debian-packages.txt" | paste -sd, -)
# every chroot command runs under env -i: the host's REQUESTS_CA_BUNDLE, SSL_CERT_FILE, PIP_* etc. name
# files and settings that do not exist inside
CENV='env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root'
log "building $IMAGE (recipe $recipe): mmdebstrap $SUITE + pip, takes ~4-5 min"
mmdebstrap --variant=apt --quiet --mode=root --include="$include" \
  --customize-hook="cp '$work/host-ca.crt' \"\$1/tmp/host-ca.crt\"; cp '$work/requirements.txt' \"\$1/tmp/requirements.txt\"" \
  --customize-hook="chroot \"\$1\" $CENV python3 -m venv --system-site-packages /opt/lf" \
  --customize-hook="chroot \"\$1\" $CENV /opt/lf/bin/pip install -q --no-cache-dir --disable-pip-version-check --cert /tmp/host-ca.crt -r /tmp/requirements.txt" \
  --customize-hook="chroot \"\$1\" $CENV /opt/lf/bin/llamafactory-cli version >/dev/null" \
  --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}=\${Version}\n' > '$work/debian-installed.lock'" \
  --customize-hook="chroot \"\$1\" $CENV /opt/lf/bin/pip freeze --all > '$work/pip-freeze.lock'" \
  --customize-hook="rm -f \"\$1/tmp/host-ca.crt\" \"\$1/tmp/requirements.txt\"; rm -rf \"\$1/root/.cache\"" \
  --customize-hook="install -d -m 1777 \"\$1/home/flux\"" \
  "$SUITE" - "$MIRROR" \
  | docker import \
      --change 'ENV PATH=/opt/lf/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV HOME=/home/flux' \
      --change 'ENV USER=flux' \
      --change 'ENV HF_HUB_OFFLINE=1' \
      --change 'WORKDIR /home/flux' \
      --change "LABEL flux-train.recipe=$recipe" \
      --change 'CMD ["/bin/bash"]' \
      - "$IMAGE-building" >/dev/null
# tagged only once the whole pipe succeeded: a half-built image must never carry the recipe's label
docker tag "$IMAGE-building" "$IMAGE" && docker rmi -f "$IMAGE-building" >/dev/null
log "built $IMAGE in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}'))"

# a Debian point release or a new PyPI upload shows up here as a diff against the committed record
for f in debian-installed.lock pip-freeze.lock; do
  sort "$work/$f" > "$work/$f.sorted"
  if [ -f "$DIR/$f" ] && ! diff -u "$DIR/$f" "$work/$f.sorted" > "$work/$f.diff"; then
    log "installed versions differ from $DIR/$f (check, then commit the new list):"; cat "$work/$f.diff" >&2
  fi
  cp "$work/$f.sorted" "$DIR/$f"
done

mkdir -p "$CACHE"
rm -f "$CACHE"/llamafactory-cpu-0.9.5-*.tar.zst
t1=$SECONDS
docker save "$IMAGE" | zstd -q -T0 -3 -o "$archive.tmp" && mv "$archive.tmp" "$archive"
log "saved to $archive in $((SECONDS - t1)) s ($(du -h "$archive" | cut -f1))"
