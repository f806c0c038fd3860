# The platform's MQTT broker: Mosquitto with the platform's plugin (broker/iot_auth.c), which
# reads the credentials file the bridge (mqtt-ingest) keeps on the shared `broker` volume.
FROM debian:bookworm-slim AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev mosquitto-dev libmosquitto-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY broker/iot_auth.c /src/iot_auth.c
RUN gcc -O2 -Wall -Wextra -Werror -fPIC -shared /src/iot_auth.c -o /src/iot_auth.so -lcrypto

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends mosquitto libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10002 broker \
    && useradd --system --uid 10002 --gid broker --no-create-home --shell /usr/sbin/nologin broker \
    && mkdir -p /broker /var/lib/mosquitto/platform \
    && chown broker:broker /var/lib/mosquitto/platform
COPY --from=build /src/iot_auth.so /usr/lib/mosquitto/iot_auth.so
COPY docker/mosquitto.conf /etc/mosquitto/platform.conf
USER 10002:10002
EXPOSE 1883
CMD ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/platform.conf"]
