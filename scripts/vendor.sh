#!/usr/bin/env bash
# Fetch the browser libraries chatapp serves (markdown-it, DOMPurify) and the one its browser tests
# inject (axe-core) from the npm registry with `npm pack`, check each tarball against the
# integrity pinned here, and copy the files and their licenses into the repository:
#   static/vendor/markdown-it/, static/vendor/dompurify/   served to the page (no CDN)
#   tests/vendor/axe-core/                                 accessibility checks in tests/test_ui_a11y.py
# static/vendor/MANIFEST and tests/vendor/MANIFEST record name, version, license and sha256 of every
# copied file; tests/test_vendor.py checks the committed files against them.
#
#   scripts/vendor.sh          fetch and (re)write the vendored files
#   scripts/vendor.sh --check  fetch into a temporary folder and fail if the committed files differ
#
# To upgrade: change a version and its integrity (npm view NAME@VERSION dist.integrity), run the
# script, run the tests, commit the files it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

# name version license integrity; a license with spaces is written with _ (sha512 of the tarball, as the registry publishes it)
PACKAGES=(
  "markdown-it 15.0.3 MIT sha512-+Az7Ojz3iRGu8KYMvJ6xVhvrxP3eE+vEtJX75Ow88XBpcQNV/0lGX5ZynIIBftREo4DC2jsveAMDaeltmm8QvQ=="
  "dompurify 3.5.0 (MPL-2.0_OR_Apache-2.0) sha512-LYC0ZkE8P1V42JsRYTwMdme/2ET8SpOc5AA2eOFjP/IadvRd2fwiT4TVz5vkfy0XUx12aS2UaRkTnfVPNOv9vw=="
  "axe-core 4.14.1 MPL-2.0 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
# markdown-it's browser build bundles these (name version license); only their license texts are copied.
MARKDOWN_IT_BUNDLED=(
  "entities 8.1.0 BSD-2-Clause"
  "linkify-it 6.1.0 MIT"
  "mdurl 2.1.0 MIT"
  "punycode.js 2.3.1 MIT"
  "uc.micro 3.0.0 MIT"
)

check=false
[ "${1:-}" = "--check" ] && check=true
command -v npm >/dev/null || { echo "vendor.sh: npm is needed (apt-get install npm)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"
if $check; then root="$out"; else root="."; fi
mkdir -p "$work/packs"

fetch() {  # fetch NAME@VERSION [INTEGRITY] -> unpacked folder on stdout
  local spec=$1 integrity=${2:-} tarball dir
  tarball=$(cd "$work/packs" && npm pack --silent "$spec" | tail -n 1)
  if [ -n "$integrity" ]; then
    local actual="sha512-$(openssl dgst -sha512 -binary "$work/packs/$tarball" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
      echo "vendor.sh: $spec does not match its pinned integrity" >&2
      echo "  expected $integrity" >&2
      echo "  got      $actual" >&2
      exit 1
    fi
  fi
  dir="$work/unpacked/${spec//\//_}"
  mkdir -p "$dir"
  tar xzf "$work/packs/$tarball" -C "$dir"
  echo "$dir/package"
}

static_manifest=()
tests_manifest=()
record() {  # record FILE NAME VERSION LICENSE: one MANIFEST line
  local hash line
  hash=$(sha256sum "$1" | cut -d' ' -f1)
  line="$2 $3 ${4//_/ } $hash ${1#"$root"/}"
  case $1 in
    "$root"/tests/*) tests_manifest+=("$line") ;;
    *) static_manifest+=("$line") ;;
  esac
}

for entry in "${PACKAGES[@]}"; do
  read -r name version license integrity <<<"$entry"
  package=$(fetch "$name@$version" "$integrity")
  case $name in
    markdown-it)
      target="$root/static/vendor/markdown-it"
      rm -rf "$target" && mkdir -p "$target/licenses"
      cp "$package/dist/browser/markdown-it.umd.min.js" "$target/markdown-it.min.js"
      cp "$package/LICENSE" "$target/LICENSE"
      record "$target/markdown-it.min.js" "$name" "$version" "$license"
      record "$target/LICENSE" "$name" "$version" "$license"
      for bundled in "${MARKDOWN_IT_BUNDLED[@]}"; do
        read -r dependency_name dependency_version dependency_license <<<"$bundled"
        dependency=$(fetch "$dependency_name@$dependency_version")
        file="$target/licenses/$dependency_name.LICENSE"
        cp "$(ls "$dependency"/LICENSE* | head -n 1)" "$file"
        record "$file" "$dependency_name" "$dependency_version" "$dependency_license"
      done
      ;;
    dompurify)
      target="$root/static/vendor/dompurify"
      rm -rf "$target" && mkdir -p "$target"
      cp "$package/dist/purify.min.js" "$target/purify.min.js"
      cp "$package/LICENSE" "$target/LICENSE"
      record "$target/purify.min.js" "$name" "$version" "$license"
      record "$target/LICENSE" "$name" "$version" "$license"
      ;;
    axe-core)
      target="$root/tests/vendor/axe-core"
      rm -rf "$target" && mkdir -p "$target"
      cp "$package/axe.min.js" "$target/axe.min.js"
      cp "$package/LICENSE" "$target/LICENSE"
      record "$target/axe.min.js" "$name" "$version" "$license"
      record "$target/LICENSE" "$name" "$version" "$license"
      ;;
  esac
done

header="# Written by scripts/vendor.sh: package version license sha256 path (from the repository root)"
{ echo "$header"; printf '%s\n' "${static_manifest[@]}"; } >"$root/static/vendor/MANIFEST"
{ echo "$header"; printf '%s\n' "${tests_manifest[@]}"; } >"$root/tests/vendor/MANIFEST"

if $check; then
  status=0
  for folder in static/vendor tests/vendor; do
    diff -r "$out/$folder" "$folder" || status=1
  done
  if [ $status -ne 0 ]; then
    echo "vendor.sh --check: the committed files differ from the registry's; run scripts/vendor.sh" >&2
    exit 1
  fi
  echo "vendor.sh --check: the vendored files match the pinned packages"
else
  echo "vendor.sh: wrote static/vendor/ and tests/vendor/ (see their MANIFEST files)"
fi
