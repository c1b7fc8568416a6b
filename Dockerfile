# syntax=docker/dockerfile:1.7
# One build, one small image per service:  docker build --target collector -t tidewatch/collector .
# Services run their TypeScript through tsx (no separate build step to drift from the tests).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip CI=true
RUN npm install -g pnpm@10.34.9
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile --reporter=append-only \
 && if [ -f services/query-api/ui/package.json ]; then pnpm --filter @tidewatch/ui build; fi \
 && for s in collector sequencer inference query-api; do \
      pnpm --filter "@tidewatch/$s" deploy --prod --legacy "/out/$s"; \
    done \
 && cp -r model/versions /out/inference/model-versions \
 && cp -r model/versions /out/query-api/model-versions \
 && mkdir -p /out/query-api/ui && rm -rf /out/query-api/ui/dist && cp -r services/query-api/ui/dist /out/query-api/ui/dist

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production TIDEWATCH_HTTP_PORT=8080 TIDEWATCH_DATA_DIR=/var/lib/tidewatch
RUN groupadd --system --gid 10001 tidewatch \
 && useradd --system --uid 10001 --gid tidewatch --home-dir /app --shell /usr/sbin/nologin tidewatch \
 && mkdir -p /var/lib/tidewatch && chown tidewatch:tidewatch /var/lib/tidewatch
WORKDIR /app
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TIDEWATCH_HTTP_PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "src/main.ts"]

FROM runtime AS collector
COPY --from=build --chown=root:root /out/collector /app
# At 100k+ flows/s V8 grows its heap far beyond the collector's bounded live data (queues are capped);
# these keep RSS ~150 MB at 200k flows/s for ~15 % more CPU per flow (services/collector/README.md).
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=192"
# One decode worker beside the publishing main thread: 322-348k flows/s with zero loss on 2 cores
# (v9, IPFIX, v5; bench/collector-udp.ts --workers 1) against ~294k on the main thread alone.
ENV TIDEWATCH_COLLECTOR_WORKERS=1
EXPOSE 8080 2055/udp 4739/udp 4739/tcp 6343/udp

FROM runtime AS sequencer
COPY --from=build --chown=root:root /out/sequencer /app
EXPOSE 8080

FROM runtime AS inference
COPY --from=build --chown=root:root /out/inference /app
ENV TIDEWATCH_MODEL_DIR=/app/model-versions
EXPOSE 8080 50051

FROM runtime AS query-api
COPY --from=build --chown=root:root /out/query-api /app
# The UI plugin serves /app/ui/dist (its default, relative to src/ui/plugin.ts).
ENV TIDEWATCH_MODEL_DIR=/app/model-versions
EXPOSE 8080
