#!/bin/sh
# A Nagios-style plugin: state from $1 (ok|warning|critical|unknown|sleep), perfdata on the first
# line and more after a '|' in the long text, as the plugin guidelines allow.
case "$1" in
  ok) echo "QUEUE OK - 12 jobs | 'queue depth'=12;50;100;0; latency=250ms;;;0 size=2KB"; exit 0 ;;
  warning) echo "QUEUE WARNING - 70 jobs | 'queue depth'=70;50;100;0;"; echo "oldest job 3m"; echo "more text | age=180s"; exit 1 ;;
  critical) echo "QUEUE CRITICAL - 150 jobs | 'queue depth'=150;50;100;0;"; exit 2 ;;
  sleep) sleep 30; echo "never"; exit 0 ;;
  *) echo "QUEUE UNKNOWN - bad argument $1"; exit 3 ;;
esac
