#!/bin/sh
# Buildroot post-build: the same /init as the offline builder (images/init.sh is the single source).
# The kernel fragment builds every driver in, so /etc/cocos/modules stays empty and /init loads none.
set -eu
TARGET_DIR="$1"
install -m 0755 "$BR2_EXTERNAL_COCOS_BUN_PATH/../init.sh" "$TARGET_DIR/init"
: > "$TARGET_DIR/etc/cocos/modules"
mkdir -p "$TARGET_DIR/cocos" "$TARGET_DIR/root"
