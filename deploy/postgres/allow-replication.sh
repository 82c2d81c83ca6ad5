#!/bin/sh
# Run by the postgres image on its first start (docker-entrypoint-initdb.d):
# lets the scale profile's streaming replica (docker-compose.yml) connect for
# replication as the tracking user, with its password.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
