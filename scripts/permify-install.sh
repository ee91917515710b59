#!/usr/bin/env bash
# Builds Permify from its Go module into .tools/bin/permify, skipping the build when that version is there.
#
# `go install github.com/Permify/permify/cmd/permify@v1.7.3` is the plain form, but it first asks the module
# proxy for the module's version list (to look for a deprecation notice), and some proxies refuse that
# listing. Building from a throwaway module that requires the exact version needs no listing and gives the
# same binary, verified by go.sum against the checksum database.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${PERMIFY_VERSION:-v1.7.3}"
bin_dir="$PWD/.tools/bin"
stamp="$bin_dir/permify.version"

if [[ -x "$bin_dir/permify" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "permify $version is already in .tools/bin"
  exit 0
fi
command -v go >/dev/null || { echo "permify:install needs Go (https://go.dev/dl/)" >&2; exit 1; }

mkdir -p "$bin_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building permify $version from github.com/Permify/permify (a few minutes the first time)"
cd "$work"
go mod init clearance.local/permify-build >/dev/null 2>&1
cat > tools.go <<GO
//go:build tools

package tools

import _ "github.com/Permify/permify/cmd/permify"
GO
go mod edit -require="github.com/Permify/permify@$version"
go mod tidy
GOBIN="$bin_dir" go install github.com/Permify/permify/cmd/permify
echo "$version" > "$stamp"
echo "permify $version installed at .tools/bin/permify"
