#!/usr/bin/env bash
# Install the Debian packages listed in scripts/system-packages.txt, only those missing.
#
# Debian starts a packaged daemon (prometheus, alertmanager, node exporter) when it installs
# it. The tests run their own copies on free ports, so nothing here starts, stops or restarts a
# system service: while apt-get runs, a policy-rc.d that refuses every start is put in place
# (Debian's documented way to install without starting daemons), and removed afterwards, but
# only if this script created it. Services that were already there are left exactly as they are.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
policy="${GUARDIA_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' "$here/system-packages.txt")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by guardia scripts/install-system-deps.sh while it installs packages\nexit 101\n' \
      | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
