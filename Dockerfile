# keyplane: one image for every role (KEYPLANE_ROLE=all|admin|gateway).
# `npm ci` builds dist/keyplane.mjs (the `prepare` script, scripts/build.mjs), which bin/keyplane.mjs
# runs; better-sqlite3 is compiled in the first stage, which alone has the C++ toolchain.

FROM node:20-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY src ./src
COPY console ./console
RUN npm ci --omit=dev && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    KEYPLANE_DATA_DIR=/data \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
# after src: the build must be newer than every source file, or bin/keyplane.mjs runs the sources
COPY --from=deps /app/dist ./dist
# The data dir holds the SQLite file, a generated master-key and the bootstrap admin-key; with
# PostgreSQL and KEYPLANE_MASTER_KEY only admin-key is written there (by the node that bootstraps).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# node:20-slim has no curl: probe with Node's own fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: in-flight requests finish (KEYPLANE_SHUTDOWN_TIMEOUT_MS),
# buffered usage is written, then it exits.
CMD ["node", "bin/keyplane.mjs", "serve", "--host", "0.0.0.0"]
