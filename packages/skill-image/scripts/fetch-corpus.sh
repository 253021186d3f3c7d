#!/usr/bin/env bash
# Fetches the calibration corpus of real pictures (not committed) from public Debian packages:
#   opencv-doc       examples/data/*.jpg|png      photographs, illustrations, scans (some with alpha)
#   python3-skimage  skimage/data/*.png|jpg|gif   photographs and test pictures
#   desktop-base     Debian logos, emblem, plymouth artwork with transparency (content in alpha, black/colour)
#   plymouth-themes  "glow" theme frames: white colour channels, the content lives only in alpha
# Usage: scripts/fetch-corpus.sh [DIR]   (default: $SKILL_IMAGE_CORPUS or ~/.cache/sarai/skill-image-corpus)
# Needs apt-get (Debian package lists; runs `apt-get update` once if a download fails) and dpkg-deb.
# Idempotent: does nothing when DIR/manifest.txt exists.
set -euo pipefail

DIR="${1:-${SKILL_IMAGE_CORPUS:-$HOME/.cache/sarai/skill-image-corpus}}"
if [[ -f "$DIR/manifest.txt" ]]; then
  echo "corpus: $DIR already fetched ($(wc -l <"$DIR/manifest.txt") pictures)" >&2
  exit 0
fi
PACKAGES=(opencv-doc python3-skimage desktop-base plymouth-themes)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "${PACKAGES[@]}" >/dev/null 2>"$work/apt.err"; then
  echo "corpus: apt-get download failed, running apt-get update once" >&2
  apt-get update >/dev/null
  apt-get download "${PACKAGES[@]}" >/dev/null
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" x; done

mkdir -p "$DIR.tmp"
rm -f "$DIR.tmp"/*
take() { # take PREFIX FILE...  (named PREFIX-<parent dir>-<file name>: several themes ship a debian.png)
  local prefix="$1"
  shift
  for f in "$@"; do
    [[ -f "$f" ]] || { echo "corpus: missing $f" >&2; exit 1; }
    cp "$f" "$DIR.tmp/$prefix-$(basename "$(dirname "$f")")-$(basename "$f")"
  done
}
shopt -s nullglob
take opencv x/usr/share/doc/opencv-doc/examples/data/*.{jpg,png}
take skimage x/usr/lib/python3/dist-packages/skimage/data/*.{png,jpg,gif}
P=x/usr/share/plymouth/themes
take desktop-base \
  x/usr/share/icons/desktop-base/256x256/emblems/emblem-debian-symbolic.png \
  x/usr/share/desktop-base/debian-logos/logo-text-256.png \
  x/usr/share/desktop-base/debian-logos/logo-256.png \
  $P/spacefun/earth0.png $P/spacefun/earth1.png $P/spacefun/earth2.png $P/spacefun/earth3.png \
  $P/spacefun/planet.png $P/spacefun/logo.png $P/spacefun/swirlaxy.png \
  $P/moonlight/debian.png $P/moonlight/glow.png $P/lines/debian.png $P/emerald/logo+emerald.png
take plymouth-glow \
  $P/glow/progress-13.png $P/glow/progress-18.png $P/glow/progress-23.png $P/glow/progress-28.png \
  $P/glow/progress-32.png $P/glow/throbber-00.png $P/glow/throbber-01.png $P/glow/throbber-02.png \
  $P/glow/throbber-03.png $P/glow/throbber-04.png

# Exact byte duplicates shipped twice are one picture.
(cd "$DIR.tmp" && sha256sum -- * | sort | awk 'seen[$1]++ { print $2 }' | xargs -r rm --)
for deb in ./*.deb; do dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"; done >"$DIR.tmp/SOURCES.txt"
(cd "$DIR.tmp" && ls -1 | grep -v -e '^SOURCES.txt$' >manifest.txt)
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
mv "$DIR.tmp" "$DIR"
echo "corpus: $(wc -l <"$DIR/manifest.txt") pictures in $DIR (from $(paste -sd, "$DIR/SOURCES.txt"))" >&2
