# Build stage: `npm ci` installs every dependency and runs `prepare`, which compiles the
# TypeScript sources to dist/ (TypeScript is a dev dependency); dev dependencies are dropped after.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app ./
ENV HERALD_DATA_DIR=/data
EXPOSE 3000
CMD ["node", "bin/herald.js", "start"]
