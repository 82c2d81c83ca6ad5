#!/bin/sh
# Entry point of the mosquitto service: writes the password file from the
# environment, then runs Mosquitto in the foreground with the given config.
#   MQTT_INGEST_PASSWORD  password of the user `tracking-ingest` (required)
#   MQTT_DEVICES          device_id:password,device_id:password,... (may be empty)
# The file's path is the config's password_file. Passwords are hashed in
# place by `mosquitto_passwd -U`, never put on a command line.
set -eu
conf=${1:-/mosquitto/config/mosquitto.conf}
passwd=$(awk '$1 == "password_file" { print $2 }' "$conf")
: "${MQTT_INGEST_PASSWORD:?set MQTT_INGEST_PASSWORD}"

mkdir -p "$(dirname "$passwd")"
umask 077
tmp="$passwd.new"
printf 'tracking-ingest:%s\n' "$MQTT_INGEST_PASSWORD" > "$tmp"
old_ifs=$IFS
IFS=,
for entry in ${MQTT_DEVICES:-}; do
    case $entry in
        *:?*) printf '%s\n' "$entry" >> "$tmp" ;;
        "") ;;
        *) echo "start.sh: MQTT_DEVICES entry '${entry%%:*}' is not device_id:password" >&2; exit 2 ;;
    esac
done
IFS=$old_ifs
mosquitto_passwd -U "$tmp"
# Started as root, Mosquitto reads the file after dropping to its own user.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown mosquitto "$tmp"; fi
mv "$tmp" "$passwd"
exec mosquitto -c "$conf"
