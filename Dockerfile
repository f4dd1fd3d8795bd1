# Berth's container image, for machines with a container engine (`docker build -t berth .`).
# scripts/build-image builds an equivalent image without one; this file is not exercised by the tests.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.* ./
RUN swift package resolve
COPY Sources Sources
# The Swift runtime linked in, so the runtime stage needs only Debian's own libraries.
RUN swift build -c release --static-swift-stdlib --product berth \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/berth" /out/usr/local/bin/berth \
 && strip /out/usr/local/bin/berth

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10000 berth \
 && useradd --system --uid 10000 --gid berth --home-dir /var/lib/berth --shell /usr/sbin/nologin berth \
 && install -d -o berth -g berth -m 0750 /var/lib/berth
COPY --from=build /out/ /
COPY packaging/docker/config.yml /etc/berth/config.yml
USER 10000:10000
WORKDIR /var/lib/berth
VOLUME ["/var/lib/berth"]
EXPOSE 5000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve", "/etc/berth/config.yml"]
