# Stand-in for apache/kafka: the Tansu broker (Kafka wire protocol), durable in
# SQLite under /var/lib/kafka/data. The tansu binary comes from the build context.
ARG BASE=authd-test/debian:bookworm
FROM ${BASE}
COPY tansu /usr/local/bin/tansu
COPY kafka-entrypoint.sh /usr/local/bin/kafka-entrypoint.sh
COPY kafka-topics.sh /opt/kafka/bin/kafka-topics.sh
VOLUME /var/lib/kafka/data
EXPOSE 9092
ENTRYPOINT ["kafka-entrypoint.sh"]
