#!/usr/bin/env bash
# Real-photo corpus for the benchmarks, from Debian's wallpaper packages (not made here):
#
#   test/bench/photos.sh            # prints the photo folder (default ~/.cache/imageflight-bench/photos)
#   .venv/bin/python test/bench/peer_bench.py --photos "$(test/bench/photos.sh)"
#
# Fetches the .debs with `apt-get download` (no root, nothing installed), unpacks them with
# `dpkg -x` into $CACHE/extract and copies the photos into flat folders:
#
#   $CACHE/photos    29 JPEG photos, baseline and progressive, 1.3–17.9 MP:
#                    every JPEG of mate-backgrounds (16: nature photos, GreenTraditional,
#                    and the Elephants picture at 1920x1080, 3840x2160, 5640x3172), and the
#                    13 photographic 2560x1600 / 3200x2000 JPEGs of plasma-workspace-wallpapers
#                    (the package's 5K JPEGs are renders, its PNGs renders; left out)
#   $CACHE/mate-png  the 14 PNGs of mate-backgrounds (graphics, RGB/RGBA/gray+alpha, 1.1–2.8 MP):
#                    a PNG corpus, for `--photos` when PNG is the question
#
# gnome-backgrounds is WebP only (Spark's format("image") cannot read WebP), ubuntu-wallpapers
# is not in Debian. Idempotent: a second run only prints the folder. CACHE=dir overrides the
# cache location. Needs network access to a Debian mirror the first time.
set -euo pipefail

cache="${CACHE:-$HOME/.cache/imageflight-bench}"
photos="$cache/photos"
png="$cache/mate-png"
stamp="$cache/.photos-v1"
if [ -f "$stamp" ] && [ -d "$photos" ]; then
  echo "$photos"
  exit 0
fi

mkdir -p "$cache/debs" "$cache/extract"
pkgs=(mate-backgrounds plasma-workspace-wallpapers)
(
  cd "$cache/debs"
  for p in "${pkgs[@]}"; do
    if ! ls "$p"_*.deb >/dev/null 2>&1; then
      apt-get download "$p" >&2
    fi
  done
)
for p in "${pkgs[@]}"; do
  if [ ! -d "$cache/extract/$p" ]; then
    mkdir -p "$cache/extract/$p.tmp"
    dpkg -x "$cache/debs/$p"_*.deb "$cache/extract/$p.tmp"
    mv "$cache/extract/$p.tmp" "$cache/extract/$p"
  fi
done

rm -rf "$photos" "$png"
mkdir -p "$photos" "$png"
mate="$cache/extract/mate-backgrounds/usr/share/backgrounds/mate"
find "$mate" -type f -name '*.jpg' | sort | while read -r f; do
  cp "$f" "$photos/mate-$(basename "$(dirname "$f")")-$(basename "$f")"
done
find "$mate" -type f -name '*.png' | sort | while read -r f; do
  cp "$f" "$png/mate-$(basename "$(dirname "$f")")-$(basename "$f")"
done
plasma="$cache/extract/plasma-workspace-wallpapers/usr/share/wallpapers"
for n in Autumn BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite \
         OneStandsOut PastelHills Path summer_1am; do
  f=$(find "$plasma/$n/contents/images" -type f -name "*.jpg")  # the others are symlinks to it
  cp "$f" "$photos/plasma-$n-$(basename "$f")"
done

njpg=$(find "$photos" -type f | wc -l)
npng=$(find "$png" -type f | wc -l)
if [ "$njpg" -ne 29 ] || [ "$npng" -ne 14 ]; then
  echo "photos.sh: expected 29 JPEGs and 14 PNGs, got $njpg and $npng (package changed?)" >&2
  exit 1
fi
touch "$stamp"
echo "photos.sh: $njpg JPEG photos in $photos, $npng PNGs in $png" >&2
echo "$photos"
