#!/bin/sh
# setup.sh: prepare a fresh Debian 12 machine, build onnxq, and run the main job.
#
#   ./setup.sh            install packages, bootstrap, configure, build, run the demo
#   ./setup.sh --no-run   the same without the demo
#   ./setup.sh --no-apt   skip the package installation (packages already there)
#
# Any extra arguments after "--" go to ./configure.
set -eu

run_demo=yes
use_apt=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --no-run) run_demo=no ;;
        --no-apt) use_apt=no ;;
        --) shift; break ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "$0")"

[ "$use_apt" = no ] || sh scripts/install-deps.sh

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure "$@"
make -j"$(nproc)"

if [ "$run_demo" = yes ]; then
    sh scripts/demo.sh
fi
