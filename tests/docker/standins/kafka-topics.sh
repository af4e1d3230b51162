#!/bin/bash
# Healthcheck shim for the compose file's `kafka-topics.sh --list`: the broker
# accepts connections on :9092.
exec 3<>/dev/tcp/127.0.0.1/9092
