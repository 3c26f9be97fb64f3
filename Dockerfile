# One image for every GlitchBuster node; SERVICES picks what a container runs.

# Build: TypeScript is compiled, dev tools dropped. No compiler is needed: better-sqlite3 13
# loads the prebuilt binary its npm package carries.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The image's own Node 24 runs the app: the `node` package that package.json pins (for
# machines whose Node is older) is dropped rather than shipped twice.
RUN npm run build && npm prune --omit=dev && rm -rf node_modules/node node_modules/.bin/node

# Run: the compiled code and production dependencies only, as an unprivileged user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/public ./public
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# node is PID 1: it gets SIGTERM from `docker stop` and the broker stops cleanly on it.
CMD ["node", "dist/main.js"]
