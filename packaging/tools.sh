#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Install (once) the tools the packaging and build checks in `make test` use:
# the shell linter (for the maintainer scripts), binutils and file (build.sh,
# check-cpu.sh), dpkg-dev. Run by make setup; cheap when all are there.
set -euo pipefail
. "$(dirname "$0")/../scripts/cross/lib.sh"
need_debs shellcheck binutils file dpkg-dev
