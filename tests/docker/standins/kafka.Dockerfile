# Stand-in for apache/kafka: the Tansu broker (Kafka wire protocol), durable in
# SQLite under /var/lib/kafka/data. The tansu binary comes from the build context.
ARG BASE=authd-test/debian:bookworm
FROM ${BASE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sqlite3 \
 && rm -rf /var/lib/apt/lists/*
COPY tansu /usr/local/bin/tansu
COPY kafka-entrypoint.sh /usr/local/bin/kafka-entrypoint.sh
COPY kafka-topics.sh /opt/kafka/bin/kafka-topics.sh
VOLUME /var/lib/kafka/data
EXPOSE 9092
ENTRYPOINT ["kafka-entrypoint.sh"]
