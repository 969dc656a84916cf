#!/bin/sh
# Runs once inside `docker build` (as root). Installs Python when the base lacks it, a venv with
# the pinned test requirements, the runner, and a non-root user. pip trusts the CA bundle that
# `gcop sandbox build` copies from the host, where there is one.
set -eu
build=/opt/gcop/build
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv ca-certificates
    rm -rf /var/lib/apt/lists/*
fi
python3 -m venv /opt/gcop/venv
if [ -f "$build/ca-certificates.crt" ]; then
    export PIP_CERT="$build/ca-certificates.crt"
fi
[ -f "$build/pip.conf" ] && export PIP_CONFIG_FILE="$build/pip.conf"
/opt/gcop/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q \
    -r "$build/requirements.txt"
# A passwd entry (minbase images lack useradd) so tools that look the user up work.
grep -q '^sandbox:' /etc/passwd || echo 'sandbox:x:10001:10001:gcop sandbox:/work:/usr/sbin/nologin' >> /etc/passwd
grep -q '^sandbox:' /etc/group || echo 'sandbox:x:10001:' >> /etc/group
mkdir -p /work && chown 10001:10001 /work
rm -rf "$build"
