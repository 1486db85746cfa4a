#!/usr/bin/env bash
# Read an agency's LAPOR! feed with kcat: SASL/SCRAM-SHA-512 over TLS as the agency's user, in
# a consumer group of its own, committed records only (docs/agency-integration.md, "Clients").
#
#   LAPOR_KAFKA_BOOTSTRAP=broker:9093 LAPOR_KAFKA_SASL_PASSWORD=... LAPOR_KAFKA_SSL_CAFILE=ca.pem \
#     examples/kcat-feed.sh KEMENKES [kcat options, e.g. -e to exit at the end of the feed]
#
# Needs kcat linked with librdkafka 2.6.1 or later: older ones (Debian 12's kcat uses 2.0.2)
# fail every SCRAM login to a Kafka 4 broker with "Authentication failed during
# authentication due to invalid credentials" (librdkafka bug #4895, fixed in 2.6.1), whatever
# the password. The script refuses them up front, saying so.
#
# Environment (the names lapor-es's own clients use): LAPOR_KAFKA_BOOTSTRAP,
# LAPOR_KAFKA_SASL_USERNAME (default agency-CODE), LAPOR_KAFKA_SASL_PASSWORD,
# LAPOR_KAFKA_SSL_CAFILE (PEM of the CA to trust; unset: the system's), LAPOR_FEEDS_TOPIC_PREFIX
# (default lapor.agency.), KCAT (default kcat).
set -euo pipefail

agency="${1:?usage: kcat-feed.sh CODE [kcat options]}"
shift
kcat="${KCAT:-kcat}"

# "... librdkafka 2.0.2 builtin.features=..." on the first lines of `kcat -V`.
librdkafka="$("$kcat" -V 2>&1 | sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p' | head -n 1)"
[[ -n "$librdkafka" ]] || { echo "kcat-feed: cannot tell $kcat's librdkafka version" >&2; exit 2; }
oldest="$(printf '%s\n2.6.1\n' "$librdkafka" | sort -V | head -n 1)"
if [[ "$oldest" != 2.6.1 ]]; then
    echo "kcat-feed: $kcat uses librdkafka $librdkafka; SCRAM against Kafka 4 needs 2.6.1 or later" >&2
    exit 2
fi

: "${LAPOR_KAFKA_BOOTSTRAP:?set LAPOR_KAFKA_BOOTSTRAP}" "${LAPOR_KAFKA_SASL_PASSWORD:?set LAPOR_KAFKA_SASL_PASSWORD}"

# The client settings go in through -F from a pipe, not as -X arguments: the password would
# show in `ps` and in shell history.
config() {
    printf '%s\n' \
        "bootstrap.servers=$LAPOR_KAFKA_BOOTSTRAP" \
        security.protocol=SASL_SSL \
        sasl.mechanism=SCRAM-SHA-512 \
        "sasl.username=${LAPOR_KAFKA_SASL_USERNAME:-agency-$agency}" \
        "sasl.password=$LAPOR_KAFKA_SASL_PASSWORD" \
        isolation.level=read_committed \
        auto.offset.reset=earliest
    [[ -z "${LAPOR_KAFKA_SSL_CAFILE:-}" ]] || printf 'ssl.ca.location=%s\n' "$LAPOR_KAFKA_SSL_CAFILE"
}

# -G: a balanced consumer in the group CODE:kcat (the agency's user may use groups "CODE:*"),
# committing its offsets, so a second run goes on where the first stopped. -J: one JSON object
# per record (topic, partition, offset, key, headers, the value as a string).
exec "$kcat" -F <(config) -J "$@" -G "$agency:kcat" "${LAPOR_FEEDS_TOPIC_PREFIX:-lapor.agency.}$agency.v1"
