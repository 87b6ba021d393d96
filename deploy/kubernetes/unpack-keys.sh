#!/bin/sh
# Init container of the API and worker pods: unpacks the key directory (made by `ttp keys init`,
# archived as keys.tar in the Secret ttp-keys) into TTP_KEY_DIR, a folder it makes in the pod's
# in-memory volume. Files end up owned by this non-root user with mode 0600 (folders 0700): the
# service refuses a key file that anyone else can read, and a Secret volume cannot give that itself.
set -eu
archive="${KEYS_ARCHIVE:-/run/ttp-keys-archive/keys.tar}"
: "${TTP_KEY_DIR:?TTP_KEY_DIR must name the key directory}"
if [ ! -s "$archive" ]; then
  echo "unpack-keys: $archive is missing or empty: the Secret ttp-keys still holds the placeholder" \
       "(see deploy/README.md, 'Keys')" >&2
  exit 1
fi
umask 077
# A folder of our own (the volume's root belongs to root): a restarted init container starts afresh.
rm -rf "$TTP_KEY_DIR"
mkdir -p "$TTP_KEY_DIR"
tar -x --no-same-owner --no-same-permissions -f "$archive" -C "$TTP_KEY_DIR"
chmod 700 "$TTP_KEY_DIR"
if [ ! -f "$TTP_KEY_DIR/keyring.json" ]; then
  echo "unpack-keys: $archive has no keyring.json at its top; make it with: tar -C KEYDIR -cf keys.tar ." >&2
  exit 1
fi
echo "unpack-keys: key directory ready in $TTP_KEY_DIR" >&2
