# clearance's image: production dependencies only, running as the unprivileged `node` user.
# The TypeScript sources run through tsx (a production dependency), as `npm start` does: no build step.

FROM node:20.20.2-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20.20.2-bookworm-slim
# AUTH_MODE=issuer: the image serves only with the bank's identity provider (AUTH_ISSUER and its keys);
# without them it refuses to start rather than fall back to demo identity. The metrics listener is on its
# own port, for Prometheus on the internal network: never publish it.
ENV NODE_ENV=production \
    CLEARANCE_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8080 \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9464 \
    AUTH_MODE=issuer
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY ingest ./ingest
# The schema the server expects in force (AUTHZ_SCHEMA_FILE) and the demo bank that `setup` ingests.
COPY fixtures ./fixtures
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/clearance.mjs"]
CMD ["serve"]
